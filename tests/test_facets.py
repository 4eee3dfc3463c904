"""Facets and the list envelope, as Datasette does them: each facet value links to the list with it added or
removed, facets say when they leave values out and offer them all, and next/prev walk every page.
Checked through the real app against counts taken with SQL from the real seeded database."""
from urllib.parse import parse_qsl, urlsplit

import pytest


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()


def facet_value(body, facet, value):
    return next(v for v in body["facets"][facet]["values"] if v["value"] == value)


def sql_ids(db, sql, params=()):
    ids = {r[0] for r in db.execute(sql, params)}
    assert ids, "the seed must hold projects for this check"
    return ids


def asgm_in(db, *countries):
    marks = ",".join("?" * len(countries))
    return sql_ids(db, f"""SELECT DISTINCT a.project_id FROM project_areas a JOIN project_countries c
                           ON c.project_id = a.project_id WHERE a.area = 'asgm' AND c.iso3 IN ({marks})""", countries)


def all_ids(client, url):
    """Every result id of a list, following `next` from its first page; checks each page's `prev`."""
    ids, pages, previous = [], 0, None
    url = url if url.startswith("http") else "http://localhost" + url   # the links are absolute
    while url:
        body = get(client, url)
        assert body["prev"] == previous
        ids += [r.get("id") or r.get("iso3") for r in body["results"]]
        previous, url, pages = url, body["next"], pages + 1
        assert pages <= 200, "next never ends"
    return ids, pages, body["total"]


# --- toggle_url ---------------------------------------------------------------------------------

def test_toggle_url_of_a_value_adds_it(client, db):
    body = get(client, "/api/projects?area=asgm&per_page=100")
    top = body["facets"]["country"]["values"][0]
    assert not top["selected"]
    followed = get(client, top["toggle_url"])
    direct = get(client, f"/api/projects?area=asgm&country={top['value']}&per_page=100")
    expected = asgm_in(db, top["value"])
    assert {r["id"] for r in followed["results"]} == {r["id"] for r in direct["results"]} == expected
    assert followed["total"] == top["count"] == len(expected)
    assert facet_value(followed, "country", top["value"])["selected"]


def test_toggle_url_adds_a_second_value_as_or(client, db):
    body = get(client, "/api/projects?area=asgm&country=KEN&per_page=100")
    other = next(v for v in body["facets"]["country"]["values"] if not v["selected"])
    followed = get(client, other["toggle_url"])
    assert {r["id"] for r in followed["results"]} == asgm_in(db, "KEN", other["value"])
    assert dict(parse_qsl(urlsplit(other["toggle_url"]).query)).get("area") == "asgm"


def test_toggle_url_of_a_selected_value_removes_it(client, db):
    body = get(client, "/api/projects?area=asgm&country=KEN&per_page=100&page=1")
    kenya = facet_value(body, "country", "KEN")
    assert kenya["selected"]
    assert body["facets"]["country"]["values"][0]["value"] == "KEN"   # selected values come first
    followed = get(client, kenya["toggle_url"])
    assert not any(v["selected"] for v in followed["facets"]["country"]["values"])
    ids, _, total = all_ids(client, kenya["toggle_url"])   # more than one page: every page
    asgm = sql_ids(db, "SELECT project_id FROM project_areas WHERE area = 'asgm'")
    assert total == len(ids) == len(asgm) and set(ids) == asgm


def test_toggle_url_resets_the_page_and_keeps_the_rest(client):
    body = get(client, "/api/projects?q=gold&status=ongoing&per_page=5&page=2")
    link = body["facets"]["area"]["values"][0]["toggle_url"]
    params = parse_qsl(urlsplit(link).query)
    assert ("q", "gold") in params and ("status", "ongoing") in params and ("per_page", "5") in params
    assert "page" not in dict(params)


