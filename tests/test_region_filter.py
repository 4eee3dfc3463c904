"""The region filter, facet, pages and search (issue 12), against the real seed.

Expected projects are computed here independently of registry/core/regions.py and the filter's SQL: the
membership table is read from geodata/m49.csv and geodata/custom_regions.csv with the csv module, loaded
into the test's own SQLite connection, and joined with project_countries and locations there.
"""
import csv
import io
import re
import sqlite3
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import ROOT

GEODATA = ROOT / "geodata"
M49_LEVELS = ("region_code", "subregion_code", "intermediate_code")
GROUP_FLAGS = {"ldc": "199", "lldc": "432", "sids": "722"}
CODES = ("419", "002", "202", "005", "029", "142", "150", "722", "199", "432", "amazon-basin")


def membership():
    """[(region code, iso3)] from the CSV files as they are."""
    rows = []
    with (GEODATA / "m49.csv").open(newline="", encoding="utf-8") as f:
        for country in csv.DictReader(f):
            rows.append(("001", country["iso3"]))
            rows += [(country[level], country["iso3"]) for level in M49_LEVELS if country[level]]
            rows += [(code, country["iso3"]) for flag, code in GROUP_FLAGS.items() if country[flag] == "1"]
    with (GEODATA / "custom_regions.csv").open(newline="", encoding="utf-8") as f:
        rows += [(r["code"], iso3) for r in csv.DictReader(f) for iso3 in r["members"].split()]
    return rows


@pytest.fixture
def oracle(app):
    """A connection to the test's database with the membership table `m` (region, iso3) beside it."""
    conn = sqlite3.connect(app.config["DATABASE"])
    conn.execute("CREATE TEMP TABLE m (region TEXT, iso3 TEXT)")
    conn.executemany("INSERT INTO temp.m VALUES (?, ?)", membership())
    yield conn
    conn.close()


# A project is in R when one of its countries is a member of R, or one of its region-precision locations
# has R or a region whose members are all members of R.
IN_REGION = """
    SELECT project_id FROM project_countries WHERE iso3 IN (SELECT iso3 FROM temp.m WHERE region = :r)
    UNION
    SELECT l.project_id FROM locations l WHERE l.precision = 'region' AND (l.region = :r OR (
        EXISTS (SELECT 1 FROM temp.m WHERE region = l.region)
        AND NOT EXISTS (SELECT 1 FROM temp.m inner_m WHERE inner_m.region = l.region
                        AND inner_m.iso3 NOT IN (SELECT iso3 FROM temp.m WHERE region = :r))))"""


def expected(oracle, code):
    return {r[0] for r in oracle.execute(IN_REGION, {"r": code})}


def only_through_locations(oracle, code):
    """Projects in the region through a region location alone (none of their countries is a member)."""
    return expected(oracle, code) - {r[0] for r in oracle.execute(
        "SELECT project_id FROM project_countries WHERE iso3 IN (SELECT iso3 FROM temp.m WHERE region = ?)", [code])}


def all_ids(client, query_string):
    """Every project id the API lists for this query string (following the pages)."""
    ids, page = [], 1
    while True:
        r = client.get(f"/api/projects?{query_string}&per_page=100&page={page}")
        assert r.status_code == 200, r.get_data(as_text=True)
        ids += [p["id"] for p in r.json["results"]]
        if not r.json["next"]:
            return ids
        page += 1


@pytest.mark.parametrize("code", CODES)
def test_region_filter_matches_the_membership_table(client, oracle, code):
    want = expected(oracle, code)
    assert want, f"no project in {code}: the test would pass vacuously"
    got = all_ids(client, f"region={code}")
    assert len(got) == len(set(got))
    assert set(got) == want


def test_projects_without_a_country_in_the_region_are_found_through_their_region_locations(client, oracle):
    # "Latin America" networks and the Amazon studies: located in the region, in no single member country
    reached = {code: only_through_locations(oracle, code) for code in ("419", "002", "019")}
    assert any(reached.values()), "the seed has no region location outside its countries: nothing to test"
    for code, ids in reached.items():
        assert ids <= set(all_ids(client, f"region={code}"))


def test_a_location_in_a_smaller_region_is_in_the_larger_one(client, oracle):
    # a location in South America (005) or the Amazon basin (custom, all of it in 005) is in 419 and 019
    inner = {r[0] for r in oracle.execute("SELECT project_id FROM locations WHERE region IN ('005', 'amazon-basin')")}
    assert inner
    for code in ("005", "419", "019"):
        assert inner <= set(all_ids(client, f"region={code}"))
    assert not inner & set(all_ids(client, "region=002"))


