"""Exports: records in the import shape (store.db.export_records) -> CSV, GeoJSON or JSON that the importer
reads back unchanged, every field included (README.md "Import formats"; tests/test_roundtrip.py).
What the list's download links and `flask export` write. CSV cells follow exchange/cells.py: separators
inside values are escaped and cells a spreadsheet would run as a formula are guarded, both undone on import."""
import csv
import io
import json

from . import cells
from .readers import CSV_COLUMNS, GEOMETRY_INDEX, ROLE_COLUMNS, TEXT_COLUMNS, WORD_COLUMNS

MIMETYPES = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json", "json": "application/json"}


def csv_row(p):
    """One project as the cells of a CSV row, in CSV_COLUMNS order."""
    row = {k: cells.scalar(p.get(k)) for k in TEXT_COLUMNS}
    row.update({k: cells.join_words(p[k]) for k in WORD_COLUMNS})
    row.update({column: cells.join_words(o["org"] for o in p["organisations"] if o["role"] == role)
                for column, role in ROLE_COLUMNS.items()})
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


def export_geojson(organisations, projects):
    """A FeatureCollection; the organisations the projects name ride along as a foreign member."""
    return {"type": "FeatureCollection", "organisations": list(organisations),
            "features": [geojson_feature(p) for p in projects]}


def export_json(organisations, projects):
    return {"organisations": list(organisations), "projects": list(projects)}


def export_text(fmt, organisations, projects, indent=None):
    """The whole export as text in `fmt` (csv, geojson or json); CSV carries the projects only."""
    if fmt == "csv":
        return export_csv(projects)
    doc = export_geojson(organisations, projects) if fmt == "geojson" else export_json(organisations, projects)
    return json.dumps(doc, ensure_ascii=False, indent=indent)
