"""Server-rendered pages through the real Flask app (test client), against the real seed."""
import html as html_lib
import re

import pytest
from markupsafe import escape

from registry.core import geo

from registry.store import db as storage
def test_home_shows_headline_figures_and_entry_points(client):
    html = client.get("/").get_data(as_text=True)
    assert "236" in html and "Partners" in html and "As of 1 March 2022" in html
    assert 'href="/areas/asgm"' in html and 'href="/countries"' in html and 'href="/organisations"' in html


def test_project_page_shows_everything(client, db):
    p = storage.get_project(db, "planetgold-burkina-faso")
    html = client.get("/projects/planetgold-burkina-faso").get_data(as_text=True)
    assert p["title"] in html
    assert p["organisations"] and p["sources"]   # else the loops below check nothing
    for o in p["organisations"]:
        assert f'/organisations/{o["id"]}' in html
    assert "Burkina Faso" in html
    for s in p["sources"]:
        assert s["quote"].replace("'", "&#39;").replace('"', "&#34;").replace("“", "“")[:40] in html
    assert 'href="/projects/planetgold"' in html  # parent link


def test_programme_page_lists_its_parts(client, db):
    html = client.get("/projects/planetgold").get_data(as_text=True)
    children = db.execute("SELECT id FROM projects WHERE parent_id = 'planetgold'").fetchall()
    assert len(children) >= 23
    assert all(f"/projects/{c[0]}" in html for c in children)


def test_organisation_page_groups_projects_by_role(client, db):
    html = client.get("/organisations/agc").get_data(as_text=True)
    assert "Artisanal Gold Council" in html
    implements = db.execute("SELECT project_id FROM roles WHERE org_id='agc' AND role='implementer'").fetchall()
    assert implements and all(f"/projects/{r[0]}" in html for r in implements)
    assert "Carries out" in html


def test_country_and_area_pages(client, db):
    n = db.execute("SELECT count(*) FROM project_countries WHERE iso3='KEN'").fetchone()[0]
    html = client.get("/countries/KEN").get_data(as_text=True)
    assert "Kenya" in html and f"{n} project" in html
    assert client.get("/countries/kenya").status_code == 200
    assert client.get("/countries/Narnia").status_code == 404
    html = client.get("/areas/coal").get_data(as_text=True)
    assert "International Centre for Sustainable Carbon" in html
    assert client.get("/areas/nope").status_code == 404


def test_list_filters_facets_and_paging(client, db):
    total = db.execute("SELECT count(*) FROM projects").fetchone()[0]
    html = client.get("/projects").get_data(as_text=True)
    assert f"{total} projects" in html and "Page 1 of" in html
    kenya = db.execute("SELECT count(*) FROM project_countries WHERE iso3='KEN'").fetchone()[0]
    html = client.get("/projects?country=Kenya").get_data(as_text=True)
    assert f"{kenya} project" in html
    assert "Remove filter: </span>Kenya</a>" in html  # selected facet can be removed


@pytest.mark.parametrize("url", ["/projects/does-not-exist", "/projects/0", "/projects/-1",
                                 "/projects/99999999999999999999", "/organisations/nobody"])
def test_unknown_records_are_404_pages(client, url):
    r = client.get(url)
    assert r.status_code == 404 and "text/html" in r.content_type
    assert "not found" in r.get_data(as_text=True)


@pytest.mark.parametrize("url, message", [
    ("/projects?page=abc", "whole number"),
    ("/projects?per_page=100000", "per_page"),
    ("/projects?sort=name;drop", "unknown sort"),
    ("/projects?country=Narnia", "unknown country"),
    ("/projects?funder=Nobody+Inc", "unknown organisation"),
    ("/projects?per_page=5&per_page=6", "given 2 times"),
    ("/projects?facet_size=lots", "facet_size"),
    ("/organisations?type=charity", "unknown type"),
    ("/organisations?country=Narnia", "unknown country"),
    ("/organisations?page=0", "page"),
    ("/organisations?per_page=101", "per_page"),
    ("/organisations?per_page=5&per_page=6", "given 2 times"),
])
def test_bad_parameters_get_a_page_that_says_how_to_fix_them(client, url, message):
    r = client.get(url)
    assert r.status_code == 400 and message in r.get_data(as_text=True)


def test_user_text_is_escaped_in_error_pages(client):
    r = client.get("/projects?country=<script>alert(1)</script>")
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and "<script>alert(1)" not in body and "&lt;script&gt;" in body


