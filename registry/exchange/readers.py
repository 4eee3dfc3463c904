"""Readers: file bytes (CSV, JSON, GeoJSON) or the seed's YAML folder -> raw records, each with where it
came from ("row 3", "feature 2", "projects[4]"), for core.validate to check. Nothing here writes.
"""
import csv
import io
import json
import math
from pathlib import Path

import yaml

from ..core.validate import ValidationError

MAX_ROWS = 100_000
MAX_FIELD = 20_000
MAX_FEATURES = 10_000
MAX_VERTICES = 10_000
MAX_DEPTH = 32
CSV_COLUMNS = ("id", "title", "summary", "description", "kind", "area", "other_areas", "status",
               "start_year", "end_year", "parent", "countries", "locations", "funders", "leads",
               "implementers", "partners", "keywords", "website", "source_section", "source_quote")
ROLE_COLUMNS = {"funders": "funder", "leads": "lead", "implementers": "implementer", "partners": "partner"}
FORMATS = ("csv", "json", "geojson")


def read_yaml_dir(folder):
    folder = Path(folder)
    orgs, projects = [], []
    for path in sorted(folder.glob("organisations*.yaml")):
        orgs += [(f"{path.name} #{i + 1}: ", r) for i, r in enumerate(yaml.safe_load(path.read_text("utf-8")) or [])]
    for path in sorted(folder.glob("projects*.yaml")):
        projects += [(f"{path.name} #{i + 1}: ", r) for i, r in enumerate(yaml.safe_load(path.read_text("utf-8")) or [])]
    return orgs, projects


def _decode(data):
    if isinstance(data, str):
        return data
    if data[:2] in (b"PK", b"\x89P") or data[:4] in (b"%PDF", b"\x1f\x8b\x08\x00"):
        raise ValidationError(["the file is not text (it looks like a ZIP, PNG, PDF or other binary file)"])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError([f"the file must be UTF-8 encoded (byte {exc.start} is not); "
                               "save it as 'CSV UTF-8' or convert it with iconv"]) from None


def _split_locations(cell):
    out = []
    for part in (cell or "").split(";"):
        if not part.strip():
            continue
        bits = [b.strip() for b in part.split("|")] + ["", "", ""]
        out.append({"name": bits[0], "lat": bits[1] or None, "lon": bits[2] or None,
                    "precision": bits[3] or ("site" if bits[1] else "country")})
    return out


