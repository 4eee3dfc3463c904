"""What the maps draw, as plain data (no folium, no matplotlib): shared by the interactive maps,
the PNG, the newsletter snippet and the HTML download, so they always show the same selection.

`map_data(db, ids)` is the compact JSON the browser draws from (`/map/data.json`). Its tables are lists
of rows whose columns are named once, in `FIELDS`, and sent with the data as "fields"; values that
repeat are sent once, in "values" (see `CODED`). Readers find a column by its name: `records()` here,
`columns()` in static/map.js. docs/maps.md documents every field, with its type and meaning.
"""
import hashlib
import json
import math
import operator
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from ..store import db as storage
from . import files
from ..core import geo
from ..core import regions as region_table
from ..core.language import DEFAULT_LANGUAGE, localized
from ..core.query import POINT_PRECISIONS

# The payload's tables and their columns, in order: the one definition of the contract between this
# module, static/map.js and png.py. A new column goes here (and in docs/maps.md), nowhere else.
FIELDS = {
    "projects": ("id", "title", "title_lang", "area", "status", "countries", "funders"),
    "points": ("lat", "lon", "project", "precision", "name", "coords_source", "gazetteer_id", "country"),
    "unplaced": ("project", "name", "precision"),
    "countries": ("iso3", "name", "projects"),
}
# Columns whose values repeat (an area, status or funder on many projects, a precision on every point):
# each distinct value is sent once, in payload["values"][column], in order of first use, and rows hold its
# index (or a list of indexes). Columns named after a table (points.project, projects.countries) hold row
# indexes into it. Both keep the payload smaller than the positional format it replaced (docs/benchmarks.md).
CODED = ("title_lang", "area", "status", "funders", "precision", "coords_source", "gazetteer_id", "country")
# Names this shape of the payload: part of /map/data.json's ETag, so that no browser reuses a cached payload
# of another shape after FIELDS or CODED change.
FORMAT = hashlib.sha256(repr((FIELDS, CODED)).encode("utf-8")).hexdigest()[:8]
# Precisions drawn as a point (when the location has coordinates); the others are listed beside the map.
# One definition with the bbox filter's (core/query.py), so that "search this area" finds what is drawn there.
DRAWN = POINT_PRECISIONS
from ..core.labels import COORDS_SOURCE_LABELS, PRECISION_LABELS  # noqa: E402,F401  (one definition)
# The maps' colours, one definition for static/map.js (through the configuration's "colours", "palette" and
# "areas") and the PNG (png.py), checked by tests/test_map_a11y.py (issue 17, WCAG 1.4.11 non-text contrast):
# the lightest class is at least 3:1 against the sea and against countries without a matching project, so
# that a shaded country never reads as sea or as empty; each class is a visible step from the next (at least
# 1.3:1 and a CIEDE2000 difference of 7, also under colour-vision simulation). The ramp is warm, the sea blue.
SEA = "#dcebf2"
EMPTY = "#f4f2ed"         # countries without a matching project
BORDER = "#6e7b83"        # country borders, 3:1 against sea and empty land: coastlines stay visible
# Choropleth: light to dark, one colour per class (shared by static/map.js and the PNG).
PALETTE = ("#cc6a1f", "#a84a1c", "#80331c", "#58221a", "#341410")
# Marker colours per partnership area: pairs stay apart (CIEDE2000) under simulated protanopia, deuteranopia
# and tritanopia (Machado et al. 2009); each area also has its own shape (AREA_SHAPES), so colour is never
# the only cue. Markers are drawn with a dark and a white ring, which keep them 3:1 against any background.
AREA_COLOURS = {
    "asgm": "#ffdd2e", "chlor-alkali": "#1e4fee", "air-transport": "#7df3ff", "products": "#db5309",
    "coal": "#000000", "waste": "#48145b", "supply-storage": "#a3859a", "cement": "#b6c5a1",
    "cross-cutting": "#7c1603",
}
# A marker shape per partnership area (drawn by static/map.js; the legend shows shape and colour together).
AREA_SHAPES = {
    "asgm": "circle", "chlor-alkali": "square", "air-transport": "triangle", "products": "diamond",
    "coal": "triangle-down", "waste": "pentagon", "supply-storage": "hexagon", "cement": "star",
    "cross-cutting": "cross",
}
MARKER_RINGS = ("#1d2a33", "#ffffff")   # outer (dark) and inner (white) ring of every marker


