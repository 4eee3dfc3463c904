"""Exports: records in the import shape (store.db.export_records) -> CSV, GeoJSON or JSON that the importer
reads back unchanged, every field included (README.md "Import formats"; tests/test_roundtrip.py).
What the list's download links and `flask export` write. CSV cells follow exchange/cells.py: separators
inside values are escaped and cells a spreadsheet would run as a formula are guarded, both undone on import."""
import csv
import io
import json
from collections.abc import Iterator

from . import cells
from .readers import CSV_COLUMNS, GEOMETRY_INDEX, ROLE_COLUMNS, TEXT_COLUMNS, WORD_COLUMNS

# Full Content-Type values (a response must send them as they are: Flask adds a second charset to a text/*
# *mimetype* given with one). JSON is UTF-8 by definition (RFC 8259) and has no charset parameter.
MIMETYPES = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json", "json": "application/json"}
CHUNK = 64 * 1024   # characters per chunk of a streamed export (one write to the client each)


def csv_row(p):
    """One project as the cells of a CSV row, in CSV_COLUMNS order."""
    row = {k: cells.scalar(p.get(k)) for k in TEXT_COLUMNS}
    row.update({k: cells.join_words(p[k]) for k in WORD_COLUMNS})
    row.update({column: cells.join_roles(o for o in p["organisations"] if o["role"] == role)
                for column, role in ROLE_COLUMNS.items()})
    row["evidence"] = cells.join_evidence(p.get("evidence") or {})
    row["locations"] = cells.join_entries(p["locations"], cells.LOCATION_FIELDS)
    row["sources"] = cells.join_entries(p["sources"], cells.SOURCE_FIELDS)
    return [cells.guard(row[column]) for column in CSV_COLUMNS]


def export_rows(projects):
    """CSV rows, the header first."""
    yield list(CSV_COLUMNS)
    for p in projects:
        yield csv_row(p)


def export_csv(projects):
    out = io.StringIO()
    csv.writer(out).writerows(export_rows(projects))
    return out.getvalue()


def geojson_feature(p):
    """One Feature per project: its placed locations are the Point/MultiPoint geometry, in their order;
    properties hold every field, each placed location with `geometry_index` (its position in the geometry)
    instead of lat/lon, so a point moved in a GIS moves the place on import."""
    positions, locations = [], []
    for loc in p["locations"]:
        item = dict(loc)
        if loc.get("lat") is not None and loc.get("lon") is not None:
            del item["lat"], item["lon"]
            item[GEOMETRY_INDEX] = len(positions)
            positions.append([loc["lon"], loc["lat"]])
        locations.append(item)
    if not positions:
        geometry = None
    elif len(positions) == 1:
        geometry = {"type": "Point", "coordinates": positions[0]}
    else:
        geometry = {"type": "MultiPoint", "coordinates": positions}
    return {"type": "Feature", "geometry": geometry, "properties": dict(p, locations=locations)}


def export_geojson(organisations, projects, sources=()):
    """A FeatureCollection; the source records and the organisations the projects cite and name ride along
    as foreign members."""
    return {"type": "FeatureCollection", "sources": list(sources), "organisations": list(organisations),
            "features": [geojson_feature(p) for p in projects]}


def export_json(organisations, projects, sources=()):
    return {"sources": list(sources), "organisations": list(organisations), "projects": list(projects)}


def export_chunks(fmt, organisations, projects, indent=None, sources=()):
    """The export in `fmt` (csv, geojson or json) as text chunks of about CHUNK characters, written as the
    projects (any iterable: store.db.export_stream reads them in batches) come: the memory it takes does
    not grow with the number of projects. The chunks joined are exactly json.dumps of the whole document
    (ensure_ascii=False, `indent`), or the CSV that csv.writer writes. JSON and GeoJSON carry the source
    records (`sources`: those the projects cite, store/sources.py export_sources) first, so that the file
    imports into an empty registry; CSV carries the projects only (their sources must be imported first)."""
    if fmt == "csv":
        pieces = _csv_pieces(projects)
    elif fmt == "geojson":
        pieces = _json_object_pieces([("type", "FeatureCollection"), ("sources", iter(sources)),
                                      ("organisations", iter(organisations)),
                                      ("features", (geojson_feature(p) for p in projects))], indent)
    else:
        pieces = _json_object_pieces([("sources", iter(sources)), ("organisations", iter(organisations)),
                                      ("projects", iter(projects))], indent)
    return _in_chunks(pieces)


def export_text(fmt, organisations, projects, indent=None, sources=()):
    """The whole export as one text (see export_chunks)."""
    return "".join(export_chunks(fmt, organisations, projects, indent, sources))


def _csv_pieces(projects):
    out = io.StringIO()
    writer = csv.writer(out)
    for row in export_rows(projects):
        writer.writerow(row)
        yield out.getvalue()
        out.seek(0)
        out.truncate()


def _json_object_pieces(members, indent):
    """Pieces of json.dumps({key: value, ...}, ensure_ascii=False, indent=indent) for (key, value) members,
    where a value that is an iterator is written as a list, one item at a time."""
    dump = lambda value: json.dumps(value, ensure_ascii=False, indent=indent)  # noqa: E731
    inner, outer = ("", "") if indent is None else ("\n" + " " * (2 * indent), "\n" + " " * indent)
    member_sep, item_sep = (", ", ", ") if indent is None else ("," + outer, "," + inner)
    yield "{" + outer
    for n, (key, value) in enumerate(members):
        yield (member_sep if n else "") + dump(key) + ": "
        if not isinstance(value, Iterator):
            yield dump(value).replace("\n", outer)
            continue
        opened = False
        for item in value:
            yield (item_sep if opened else "[" + inner) + dump(item).replace("\n", inner)
            opened = True
        yield (outer + "]") if opened else "[]"
    yield ("\n" if indent is not None else "") + "}"


def _in_chunks(pieces, size=CHUNK):
    """Join small pieces of text into chunks of at least `size` characters (the last may be shorter)."""
    buffer, length = [], 0
    for piece in pieces:
        buffer.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer)
