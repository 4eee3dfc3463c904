"""The JSON API: one envelope, one error shape."""
import pytest

from registry.store import db as storage
def test_project_list_envelope(client, db):
    r = client.get("/api/projects?per_page=5&page=2")
    body = r.get_json()
    assert r.status_code == 200
    assert body["total"] == db.execute("SELECT count(*) FROM projects").fetchone()[0]
    assert body["page"] == 2 and body["per_page"] == 5 and len(body["results"]) == 5
    first = body["results"][0]
    assert {"id", "title", "url", "countries", "area", "status", "snippet", "score"} <= set(first)
    assert set(body["facets"]) == {"country", "region", "funder", "area", "status", "kind", "source"}
    assert {"value", "label", "count", "selected", "toggle_url"} == set(body["facets"]["area"]["values"][0])
    assert body["next"].endswith("per_page=5&page=3") and body["prev"].endswith("per_page=5")


def test_filters_combine_and_facets_match_the_database(client, db):
    body = client.get("/api/projects?country=KEN&country=UGA&area=asgm&per_page=100").get_json()
    expected = {r[0] for r in db.execute(
        """SELECT DISTINCT p.id FROM projects p JOIN project_countries c ON c.project_id = p.id
           JOIN project_areas a ON a.project_id = p.id WHERE c.iso3 IN ('KEN','UGA') AND a.area = 'asgm'""")}
    assert {r["id"] for r in body["results"]} == expected and body["total"] == len(expected)
    # the status facet reflects both active filters
    status_counts = {f["value"]: f["count"] for f in body["facets"]["status"]["values"]}
    assert sum(status_counts.values()) == len(expected)
    # the country facet ignores its own filter but keeps the area filter
    asgm_ken = db.execute("""SELECT count(*) FROM project_countries c JOIN project_areas a ON a.project_id = c.project_id
                             WHERE c.iso3='KEN' AND a.area='asgm'""").fetchone()[0]
    assert {f["value"]: f["count"] for f in body["facets"]["country"]["values"]}["KEN"] == asgm_ken


def test_funder_by_name_acronym_or_id(client, db):
    ids = {r[0] for r in db.execute("SELECT project_id FROM roles WHERE org_id='gef' AND role='funder'")}
    assert ids
    for value in ("gef", "GEF", "Global Environment Facility"):
        body = client.get(f"/api/projects?funder={value}&per_page=100").get_json()
        assert body["total"] == len(ids)


def test_org_with_role_and_years(client, db):
    # the implementer with the most dated projects, and a year that keeps some of them and drops others
    org, year = db.execute(
        """SELECT r.org_id, max(COALESCE(p.end_year, p.start_year)) FROM roles r JOIN projects p ON p.id = r.project_id
           WHERE r.role = 'implementer' AND COALESCE(p.end_year, p.start_year) IS NOT NULL
           GROUP BY r.org_id ORDER BY count(*) DESC, r.org_id LIMIT 1""").fetchone()
    expected = {r[0] for r in db.execute(
        """SELECT p.id FROM projects p JOIN roles r ON r.project_id = p.id AND r.role = 'implementer'
           WHERE r.org_id = ? AND COALESCE(p.end_year, p.start_year) >= ?""", [org, year])}
    body = client.get(f"/api/projects?org={org}&role=implementer&year_from={year}&per_page=100").get_json()
    assert expected and {r["id"] for r in body["results"]} == expected


def test_sort_by_start_year(client):
    body = client.get("/api/projects?sort=start_year&per_page=100").get_json()
    years = [r["start_year"] for r in body["results"] if r["start_year"] is not None]
    assert len(years) > 1 and years == sorted(years)


def test_project_record(client, db):
    body = client.get("/api/projects/planetgold-kenya").get_json()
    assert body["countries"] == [{"iso3": "KEN", "name": "Kenya"}]
    assert body["organisations"] and all({"id", "name", "role"} <= set(o) for o in body["organisations"])
    assert body["locations"] and all({"name", "lat", "lon", "precision"} <= set(loc) for loc in body["locations"])
    assert body["sources"] and all(s["quote"] for s in body["sources"])


