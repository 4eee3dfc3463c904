"""Server-rendered pages through the real Flask app (test client), against the real seed."""
import pytest

from registry.store import db as storage
def test_home_shows_headline_figures_and_entry_points(client):
    html = client.get("/").get_data(as_text=True)
    assert "236" in html and "Partners" in html and "As of 1 March 2022" in html
    assert 'href="/areas/asgm"' in html and 'href="/countries"' in html and 'href="/organisations"' in html


def test_project_page_shows_everything(client, db):
    p = storage.get_project(db, "planetgold-burkina-faso")
    html = client.get("/projects/planetgold-burkina-faso").get_data(as_text=True)
    assert p["title"] in html
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
    assert "✕ Kenya" in html  # selected facet can be removed


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
    assert {f["properties"]["project_id"] for f in gj["features"]} <= ken


def test_security_headers(client):
    r = client.get("/")
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"]


def test_pages_are_phone_friendly(client):
    html = client.get("/projects").get_data(as_text=True)
    assert 'name="viewport"' in html
