"""How a map page loads its data (issue 16): the page preloads exactly what static/map.js fetches, the
boundaries travel gzipped and arrive unchanged, a payload built by one worker is served by the others from
its file, and in a real browser every point of the payload is drawn, `data-drawn` appears only once every
marker is in, and the lists beside the map then hold every project."""
import gzip
import html as htmlmod
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import generated_app, import_samples, make_app, serve
from registry.core import geo
from registry.maps.data import records
from registry.store import db as storage
from test_map_a11y import map_config

PRELOAD = re.compile(r'<link rel="preload" href="([^"]+)" as="fetch" crossorigin="anonymous">')


def preloads(html):
    return [htmlmod.unescape(url) for url in PRELOAD.findall(html)]


@pytest.mark.parametrize("path", ["/map", "/map?area=asgm&status=ongoing", "/embed/map?country=BFA", "/map?lang=fr"])
def test_map_pages_preload_exactly_what_map_js_fetches(reader, path):
    html = reader.get(path).get_data(as_text=True)
    config = map_config(html)
    assert preloads(html) == [config["dataUrl"], config["countriesUrl"]]
    # the preloaded address is the one map.js asks for, so the browser answers it from the preload
    assert reader.get(preloads(html)[0]).get_json()["fields"]


def test_pages_with_inline_data_preload_only_the_boundaries(shared_app, reader):
    db = storage.connect(shared_app.config["DATABASE"], readonly=True)
    try:
        project = db.execute("SELECT project_id FROM locations WHERE precision = 'site' LIMIT 1").fetchone()[0]
    finally:
        db.conn.close()
    html = reader.get(f"/projects/{project}").get_data(as_text=True)
    assert "RegistryMap.init" in html and "dataUrl" not in map_config(html)
    assert preloads(html) == [map_config(html)["countriesUrl"]]


