"""The maps in a real browser (Debian chromium through Playwright) against the real app served on
127.0.0.1, on a private copy of the seeded instance with two extra projects (one exact site, and one
whose title, funder and places are script injections)."""
import re
import shutil

import pytest

from conftest import XSS_ORG, XSS_PLACE, XSS_TITLE, import_samples, make_app, serve
from registry.store import db as storage

pytestmark = pytest.mark.slow   # a real browser
READY = ".folium-map[data-ready]"
# true once every marker of the first map on the page is in its cluster group
ALL_DRAWN = "() => { const c = window.registryMaps && registryMaps[0]; " \
            "return !!(c && c.cluster && c.cluster.getLayers().length === c.markers.length); }"


@pytest.fixture(scope="module")
def site(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder)
    import_samples(app)
    server, base = serve(app)
    yield {"base": base, "app": app, "folder": folder}
    server.shutdown()


def open_map(page, url):
    page.goto(url)
    page.wait_for_selector(READY, timeout=15000)
    page.wait_for_function(ALL_DRAWN, timeout=15000)


def marker_position(page, project_id):
    """Page coordinates of the (unclustered) marker of a project on the first map."""
    return page.evaluate("""(id) => {
        const c = registryMaps[0];
        const m = c.markers.find(m => c.data.points[m.options.pointIndex].project.id === id);
        const p = c.map.latLngToContainerPoint(m.getLatLng()), r = c.container.getBoundingClientRect();
        return [r.left + p.x, r.top + p.y, !!m._map];
    }""", project_id)


def click_marker(page, project_id):
    page.locator(".folium-map").first.scroll_into_view_if_needed()   # the mouse clicks inside the viewport only
    x, y, on_map = marker_position(page, project_id)
    assert on_map, "the marker should be drawn on its own, not inside a cluster"
    page.mouse.click(x, y)
    page.wait_for_selector(".leaflet-popup-content .map-popup-title", timeout=5000)


def test_map_renders_without_any_request_outside_the_app(page, site):
    open_map(page, site["base"] + "/map")
    clusters = page.locator(".map-cluster").count()
    singles = page.evaluate("() => registryMaps[0].markers.filter(m => m._map).length")
    assert clusters + singles > 0
    assert page.locator(".leaflet-overlay-pane canvas").count() >= 1     # countries and points on canvas
    outside = [u for u in page.requests if not u.startswith(site["base"] + "/") and not u.startswith("data:")]
    assert outside == []
    assert page.errors == []
    # the summary and the list of regional and global work are filled in
    assert re.match(r"\d+ projects · \d+ locations on the map", page.inner_text("#map-summary"))
    assert page.locator("#map-unplaced li").count() > 0
    page.screenshot(path="/tmp/map.png", full_page=True)


def test_clicking_a_marker_opens_a_popup_that_links_to_the_project(page, site):
    open_map(page, site["base"] + "/map?org=map-test-org")
    click_marker(page, "map-test-site")
    popup = page.locator(".leaflet-popup-content")
    assert popup.locator(".map-popup-title").inner_text() == "Map test: mercury-free processing at one site"
    assert "Ghana" in popup.inner_text() and "Artisanal and small-scale gold mining" in popup.inner_text()
    facts = dict(zip(popup.locator("dt").all_inner_texts(), popup.locator("dd").all_inner_texts()))
    # the sample's point has coordinates and no stated source: the importer records them as an editor's
    assert facts == {"Where": "Tarkwa test site (exact site)", "Coordinates": "Entered by an editor",
                     "Countries": "Ghana", "Status": "ongoing"}
    popup.locator(".map-popup-title").click()
    page.wait_for_url(site["base"] + "/projects/map-test-site")
    assert page.inner_text("h1") == "Map test: mercury-free processing at one site"


def test_filtered_map_shows_only_matching_projects(page, site):
    db = storage.connect(site["app"].config["DATABASE"], readonly=True)
    expected = {r[0] for r in db.execute("SELECT project_id FROM project_areas WHERE area = 'coal'")}
    located = {r[0] for r in db.execute(
        "SELECT DISTINCT l.project_id FROM locations l JOIN project_areas a ON a.project_id = l.project_id "
        "WHERE a.area = 'coal' AND l.lat IS NOT NULL AND l.precision IN ('site', 'subnational', 'country')")}
    db.conn.close()
    open_map(page, site["base"] + "/map?area=coal")
    shown = page.evaluate("""() => { const c = registryMaps[0];
        return {projects: c.data.projects.map(p => p.id),
                drawn: [...new Set(c.markers.map(m => c.data.points[m.options.pointIndex].project.id))]}; }""")
    assert expected and located   # both sides empty would pass the checks below
    assert set(shown["projects"]) == expected
    assert set(shown["drawn"]) == located
    assert page.inner_text("#map-summary").startswith(f"{len(expected)} project")
    # the map links back to the list with the same selection
    assert page.get_attribute("a.list-link", "href") == "/projects?area=coal"


