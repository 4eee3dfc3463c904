"""The PNG map fits its selection (real renders): the extent of its points and countries, padded, never
tiny, across the antimeridian when the selection is, the world only when it is worldwide; its text stays in
the image; its legend covers no point; scale=2 doubles its pixels."""
import html
import io

import numpy as np
import pytest
from PIL import Image

from registry.core.query import ProjectQuery
from registry.core.summary import summarise
from registry.maps import png as staticmap
from registry.maps.data import CODED, FIELDS, map_data, focus_countries, selection_bounds
from registry.search.finder import find_projects
from registry.store import db as storage
from registry.web.context import index_settings

LAC_GEF = ProjectQuery(funders=("gef",), regions=("419",))


def pixels(png_bytes):
    return np.asarray(Image.open(io.BytesIO(png_bytes)).convert("RGB")).astype(int)


def red_pixels(image, box=None):
    """(rows, columns) of pixels in the selection's point colour (within box: left, top, right, bottom)."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    # reddish: the marker's colour, also where a small marker blends with its white edge and the land
    rows, cols = np.nonzero((r > 110) & (r - g > 45) & (r - b > 35))
    if box is None:
        return rows, cols
    inside = (cols >= box[0]) & (cols <= box[2]) & (rows >= box[1]) & (rows <= box[3])
    return rows[inside], cols[inside]


def extent_box(layout, bounds, pad_px):
    """The selection's extent in pixels (its outline, sampled: Equal Earth's meridians curve), widened by
    pad_px (a marker's half)."""
    steps = 16
    west, south, east, north = bounds["west"], bounds["south"], bounds["east"], bounds["north"]
    outline = [(west + (east - west) * i / steps, lat) for i in range(steps + 1) for lat in (south, north)]
    outline += [(lon, south + (north - south) * i / steps) for i in range(steps + 1) for lon in (west, east)]
    xy = [layout.to_pixels(lon, lat) for lon, lat in outline]
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    return min(xs) - pad_px, min(ys) - pad_px, max(xs) + pad_px, max(ys) + pad_px


@pytest.fixture
def lac(app):
    """(payload, Summary) of GEF's projects in Latin America and the Caribbean, from the real seed."""
    db = storage.connect(app.config["DATABASE"], readonly=True)
    try:
        with app.app_context():
            query = LAC_GEF             # already resolved: an organisation id and a region code
            results = find_projects(db, index_settings(app), query, with_page=False, with_facets=False)
        data = map_data(db, results.ids, focus=focus_countries(query))
        summary = summarise(query, results.total, storage.org_labels(db, query.funders))
    finally:
        db.conn.close()
    assert results.total >= 5 and data["points"]          # the seed fills this selection: the checks bite
    return data, summary


def test_the_png_shows_the_selection_not_the_world(lac):
    data, summary = lac
    bounds = data["bounds"]
    assert bounds is not None and -120 < bounds["west"] < bounds["east"] < -25     # the Americas, not the world
    body, layout = staticmap.render(data, summary.sentence, "", 600, 360)
    image = pixels(body)
    rows, cols = red_pixels(image, layout.map_box)                # (the legend's samples are red too)
    assert len(rows) > 50                                         # the points are drawn
    left, top, right, bottom = extent_box(layout, bounds, pad_px=6)
    assert cols.min() >= left and cols.max() <= right and rows.min() >= top and rows.max() <= bottom
    map_left, map_top, map_right, map_bottom = layout.map_box
    assert left >= map_left - 1 and right <= map_right + 1 and top >= map_top - 1 and bottom <= map_bottom + 1
    # fitted: the extent fills the map one way or the other (not points in a corner of a world map)
    assert (right - left) / (map_right - map_left) > 0.6 or (bottom - top) / (map_bottom - map_top) > 0.6


def test_the_served_png_is_that_render(client, lac):
    data, summary = lac
    served = client.get("/map.png?region=419&funder=gef")
    assert served.status_code == 200
    # the same extent: the points of the served image lie in the same pixel box
    _, layout = staticmap.render(data, summary.sentence, "", 600, 360)
    left, top, right, bottom = extent_box(layout, data["bounds"], pad_px=6)
    rows, cols = red_pixels(pixels(served.data), layout.map_box)
    assert len(rows) > 50
    assert cols.min() >= left - 2 and cols.max() <= right + 2


def test_the_legend_covers_no_point(lac):
    data, summary = lac
    for width, height in ((600, 360), (300, 300), (200, 150)):
        body, layout = staticmap.render(data, summary.sentence, "", width, height)
        lx0, ly0, lx1, ly1 = layout.legend_box
        assert ly0 >= layout.map_box[3] - 1                       # under the map, never on it
        rows, cols = red_pixels(pixels(body))
        on_legend = (cols >= lx0) & (cols <= lx1) & (rows >= ly0) & (rows <= ly1)
        # the legend's own marker samples are red: those are the only red pixels inside its box
        map_rows = rows < layout.map_box[3]
        assert not (on_legend & map_rows).any()
        assert 0 <= lx0 and lx1 <= width and ly1 <= height       # the whole legend is in the image


LONG = ("a selection whose description is far longer than any title could be, with several funders, "
        "organisations, areas, statuses and a long search text about artisanal and small-scale gold mining "
        "in the Amazon basin and the Guiana Shield, which must wrap and then be shortened between words")


@pytest.mark.parametrize("width, height", [(600, 360), (300, 200), (200, 150)])
def test_text_stays_inside_the_image(lac, width, height):
    data, _ = lac
    body, layout = staticmap.render(data, LONG, LONG, width, height)
    assert len(layout.title_lines) <= 2 and len(layout.subtitle_lines) <= 2
    for text, (x0, y0, x1, y1) in layout.texts:
        assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, (text, (x0, y0, x1, y1))
    words = {w.strip(",") for w in LONG.split()}
    for line in layout.title_lines + layout.subtitle_lines:   # whole words, cut only at the end
        shown = [w.strip(",") for w in line.rstrip("…").split()]
        assert all(w in words for w in shown), line
    image = pixels(body)
    dark = np.abs(image - np.array((0x1d, 0x2a, 0x33))).sum(axis=2) < 60
    assert not dark[:, 0].any() and not dark[:, -1].any()      # no text runs off the left or right edge


def test_the_first_title_that_fits_is_chosen(lac):
    data, _ = lac
    _, layout = staticmap.render(data, LONG, "", 600, 360, alternatives=[("12 projects", "funded by GEF")])
    assert layout.title_lines == ["12 projects"] and layout.subtitle_lines == ["funded by GEF"]


def payload(points):
    """A payload of one project with these (lat, lon, iso3) country points, its bounds as map_data makes them."""
    locations = [{"lat": lat, "lon": lon, "precision": "country", "country": iso3, "region": None}
                 for lat, lon, iso3 in points]
    counts = {iso3: 1 for _, _, iso3 in points}
    return {
        "fields": {t: list(c) for t, c in FIELDS.items()},
        "values": {c: (["country"] if c == "precision" else ["asgm"] if c == "area" else
                       ["ongoing"] if c == "status" else [None]) for c in CODED},
        "total": 1, "projects": [["p", "P", 0, 0, [], []]],
        "points": [[lat, lon, 0, 0, "x", 0, 0] for lat, lon, _ in points], "unplaced": [],
        "countries": [[iso3, iso3, 1] for iso3 in sorted(counts)], "breaks": [1],
        "bounds": selection_bounds(locations, counts),
    }


def test_a_selection_across_the_antimeridian_is_drawn_centred_on_it():
    data = payload([(-17.8, 178.0, "FJI"), (-13.8, -172.1, "WSM"), (-21.2, -175.2, "TON")])
    bounds = data["bounds"]
    assert bounds["east"] > 180 and bounds["east"] - bounds["west"] < 40         # across, not around the world
    body, layout = staticmap.render(data, "Pacific", "", 600, 360)
    xy = [layout.to_pixels(lon, lat) for lat, lon, _ in [(-17.8, 178.0, 0), (-13.8, -172.1, 0)]]
    left, top, right, bottom = layout.map_box
    assert all(left < x < right and top < y < bottom for x, y in xy)
    assert abs(xy[0][0] - xy[1][0]) < (right - left) / 2                           # neighbours, not two edges
    rows, cols = red_pixels(pixels(body))
    for x, y in xy:                                                                 # both are drawn there
        assert ((abs(cols - x) < 5) & (abs(rows - y) < 5)).any()


def test_a_single_point_is_no_one_degree_map():
    data = payload([(18.1, -77.3, "JAM")])
    _, layout = staticmap.render(data, "Jamaica", "", 600, 360)
    assert layout.xlim[1] - layout.xlim[0] >= staticmap.MIN_SPAN[0]
    assert layout.ylim[1] - layout.ylim[0] >= staticmap.MIN_SPAN[1]


def test_the_world_only_when_worldwide_and_nothing_polar_cut_off():
    data = payload([(78.2, 15.6, "NOR"), (-41.3, 174.8, "NZL"), (64.1, -21.9, "ISL"), (-34.6, -58.4, "ARG")])
    assert data["bounds"] is None                                                  # worldwide: the world
    body, layout = staticmap.render(data, "World", "", 600, 360)
    world = staticmap._world(0).total_bounds
    assert layout.xlim[0] <= world[0] and world[2] <= layout.xlim[1]
    assert layout.ylim[0] <= world[1] and world[3] <= layout.ylim[1]
    x, y = layout.to_pixels(15.6, 78.2)                                             # Svalbard's marker
    assert y - layout.map_box[1] >= staticmap.MARGIN_PX * 0.9
    rows, cols = red_pixels(pixels(body))
    assert ((abs(cols - x) < 5) & (abs(rows - y) < 5)).any()


@pytest.mark.parametrize("params, size", [("width=600&scale=2", (1200, 720)), ("width=300&height=200&scale=2",
                                                                                (600, 400)), ("scale=1", (600, 360))])
def test_scale_2_doubles_the_pixels(client, params, size):
    r = client.get(f"/map.png?area=asgm&{params}")
    assert r.status_code == 200 and Image.open(io.BytesIO(r.data)).size == size


@pytest.mark.parametrize("value", ["3", "0", "1.5", "two", "-1"])
def test_other_scales_are_refused_with_a_message(client, value):
    r = client.get(f"/map.png?scale={value}")
    assert r.status_code == 400 and "'scale' must be 1 or 2" in html.unescape(r.get_data(as_text=True))
