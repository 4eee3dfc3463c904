"""The PNG map (/map.png) through the real app: size, content, bounds, and the on-disk cache."""
import io
from pathlib import Path

import pytest
from PIL import Image

from conftest import import_samples, make_app
from registry.maps import png as staticmap
from registry.maps.data import DRAWN, FIELDS, class_breaks, map_data
from registry.store import db as storage


def png(client, params):
    r = client.get(f"/map.png?{params}")
    assert r.status_code == 200, r.data[:300]
    assert r.mimetype == "image/png"
    return r.data


def cached_files(app):
    return sorted((Path(app.config["CACHE_DIR"]) / "maps").glob("*.png"))


@pytest.mark.parametrize("params, size", [
    ("", (600, 360)), ("area=asgm&width=400&height=300", (400, 300)), ("width=200&height=150", (200, 150)),
    ("width=1200", (1200, 720)), ("width=1200&height=1200", (1200, 1200)),
])
def test_png_has_the_requested_size(client, params, size):
    image = Image.open(io.BytesIO(png(client, params)))
    image.verify()                               # a complete, valid PNG
    assert image.format == "PNG" and image.size == size


def test_email_size_png_is_small(client):
    data = png(client, "")
    assert len(data) < 120_000                   # 600 px, reduced palette: fine for a newsletter
    assert Image.open(io.BytesIO(data)).mode == "P"


def test_png_differs_between_selections(client):
    assert png(client, "area=asgm") != png(client, "area=coal")


@pytest.mark.parametrize("params", [
    "width=0", "width=199", "width=1201", "width=5000", "width=-600", "width=abc", "width=1e3", "width=600.5",
    "width=%EF%BC%96%EF%BC%90%EF%BC%90",           # full-width digits
    "height=149", "height=99999", "height=nan", "width=600&height=0",
])
def test_absurd_sizes_are_refused_with_a_message(client, app, params):
    r = client.get(f"/map.png?{params}")
    assert r.status_code == 400
    text = r.get_data(as_text=True)
    assert "between" in text and "pixels" in text
    assert cached_files(app) == []               # nothing rendered, nothing stored


def test_bad_filters_are_refused_too(client):
    r = client.get("/map.png?area=bogus")
    assert r.status_code == 400 and "unknown area" in r.get_data(as_text=True)


def test_second_request_is_served_from_the_disk_cache(client, app):
    first = png(client, "area=asgm&width=300")
    files = cached_files(app)
    assert len(files) == 1 and files[0].read_bytes() == first
    # Prove the second answer comes from the cache: replace the cached image with another valid PNG.
    marker = io.BytesIO()
    Image.new("RGB", (300, 180), "red").save(marker, format="PNG")
    files[0].write_bytes(marker.getvalue())
    # another worker (a new app: its response cache, web/httpcache.py, is empty) reads the shared disk cache
    other = make_app(Path(app.config["DATABASE"]).parent).test_client()
    assert png(other, "area=asgm&width=300") == marker.getvalue()
    # The same selection spelled differently (a name for a code, another order) shares the entry.
    png(client, "width=300&area=ASGM")
    assert len(cached_files(app)) == 1


def test_new_data_makes_a_new_image(client, app):
    before = png(client, "country=GHA")
    import_samples(app)                          # adds a project in Ghana: the data version changes
    after = png(client, "country=GHA")
    assert before != after and len(cached_files(app)) == 2


def test_search_text_is_never_mathtext(client):
    # '$' would start matplotlib's mathtext (and a lone one would crash it): it must stay plain text
    assert Image.open(io.BytesIO(png(client, "q=%24x%5E2%24+%24"))).size == (600, 360)


def test_class_breaks_cover_the_counts():
    assert class_breaks(0) == []
    assert class_breaks(3) == [1, 2, 3]
    for top in (6, 40, 1000, 50000):
        breaks = class_breaks(top)
        assert breaks[0] == 1 and breaks == sorted(set(breaks)) and breaks[-1] <= top
        assert len(breaks) <= len(staticmap.PALETTE)


def test_png_reads_the_payload_by_field_name(app):
    """The PNG draws from map_data's payload through its field names: the same payload with its columns in
    another order gives the same image, and the points it reads are drawn (without them it differs)."""
    db = storage.connect(app.config["DATABASE"], readonly=True)
    try:
        data = map_data(db, [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id")])
    finally:
        db.conn.close()
    assert data["points"] and data["countries"]
    assert tuple(staticmap.MARKERS) == DRAWN                 # a marker for every precision drawn as a point
    reordered = dict(data, fields={t: list(reversed(c)) for t, c in data["fields"].items()},
                     **{t: [list(reversed(row)) for row in data[t]] for t in FIELDS})
    draw = lambda d: staticmap.render_png(d, "title", "", 300, 180)  # noqa: E731
    assert draw(reordered) == draw(data)
    assert draw(dict(data, points=[])) != draw(data)