def class_breaks(top):
    """Lower bounds of at most len(PALETTE) classes covering 1..top, spaced geometrically on round
    numbers: 3 -> [1, 2, 3]; 40 -> [1, 2, 5, 10, 20]; 1000 -> [1, 5, 20, 100, 300]."""
    if top <= 0:
        return []
    if top <= len(PALETTE):
        return list(range(1, top + 1))
    nice = [m * 10 ** e for e in range(7) for m in (1, 2, 3, 5)]
    steps = len(PALETTE)
    wanted = [top ** (k / steps) for k in range(steps)]
    return sorted({min(nice, key=lambda n: abs(math.log(n / w))) for w in wanted})


def class_of(count, breaks):
    """Index of the class of `count` in `breaks`, or None for zero."""
    found = None
    for i, low in enumerate(breaks):
        if count >= low:
            found = i
    return found


class _Codes:
    """The dictionary of one coded column: each distinct value once, in order of first use."""

    def __init__(self):
        self.values, self.index = [], {}

    def encode(self, value):
        """The index of `value` (of each value, for a list)."""
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if value not in self.index:
            self.index[value] = len(self.values)
            self.values.append(value)
        return self.index[value]


class _Table:
    """The rows of one payload table, added by column name: each row's values in the order of FIELDS, those
    of coded columns replaced by their index in `codes`."""

    def __init__(self, name, codes):
        self.name, self.columns, self.rows = name, FIELDS[name], []
        self.in_order = operator.itemgetter(*self.columns)
        self.coded = [(i, codes[column]) for i, column in enumerate(self.columns) if column in codes]

    def add(self, **values):
        if len(values) != len(self.columns):     # a missing or extra column is a bug in this module
            raise TypeError(f"{self.name} rows have the columns {self.columns}, not {tuple(values)}")
        row = list(self.in_order(values))
        for i, dictionary in self.coded:
            row[i] = dictionary.encode(row[i])
        self.rows.append(row)


def _project_rows(summaries, country_row, codes, lang):
    projects = _Table("projects", codes)
    for p in summaries:
        title, title_lang = localized(p, "title", lang)    # its French title on a French map, if it has one
        projects.add(id=p["id"], title=title, title_lang=title_lang, area=p["area"], status=p["status"],
                     countries=[country_row[iso3] for iso3 in p["countries"]],
                     funders=[f["acronym"] or f["name"] for f in p["funders"]])
    return projects.rows


def _location_rows(locations, position, codes):
    """(points, unplaced): a location with a drawable precision and coordinates is a point; any other
    (regional, global, or without coordinates) is listed beside the map, never dropped."""
    points, unplaced = _Table("points", codes), _Table("unplaced", codes)
    for loc in locations:
        project = position.get(loc["project_id"])
        if project is None:
            continue
        if loc["precision"] in DRAWN and loc["lat"] is not None and loc["lon"] is not None:
            # provenance: .get, as a database not yet migrated has no such columns (the map says nothing)
            points.add(lat=round(loc["lat"], 5), lon=round(loc["lon"], 5), project=project,
                       precision=loc["precision"], name=loc["name"],
                       coords_source=loc.get("coords_source"), gazetteer_id=loc.get("gazetteer_id"),
                       country=loc.get("country"))
        else:
            unplaced.add(project=project, name=loc["name"], precision=loc["precision"])
    return points.rows, unplaced.rows


def _country_rows(order, counts, codes, lang):
    countries = _Table("countries", codes)
    for iso3 in order:
        countries.add(iso3=iso3, name=geo.country_name(iso3, lang), projects=counts[iso3])
    return countries.rows


