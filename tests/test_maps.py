"""The interactive maps through the real app (test client), on a private copy of the seeded instance:
pages, the data endpoint against SQL, framing headers, offline assets, bad parameters, escaping."""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import XSS_ORG, XSS_PLACE, XSS_TITLE, import_samples
from registry.web.context import index_settings
from registry.store import db as storage
from registry.search.finder import find_projects, query_from_args
from registry.core.validate import COORDS_SOURCES
from registry.maps.data import CODED, DRAWN, FIELDS, records

ROOT = Path(__file__).resolve().parent.parent
# Raw fragments of the payloads that must never reach a page unescaped.
DANGEROUS = ("<img src=x", "<svg onload", "</script><script>", "</script><img")
CDN_HOSTS = ("cdn.jsdelivr.net", "code.jquery.com", "cdnjs.cloudflare.com", "netdna.bootstrapcdn.com",
             "unpkg.com", "openstreetmap.org")


@pytest.fixture
def samples(app):
    import_samples(app)


@pytest.fixture
def ro_db(shared_app):
    conn = storage.connect(shared_app.config["DATABASE"], readonly=True)
    yield conn
    conn.conn.close()


def funder_with_projects(db):
    return db.execute("SELECT org_id FROM roles WHERE role = 'funder' GROUP BY org_id "
                      "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]


def a_country(db):
    return db.execute("SELECT iso3 FROM project_countries GROUP BY iso3 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]


class Assets(HTMLParser):
    """Every URL a page makes the browser load by itself: script src, link href, img/iframe src."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        if tag in ("img", "iframe", "source") and attrs.get("src"):
            self.urls.append(attrs["src"])


def loaded_urls(html):
    parser = Assets()
    parser.feed(html)
    return parser.urls


# --- pages ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/map", "/embed/map"])
@pytest.mark.parametrize("params", ["", "area=asgm", "area=asgm&status=ongoing&status=completed",
                                    "q=mercury&year_from=2010&year_to=2030", "country=Kenya"])
def test_map_pages_render_with_filters(reader, path, params):
    r = reader.get(f"{path}?{params}")
    assert r.status_code == 200, r.data[:500]
    html = r.get_data(as_text=True)
    assert 'class="folium-map"' in html and "RegistryMap.init(" in html
    # the map asks for the same selection as the list
    expected = ("/map/data.json?" + params.replace("Kenya", "KEN")) if params else "/map/data.json\""
    assert expected.replace("&", "\\u0026") in html


def test_list_and_map_link_to_each_other_with_the_same_query(reader):
    params = "area=asgm&status=ongoing"
    listing = reader.get(f"/projects?{params}").get_data(as_text=True)
    assert f'href="/map?{params.replace("&", "&amp;")}"' in listing
    page = reader.get(f"/map?{params}").get_data(as_text=True)
    assert f'href="/projects?{params.replace("&", "&amp;")}"' in page


def test_small_maps_on_record_pages(reader, ro_db):
    site_project = ro_db.execute("SELECT project_id FROM locations WHERE precision = 'site' LIMIT 1").fetchone()[0]
    html = reader.get(f"/projects/{site_project}").get_data(as_text=True)
    assert "registry-map-small" in html and json.dumps(site_project) in html    # its data, inline as JSON
    global_only = ro_db.execute(
        "SELECT project_id FROM locations GROUP BY project_id "
        "HAVING sum(precision IN ('site', 'subnational', 'country')) = 0 LIMIT 1").fetchone()
    if global_only:                      # nothing to draw: no empty map, the list of places says it all
        assert "registry-map-small" not in reader.get(f"/projects/{global_only[0]}").get_data(as_text=True)
    org = funder_with_projects(ro_db)
    html = reader.get(f"/organisations/{org}").get_data(as_text=True)
    assert "registry-map-small" in html and f"/map/data.json?org={org}" in html
    country = a_country(ro_db)
    html = reader.get(f"/countries/{country}").get_data(as_text=True)
    assert "registry-map-small" in html and f"/map/data.json?country={country}" in html


# --- the data endpoint ----------------------------------------------------------------------------

def expected_locations(db, ids):
    """Straight from SQL: every location of these projects, as drawn (with a point) or listed (without)."""
    rows = db.execute("SELECT project_id, name, precision, lat, lon, coords_source, gazetteer_id FROM locations "
                      "WHERE project_id IN (SELECT value FROM json_each(?))", [json.dumps(ids)]).fetchall()
    drawn = sorted((pid, name, prec, round(lat, 5), round(lon, 5), source, place)
                   for pid, name, prec, lat, lon, source, place in rows if prec in DRAWN and lat is not None)
    listed = sorted((pid, name, prec) for pid, name, prec, lat, *_ in rows if prec not in DRAWN or lat is None)
    return drawn, listed


def served_locations(data):
    """The payload's locations, read by field name, in the shape of expected_locations."""
    ids = [p["id"] for p in records(data, "projects")]
    drawn = sorted((ids[p["project"]], p["name"], p["precision"], p["lat"], p["lon"], p["coords_source"],
                    p["gazetteer_id"]) for p in records(data, "points"))
    listed = sorted((ids[u["project"]], u["name"], u["precision"]) for u in records(data, "unplaced"))
    return drawn, listed


def project_ids(data):
    return [p["id"] for p in records(data, "projects")]


def selections(db):
    return ["", "area=asgm", "area=coal&area=products", "status=ongoing", "kind=event",
            f"country={a_country(db)}", f"funder={funder_with_projects(db)}", "year_from=2015&year_to=2020",
            "q=gold", "q=mercury&area=asgm", "status=postponed"]


def test_data_endpoint_returns_exactly_the_locations_of_the_selection(shared_app, reader, ro_db):
    for params in selections(ro_db):
        r = reader.get(f"/map/data.json?{params}")
        assert r.status_code == 200, (params, r.data[:300])
        data = r.get_json()
        with shared_app.test_request_context(f"/projects?{params}"):
            from flask import request
            results = find_projects(ro_db, index_settings(shared_app), query_from_args(ro_db, request.args), with_page=False, with_facets=False)
        assert results.ids, params   # every selection matches something: empty == empty would prove nothing
        assert project_ids(data) == results.ids, params
        assert data["total"] == len(results.ids)
        assert served_locations(data) == expected_locations(ro_db, results.ids), params
        counts = {}
        for (iso3,) in ro_db.execute("SELECT iso3 FROM project_countries WHERE project_id IN "
                                     "(SELECT value FROM json_each(?))", [json.dumps(results.ids)]):
            counts[iso3] = counts.get(iso3, 0) + 1
        assert {c["iso3"]: c["projects"] for c in records(data, "countries")} == counts, params
    everything = reader.get("/map/data.json").get_json()
    assert everything["points"] and everything["unplaced"]   # the seed has both kinds: the check above bites


def test_area_filter_matches_sql(reader, ro_db):
    expected = {r[0] for r in ro_db.execute("SELECT project_id FROM project_areas WHERE area = 'coal'")}
    data = reader.get("/map/data.json?area=coal").get_json()
    assert set(project_ids(data)) == expected and expected


# --- the contract: docs/maps.md documents every field; the payload and the configuration follow it --

def documented_tables():
    """Every `| `name` | type | ...` table row of docs/maps.md, by the heading above it: {heading: {name: type}}."""
    tables, heading = {}, None
    for line in (ROOT / "docs" / "maps.md").read_text("utf-8").splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip().strip("`")
        row = re.match(r"\| `(\w+)` \| ([^|]+?) \|", line)
        if row:
            tables.setdefault(heading, {})[row.group(1)] = row.group(2)
    return tables


def documented(prefix):
    tables = documented_tables()
    return next(table for heading, table in tables.items() if heading.startswith(prefix))


def has_type(value, doc_type, data, column):
    """Whether a raw payload value has the type docs/maps.md gives its column ("coded string or null",
    "list of indexes into countries", ...): coded values are indexes into data["values"][column]."""
    if doc_type.startswith("list of "):
        item = doc_type[len("list of "):].replace("indexes", "index").replace("strings", "string")
        return isinstance(value, list) and all(has_type(v, item, data, column) for v in value)
    if doc_type.startswith("index into "):
        return type(value) is int and 0 <= value < len(data[doc_type[len("index into "):]])
    if doc_type.startswith("coded "):
        dictionary = data["values"][column]
        return type(value) is int and 0 <= value < len(dictionary) and \
            has_type(dictionary[value], doc_type[len("coded "):], data, column)
    if doc_type.endswith(" or null"):
        return value is None or has_type(value, doc_type[:-len(" or null")], data, column)
    python_type = {"string": str, "integer": int, "number": (int, float)}[doc_type]
    return isinstance(value, python_type) and type(value) is not bool


def test_the_documented_fields_are_the_defined_ones():
    tables = documented_tables()
    for table, columns in FIELDS.items():
        assert tuple(tables[table]) == columns, f"docs/maps.md documents {table} as {tuple(tables[table])}"
    assert set(CODED) <= {c for columns in FIELDS.values() for c in columns}
    for column in CODED:                    # a coded column is documented as coded, and the others are not
        assert all(t[column].startswith(("coded", "list of coded")) for name, t in tables.items()
                   if name in FIELDS and column in t), column


def project_facts(db, ids):
    """Straight from SQL: id -> (title, area, status, countries, funder labels)."""
    facts = {}
    for pid, title, area, status in db.execute("SELECT id, title, area, status FROM projects WHERE id IN "
                                               "(SELECT value FROM json_each(?))", [json.dumps(ids)]):
        countries = [r[0] for r in db.execute("SELECT iso3 FROM project_countries WHERE project_id = ? "
                                              "ORDER BY iso3", [pid])]
        funders = sorted(r[0] for r in db.execute(
            "SELECT coalesce(nullif(o.acronym, ''), o.name) FROM roles r JOIN organisations o ON o.id = r.org_id "
            "WHERE r.project_id = ? AND r.role = 'funder'", [pid]))
        facts[pid] = (title, area, status, countries, funders)
    return facts


def test_payload_follows_the_documented_contract(reader, ro_db):
    keys, checked = documented("The payload"), 0
    for params in selections(ro_db):
        data = reader.get(f"/map/data.json?{params}").get_json()
        assert set(data) == set(keys), params
        assert data["fields"] == {table: list(columns) for table, columns in FIELDS.items()}
        assert set(data["values"]) == set(CODED)
        for table, columns in FIELDS.items():
            types = documented_tables()[table]
            for row in data[table]:
                assert len(row) == len(columns), (params, table, row)
                for column, value in zip(columns, row):
                    assert has_type(value, types[column], data, column), (params, table, column, value)
                checked += 1
        country = [c["iso3"] for c in records(data, "countries")]
        served = {p["id"]: (p["title"], p["area"], p["status"], [country[i] for i in p["countries"]],
                            sorted(p["funders"])) for p in records(data, "projects")}
        assert served == project_facts(ro_db, list(served)), params
    assert checked > 500                     # the seed's selections fill every table: the checks bite


def test_records_read_by_name_whatever_the_column_order(reader):
    data = reader.get("/map/data.json").get_json()
    shuffled = dict(data, fields={t: list(reversed(c)) for t, c in data["fields"].items()},
                    **{t: [list(reversed(row)) for row in data[t]] for t in FIELDS})
    for table in FIELDS:
        assert records(shuffled, table) == records(data, table) and records(data, table), table


def page_configs(html):
    """The configuration objects a page hands to RegistryMap.init (HTML-safe JSON, so json reads it)."""
    decoder = json.JSONDecoder()
    return [decoder.raw_decode(html, m.end())[0] for m in re.finditer(r"RegistryMap\.init\([\w$]+, (?={)", html)]


def test_every_configuration_key_is_documented(reader, ro_db):
    site_project = ro_db.execute("SELECT project_id FROM locations WHERE precision = 'site' LIMIT 1").fetchone()[0]
    pages = ["/map?area=asgm", "/embed/map", "/map/download.html?area=coal", f"/projects/{site_project}",
             f"/organisations/{funder_with_projects(ro_db)}"]
    configs = [c for page in pages for c in page_configs(reader.get(page).get_data(as_text=True))]
    assert len(configs) == len(pages)
    keys = documented("Configuration")
    sent = {key for config in configs for key in config}
    assert sent == set(keys), f"undocumented: {sent - set(keys)}; documented but never sent: {set(keys) - sent}"
    for config in configs:
        assert all(set(area) == {"label", "colour", "shape"} for area in config["areas"].values())
        assert set(config["precisions"]) >= set(DRAWN) and set(config["coordsSources"]) == set(COORDS_SOURCES)
        assert ("data" in config) != ("dataUrl" in config) and ("countries" in config) != ("countriesUrl" in config)
        if "data" in config:
            assert config["data"]["fields"] == {t: list(c) for t, c in FIELDS.items()}


def test_map_js_reads_payload_rows_by_name_never_by_position():
    """map.js indexes arrays by number only where that is not a payload row: the parts of a regular
    expression match (`m`) and the two results of Promise.all (`res`)."""
    script = (ROOT / "static" / "map.js").read_text("utf-8")
    indexed = set(re.findall(r"([\w$.]+|[\])])\s*\[\s*\d+\s*\]", script))   # a[0], a[i][0], f()[0]
    assert indexed == {"m", "res"}, indexed
    assert "columns(data.fields[table])" in script        # the one place that maps names to positions
    symbols = script[script.index("var SYMBOLS = {"):script.index("};", script.index("var SYMBOLS = {"))]
    assert re.findall(r"(\w+): \{radius", symbols) == list(DRAWN)   # a symbol for each drawn precision, by name


def test_data_endpoint_revalidates_and_compresses(reader):
    first = reader.get("/map/data.json?area=asgm")
    etag = first.headers["ETag"]
    again = reader.get("/map/data.json?area=asgm", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    other = reader.get("/map/data.json?area=coal", headers={"If-None-Match": etag})
    assert other.status_code == 200
    zipped = reader.get("/map/data.json?area=asgm", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers.get("Content-Encoding") == "gzip"
    import gzip
    assert json.loads(gzip.decompress(zipped.data)) == first.get_json()


def test_data_version_changes_the_etag(app, client):
    etag = client.get("/map/data.json").headers["ETag"]
    import_samples(app)
    r = client.get("/map/data.json", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    assert "map-test-site" in project_ids(r.get_json())


# --- framing and offline assets -------------------------------------------------------------------

def test_only_the_embed_may_be_framed(reader):
    embed = reader.get("/embed/map?area=asgm")
    csp = embed.headers["Content-Security-Policy"]
    ancestors = re.search(r"frame-ancestors ([^;]+)", csp).group(1).strip()
    assert ancestors != "'none'" and "X-Frame-Options" not in embed.headers
    for path in ("/map?area=asgm", "/map/data.json", "/map/newsletter", "/projects", "/map/download.html"):
        r = reader.get(path)
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
        assert r.headers["X-Frame-Options"] == "DENY", path


def test_embed_links_back_in_a_new_tab(reader):
    html = reader.get("/embed/map?area=asgm").get_data(as_text=True)
    assert re.search(r'<a href="http://localhost/map\?area=asgm" target="_blank" rel="noopener">', html)
    assert "<header" not in html and "<footer" not in html          # no site chrome


def test_map_pages_load_nothing_from_other_hosts(reader, ro_db):
    org = funder_with_projects(ro_db)
    site_project = ro_db.execute("SELECT project_id FROM locations WHERE precision = 'site' LIMIT 1").fetchone()[0]
    for path in ("/map", "/map?area=asgm", "/embed/map", f"/projects/{site_project}", f"/organisations/{org}",
                 f"/countries/{a_country(ro_db)}", "/projects"):
        html = reader.get(path).get_data(as_text=True)
        urls = loaded_urls(html)
        assert any(u.endswith("vendor/leaflet/leaflet.js") for u in urls) or path == "/projects", path
        external = [u for u in urls if u.startswith(("http:", "https:", "//"))]
        assert external == [], (path, external)
        assert not any(host in html for host in CDN_HOSTS), path
        assert "jquery" not in html.lower() and "bootstrap" not in html.lower(), path


def test_download_is_one_self_contained_file(reader):
    r = reader.get("/map/download.html?area=coal")
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith("attachment;")
    html = r.get_data(as_text=True)
    assert loaded_urls(html) == []                         # no script src, no stylesheet link: all inline
    assert "L.markerClusterGroup" in html and "RegistryMap" in html and "leaflet-container" in html
    assert '"countries": {"features": [' in html and '"FeatureCollection"' in html   # boundaries inline
    assert "data:image/png;base64," in html                  # Leaflet's layer icons, inlined
    assert not any(host in html for host in CDN_HOSTS)


# --- bad parameters -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/map", "/embed/map", "/map/newsletter", "/map/download.html",
                                  "/map/newsletter.txt"])
@pytest.mark.parametrize("params, words", [
    ("area=bogus", "unknown area"), ("country=Narnia", "unknown country"), ("year_from=abc", "whole number"),
    ("year_from=2020&year_to=2010", "before"), ("funder=nobody-at-all", "unknown organisation"),
    ("q=" + "x" * 300, "too long"), ("sort=__class__", "unknown sort"), ("status=%00", "control characters"),
])
def test_bad_parameters_get_a_clear_400_page(reader, path, params, words):
    r = reader.get(f"{path}?{params}")
    assert r.status_code == 400
    assert words in r.get_data(as_text=True)


@pytest.mark.parametrize("params", ["area=bogus", "year_to=3000", "country=<script>", "role=emperor"])
def test_bad_parameters_on_the_data_endpoint_get_the_json_error_shape(reader, params):
    r = reader.get(f"/map/data.json?{params}")
    assert r.status_code == 400
    body = r.get_json()
    assert set(body) == {"error"} and body["error"]["code"] and body["error"]["message"]
    assert r.mimetype == "application/json" and r.headers["X-Content-Type-Options"] == "nosniff"


# --- escaping -------------------------------------------------------------------------------------

def test_script_injections_stay_text_everywhere(app, client, samples):
    pages = ["/map", "/map?org=map-xss-org", "/embed/map?org=map-xss-org", "/projects/map-xss",
             "/organisations/map-xss-org", "/countries/KEN", "/map/newsletter?funder=map-xss-org",
             "/map/download.html?org=map-xss-org", "/projects?org=map-xss-org"]
    for path in pages:
        r = client.get(path)
        assert r.status_code == 200, path
        html = r.get_data(as_text=True)
        for bad in DANGEROUS:
            assert bad not in html, (path, bad)
    # the data endpoint escapes < > & so that it is safe even inside a page, and still reads back exactly
    r = client.get("/map/data.json?org=map-xss-org")
    raw = r.get_data(as_text=True)
    assert "<" not in raw and ">" not in raw and "\\u003c" in raw
    data = r.get_json()
    assert [p["title"] for p in records(data, "projects")] == [XSS_TITLE]
    assert [p["funders"] for p in records(data, "projects")] == [[XSS_ORG[:40]]]
    assert [p["name"] for p in records(data, "points")] == [XSS_PLACE]
    assert [u["name"] for u in records(data, "unplaced")] == [XSS_PLACE + " (worldwide)"]
    # the plain-text newsletter is text/plain (and nosniff), so the browser never renders it as HTML
    txt = client.get("/map/newsletter.txt?funder=map-xss-org")
    assert txt.mimetype == "text/plain" and txt.headers["X-Content-Type-Options"] == "nosniff"
    assert XSS_TITLE in txt.get_data(as_text=True)


def test_the_newsletter_html_copied_from_the_page_stays_escaped(client, samples):
    html = client.get("/map/newsletter?funder=map-xss-org").get_data(as_text=True)
    code = re.search(r'aria-label="Newsletter HTML">(.*?)</textarea>', html, re.S).group(1)
    # in the textarea the snippet is text: after the browser decodes it once, the payload is still escaped
    import html as htmllib
    decoded = htmllib.unescape(code)
    assert "<img src=\"http://localhost/map.png?funder=map-xss-org&amp;width=600&amp;scale=2\"" in decoded
    assert "&lt;img src=x" in decoded and "<img src=x" not in decoded


# --- newsletter and share panel -------------------------------------------------------------------

def test_newsletter_snippet_works_in_mail_clients(reader, ro_db):
    html = reader.get("/map/newsletter?area=coal").get_data(as_text=True)
    snippet = re.search(r'<div class="newsletter-preview">(.*?)</div>\s*<h2>', html, re.S).group(1)
    img = re.search(r"<img [^>]+>", snippet).group(0)
    assert 'src="http://localhost/map.png?area=coal&amp;width=600&amp;scale=2"' in img   # sharp, shown 600 wide
    assert 'width="600"' in img and 'alt="Open the interactive map of ' in img   # the link's only content
    assert '<a href="http://localhost/map?area=coal"' in snippet
    assert "<script" not in snippet and "<iframe" not in snippet and "<link" not in snippet
    titles = [r[0] for r in ro_db.execute(
        "SELECT p.title FROM projects p JOIN project_areas a ON a.project_id = p.id WHERE a.area = 'coal' "
        "ORDER BY p.title COLLATE NOCASE, p.id LIMIT 10")]
    text = reader.get("/map/newsletter.txt?area=coal").get_data(as_text=True)
    assert titles
    for title in titles:
        assert title in text
    assert "http://localhost/map?area=coal" in text


@pytest.mark.parametrize("page", ["/map?area=asgm&country=GHA", "/projects?area=asgm&country=GHA"])
def test_share_panel_offers_iframe_png_and_newsletter(reader, page):
    html = reader.get(page).get_data(as_text=True)
    assert "Embed / share" in html
    query = "country=GHA&amp;area=asgm"          # the selection's canonical order
    assert f'data-src="http://localhost/embed/map?{query}"' in html
    assert f"&lt;iframe src=&#34;http://localhost/embed/map?{query.replace('&amp;', '&amp;amp;')}&#34; " \
           'width=&#34;100%&#34; height=&#34;450&#34;' in html
    assert f'href="http://localhost/map.png?{query}&amp;width=600"' in html
    assert f'href="http://localhost/map/newsletter?{query}"' in html
    assert f'href="http://localhost/map/download.html?{query}"' in html
