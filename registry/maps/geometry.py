"""Points against country boundaries (shapely, against the committed geodata/countries.geojson): the data-quality
desk's check that a location's point lies in the country the location names (editing/quality.py).

The boundaries are Natural Earth's 110m ones: simplified, so a real place on a coast or a border can fall a few
kilometres outside its country's outline. A point counts as outside only when it is more than
`TOLERANCE_DEGREES` from the outline (about 11 km at the equator, less toward the poles). Countries too small to
have a polygon at 110m (many island states, Singapore, Andorra...) cannot be checked: their points are returned
apart, as not checked, never silently passed.
"""
import json
from dataclasses import dataclass
from functools import lru_cache

from shapely import prepared
from shapely.geometry import Point, shape

from ..core import geo

TOLERANCE_DEGREES = 0.1


@dataclass(frozen=True)
class Boundary:
    shape: object       # the country's (Multi)Polygon
    inside: object      # the same, prepared for fast point tests


@lru_cache(maxsize=1)
def boundaries():
    """{iso3: Boundary} of every country that has a polygon in the committed boundaries."""
    world = json.loads(geo.countries_geojson_path().read_text("utf-8"))
    out = {}
    for feature in world["features"]:
        outline = shape(feature["geometry"])
        out[feature["properties"]["iso3"]] = Boundary(outline, prepared.prep(outline))
    return out


def distance_outside(boundary, lon, lat):
    """Degrees from the point to the country's outline (0 when inside), across the antimeridian too (Fiji and
    Russia's far east straddle it)."""
    point = Point(lon, lat)
    if boundary.inside.contains(point):
        return 0.0
    return min(boundary.shape.distance(Point(lon + shift, lat)) for shift in (-360, 0, 360))


def check_points(points, tolerance=TOLERANCE_DEGREES):
    """Split points (mappings with `lat`, `lon` and `country`, an ISO3 code) into (outside, unchecked): those more
    than `tolerance` degrees outside the boundary of their country, each with its `distance` in degrees added,
    and those whose country has no polygon at 110m. Points inside their country are in neither list."""
    known = boundaries()
    outside, unchecked = [], []
    for point in points:
        boundary = known.get(point["country"])
        if boundary is None:
            unchecked.append(point)
            continue
        distance = distance_outside(boundary, point["lon"], point["lat"])
        if distance > tolerance:
            outside.append(dict(point, distance=round(distance, 2)))
    return outside, unchecked