def test_exports_follow_the_query(client, db):
    ken = {r[0] for r in db.execute("SELECT project_id FROM project_countries WHERE iso3='KEN'")}
    r = client.get("/projects.csv?country=KEN")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    lines = r.get_data(as_text=True).strip().splitlines()
    assert len(lines) - 1 >= len(ken) - 1  # quoted multi-line cells aside, one row per project
    gj = client.get("/projects.geojson?country=KEN").get_json()
    exported = {f["properties"]["id"] for f in gj["features"]}   # one Feature per project, with its fields
    assert ken and exported == ken


def test_security_headers(client):
    r = client.get("/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"]


def test_pages_are_phone_friendly(client):
    html = client.get("/projects").get_data(as_text=True)
    assert 'name="viewport"' in html


def _facet_box(html, title):
    """The HTML of the facet box titled `title`."""
    start = html.index(f"<summary>{title}</summary>")
    return html[start:html.index("</details>", start)]


def _links(box):
    return re.findall(r'<a href="([^"]+)"', box)


def test_facet_boxes_show_the_top_values_and_a_show_all_link(client, db):
    counts = dict(db.execute("SELECT iso3, count(*) FROM project_countries GROUP BY iso3").fetchall())
    box = _facet_box(client.get("/projects").get_data(as_text=True), "Country")
    assert box.count("<li") == 10 and f"Show all {len(counts)}</a>" in box
    show_all = html_lib.unescape(_links(box)[-1])
    assert "facet_size=max" in show_all
    box = _facet_box(client.get(show_all).get_data(as_text=True), "Country")
    assert box.count("<li") == len(counts) and "Show all" not in box and "Show fewer" in box
    for code, n in counts.items():
        assert f'{escape(geo.country_name(code))}</a> <span class="count">{n}</span>' in box


def test_facet_links_are_the_api_toggle_urls_and_selected_values_come_first(client):
    rarest = client.get("/api/countries?per_page=100").get_json()["results"]
    rarest = min(rarest, key=lambda c: (c["projects"], c["iso3"]))["iso3"]
    html = client.get(f"/projects?country={rarest}&area=asgm").get_data(as_text=True)
    box = _facet_box(html, "Country")
    first = box[box.index("<li"):box.index("</li>")]
    assert 'class="selected"' in first and "Remove filter: </span>" + geo.country_name(rarest) in first
    api = client.get(f"/api/projects?country={rarest}&area=asgm").get_json()["facets"]["country"]
    assert [html_lib.unescape(u).removeprefix("/projects") for u in _links(box)] == [
        v["toggle_url"].removeprefix("http://localhost/api/projects") for v in api["values"]] + [
        api["show_all_url"].removeprefix("http://localhost/api/projects")]


def test_organisation_facets_filter_the_list(client, db):
    html = client.get("/organisations").get_data(as_text=True)
    total = db.execute("SELECT count(*) FROM organisations").fetchone()[0]
    assert f"{total} organisations" in html
    ngo_link = next(u for u in _links(_facet_box(html, "Type")) if "type=ngo" in u)
    html = client.get(html_lib.unescape(ngo_link)).get_data(as_text=True)
    ngos = db.execute("SELECT id FROM organisations WHERE type = 'ngo' ORDER BY name COLLATE NOCASE").fetchall()
    assert len(ngos) > 20 and f"{len(ngos)} organisations" in html and "Remove filter: </span>Non-governmental organisation" in html
    assert all(f'/organisations/{r[0]}"' in html for r in ngos[:20])   # the first page, by name


def test_home_page_figures_come_from_the_database(client, db):
    html = client.get("/").get_data(as_text=True)
    top = db.execute("SELECT iso3, count(*) AS n FROM project_countries GROUP BY iso3 ORDER BY n DESC, iso3 "
                     "LIMIT 3").fetchall()
    assert len(top) == 3
    for code, n in top:
        assert f'href="/countries/{code}">{geo.country_name(code)}</a> <span class="count">{n}</span>' in html
    asgm = db.execute("SELECT count(*) FROM project_areas WHERE area = 'asgm'").fetchone()[0]
    assert f"{asgm} projects" in html
    projects = db.execute("SELECT count(*) FROM projects").fetchone()[0]
    assert f"{projects} projects and" in html


def test_countries_page_lists_every_country_with_its_count(client, db):
    counts = dict(db.execute("SELECT iso3, count(*) FROM project_countries GROUP BY iso3").fetchall())
    html = client.get("/countries").get_data(as_text=True)
    assert f"{len(counts)} countries" in html and counts
    for code, n in counts.items():
        assert f'href="/countries/{code}">' in html
