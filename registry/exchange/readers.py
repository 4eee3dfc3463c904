"""Readers: file bytes (CSV, JSON, GeoJSON) or the seed's YAML folder -> raw records, each with where it
came from ("row 3", "feature 2", "projects[4]"), for core.validate to check. Nothing here writes.

Nothing is dropped on the way: a field that is not part of a record, a cell that cannot be read or a
limit exceeded is a Problem naming the row (or record) and the column (or field). The encodings are in
README.md "Import formats"; exchange/cells.py holds the CSV cell rules, exchange/exports.py writes the same.
"""
import csv
import functools
import io
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..core.validate import (PRECISIONS, Checker, Problem, ValidationError, as_float, clean_organisation,
                             clean_project, problem)
from ..core import geo
from ..core.language import N_, translated_field_names
from . import cells

MAX_ROWS = 100_000
# characters in one CSV cell: above the longest cell a valid record can fill (200 sources of 5,400
# characters, every character escaped), so the limit never refuses an export of the registry's own
MAX_FIELD = 4_000_000
MAX_FEATURES = 10_000
MAX_VERTICES = 10_000
MAX_DEPTH = 32
# title_fr, title_es, summary_fr, summary_es: the French and Spanish title and summary (issue 13), optional
CSV_COLUMNS = ("id", "title", "summary", *translated_field_names(), "description", "kind", "area", "other_areas",
               "status", "start_year", "end_year", "evidence", "parent", "countries", "locations", "funders", "leads",
               "implementers", "partners", "keywords", "website", "iati_identifier", "sources")
LEGACY_COLUMNS = ("source_section", "source_quote")     # older files: one source per row
TEXT_COLUMNS = ("id", "title", "summary", *translated_field_names(), "description", "kind", "area", "status",
                "start_year", "end_year", "parent", "website", "iati_identifier")
WORD_COLUMNS = ("other_areas", "countries", "keywords")
ROLE_COLUMNS = {"funders": "funder", "leads": "lead", "implementers": "implementer", "partners": "partner"}
GEOMETRY_INDEX = "geometry_index"    # GeoJSON: a location's position in its feature's geometry
FORMATS = ("csv", "json", "geojson", "iati")    # iati: IATI 2.03 activity XML, read by exchange/iati_read.py


@functools.cache
def record_keys():
    """The fields of each kind of record: whatever core.validate returns, so a field added there is
    read (and exported) without a change here."""
    # (every optional translation given: a blank one is absent from the record)
    project, _ = clean_project({"locations": [{"name": "x", "precision": "global"}], "sources": [{"quote": "x"}],
                                "organisations": [{"org": "x", "role": "lead"}],
                                **dict.fromkeys(translated_field_names(), "x")})
    organisation, _ = clean_organisation({})
    return {"project": tuple(project), "location": tuple(project["locations"][0]),
            "source": tuple(project["sources"][0]), "role": tuple(project["organisations"][0]),
            "organisation": tuple(organisation)}


# one whole message per kind of record (French and Spanish nouns have genders)
NOT_A_FIELD_OF = {
    "project": N_("is not a field of a project; the fields are: %(fields)s"),
    "organisation": N_("is not a field of an organisation; the fields are: %(fields)s"),
    "location": N_("is not a field of a location; the fields are: %(fields)s"),
    "source": N_("is not a field of a source; the fields are: %(fields)s"),
    "role": N_("is not a field of a role; the fields are: %(fields)s"),
}


def unknown_fields(raw, kind, where, path=""):
    """Problems for the keys of `raw` that are not fields of a `kind` record (and of its lists' items)."""
    if not isinstance(raw, dict):
        return []
    keys = record_keys()
    problems = [problem(where, f"{path}{key}", NOT_A_FIELD_OF[kind], fields=", ".join(keys[kind]))
                for key in raw if key not in keys[kind]]
    if kind == "project":
        for name, item_kind in (("locations", "location"), ("sources", "source"), ("organisations", "role")):
            items = raw.get(name)
            for i, item in enumerate(items if isinstance(items, list) else [], 1):
                problems += unknown_fields(item, item_kind, where, f"{name}[{i}].")
    return problems