def test_repeated_regions_mean_or_and_combine_with_other_filters(client, oracle):
    union = expected(oracle, "005") | expected(oracle, "013")
    assert set(all_ids(client, "region=005&region=013")) == union
    assert set(all_ids(client, "region=005,013")) == union
    gef = {r[0] for r in oracle.execute("SELECT project_id FROM roles WHERE role = 'funder' AND org_id = 'gef'")}
    both = gef & expected(oracle, "419")
    assert both
    assert set(all_ids(client, "region=419&funder=gef")) == both


@pytest.mark.parametrize("text, code", [
    ("latin america", "419"), ("LATIN AMERICA AND THE CARIBBEAN", "419"), ("Amérique latine et Caraïbes", "419"),
    ("amerique latine et caraibes", "419"), ("América Latina", "419"), ("america latina y el caribe", "419"),
    ("Afrique", "002"), ("África", "002"), ("sub-saharan africa", "202"), ("19", "019"), ("SIDS", "722"),
    ("Amazonía", "amazon-basin"), ("Amazon-Basin", "amazon-basin"),
])
def test_names_in_three_languages_and_codes_give_the_canonical_code(client, oracle, text, code):
    r = client.get("/api/projects", query_string={"region": text, "per_page": 1})
    assert r.status_code == 200
    assert r.json["total"] == len(expected(oracle, code))
    selected = [v for v in r.json["facets"]["region"]["values"] if v["selected"]]
    assert [v["value"] for v in selected] == [code]
    # the facets' links carry the code, not the text typed
    toggle = r.json["facets"]["area"]["values"][0]["toggle_url"]
    assert parse_qs(urlsplit(toggle).query)["region"] == [code]


def test_unknown_region_is_a_400_with_a_hint(client):
    r = client.get("/api/projects?region=Latn%20America")
    assert r.status_code == 400
    assert r.json["error"]["code"] == "unknown_region"
    message = r.json["error"]["message"]
    assert "'Latn America'" in message and "/regions" in message and "did you mean Latin America" in message
    r = client.get("/api/projects?region=Atlantis")
    assert r.status_code == 400 and "did you mean" not in r.json["error"]["message"]
    page = client.get("/projects?region=Atlantis")
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "unknown region &#39;Atlantis&#39;" in page.get_data(as_text=True) or \
        "unknown region 'Atlantis'" in page.get_data(as_text=True)
    for url in ("/map/data.json?region=Atlantis", "/map.png?region=Atlantis", "/projects.csv?region=Atlantis",
                "/embed/map?region=Atlantis"):
        assert client.get(url).status_code == 400, url


def test_every_view_of_the_query_string_takes_a_region(client, oracle):
    want = expected(oracle, "419")
    rows = list(csv.DictReader(io.StringIO(client.get("/projects.csv?region=Latin%20America").get_data(as_text=True))))
    assert {r["id"] for r in rows} == want
    page = client.get("/projects?region=419&per_page=100").get_data(as_text=True)
    assert set(re.findall(r'class="title" href="/projects/([^"]+)"', page)) == want
    png = client.get("/map.png?region=419")
    assert png.status_code == 200 and png.mimetype == "image/png"
    for url in ("/map?region=419", "/embed/map?region=419", "/map/data.json?region=419"):
        assert client.get(url).status_code == 200, url


def test_region_facet_counts_toggle_and_truncate(client, oracle):
    r = client.get("/api/projects?funder=gef&facet_size=max").json
    facet = r["facets"]["region"]
    values = {v["value"]: v for v in facet["values"]}
    assert "001" not in values                   # the World is no facet value
    assert values["419"]["label"] == "Latin America and the Caribbean"
    gef = {row[0] for row in oracle.execute("SELECT project_id FROM roles WHERE role = 'funder' AND org_id = 'gef'")}
    for code in ("419", "002", "005", "199"):
        assert values[code]["count"] == len(gef & expected(oracle, code)) > 0
        assert not values[code]["selected"]
    assert facet["truncated"] is False and facet["value_count"] == len(values)
    # following a value's toggle_url filters on it; the selected value's toggle_url removes it
    chosen = client.get(values["419"]["toggle_url"]).json
    assert chosen["total"] == values["419"]["count"]
    selected = chosen["facets"]["region"]["values"][0]
    assert selected["value"] == "419" and selected["selected"]
    back = client.get(selected["toggle_url"]).json
    assert "region" not in parse_qs(urlsplit(selected["toggle_url"]).query) and back["total"] == r["total"]
    # facet_size as in the other facets
    small = client.get("/api/projects?funder=gef&facet_size=3").json["facets"]["region"]
    assert len(small["values"]) == 3 and small["truncated"] and small["value_count"] == len(values)
    assert small["show_all_url"]


