"""Tests for registry.geo and the committed geodata files (real files, no mocks)."""

import csv
import json

import pytest
import shapely
from shapely.geometry import Point, shape

from registry.core import geo
LOOKUPS = [
    ("Ivory Coast", "CIV"),
    ("Cote d'Ivoire", "CIV"),
    ("Côte d\u2019Ivoire", "CIV"),
    ("COTE D'IVOIRE", "CIV"),
    ("Republic of the Congo", "COG"),
    ("Congo-Brazzaville", "COG"),
    ("Congo", "COG"),
    ("Democratic Republic of the Congo", "COD"),
    ("Democratic Republic of Congo", "COD"),
    ("DRC", "COD"),
    ("DR Congo", "COD"),
    ("French Department of Guyane", "GUF"),
    ("French Guiana", "GUF"),
    ("Guyana", "GUY"),
    ("Co-operative Republic of Guyana", "GUY"),
    ("NA", "NAM"),
    ("na", "NAM"),
    ("Namibia", "NAM"),
    ("usa", "USA"),
    ("U.S.", "USA"),
    ("United States of America", "USA"),
    ("St. Kitts and Nevis", "KNA"),
    ("Saint Kitts and Nevis", "KNA"),
    ("St Lucia", "LCA"),
    ("The Bahamas", "BHS"),
    ("the gambia", "GMB"),
    ("Czech Republic", "CZE"),
    ("Türkiye", "TUR"),
    ("Turkey", "TUR"),
    ("Swaziland", "SWZ"),
    ("Burma", "MMR"),
    ("Cape Verde", "CPV"),
    ("East Timor", "TLS"),
    ("Viet Nam", "VNM"),
    ("Vietnam", "VNM"),
    ("Bolivia", "BOL"),
    ("Tanzania", "TZA"),
    ("South Korea", "KOR"),
    ("Republic of Korea", "KOR"),
    ("North Korea", "PRK"),
    ("UK", "GBR"),
    ("Great Britain", "GBR"),
    ("gbr", "GBR"),
    ("fr", "FRA"),
    ("  Brazil  ", "BRA"),
    ("Kosovo", None),
    ("Atlantis", None),
    ("", None),
]


@pytest.mark.parametrize("text,iso3", LOOKUPS)
def test_lookup_country(text, iso3):
    found = geo.lookup_country(text)
    assert (found.iso3 if found else None) == iso3


def test_get_country_and_name():
    namibia = geo.get_country("NAM")
    assert namibia is not None and namibia.iso2 == "NA" and namibia.name == "Namibia"
    assert geo.get_country("nam") == namibia
    assert geo.get_country("XXX") is None
    assert geo.country_name("GUF") == "French Guiana"
    assert geo.country_name("XXX") == "XXX"


def test_all_countries_sorted_and_complete():
    countries = geo.all_countries()
    assert len(countries) >= 249
    assert len({c.iso3 for c in countries}) == len(countries)
    keys = [geo.fold(c.name) for c in countries]
    assert keys == sorted(keys)
    with pytest.raises(Exception):
        countries[0].lat = 0  # frozen


def _csv_rows():
    with geo.COUNTRIES_CSV.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _features():
    with geo.countries_geojson_path().open(encoding="utf-8") as f:
        return json.load(f)["features"]


def test_csv_columns_and_points():
    rows = _csv_rows()
    assert list(rows[0]) == ["iso3", "iso2", "name", "official_name", "aliases", "lat", "lon"]
    assert {r["iso3"] for r in rows} >= {"NAM", "GUF", "ATG", "KNA", "DMA", "TTO", "FJI"}
    for r in rows:
        assert -90 <= float(r["lat"]) <= 90 and -180 <= float(r["lon"]) <= 180, r["iso3"]


def test_csv_reads_namibia_with_pandas():
    import pandas as pd
    df = pd.read_csv(geo.COUNTRIES_CSV, keep_default_na=False)
    assert df.loc[df.iso3 == "NAM", "iso2"].item() == "NA"


def test_points_inside_their_polygons():
    polygons = {f["properties"]["iso3"]: shape(f["geometry"]) for f in _features()}
    checked = 0
    for r in _csv_rows():
        poly = polygons.get(r["iso3"])
        if poly is None:
            continue
        point = Point(float(r["lon"]), float(r["lat"]))
        assert poly.distance(point) <= 0.5, (r["iso3"], point.wkt)
        checked += 1
    assert checked > 150


def test_geojson_geometries_valid_and_in_range():
    features = _features()
    assert len(features) > 150
    for f in features:
        props, geom = f["properties"], shape(f["geometry"])
        assert set(props) == {"iso3", "iso2", "name"}
        assert geom.is_valid and not geom.is_empty, props["iso3"]
        minx, miny, maxx, maxy = geom.bounds
        assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90, props["iso3"]


@pytest.mark.parametrize("iso3", ["FJI", "RUS", "ATA", "USA", "GUF"])
def test_antimeridian_and_split_countries(iso3):
    geoms = {f["properties"]["iso3"]: shape(f["geometry"]) for f in _features()}
    geom = geoms[iso3]
    assert geom.is_valid
    # No unwrapped sliver spanning the globe: every part is narrower than 180 degrees
    # unless it is Antarctica, which really does go all the way round.
    for part in getattr(geom, "geoms", [geom]):
        minx, _, maxx, _ = part.bounds
        assert iso3 == "ATA" or maxx - minx < 180, (iso3, part.bounds)
    point = geo.get_country(iso3)
    assert geom.distance(Point(point.lon, point.lat)) <= 0.5


def test_fiji_and_russia_areas_are_sane():
    geoms = {f["properties"]["iso3"]: shape(f["geometry"]) for f in _features()}
    assert 1 < shapely.area(geoms["FJI"]) < 3  # square degrees; a wrapped ring gives ~160
    assert 2000 < shapely.area(geoms["RUS"]) < 4000