def test_organisations(client):
    body = client.get("/api/organisations?per_page=100").get_json()
    assert body["total"] > 100 and {"id", "name", "url"} <= set(body["results"][0])
    org = client.get("/api/organisations/agc").get_json()
    assert org["name"] == "Artisanal Gold Council" and org["projects"]


@pytest.mark.parametrize("url, status, code", [
    ("/api/projects/nope", 404, "not_found"),
    ("/api/organisations/nope", 404, "not_found"),
    ("/api/nothing-here", 404, "not_found"),
    ("/api/projects?per_page=101", 400, "invalid_parameter"),
    ("/api/projects?page=0", 400, "invalid_parameter"),
    ("/api/projects?sort=__class__", 400, "unknown_sort"),
    ("/api/projects?country=Atlantis", 400, "unknown_country"),
    ("/api/projects?q=" + "x" * 201, 400, "query_too_long"),
    ("/api/projects?q=" + "a+" * 30, 400, "too_many_terms"),
    ("/api/projects?per_page=5&per_page=6", 400, "invalid_parameter"),
    ("/api/projects?q=gold&q=borax", 400, "invalid_parameter"),
    ("/api/countries?per_page=101", 400, "invalid_parameter"),
    ("/api/countries?page=1&page=2", 400, "invalid_parameter"),
])
def test_one_error_shape(client, url, status, code):
    r = client.get(url)
    assert r.status_code == status and r.is_json
    assert r.get_json()["error"]["code"] == code and r.get_json()["error"]["message"]


def test_openapi_document(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "/api/projects" in doc["paths"]


@pytest.mark.parametrize("query, code, words", [
    ("type=charity", "invalid_parameter", ["unknown type 'charity'", "government, igo, ngo"]),
    ("type=ngo&type=0.0", "invalid_parameter", ["unknown type '0.0'"]),
    ("country=Atlantis", "unknown_country", ["unknown country 'Atlantis'", "KEN or Kenya"]),
    ("page=0", "invalid_parameter", ["'page'", "between 1 and"]),
    ("page=abc", "invalid_parameter", ["'page'", "whole number"]),
    ("per_page=101", "invalid_parameter", ["'per_page'", "between 1 and 100"]),
    ("per_page=5&per_page=10", "invalid_parameter", ["'per_page' is given 2 times", "give it once"]),
    ("q=ngo&q=zmwg", "invalid_parameter", ["'q' is given 2 times"]),
    ("facet_size=many", "invalid_parameter", ["'facet_size'", "or max"]),
    ("q=" + "x" * 201, "query_too_long", ["too long"]),
])
def test_organisation_filters_are_validated_like_project_filters(client, query, code, words):
    r = client.get(f"/api/organisations?{query}")
    assert r.status_code == 400 and r.is_json
    error = r.get_json()["error"]
    assert error["code"] == code and all(w in error["message"] for w in words), error


def test_organisation_filters_by_type_and_country(client, db):
    expected = {r[0] for r in db.execute("SELECT id FROM organisations WHERE type IN ('ngo', 'academia') "
                                         "AND country = 'USA'")}
    assert expected
    for country in ("USA", "US", "United States"):
        body = client.get(f"/api/organisations?type=ngo&type=academia&country={country}&per_page=100").get_json()
        assert {o["id"] for o in body["results"]} == expected and body["total"] == len(expected)
        assert all(o["country"] == {"iso3": "USA", "name": "United States"} for o in body["results"])


def test_countries_are_a_paged_list(client, db):
    counts = dict(db.execute("SELECT iso3, count(*) FROM project_countries GROUP BY iso3").fetchall())
    body = client.get("/api/countries?per_page=100").get_json()
    assert body["total"] == len(counts) and body["next"] is None and body["prev"] is None
    assert {c["iso3"]: c["projects"] for c in body["results"]} == counts
    assert [c["iso3"] for c in body["results"]] == sorted(counts)
    assert {"iso3": "KEN", "name": "Kenya", "projects": counts["KEN"]} in body["results"]