def test_region_facet_on_the_html_list(client):
    page = client.get("/projects?region=419").get_data(as_text=True)
    assert "<summary>Region</summary>" in page
    assert 'name="region" value="419"' in page      # kept by the filter form
    assert re.search(r'<span aria-hidden="true">✕ </span><span class="visually-hidden">Remove filter: </span>Latin America and the Caribbean</a>', page)


def test_regions_page_lists_every_region_with_its_count(client, oracle):
    page = client.get("/regions").get_data(as_text=True)
    for code, name in (("419", "Latin America and the Caribbean"), ("002", "Africa"), ("722", "Small Island"),
                       ("amazon-basin", "Amazon basin")):
        n = len(expected(oracle, code))
        assert re.search(rf'href="/regions/{code}">{name}[^<]*</a> <span class="count">{n} projects?</span>', page), code
    # grouped: the sub-region inside its region
    americas = page.index('href="/regions/019"')
    assert americas < page.index('href="/regions/419"') < page.index('href="/regions/005"') < page.index("Groups of countries")


def test_region_page_names_members_and_projects(client, oracle):
    page = client.get("/regions/419").get_data(as_text=True)
    assert "Latin America and the Caribbean" in page and "Amérique latine et Caraïbes" in page \
        and "América Latina y el Caribe" in page
    assert 'href="/projects?region=419"' in page and 'href="/map?region=419"' in page
    assert 'href="/countries/BRA">Brazil</a>' in page
    n = len(expected(oracle, "419"))
    assert f"{n} projects" in page
    assert client.get("/regions/19").headers["Location"].endswith("/regions/019")
    assert client.get("/regions/Latin%20America").headers["Location"].endswith("/regions/419")
    missing = client.get("/regions/atlantis")
    assert missing.status_code == 404 and "/regions" in missing.get_data(as_text=True)


def test_api_regions(client, oracle):
    r = client.get("/api/regions?per_page=100").json
    by_code = {x["code"]: x for x in r["results"]}
    assert r["total"] == len(by_code) and "001" in by_code and "amazon-basin" in by_code
    lac = by_code["419"]
    assert lac["names"] == {"en": "Latin America and the Caribbean", "fr": "Amérique latine et Caraïbes",
                            "es": "América Latina y el Caribe"}
    assert lac["kind"] == "subregion" and lac["parent"] == "019"
    assert lac["projects"] == len(expected(oracle, "419"))
    assert {m["iso3"] for m in lac["members"]} == {iso3 for code, iso3 in membership() if code == "419"}
    assert client.get(lac["projects_url"]).json["total"] == lac["projects"]
    assert client.get("/api/regions/419").json["code"] == "419"
    assert client.get("/api/regions/atlantis").status_code == 404


def test_countries_page_is_grouped_by_region(client):
    page = client.get("/countries").get_data(as_text=True)
    # M49 region, then its sub-region, then the country
    africa = page.index('<h2><a href="/regions/002">Africa</a></h2>')
    ssa = page.index('<h3><a href="/regions/202">Sub-Saharan Africa</a></h3>', africa)
    assert ssa < page.index('href="/countries/KEN">Kenya</a>', ssa)
    assert page.index('<h2><a href="/regions/019">Americas</a></h2>') < page.index('href="/countries/BRA">Brazil</a>')


def test_a_funder_and_a_region_in_a_search_rank_that_funders_projects_there_first(client, oracle):
    gef_in_lac = {r[0] for r in oracle.execute("SELECT project_id FROM roles WHERE role = 'funder' AND org_id = 'gef'")} \
        & expected(oracle, "419")
    assert len(gef_in_lac) > 3
    for q in ("GEF Latin America", "GEF Latin America and the Caribbean", "GEF América Latina"):
        ids = all_ids(client, f"q={q}")
        assert set(ids[:len(gef_in_lac)]) == gef_in_lac, q


def test_region_names_in_french_and_spanish_are_places(client, oracle):
    africa = {r[0] for r in oracle.execute("SELECT project_id FROM project_countries WHERE iso3 IN "
                                           "(SELECT iso3 FROM temp.m WHERE region = '002')")}
    assert africa <= set(all_ids(client, "q=Afrique"))
    lac = {r[0] for r in oracle.execute("SELECT project_id FROM project_countries WHERE iso3 IN "
                                        "(SELECT iso3 FROM temp.m WHERE region = '419')")}
    assert lac <= set(all_ids(client, "q=America Latina"))