def test_boundaries_arrive_gzipped_and_unchanged(reader):
    raw = geo.countries_geojson_path().read_bytes()
    plain = reader.get("/map/countries.geojson")
    assert plain.headers.get("Content-Encoding") is None and plain.data == raw
    zipped = reader.get("/map/countries.geojson", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == raw and len(zipped.data) < len(raw) / 2
    assert zipped.headers["Cache-Control"] == "public, max-age=86400"
    again = reader.get("/map/countries.geojson", headers={"Accept-Encoding": "gzip",
                                                           "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304 and not again.data


# --- in a real browser ------------------------------------------------------------------------------

# Records, when data-drawn appears, how many markers the cluster group holds (map.js's chunked loading).
WATCH_DRAWN = """
new MutationObserver((changes, observer) => {
  for (const change of changes) {
    if (change.attributeName === 'data-drawn' && change.target.dataset.drawn) {
      const c = window.registryMaps[0];
      window.drawnAt = {layers: c.cluster.getLayers().length, markers: c.markers.length};
      observer.disconnect();
    }
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-drawn']});
"""
# Every marker as map.js drew it: position, symbol (radius by precision) and the payload row it draws.
MARKERS = """() => registryMaps[0].markers.map(m => [m.options.pointIndex, m.getLatLng().lat, m.getLatLng().lng,
                                                 m.options.radius, m.options.shape])"""
RADIUS = {"site": 5, "subnational": 7, "country": 9}    # static/map.js SYMBOLS


# The cluster group's chunks made as small as they come (200 markers each, as on a slow machine), so that a
# few hundred points load in several chunks.
SMALL_CHUNKS = "\nL.MarkerClusterGroup.prototype.options.chunkInterval = 0;\n"


@pytest.fixture(scope="module")
def seed_site(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("loading") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder)
    server, base = serve(app)
    yield {"base": base, "app": app}
    server.shutdown()


@pytest.fixture(scope="module")
def generated_site(tmp_path_factory):
    """An instance of 300 generated projects (bench/generate.py, seed 0: about 700 points) and its index."""
    app = generated_app(tmp_path_factory.mktemp("generated-map"))
    server, base = serve(app)
    yield {"base": base, "app": app}
    server.shutdown()


def small_chunks(route):
    response = route.fetch()
    route.fulfill(response=response, body=response.text() + SMALL_CHUNKS)


@pytest.mark.slow
@pytest.mark.parametrize("which, query", [("seed", ""), ("seed", "area=asgm"), ("generated", ""),
                                          ("generated", "status=ongoing")])
def test_every_point_of_the_payload_is_drawn_once_data_drawn_says_so(page, request, which, query):
    site = request.getfixturevalue(f"{which}_site")
    page.add_init_script(WATCH_DRAWN)
    page.route("**/leaflet.markercluster.js", small_chunks)
    page.goto(f"{site['base']}/map?{query}")
    page.wait_for_selector(".folium-map[data-drawn='1']", timeout=15000)
    page.wait_for_selector(".folium-map[data-ready='1']", timeout=15000)
    drawn_at = page.evaluate("() => window.drawnAt")
    assert drawn_at["markers"] > 0 and drawn_at["layers"] == drawn_at["markers"]
    # the payload, as any reader decodes it (registry/maps/data.py records)
    payload = site["app"].test_client().get(f"/map/data.json?{query}").get_json()
    points, projects = records(payload, "points"), records(payload, "projects")
    markers = sorted(page.evaluate(MARKERS))
    assert [m[0] for m in markers] == list(range(len(points)))        # each row drawn once
    shapes = {key: area["shape"] for key, area in map_config(page.content())["areas"].items()}
    for (_, lat, lon, radius, shape), point in zip(markers, points):
        assert lat == point["lat"] and (lon - point["lon"]) % 360 == 0
        assert radius == RADIUS[point["precision"]]
        assert shape == shapes[projects[point["project"]]["area"]]
    # then the lists beside the map: every located project once per country of its places
    listed = page.eval_on_selector_all("#map-located li[data-project]", "els => els.map(e => e.dataset.project)")
    expected = {(p["country"] or "", projects[p["project"]]["id"]) for p in points}
    assert len(listed) == len(expected)
    assert set(listed) == {pid for _, pid in expected}
    assert page.errors == []
    # the data came once: map.js's fetch took the preloaded response
    assert sum("/map/data.json" in url for url in page.requests) == 1
    assert sum("/map/countries.geojson" in url for url in page.requests) == 1


# --- the payload files the workers share ------------------------------------------------------------

def payload_files(app):
    folder = Path(app.config["CACHE_DIR"]) / "mapdata"
    return sorted(folder.glob("*.json")) if folder.exists() else []


@pytest.fixture
def instance(instance):
    """The seeded instance without the payload files its shared copy was served with."""
    shutil.rmtree(instance / "cache" / "mapdata", ignore_errors=True)
    return instance


def test_a_payload_built_by_one_worker_is_served_by_another_from_its_file(instance):
    first, second = make_app(instance), make_app(instance)     # two workers: each its own memory cache
    built = first.test_client().get("/map/data.json?area=asgm")
    zipped = first.test_client().get("/map/data.json?area=asgm", headers={"Accept-Encoding": "gzip"})
    files = payload_files(first)
    assert len(files) == 2 and {f.read_bytes() for f in files} == {built.data, zipped.data}
    # the file is what the other worker serves: changed on disk, it is served changed
    plain = next(f for f in files if f.read_bytes() == built.data)
    marked = built.data.replace(b'"total":', b'"total" :', 1)
    plain.write_bytes(marked)
    again = second.test_client().get("/map/data.json?area=asgm")
    assert again.data == marked and again.headers["ETag"] == built.headers["ETag"]
    assert json.loads(again.data) == built.get_json()
    assert gzip.decompress(second.test_client().get("/map/data.json?area=asgm",
                                                    headers={"Accept-Encoding": "gzip"}).data) == built.data


def test_a_data_change_gets_a_new_payload_not_the_file_of_the_old_one(instance):
    app = make_app(instance)
    before = app.test_client().get("/map/data.json").get_json()
    import_samples(app)                                        # new projects: a new data version
    after = app.test_client().get("/map/data.json")
    fresh = make_app(instance).test_client().get("/map/data.json")
    assert after.get_json()["total"] > before["total"] and fresh.data == after.data
    assert len(payload_files(app)) == 2


def test_payload_files_stay_within_their_bytes(instance):
    app = make_app(instance, MAP_DATA_FILE_BYTES=1)
    for area in ("asgm", "coal", "waste"):
        assert app.test_client().get(f"/map/data.json?area={area}").status_code == 200
    files = payload_files(app)
    assert len(files) == 1 and json.loads(files[0].read_bytes())["projects"]      # the newest only