def _country_counts(summaries):
    counts = {}
    for p in summaries:
        for iso3 in p["countries"]:
            counts[iso3] = counts.get(iso3, 0) + 1
    return counts


def map_data(db, ids, focus=None, area=None, lang=DEFAULT_LANGUAGE):
    """The compact drawing data for these project ids, in their order (see FIELDS and docs/maps.md).
    `focus`: the ISO3 codes a place filter asked for (focus_countries), which the bounds fit; None: all.
    `area`: the query's bbox (core.query.Bbox), which is then the bounds: the map opens on the area searched.
    `lang`: the language of the country names and, where a project has one, of its title."""
    ids = list(ids)
    codes = {column: _Codes() for column in CODED}
    summaries = storage.project_summaries(db, ids)
    counts = _country_counts(summaries)
    countries = sorted(counts)            # the countries table's order: projects refer to its rows
    projects = _project_rows(summaries, {iso3: i for i, iso3 in enumerate(countries)}, codes, lang)
    position = {p["id"]: i for i, p in enumerate(summaries)}
    locations = [loc for loc in storage.locations_for(db, ids) if loc["project_id"] in position]
    points, unplaced = _location_rows(locations, position, codes)
    return {
        "fields": {table: list(columns) for table, columns in FIELDS.items()},
        "values": {column: codes[column].values for column in CODED},
        "total": len(projects), "projects": projects, "points": points, "unplaced": unplaced,
        "countries": _country_rows(countries, counts, codes, lang),
        "breaks": class_breaks(max(counts.values(), default=0)),
        "bounds": bbox_extent(area) if area is not None else selection_bounds(locations, counts, focus),
    }


def records(data, table):
    """The rows of one payload table as dicts by column name, coded values decoded (a funder's label, a
    precision's name): how Python reads the payload (the PNG, the tests)."""
    columns, values = data["fields"][table], data["values"]
    return [{name: _decoded(values.get(name), value) for name, value in zip(columns, row)}
            for row in data[table]]


def _decoded(dictionary, value):
    if dictionary is None:
        return value
    if isinstance(value, list):
        return [dictionary[i] for i in value]
    return dictionary[value]


# Payload responses kept on disk under CACHE_DIR/mapdata (config MAP_DATA_FILE_BYTES), shared by the workers of an
# instance: a selection is built once per data version, not once per worker and again after each restart (each
# worker also keeps its last responses in memory, registry/web/maps.py). Least recently used out first.
PAYLOAD_FILES_BYTES = 256 * 1024 * 1024


def cached_payload(cache_dir, key, build, max_bytes=PAYLOAD_FILES_BYTES):
    """The response bytes for `key` (a string naming the payload's shape, data version, selection, language
    and encoding) from the folder `cache_dir`/mapdata, made with `build()` and written there on a miss."""
    folder = Path(cache_dir) / "mapdata"
    path = folder / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".json")
    body = files.read_and_touch(path)
    if body is None:
        body = build()
        files.write_whole(path, body)
        files.trim(folder, max_bytes, keep=path)
    return body


def cache_key(query):
    """The selection as a stable string: the same projects give the same key whatever the order."""
    return urlencode(sorted(query.params(page=1, per_page=20, sort="")))


# --- the extent a map of the selection shows --------------------------------------------------------

# A country's shape is its largest part and the parts within this many degrees of it (Alaska with the
# United States, Kaliningrad and Chukotka with Russia), not the islands far away (Hawaii).
NEAR_DEGREES = 15
# A covering arc of longitudes wider than this (half the globe) is the world: its map is the usual one,
# centred on Greenwich.
WORLD_SPAN = 180


def bbox_extent(box):
    """A bbox as an extent (east above 180 when it crosses the antimeridian, as selection_bounds gives it), or
    None (the world) when it is wider than WORLD_SPAN."""
    east = box.east + 360 if box.wraps else box.east
    if east - box.west > WORLD_SPAN:
        return None
    return {"west": box.west, "south": box.south, "east": east, "north": box.north}