def test_embed_works_in_an_iframe_on_another_origin(page, site):
    base = site["base"]
    html = (f'<!doctype html><title>Partner site</title><h1>Our partner page</h1>'
            f'<iframe id="embed" src="{base}/embed/map?area=asgm" width="800" height="480"></iframe>'
            f'<iframe id="full" src="{base}/map?area=asgm" width="400" height="300"></iframe>').encode()

    def partner(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [html]

    server, other = serve(partner)
    try:
        page.goto(other + "/")
        frame = page.frame_locator("#embed")
        frame.locator(READY).wait_for(timeout=15000)
        embed = page.locator("#embed").element_handle().content_frame()
        embed.wait_for_function(ALL_DRAWN, timeout=15000)
        assert embed.evaluate("() => registryMaps[0].markers.length") > 0
        assert frame.locator(".map-cluster").count() + embed.evaluate(
            "() => registryMaps[0].markers.filter(m => m._map).length") > 0
        back = frame.locator(".embed-bar a").first
        assert back.get_attribute("target") == "_blank" and back.get_attribute("href") == base + "/map?area=asgm"
        # every other page refuses to be framed: the browser does not render /map inside the partner page
        full = page.locator("#full").element_handle().content_frame()
        page.wait_for_timeout(500)
        assert full.locator(".folium-map").count() == 0
        outside = [u for u in page.requests
                   if not u.startswith((base + "/", other + "/", "data:", "chrome-error:"))]
        assert outside == []
    finally:
        server.shutdown()


def test_script_injections_show_as_text_and_run_nothing(page, site, tmp_path):
    base = site["base"]
    open_map(page, base + "/map?funder=map-xss-org")
    click_marker(page, "map-xss")
    popup = page.locator(".leaflet-popup-content")
    assert popup.locator(".map-popup-title").inner_text() == XSS_TITLE
    assert XSS_ORG[:40] in popup.inner_text() and XSS_PLACE in popup.inner_text()
    assert page.locator("#map-unplaced li").first.inner_text().startswith(XSS_TITLE)
    assert page.evaluate("() => typeof window.PWNED") == "undefined"
    for path in ("/map", "/embed/map?funder=map-xss-org", "/projects/map-xss"):
        open_map(page, base + path)
        assert page.evaluate("() => typeof window.PWNED") == "undefined", path
    click_marker(page, "map-xss")          # the small map on the project page, with inline data
    assert page.locator(".leaflet-popup-content .map-popup-title").inner_text() == XSS_TITLE
    assert page.evaluate("() => typeof window.PWNED") == "undefined"
    assert page.errors == []


def test_downloaded_map_works_from_a_file_without_a_server(page, site, tmp_path):
    response = page.request.get(site["base"] + "/map/download.html?funder=map-xss-org")
    assert response.ok and "attachment" in response.headers["content-disposition"]
    path = tmp_path / "map.html"
    path.write_bytes(response.body())
    page.requests.clear()
    open_map(page, path.as_uri())
    assert [u for u in page.requests if not u.startswith(("file:", "data:"))] == []
    click_marker(page, "map-xss")
    link = page.locator(".leaflet-popup-content .map-popup-title")
    assert link.inner_text() == XSS_TITLE
    assert link.get_attribute("href") == site["base"] + "/projects/map-xss"     # absolute: back to the site
    assert page.evaluate("() => typeof window.PWNED") == "undefined"


def test_map_fits_a_phone_screen(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    try:
        open_map(page, site["base"] + "/map?area=asgm")
        box = page.locator(".registry-map-full").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 300
        # the whole selection fits in the first view, and the controls stay out of the way
        inside = page.evaluate("""() => { const c = registryMaps[0], b = c.map.getBounds();
            return c.markers.every(m => b.contains(m.getLatLng())); }""")
        assert inside
        assert page.locator(".leaflet-control-layers-expanded").count() == 0
        page.screenshot(path="/tmp/map-mobile.png")
    finally:
        context.close()


def test_share_panel_updates_the_iframe_code(page, site):
    page.goto(site["base"] + "/projects?area=asgm")
    page.click(".map-share summary")
    page.fill('[data-share="width"]', "640")
    page.fill('[data-share="height"]', "380")
    code = page.input_value('[data-share="iframe"]')
    assert code == (f'<iframe src="{site["base"]}/embed/map?area=asgm" width="640" height="380" style="border:0" '
                    'loading="lazy" title="Map of Mercury Partnership projects"></iframe>')
    page.fill('[data-share="width"]', '"><script>')
    assert "<script>" not in page.input_value('[data-share="iframe"]')


def test_layer_control_switches_areas_and_the_choropleth(page, site):
    open_map(page, site["base"] + "/map")
    counts = page.evaluate("""() => { const c = registryMaps[0];
        return {all: c.markers.length, asgm: c.areaLayers.asgm.count, drawn: c.cluster.getLayers().length}; }""")
    assert counts["drawn"] == counts["all"] and 0 < counts["asgm"] < counts["all"]
    page.hover(".leaflet-control-layers")
    page.locator(".leaflet-control-layers-overlays label", has_text="Artisanal and small-scale gold mining").click()
    assert page.evaluate("() => registryMaps[0].cluster.getLayers().length") == counts["all"] - counts["asgm"]
    page.locator(".leaflet-control-layers-overlays label", has_text="Artisanal and small-scale gold mining").click()
    assert page.evaluate("() => registryMaps[0].cluster.getLayers().length") == counts["all"]
    page.locator(".leaflet-control-layers-base label", has_text="Countries only").click()
    assert page.evaluate("() => { const c = registryMaps[0]; return [c.map.hasLayer(c.shaded), c.map.hasLayer(c.plain)]; }") \
        == [False, True]
    assert page.errors == []
