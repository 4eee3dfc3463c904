"""Exports of projects as CSV (the import format), GeoJSON and JSON: what the list's download links
and `flask export` write. CSV cells that a spreadsheet would run as a formula are neutralised."""
import csv
import io

from .readers import CSV_COLUMNS, ROLE_COLUMNS

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


def _cell(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def export_rows(projects):
    """CSV rows (header first) in the import format, with spreadsheet formulas neutralised."""
    yield list(CSV_COLUMNS)
    for p in projects:
        roles = {col: ";".join(o["id"] for o in p["organisations"] if o["role"] == role)
                 for col, role in ROLE_COLUMNS.items()}
        src = p["sources"][0] if p["sources"] else {"section": "", "quote": ""}
        row = {**p, **roles, "parent": p["parent_id"], "other_areas": ";".join(p["other_areas"]),
               "countries": ";".join(p["countries"]), "keywords": ";".join(p["keywords"]),
               "locations": "; ".join(f"{loc['name']}|{'' if loc['lat'] is None else loc['lat']}|"
                                      f"{'' if loc['lon'] is None else loc['lon']}|{loc['precision']}"
                                      for loc in p["locations"]),
               "source_section": src["section"], "source_quote": src["quote"]}
        yield [_cell(row.get(c)) for c in CSV_COLUMNS]


def export_csv(projects):
    out = io.StringIO()
    csv.writer(out).writerows(export_rows(projects))
    return out.getvalue()


def export_geojson(projects):
    features = []
    for p in projects:
        for loc in p["locations"]:
            if loc["lat"] is None:
                continue
            features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]},
                             "properties": {"project_id": p["id"], "title": p["title"], "area": p["area"],
                                            "status": p["status"], "location": loc["name"],
                                            "precision": loc["precision"], "countries": p["countries"]}})
    return {"type": "FeatureCollection", "features": features}


def export_json(projects, organisations):
    return {"organisations": organisations, "projects": projects}