def focus_countries(query):
    """The ISO3 codes a query's place filters name (its countries and its regions' members), or None when
    it names no place: a map fits the selection's places within them."""
    codes = set(query.countries)
    for code in getattr(query, "regions", ()):
        region = region_table.get_region(code)
        codes |= region.members if region else set()
    return frozenset(codes) if (query.countries or getattr(query, "regions", ())) else None


def selection_bounds(locations, counts, focus=None):
    """The extent that shows the selection: {"west", "south", "east", "north"} in degrees, or None for the
    whole world. Made of its drawn points and the shapes of its countries (those of `focus`, when given);
    with neither, of its regional locations' member countries (a selection of regional networks), or else
    of the `focus` countries themselves (a place with no matching project). `east` is
    above 180 when the extent crosses the antimeridian (Fiji, Kiribati): a map centred on it shows it."""
    def wanted(iso3):
        return focus is None or iso3 in focus
    boxes = [(loc["lon"], loc["lat"], loc["lon"], loc["lat"]) for loc in locations
             if loc["precision"] in DRAWN and loc["lat"] is not None and loc["lon"] is not None
             and (focus is None or loc.get("country") in focus)]
    shapes = country_boxes()
    boxes += [box for iso3 in counts if wanted(iso3) for box in shapes.get(iso3, ())]
    if not boxes:
        regional = set()
        for loc in locations:
            region = region_table.get_region(loc.get("region"))
            regional |= region.members if region else set()
        boxes = [box for iso3 in sorted(regional) if wanted(iso3) for box in shapes.get(iso3, ())]
    if not boxes and focus:         # nothing to show: the places asked for, empty
        boxes = [box for iso3 in sorted(focus) for box in shapes.get(iso3, ())]
    return covering_extent(boxes)


def covering_extent(boxes):
    """The smallest extent (west, south, east, north) holding these (west, south, east, north) boxes on the
    globe: the longitudes are the complement of the widest gap between them, wherever it is, so that
    boxes on both sides of the antimeridian give an extent across it (east > 180). None: the world."""
    if not boxes:
        return None
    spans = []
    for west, _, east, _ in sorted(boxes):
        if spans and west <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], east)
        else:
            spans.append([west, east])
    gaps = [(spans[0][0] + 360 - spans[-1][1], len(spans) - 1)]
    gaps += [(spans[i + 1][0] - spans[i][1], i) for i in range(len(spans) - 1)]
    _, after = max(gaps)
    west, east = spans[(after + 1) % len(spans)][0], spans[after][1]
    if east < west or after != len(spans) - 1:
        east += 360
    if east - west > WORLD_SPAN:
        return None
    south, north = min(b[1] for b in boxes), max(b[3] for b in boxes)
    return {"west": round(west, 3), "south": round(south, 3), "east": round(east, 3), "north": round(north, 3)}


@lru_cache(maxsize=1)
def country_boxes():
    """{iso3: [(west, south, east, north) of each part of its shape that counts]} from the committed
    boundaries (see NEAR_DEGREES)."""
    world = json.loads(geo.countries_geojson_path().read_text("utf-8"))
    boxes = {}
    for feature in world["features"]:
        geometry = feature["geometry"]
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        parts = [_box(polygon[0]) for polygon in polygons]
        main = max(parts, key=_area)
        boxes[feature["properties"]["iso3"]] = [p for p in parts if _distance(p, main) <= NEAR_DEGREES]
    return boxes


def _box(ring):
    xs, ys = [c[0] for c in ring], [c[1] for c in ring]
    return (min(xs), min(ys), max(xs), max(ys))


def _area(box):
    return (box[2] - box[0]) * (box[3] - box[1]) * math.cos(math.radians((box[1] + box[3]) / 2))


def _distance(a, b):
    """Degrees between two boxes (0 when they touch), across the antimeridian too."""
    lon = min(max(0, a[0] - (b[2] + shift), (b[0] + shift) - a[2]) for shift in (-360, 0, 360))
    lat = max(0, a[1] - b[3], b[1] - a[3])
    return max(lon, lat)