def test_a_selected_value_nothing_else_matches_stays_with_count_zero(client, db):
    # a status with no project in Kenya: Kenya stays in the country facet (to be removed), counted 0
    statuses = {r[0] for r in db.execute("SELECT DISTINCT status FROM projects")}
    in_kenya = {r[0] for r in db.execute("""SELECT DISTINCT p.status FROM projects p JOIN project_countries c
                                            ON c.project_id = p.id WHERE c.iso3 = 'KEN'""")}
    status = sorted(statuses - in_kenya)[0]
    body = get(client, f"/api/projects?country=KEN&status={status}")
    assert body["total"] == 0
    kenya = body["facets"]["country"]["values"][0]
    assert kenya == dict(kenya, value="KEN", selected=True, count=0)
    assert get(client, kenya["toggle_url"])["total"] == len(sql_ids(
        db, "SELECT id FROM projects WHERE status = ?", [status]))


def test_a_selected_value_outside_the_top_values_is_shown_first(client, db):
    rarest = db.execute("SELECT iso3 FROM project_countries GROUP BY iso3 ORDER BY count(*), iso3 "
                        "LIMIT 1").fetchone()[0]
    body = get(client, f"/api/projects?country={rarest}")
    values = body["facets"]["country"]["values"]
    assert values[0]["value"] == rarest and values[0]["selected"]
    assert len(values) == 11 and not any(v["selected"] for v in values[1:])   # plus the usual top 10


# --- truncation and "show all" ---------------------------------------------------------------------

def test_facets_show_the_top_ten_and_say_they_are_truncated(client, db):
    body = get(client, "/api/projects")
    country = body["facets"]["country"]
    counts = dict(db.execute("SELECT iso3, count(*) FROM project_countries GROUP BY iso3").fetchall())
    assert len(counts) > 10
    assert country["truncated"] is True and country["value_count"] == len(counts)
    assert len(country["values"]) == 10
    shown = [v["count"] for v in country["values"]]
    assert shown == sorted(counts.values(), reverse=True)[:10]
    status = body["facets"]["status"]
    assert status["truncated"] is False and status["show_all_url"] is None
    assert {v["value"]: v["count"] for v in status["values"]} == dict(
        db.execute("SELECT status, count(*) FROM projects GROUP BY status").fetchall())


def test_show_all_url_lists_every_value_with_its_count(client, db):
    truncated = get(client, "/api/projects")["facets"]["country"]
    body = get(client, truncated["show_all_url"])
    country = body["facets"]["country"]
    counts = dict(db.execute("SELECT iso3, count(*) FROM project_countries GROUP BY iso3").fetchall())
    assert {v["value"]: v["count"] for v in country["values"]} == counts
    assert country["truncated"] is False and country["show_all_url"] is None
    assert country["value_count"] == len(counts)


@pytest.mark.parametrize("size, shown", [("3", 3), ("max", None)])
def test_facet_size_chooses_how_many_values(client, db, size, shown):
    funders = db.execute("SELECT count(DISTINCT org_id) FROM roles WHERE role = 'funder'").fetchone()[0]
    assert funders > 3
    funder = get(client, f"/api/projects?facet_size={size}")["facets"]["funder"]
    assert len(funder["values"]) == (shown or funders) and funder["value_count"] == funders


@pytest.mark.parametrize("url", ["/api/projects?facet_size=0", "/api/projects?facet_size=all",
                                 "/api/projects?facet_size=1001", "/api/organisations?facet_size=-1",
                                 "/api/projects?facet_size=3&facet_size=4"])
def test_bad_facet_size_is_a_400_that_says_what_works(client, url):
    r = client.get(url)
    assert r.status_code == 400 and "facet_size" in r.get_json()["error"]["message"]