def read_csv(data):
    """One project per row; see README.md for the columns."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    errors, records = [], []
    try:
        header = next(reader, None)
        if not header:
            raise ValidationError(["the file is empty: the first row must name the columns"])
        header = [h.strip().lower() for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise ValidationError([f"row 1: duplicate column name(s): {', '.join(dupes)}"])
        unknown = [h for h in header if h not in CSV_COLUMNS]
        if unknown:
            raise ValidationError([f"row 1: unknown column(s): {', '.join(unknown)}; allowed columns are: "
                                   + ", ".join(CSV_COLUMNS)])
        for required in ("id", "title", "area"):
            if required not in header:
                errors.append(f"row 1: the required column '{required}' is missing")
        if errors:
            raise ValidationError(errors)
        for cells in reader:
            row_no = reader.line_num
            if len(records) >= MAX_ROWS:
                raise ValidationError([f"the file has more than {MAX_ROWS} rows; split it into smaller files"])
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                errors.append(f"row {row_no}: has {len(cells)} cells, expected {len(header)}")
                continue
            long = [h for h, c in zip(header, cells) if len(c) > MAX_FIELD]
            if long:
                errors.append(f"row {row_no}: field '{long[0]}' is too long (max {MAX_FIELD} characters)")
                continue
            row = dict(zip(header, cells))
            raw = {k: row.get(k) for k in ("id", "title", "summary", "description", "kind", "area", "other_areas",
                                           "status", "start_year", "end_year", "parent", "countries",
                                           "keywords", "website")}
            raw["locations"] = _split_locations(row.get("locations"))
            raw["organisations"] = [{"org": org.strip(), "role": role} for col, role in ROLE_COLUMNS.items()
                                    for org in (row.get(col) or "").split(";") if org.strip()]
            raw["sources"] = ([{"section": row.get("source_section"), "quote": row.get("source_quote")}]
                              if (row.get("source_quote") or "").strip() else [])
            records.append((f"row {row_no}: ", raw))
    except csv.Error as exc:
        raise ValidationError([f"row {reader.line_num}: the CSV is malformed ({exc}); check for an unterminated quote"]) from None
    if errors:
        raise ValidationError(errors)
    return [], records


def _strict_json(text):
    def no_constants(name):
        raise ValueError(f"{name} is not allowed in JSON numbers")
    try:
        doc = json.loads(text, parse_constant=no_constants)
    except RecursionError:
        raise ValidationError([f"the JSON is nested too deeply (max {MAX_DEPTH} levels)"]) from None
    except json.JSONDecodeError as exc:
        raise ValidationError([f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]) from None
    except ValueError as exc:
        raise ValidationError([f"invalid JSON: {exc}"]) from None
    _check_depth(doc)
    return doc


def _check_depth(doc):
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError([f"the JSON is nested too deeply (max {MAX_DEPTH} levels)"])
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def read_json(data):
    """{"organisations": [...], "projects": [...]} in the seed format, or a bare list of projects."""
    doc = _strict_json(_decode(data))
    if isinstance(doc, list):
        doc = {"projects": doc}
    if not isinstance(doc, dict) or not set(doc) <= {"organisations", "projects"}:
        raise ValidationError(["the JSON must be a list of projects or an object with 'organisations' "
                               "and/or 'projects' lists"])
    orgs, projects = doc.get("organisations") or [], doc.get("projects") or []
    if not isinstance(orgs, list) or not isinstance(projects, list):
        raise ValidationError(["'organisations' and 'projects' must be lists"])
    if len(orgs) + len(projects) > MAX_ROWS:
        raise ValidationError([f"more than {MAX_ROWS} records; split the file"])
    return ([(f"organisations[{i + 1}]: ", o) for i, o in enumerate(orgs)],
            [(f"projects[{i + 1}]: ", p) for i, p in enumerate(projects)])


def _positions(geometry, where):
    """Validated [lon, lat] positions of a Point or MultiPoint geometry."""
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise ValidationError([f"{where}geometry type missing"])
    gtype = geometry["type"]
    coords = geometry.get("coordinates")
    if gtype == "Point":
        coords = [coords]
    elif gtype != "MultiPoint":
        raise ValidationError([f"{where}unsupported geometry type '{str(gtype)[:30]}': projects are located "
                               "by Point or MultiPoint geometries"])
    if not isinstance(coords, list) or len(coords) > MAX_VERTICES:
        raise ValidationError([f"{where}coordinates must be a list of at most {MAX_VERTICES} positions"])
    out = []
    for pos in coords:
        if (not isinstance(pos, list) or len(pos) not in (2, 3)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos)):
            raise ValidationError([f"{where}each position must be [longitude, latitude] numbers"])
        lon, lat = pos[0], pos[1]
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationError([f"{where}coordinates out of range (EPSG:4326 longitude -180..180, "
                                   f"latitude -90..90): {pos[:2]}"])
        out.append((lon, lat))
    return out


def read_geojson(data):
    """A FeatureCollection: one Feature per project, Point/MultiPoint geometry = its sites."""
    doc = _strict_json(_decode(data))
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ValidationError(["not GeoJSON: expected a FeatureCollection with a 'features' list"])
    crs = json.dumps(doc.get("crs") or "")
    if doc.get("crs") and "4326" not in crs and "CRS84" not in crs:
        raise ValidationError(["the GeoJSON must be in WGS84 longitude/latitude (RFC 7946); remove the 'crs' "
                               "member or reproject the file to EPSG:4326"])
    features = doc["features"]
    if len(features) > MAX_FEATURES:
        raise ValidationError([f"the file has {len(features)} features; the maximum is {MAX_FEATURES}"])
    records, errors = [], []
    for i, feat in enumerate(features):
        where = f"feature {i + 1}: "
        try:
            if not isinstance(feat, dict) or feat.get("type") != "Feature":
                raise ValidationError([f"{where}is not a GeoJSON Feature"])
            raw = dict(feat.get("properties") or {})
            names = raw.pop("location_names", None) or []
            precision = raw.pop("precision", None) or "site"
            locations = list(raw.get("locations") or [])
            if feat.get("geometry") is not None:
                for j, (lon, lat) in enumerate(_positions(feat["geometry"], where)):
                    name = names[j] if j < len(names) else (raw.get("title") or "site")
                    locations.append({"name": name, "lat": lat, "lon": lon, "precision": precision})
            raw["locations"] = locations
            records.append((where, raw))
        except ValidationError as exc:
            errors += exc.errors
    if errors:
        raise ValidationError(errors)
    return [], records


READERS = {"csv": read_csv, "json": read_json, "geojson": read_geojson}


def guess_format(filename):
    suffix = Path(filename or "").suffix.lower().lstrip(".")
    return {"csv": "csv", "json": "json", "geojson": "geojson"}.get(suffix)