def _checked(pairs, kind):
    """(where, raw) pairs, or ValidationError naming every field that no record of `kind` has."""
    problems = [p for where, raw in pairs for p in unknown_fields(raw, kind, where.rstrip(": "))]
    if problems:
        raise ValidationError(problems)
    return pairs


@dataclass
class Batch:
    """What one file (or the seed folder) holds: (where, raw) pairs of organisations, projects, source
    records and changes to stored records (core/patches.py; JSON only)."""
    organisations: list
    projects: list
    sources: list = ()
    changes: list = ()

    def __bool__(self):
        return bool(self.organisations or self.projects or self.sources or self.changes)


def read_yaml_dir(folder):
    """The seed folder: every sources*.yaml, organisations*.yaml and projects*.yaml (lists of records)."""
    folder = Path(folder)
    lists = {}
    for kind in ("sources", "organisations", "projects"):
        lists[kind] = [(f"{path.name} #{i + 1}: ", r) for path in sorted(folder.glob(f"{kind}*.yaml"))
                       for i, r in enumerate(yaml.safe_load(path.read_text("utf-8")) or [])]
    return Batch(_checked(lists["organisations"], "organisation"), _checked(lists["projects"], "project"),
                 lists["sources"])


def _decode(data):
    if isinstance(data, str):
        return data
    if data[:2] in (b"PK", b"\x89P") or data[:4] in (b"%PDF", b"\x1f\x8b\x08\x00"):
        raise ValidationError([problem("", "", N_("the file is not text (it looks like a ZIP, PNG, PDF or other "
                                                  "binary file)"))])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError([problem("", "", N_("the file must be UTF-8 encoded (byte %(byte)s is not); save it "
                                                  "as 'CSV UTF-8' or convert it with iconv"), byte=exc.start)]) from None


# --- CSV ------------------------------------------------------------------------------------------

