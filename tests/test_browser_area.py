""""Search this area" and permalinks (issue 15) in a real browser (Debian chromium through Playwright) against
the real app on 127.0.0.1, on a private copy of the seeded instance with the map samples and the Pacific
records of tests/test_bbox.py (a project on each side of the antimeridian)."""
import json
import re
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import import_samples, make_app, serve
from registry.exchange import ingest
from registry.search import index as search
from registry.store import db as storage
from registry.web.context import index_settings
from test_bbox import pacific_records

pytestmark = pytest.mark.slow   # a real browser
READY = ".folium-map[data-ready]"
BUTTON = ".map-search-area-button"


@pytest.fixture(scope="module")
def site(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser-area") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder)
    import_samples(app)
    db = storage.connect(app.config["DATABASE"])
    try:
        report = ingest.import_data(db, json.dumps(pacific_records()).encode("utf-8"), "json")
    finally:
        db.conn.close()
    with app.app_context():
        search.update_projects(index_settings(app), report.added, organisations=report.organisations)
    server, base = serve(app)
    yield {"base": base, "app": app}
    server.shutdown()


def open_map(page, url):
    page.goto(url)
    page.wait_for_selector(READY, timeout=15000)


def view(page):
    """(zoom, lat, lon) of the first map on the page."""
    return page.evaluate("() => { const m = registryMaps[0].map, c = m.getCenter(); "
                         "return [m.getZoom(), c.lat, c.lng]; }")


def api_total(site, bbox, **query):
    client = site["app"].test_client()
    r = client.get("/api/projects", query_string=dict(query, bbox=bbox, per_page=1))
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["total"]


def bbox_of(url):
    values = parse_qs(urlsplit(url).query)["bbox"]
    assert len(values) == 1
    return values[0]


def test_panning_shows_the_button_and_pressing_it_searches_the_area(page, site):
    open_map(page, site["base"] + "/map?area=asgm#4/0/20")        # a permalink: Africa, zoom 4
    assert view(page) == [4, 0, 20]
    page.wait_for_timeout(300)
    assert not page.locator(BUTTON).is_visible()                   # not for the first view
    whole = page.inner_text("#map-summary")
    # the user zooms in with the map's own control
    page.click(".leaflet-control-zoom-in")
    page.wait_for_function("() => registryMaps[0].map.getZoom() === 5")
    button = page.locator(BUTTON)
    button.wait_for(state="visible", timeout=5000)
    assert button.inner_text() == "Search this area" and button.get_attribute("type") == "button"
    # keyboard: focus it and press Enter
    button.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector(READY, timeout=15000)
    url = page.url
    bbox = bbox_of(url)
    west, south, east, north = (float(v) for v in bbox.split(","))
    assert west < 20 < east and south < 0 < north and (east - west) < 90       # the zoomed-in view, not the world
    assert re.search(r"#5/-?0\.0+/20\.0+$", url)                    # the view stays in the address
    assert view(page)[0] == 5
    assert parse_qs(urlsplit(url).query)["area"] == ["asgm"]       # the other filters kept
    expected = api_total(site, bbox, area="asgm")
    assert 0 < expected
    summary = page.inner_text("#map-summary")
    assert summary.startswith(f"{expected} project") and summary != whole
    assert page.inner_text(".map-caption").endswith("in the area shown")
    assert not page.locator(BUTTON).is_visible()                   # a new first view: hidden again
    # the list link carries the box, and the list counts the same
    href = page.get_attribute("a.list-link", "href")
    assert bbox_of(href) == bbox
    page.click("a.list-link")
    page.wait_for_url(re.compile(r"/projects\?"))
    assert page.inner_text("p.summary").startswith(f"{expected} project")
    assert page.errors == []


def test_a_view_across_the_antimeridian_searches_a_wrapping_box(page, site):
    open_map(page, site["base"] + "/map#4/-18/185")                # centred east of 180: Fiji and Samoa
    page.focus(".folium-map")
    page.keyboard.press("ArrowLeft")                               # the arrow keys pan the map
    page.locator(BUTTON).wait_for(state="visible", timeout=5000)
    with page.expect_navigation():
        page.click(BUTTON)
    page.wait_for_selector(READY, timeout=15000)
    bbox = bbox_of(page.url)
    west, _, east, _ = (float(v) for v in bbox.split(","))
    assert west > east and 90 < west < 177.85 and -171.76 < east < -120, bbox    # wraps, Fiji and Samoa inside
    expected = api_total(site, bbox)
    assert expected >= 2                                          # Fiji and Samoa at least
    assert page.inner_text("#map-summary").startswith(f"{expected} projects")
    drawn = page.evaluate("() => [...new Set(registryMaps[0].data.points.map(p => p.project.id))]")
    assert {"bbox-fiji", "bbox-samoa"} <= set(drawn)
    assert page.errors == []


def test_a_permalink_opens_on_its_view_on_the_map_and_the_embed(page, site):
    for path in ("/map?area=asgm", "/embed/map?area=asgm"):
        open_map(page, site["base"] + path + "#5/-3.5/29.25")
        zoom, lat, lon = view(page)
        assert (zoom, round(lat, 2), round(lon, 2)) == (5, -3.5, 29.25), path
    # without a view in the address, the map fits the selection instead
    open_map(page, site["base"] + "/map?area=asgm")
    assert view(page) != [5, -3.5, 29.25]


def test_the_share_panel_follows_the_view(page, site):
    base = site["base"]
    # opened on a view (zoomed in: a view near the poles is moved inside the map's bounds, which depend on
    # the frame's size), the panel carries it from the start
    open_map(page, base + "/map?area=asgm#4/0/20")
    assert page.input_value('[data-share="link"]') == f"{base}/map?area=asgm#4/0.000/20.000"
    # the user drags the map
    page.locator(".folium-map").scroll_into_view_if_needed()
    box = page.locator(".folium-map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 150, y + 80, steps=8)
    page.mouse.up()
    # the view is written when the move ends (after the drag's inertia), and then no more
    page.wait_for_function("() => location.hash !== '#4/0.000/20.000'")
    page.wait_for_function("""() => new Promise(done => { const h = location.hash;
        setTimeout(() => done(location.hash === h), 600); })""")
    hash_ = page.evaluate("() => location.hash")
    page.click(".map-share summary")
    assert page.input_value('[data-share="link"]') == f"{base}/map?area=asgm{hash_}"
    code = page.input_value('[data-share="iframe"]')
    assert f'src="{base}/embed/map?area=asgm{hash_}"' in code
    page.fill('[data-share="width"]', "640")                       # resizing keeps the view in the code
    assert f'src="{base}/embed/map?area=asgm{hash_}" width="640"' in page.input_value('[data-share="iframe"]')
    # the shared link and the embed open on the view shown
    zoom, lat, lon = view(page)
    for url in (page.input_value('[data-share="link"]'), re.search(r'src="([^"]+)"', code).group(1)):
        other = page.context.new_page()
        other.goto(url)
        other.wait_for_selector(READY, timeout=15000)
        z, la, lo = view(other)
        assert z == zoom and abs(la - lat) < 0.01 and abs(lo - lon) < 0.01, url
        other.close()
    assert page.errors == []


def test_the_embed_link_to_the_full_map_follows_the_view(page, site):
    open_map(page, site["base"] + "/embed/map?area=asgm#4/0/20")
    link = page.locator(".embed-caption a")
    assert link.get_attribute("href").endswith("/map?area=asgm#4/0.000/20.000")
    page.focus(".folium-map")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("() => location.hash !== '#4/0.000/20.000'")
    assert link.get_attribute("href").endswith("/map?area=asgm" + page.evaluate("() => location.hash"))
    assert page.locator(BUTTON).count() == 0                        # the button is the map page's only