# --- next / prev ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url, sql", [
    ("/api/projects?per_page=7", "SELECT id FROM projects"),
    ("/api/projects?area=asgm&sort=-start_year&per_page=6",
     "SELECT project_id FROM project_areas WHERE area = 'asgm'"),
    ("/api/projects?q=mercury&per_page=9", None),
    ("/api/organisations?per_page=13", "SELECT id FROM organisations"),
    ("/api/organisations?type=ngo&per_page=4", "SELECT id FROM organisations WHERE type = 'ngo'"),
    ("/api/countries?per_page=10", "SELECT DISTINCT iso3 FROM project_countries"),
])
def test_next_walks_every_page_once(client, db, url, sql):
    ids, pages, total = all_ids(client, url)
    assert len(ids) == len(set(ids)) == total > 0
    assert pages == -(-total // int(dict(parse_qsl(urlsplit(url).query))["per_page"])) > 1
    if sql:
        assert set(ids) == sql_ids(db, sql)


def test_next_and_prev_keep_the_query_string(client):
    body = get(client, "/api/projects?area=asgm&area=waste&per_page=3&page=2")
    for link, page in ((body["next"], "3"), (body["prev"], None)):
        params = parse_qsl(urlsplit(link).query)
        assert [v for k, v in params if k == "area"] == ["asgm", "waste"] and ("per_page", "3") in params
        assert dict(params).get("page") == page
    assert body["next"].startswith("http://")


def test_past_the_last_page_prev_leads_back_to_it(client, db):
    total = db.execute("SELECT count(*) FROM organisations").fetchone()[0]
    last = -(-total // 50)
    body = get(client, f"/api/organisations?per_page=50&page={last + 5}")
    assert body["results"] == [] and body["next"] is None
    assert dict(parse_qsl(urlsplit(body["prev"]).query))["page"] == str(last)


def test_every_list_has_the_same_envelope(client):
    for url, facets in (("/api/projects", {"country", "region", "funder", "area", "status", "kind", "source"}),
                        ("/api/organisations", {"type", "country"}), ("/api/countries", None)):
        body = get(client, url)
        assert {"total", "page", "per_page", "results", "next", "prev"} <= set(body)
        assert body["results"] and body["prev"] is None and body["next"]
        if facets:
            assert set(body["facets"]) == facets
            for facet in body["facets"].values():
                assert {"values", "value_count", "truncated", "show_all_url"} == set(facet)
                assert facet["values"] and all({"value", "label", "count", "selected", "toggle_url"} == set(v)
                                                for v in facet["values"])
        else:
            assert "facets" not in body


# --- organisation facets ------------------------------------------------------------------------

def test_organisation_facets_count_every_other_filter(client, db):
    body = get(client, "/api/organisations?type=ngo&facet_size=max&per_page=100")
    ngos = sql_ids(db, "SELECT id FROM organisations WHERE type = 'ngo'")
    assert body["total"] == len(ngos) and {o["id"] for o in body["results"]} <= ngos
    types = {v["value"]: v["count"] for v in body["facets"]["type"]["values"]}
    assert types == dict(db.execute("SELECT type, count(*) FROM organisations GROUP BY type").fetchall())
    assert facet_value(body, "type", "ngo")["selected"]
    countries = {v["value"]: v["count"] for v in body["facets"]["country"]["values"]}
    assert countries == dict(db.execute("""SELECT country, count(*) FROM organisations
                                           WHERE type = 'ngo' AND country IS NOT NULL AND country != ''
                                           GROUP BY country""").fetchall())


def test_organisation_toggle_url_equals_the_filter_applied_directly(client, db):
    body = get(client, "/api/organisations?type=ngo&per_page=100")
    usa = facet_value(body, "country", "USA")
    followed = get(client, usa["toggle_url"])
    direct = get(client, "/api/organisations?type=ngo&country=United+States&per_page=100")
    expected = sql_ids(db, "SELECT id FROM organisations WHERE type = 'ngo' AND country = 'USA'")
    assert {o["id"] for o in followed["results"]} == {o["id"] for o in direct["results"]} == expected
    assert followed["total"] == usa["count"] == len(expected)