def _csv_header(reader):
    header = next(reader, None)
    if not header:
        raise ValidationError([problem("", "", N_("the file is empty: the first row must name the columns"))])
    header = [h.strip().lower() for h in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValidationError([problem("row 1", "", N_("duplicate column name(s): %(names)s"),
                                       names=", ".join(dupes))])
    allowed = CSV_COLUMNS + LEGACY_COLUMNS
    unknown = [h for h in header if h not in allowed]
    if unknown:
        raise ValidationError([problem("row 1", "", N_("unknown column(s): %(unknown)s; allowed columns are: "
                                                       "%(allowed)s"), unknown=", ".join(unknown),
                                       allowed=", ".join(allowed))])
    missing = [problem("row 1", "", N_("the required column '%(name)s' is missing"), name=name)
               for name in ("id", "title", "area") if name not in header]
    if missing:
        raise ValidationError(missing)
    return header


def _csv_cells(header, cells_, where):
    """(the row as {column: text} with the formula guard removed, []) or (None, Problems)."""
    if len(cells_) != len(header):
        return None, [problem(where, "", N_("has %(count)s cells, expected %(expected)s: check for a missing or "
                                            "extra comma, or quote cells that contain commas"),
                              count=len(cells_), expected=len(header))]
    long = [h for h, c in zip(header, cells_) if len(c) > MAX_FIELD]
    if long:
        return None, [problem(where, long[0], N_("is too long (max %(limit)s characters)"), limit=MAX_FIELD)]
    return {h: cells.unguard(c) for h, c in zip(header, cells_)}, []


def _csv_sources(row):
    legacy = {k: (row.get(f"source_{k}") or "").strip() for k in ("section", "quote")}
    if row.get("sources", "").strip() and any(legacy.values()):
        raise cells.CellError("give the sources either in the column sources or in source_section and "
                              "source_quote, not both")
    if any(legacy.values()):
        return [{"section": legacy["section"] or None, "quote": legacy["quote"] or None}]
    return cells.split_entries(row.get("sources"), cells.SOURCE_FIELDS, record_keys()["source"])


def _csv_locations(row):
    locations = cells.split_entries(row.get("locations"), cells.LOCATION_FIELDS, record_keys()["location"])
    for loc in locations:   # older files leave the precision out: a point is a site, no point a country
        if not loc.get("precision"):
            loc["precision"] = "site" if loc.get("lat") else "country"
    return locations


def _country_locations(countries):
    """A row that names countries and no locations gets one country-level location per country (README.md,
    "Import formats"), stated: the row states the countries and says nothing else of where the work is."""
    # (an unknown code gets none: the error on `countries` says what is wrong, not one on a location the
    # row never wrote)
    known = [geo.get_country(iso3) for iso3 in dict.fromkeys(countries)]
    return [{"name": c.name, "precision": "country", "country": c.iso3, "basis": "stated"} for c in known if c]


def _csv_record(row, where):
    """A raw project from one row ({column: text}); a cell that cannot be read raises ValidationError
    naming the row and the column."""
    raw = {k: row.get(k) for k in TEXT_COLUMNS}
    raw.update({k: cells.split_words(row.get(k)) for k in WORD_COLUMNS})
    raw["organisations"] = []
    for column, role in ROLE_COLUMNS.items():    # each id with its basis, source and reason, if recorded
        try:
            raw["organisations"] += [dict(entry, role=role) for entry in cells.split_roles(row.get(column))]
        except cells.CellError as exc:
            raise ValidationError([Problem(where, column, str(exc))]) from None
    for column, read in (("locations", _csv_locations), ("sources", _csv_sources),
                         ("evidence", lambda row_: cells.split_evidence(row_.get("evidence")))):
        try:
            raw[column] = read(row)
        except cells.CellError as exc:
            raise ValidationError([Problem(where, column, str(exc))]) from None
    if not raw["locations"] and raw["countries"]:
        raw["locations"] = _country_locations(raw["countries"])
    return raw


def read_csv(data):
    """One project per row; README.md "Import formats" gives the columns, exchange/cells.py the cell rules."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""), strict=True)
    if csv.field_size_limit() <= MAX_FIELD:
        csv.field_size_limit(MAX_FIELD + 1)   # our own limit, with our own message, comes first
    problems, records = [], []
    try:
        header = _csv_header(reader)
        for row_no, cells_ in enumerate(reader, 2):    # spreadsheet rows: the header is row 1
            if len(records) >= MAX_ROWS:
                raise ValidationError([problem("", "", N_("the file has more than %(limit)s rows; split it into "
                                                          "smaller files"), limit=MAX_ROWS)])
            if not any(c.strip() for c in cells_):
                continue
            row, errs = _csv_cells(header, cells_, f"row {row_no}")
            try:
                records += [(f"row {row_no}: ", _csv_record(row, f"row {row_no}"))] if row else []
            except ValidationError as exc:
                errs += exc.problems
            problems += errs
    except csv.Error as exc:
        # (the csv module's own words, in parentheses, stay English)
        raise ValidationError([problem(f"line {reader.line_num}", "", N_("the CSV is malformed (%(reason)s); check "
                                                                         "for an unterminated quote"),
                                       reason=str(exc))]) from None
    if problems:
        raise ValidationError(problems)
    return Batch([], records)


# --- JSON -----------------------------------------------------------------------------------------

def _no_constants(name):
    raise ValueError(f"{name} is not allowed in JSON numbers")


def _integer(text):
    """A JSON integer; one longer than Python converts (sys.get_int_max_str_digits) is refused in words."""
    digits = len(text.lstrip("-"))
    if digits > sys.get_int_max_str_digits():
        raise ValueError(f"a number in the file has more than {sys.get_int_max_str_digits()} digits ({digits}): "
                         "no field of the registry holds such a number")
    return int(text)


def _strict_json(text):
    try:
        doc = json.loads(text, parse_constant=_no_constants, parse_int=_integer)
    except RecursionError:
        raise ValidationError([_too_deep()]) from None
    except json.JSONDecodeError as exc:
        # (the json module's own words after the colon stay English)
        raise ValidationError([problem("", "", N_("invalid JSON at line %(line)s, column %(column)s: %(reason)s"),
                                       line=exc.lineno, column=exc.colno, reason=exc.msg)]) from None
    except ValueError as exc:
        raise ValidationError([problem("", "", N_("invalid JSON: %(reason)s"), reason=str(exc))]) from None
    _check_depth(doc)
    return doc


def _too_deep():
    return problem("", "", N_("the JSON is nested too deeply (max %(limit)s levels)"), limit=MAX_DEPTH)


def _check_depth(doc):
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError([_too_deep()])
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _list_member(doc, name):
    """The list `doc[name]` ([] when absent or null); any other value is an error, never read as empty."""
    value = doc.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError([problem("", name, NOT_A_LIST[_json_type(value)], name=name)])
    return value


# "must be a list of projects (it is an object)": one whole message per JSON type
NOT_A_LIST = {
    "null": N_("must be a list of %(name)s (it is null)"),
    "bool": N_("must be a list of %(name)s (it is true/false)"),
    "object": N_("must be a list of %(name)s (it is an object)"),
    "text": N_("must be a list of %(name)s (it is a text)"),
    "number": N_("must be a list of %(name)s (it is a number)"),
}


def _json_type(value):
    if isinstance(value, bool):
        return "bool"
    return {dict: "object", str: "text", type(None): "null"}.get(type(value), "number")


def _a_json_type(value):
    """What a JSON value is, for messages: "an object", "a number"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a text"}.get(type(value), "a number")


def _organisations(doc):
    orgs = _list_member(doc, "organisations")
    return _checked([(f"organisations[{i + 1}]: ", o) for i, o in enumerate(orgs)], "organisation")


def _sources(doc):
    """The source records of a file (JSON, or GeoJSON's foreign member `sources`): checked by
    core.sources.clean_source on the write path."""
    return [(f"sources[{i + 1}]: ", s) for i, s in enumerate(_list_member(doc, "sources"))]


JSON_LISTS = ("sources", "organisations", "projects", "changes")


def read_json(data):
    """{"sources": [...], "organisations": [...], "projects": [...], "changes": [...]} in the seed format
    (geodata/updates/README.md), or a bare list of projects."""
    doc = _strict_json(_decode(data))
    if isinstance(doc, list):
        doc = {"projects": doc}
    if not isinstance(doc, dict) or not set(doc) <= set(JSON_LISTS):
        raise ValidationError([problem("", "", N_("the JSON must be a list of projects or an object with the lists "
                                                  "%(lists)s (any of them)"),
                                       lists=", ".join(f"'{name}'" for name in JSON_LISTS))])
    lists, problems = {}, []
    for name in JSON_LISTS:     # every one named when several are wrong
        try:
            lists[name] = _list_member(doc, name)
        except ValidationError as exc:
            problems += exc.problems
    if problems:
        raise ValidationError(problems)
    projects = lists["projects"]
    if sum(map(len, lists.values())) > MAX_ROWS:
        raise ValidationError([problem("", "", N_("more than %(limit)s records; split the file"), limit=MAX_ROWS)])
    return Batch(_organisations(doc), _checked([(f"projects[{i + 1}]: ", p) for i, p in enumerate(projects)], "project"),
                 _sources(doc), [(f"changes[{i + 1}]: ", c) for i, c in enumerate(lists["changes"])])


# --- GeoJSON --------------------------------------------------------------------------------------

def _positions(geometry, where):
    """Validated (lon, lat) positions of a Point or MultiPoint geometry."""
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise ValidationError([problem(where, "geometry", N_("geometry type missing"))])
    gtype = geometry["type"]
    coords = geometry.get("coordinates")
    if gtype == "Point":
        coords = [coords]
    elif gtype != "MultiPoint":
        raise ValidationError([Problem(where, "geometry", f"unsupported geometry type '{str(gtype)[:30]}': "
                                                          "projects are located by Point or MultiPoint geometries")])
    if not isinstance(coords, list) or len(coords) > MAX_VERTICES:
        raise ValidationError([Problem(where, "geometry", f"coordinates must be a list of at most {MAX_VERTICES} "
                                                          "positions")])
    return [_position(pos, where) for pos in coords]


def _position(pos, where):
    if (not isinstance(pos, list) or len(pos) not in (2, 3)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
        raise ValidationError([Problem(where, "geometry", "each position must be [longitude, latitude] numbers")])
    shown = str(pos) if len(str(pos)) <= 80 else f"{str(pos)[:80]}… ({len(str(pos))} characters)"
    if len(pos) == 3:   # the registry keeps no altitude: refuse it rather than lose it
        raise ValidationError([Problem(where, "geometry", f"the position {shown} has an altitude, which the "
                                                          "registry does not keep: export 2D points (longitude, "
                                                          "latitude)")])
    lon, lat = (as_float(v) for v in pos)   # 400 digits: infinite
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError([Problem(where, "geometry", f"coordinates out of range (EPSG:4326 longitude -180..180, "
                                                          f"latitude -90..90): {shown}")])
    return lon, lat


def _placed(locations, positions, where):
    """Locations with `geometry_index` take their lat/lon from that position of the geometry (the geometry is
    authoritative: a point moved in a GIS moves the place). Returns (locations, indexes used)."""
    used, out = set(), []
    for i, loc in enumerate(locations, 1):
        if not isinstance(loc, dict) or GEOMETRY_INDEX not in loc:
            out.append(loc)
            continue
        loc, index = dict(loc), loc[GEOMETRY_INDEX]
        del loc[GEOMETRY_INDEX]
        field = f"locations[{i}].{GEOMETRY_INDEX}"
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(positions):
            raise ValidationError([Problem(where, field, f"{index!r} is not a position of the geometry, which has "
                                                         f"{len(positions)}: count them from 0")])
        if index in used or loc.get("lat") is not None or loc.get("lon") is not None:
            raise ValidationError([Problem(where, field, "each position belongs to one location, whose lat and lon "
                                                         "then come from the geometry only: remove lat/lon here")])
        used.add(index)
        loc["lon"], loc["lat"] = positions[index]
        out.append(loc)
    return out, used


def _feature_record(feat, where):
    if not isinstance(feat, dict) or feat.get("type") != "Feature":
        raise ValidationError([problem(where, "", N_("is not a GeoJSON Feature"))])
    raw = feat.get("properties")
    if raw is not None and not isinstance(raw, dict):
        raise ValidationError([Problem(where, "properties", "must be an object holding the project's fields "
                                                            f"(it is {_a_json_type(raw)})")])
    raw = dict(raw or {})
    names, precision = raw.pop("location_names", None), raw.pop("precision", None)
    locations = raw.get("locations")
    if locations is not None and not isinstance(locations, list):
        raise ValidationError([Problem(where, "locations", f"must be a list of locations (it is "
                                                           f"{_a_json_type(locations)})")])
    positions = _positions(feat["geometry"], where) if feat.get("geometry") is not None else []
    locations, used = _placed(locations or [], positions, where)
    names = _location_names(names, positions, used, where)
    precision = _new_place_precision(precision, where)
    for k, (lon, lat) in enumerate(positions):   # points no location claims: new places, as older files had
        if k not in used:
            name = names[k] if k < len(names) and names[k] is not None else (raw.get("title") or "site")
            locations.append({"name": name, "lat": lat, "lon": lon, "precision": precision})
    raw["locations"] = locations
    return raw


def _location_names(names, positions, used, where):
    """The optional property `location_names`: one name (text, or null) per position of the geometry, naming
    the new place a position no location claims becomes. Anything it says that would go unused is an error."""
    if names is None:
        return []
    if not isinstance(names, list):
        raise ValidationError([Problem(where, "location_names", "must be a list of place names, one per position "
                                                                f"of the geometry (it is {_a_json_type(names)})")])
    if len(names) > len(positions):
        raise ValidationError([Problem(where, "location_names", f"has {len(names)} names, but the geometry has "
                                                                f"{len(positions)} positions: give one name (or "
                                                                "null) per position")])
    problems = []
    for k, name in enumerate(names):
        field = f"location_names[{k + 1}]"
        if name is not None and not isinstance(name, str):
            problems.append(Problem(where, field, f"must be text (a place name) or null, not {_a_json_type(name)}"))
        elif name is not None and k in used:
            problems.append(Problem(where, field, f"names position {k} of the geometry, which a location claims "
                                                  f"(geometry_index {k}) and names itself: set this entry to null"))
    if problems:
        raise ValidationError(problems)
    return names


def _new_place_precision(precision, where):
    """The optional property `precision` of the places made from unclaimed positions (default site)."""
    checker = Checker(where)
    value = checker.choice(precision, "precision", PRECISIONS, required=False, default="site")
    if checker.problems:
        raise ValidationError(checker.problems)
    return value


def read_geojson(data):
    """A FeatureCollection: one Feature per project (README.md "Import formats"), and optionally the
    source records they cite and the organisations they name as foreign members `sources` and
    `organisations`."""
    doc = _strict_json(_decode(data))
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ValidationError([problem("", "", N_("not GeoJSON: expected a FeatureCollection with a 'features' "
                                                  "list"))])
    crs = json.dumps(doc.get("crs") or "")
    if doc.get("crs") and "4326" not in crs and "CRS84" not in crs:
        raise ValidationError([problem("", "", N_("the GeoJSON must be in WGS84 longitude/latitude (RFC 7946); "
                                                  "remove the 'crs' member or reproject the file to EPSG:4326"))])
    features = doc["features"]
    if len(features) > MAX_FEATURES:
        raise ValidationError([problem("", "", N_("the file has %(count)s features; the maximum is %(limit)s"),
                                       count=len(features), limit=MAX_FEATURES)])
    records, problems = [], []
    for i, feat in enumerate(features):
        where = f"feature {i + 1}"
        try:
            records.append((f"{where}: ", _feature_record(feat, where)))
            problems += unknown_fields(records[-1][1], "project", where)
        except ValidationError as exc:
            problems += exc.problems
    try:
        sources = _sources(doc)
    except ValidationError as exc:
        problems += exc.problems
    if problems:
        raise ValidationError(problems)
    return Batch(_organisations(doc), records, sources)


READERS = {"csv": read_csv, "json": read_json, "geojson": read_geojson}


def guess_format(filename, data=None):
    """The format a file name says (.xml: IATI activities); without a known suffix, what `data` starts with
    when given: an XML file whose root element is iati-activities."""
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    found = {"csv": "csv", "json": "json", "geojson": "geojson", "xml": "iati"}.get(suffix)
    if found or data is None:
        return found
    return "iati" if sniff_xml_root(data) == "iati-activities" else None


XML_ROOT_RE = re.compile(rb"<([A-Za-z_][\w.:-]*)")
XML_PROLOGUE_RE = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)


def sniff_xml_root(data):
    """The name of the root element of XML bytes (after the declaration, comments and a DOCTYPE), from
    their first 4 KB; None when they do not start like XML."""
    head = (data or b"")[:4096]
    head = head.encode("utf-8") if isinstance(head, str) else head
    head = head.removeprefix(b"\xef\xbb\xbf")
    while True:
        m = XML_PROLOGUE_RE.match(head)
        if not m:
            break
        head = head[m.end():]
    m = XML_ROOT_RE.match(head.lstrip())
    return m.group(1).decode("ascii", "replace") if m else None
