"""`bbox=minlon,minlat,maxlon,maxlat` (issue 15, "search this area"): the projects with a point inside a box,
on every view that takes the query string, checked against SQL written here; boxes across the antimeridian;
malformed boxes as 400s that show the expected form.

The seed has nothing in the Pacific: the module imports, through the real importer, a project in Fiji, one in
Samoa (either side of the antimeridian), one with a point at 160°E (outside the Pacific box), a regional and
a global project and a site without coordinates (none of which has a point)."""
import csv
import io
import json
import re
import shutil
import sqlite3

import pytest

from conftest import MAP_SAMPLE_SOURCE, make_app
from registry.core.query import BBOX_FORM, Bbox, QueryError, parse_bbox
from registry.core.summary import summarise
from registry.exchange import ingest
from registry.maps import data as mapdata
from registry.search import index as search
from registry.store import db as storage
from registry.web.context import index_settings

AFRICA = "-20,-35,55,38"
PACIFIC = "170,-25,-170,-10"          # across the antimeridian: Fiji (178) and Samoa (-172)


def pacific_records():
    def project(pid, title, country, locations, area="asgm"):
        return {"id": pid, "title": title, "kind": "project", "area": area, "status": "ongoing",
                "countries": [country], "locations": locations, "sources": MAP_SAMPLE_SOURCE}
    return {"projects": [
        project("bbox-fiji", "Bbox test: Fiji gold panning", "FJI",
                [{"name": "Vatukoula", "precision": "site", "lat": -17.5, "lon": 177.85}]),
        project("bbox-samoa", "Bbox test: Samoa products", "WSM",
                [{"name": "Apia", "precision": "subnational", "lat": -13.83, "lon": -171.76}], area="products"),
        project("bbox-solomon", "Bbox test: Solomon Islands, west of the box", "SLB",
                [{"name": "Honiara", "precision": "site", "lat": -9.43, "lon": 159.95}]),
        project("bbox-regional", "Bbox test: Pacific network", "FJI",
                [{"name": "Oceania", "precision": "region", "region": "009"}]),
        project("bbox-global", "Bbox test: worldwide study", "WSM",
                [{"name": "Worldwide", "precision": "global"}]),
        project("bbox-unplaced", "Bbox test: a site not yet placed", "TON",
                [{"name": "Somewhere in Tonga", "precision": "site"}]),
    ]}


@pytest.fixture(scope="module")
def site(seeded_instance, tmp_path_factory):
    """The seeded instance with the Pacific records (read-only for the tests): (app, database path)."""
    folder = tmp_path_factory.mktemp("bbox") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder)
    db = storage.connect(app.config["DATABASE"])
    try:
        report = ingest.import_data(db, json.dumps(pacific_records()).encode("utf-8"), "json")
    finally:
        db.conn.close()
    with app.app_context():
        search.update_projects(index_settings(app), report.added + report.changed,
                               organisations=report.organisations)
    return app, app.config["DATABASE"]


@pytest.fixture
def client(site):
    return site[0].test_client()


def sql_ids(db_path, west, south, east, north, extra="", params=()):
    """The projects with a point in the box, by SQL written independently of the registry's."""
    lon = "(lon >= ? OR lon <= ?)" if west > east else "lon BETWEEN ? AND ?"
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(
            "SELECT DISTINCT project_id FROM locations WHERE precision IN ('site', 'subnational', 'country') "
            f"AND lat IS NOT NULL AND lon IS NOT NULL AND lat BETWEEN ? AND ? AND {lon}{extra}",
            [south, north, west, east, *params]).fetchall()
    finally:
        conn.close()
    return {r[0] for r in rows}


def api_ids(client, **query):
    """Every project id the API lists for this query (all pages)."""
    ids, page = [], 1
    while True:
        r = client.get("/api/projects", query_string=dict(query, per_page=100, page=page))
        assert r.status_code == 200, r.get_data(as_text=True)[:400]
        body = r.get_json()
        ids += [p["id"] for p in body["results"]]
        if len(ids) >= body["total"]:
            assert len(ids) == body["total"]
            return set(ids)
        page += 1


def box(text):
    return [float(v) for v in text.split(",")]


# --- parsing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,4,5", "a,b,c,d", "nan,0,1,1", "0,inf,1,1", "0,0,1,-inf",
                                  "1e1,0,2,1", "1_0,0,20,1", "１,0,2,1", "0x1,0,2,1", "1,,2,3", "181,0,10,10",
                                  "0,0,-180.5,1", "0,-91,1,1", "0,0,1,90.001", "0,10,1,5"])
def test_malformed_boxes_are_refused_with_the_expected_form(text):
    with pytest.raises(QueryError) as caught:
        parse_bbox(text)
    assert caught.value.code == "invalid_bbox"
    assert BBOX_FORM in caught.value.message and "bbox=-20,-35,55,38" in caught.value.message


def test_a_box_is_rounded_to_four_decimals_and_written_canonically():
    b = parse_bbox(" -20.123456, -35.00004 ,55.00001,+38 ")
    assert b == Bbox(-20.1235, -35.0, 55.0, 38.0) and str(b) == "-20.1235,-35,55,38"
    assert str(parse_bbox("-0.00001,0,180,90")) == "0,0,180,90"
    assert parse_bbox(PACIFIC).wraps and not parse_bbox(AFRICA).wraps


def test_the_summary_says_the_area_shown():
    from registry.core.query import ProjectQuery
    s = summarise(ProjectQuery(areas=("asgm",), bbox=parse_bbox(PACIFIC)), 2)
    assert s.sentence == "2 projects on ASGM in the area shown"
    assert s.full == "2 projects on ASGM in the area shown (170°E–170°W, 25°S–10°S)"
    assert s.short == "In the area shown · ASGM" and s.slug == "projects-on-asgm-in-the-area-shown"


# --- the filter against SQL ------------------------------------------------------------------------

def test_bbox_keeps_exactly_the_projects_with_a_point_inside(client, site):
    expected = sql_ids(site[1], *box(AFRICA))
    total = client.get("/api/projects", query_string={"per_page": 1}).get_json()["total"]
    assert 10 < len(expected) < total      # a real filter: neither nothing nor everything
    assert api_ids(client, bbox=AFRICA) == expected


def test_a_box_across_the_antimeridian_holds_both_sides(client, site):
    assert sql_ids(site[1], *box(PACIFIC)) == {"bbox-fiji", "bbox-samoa"}
    assert api_ids(client, bbox=PACIFIC) == {"bbox-fiji", "bbox-samoa"}
    assert api_ids(client, bbox="170,-25,180,-10") == {"bbox-fiji"}
    assert api_ids(client, bbox="-180,-25,-170,-10") == {"bbox-samoa"}
    # the same longitudes not wrapping: everything between -170 and 170, which is neither of them
    between = api_ids(client, bbox="-170,-25,170,-10")
    assert "bbox-fiji" not in between and "bbox-samoa" not in between
    assert between == sql_ids(site[1], -170, -25, 170, -10)


def test_regional_global_and_unplaced_locations_have_no_point(client):
    whole_world = api_ids(client, bbox="-180,-90,180,90")
    assert {"bbox-fiji", "bbox-samoa", "bbox-solomon"} <= whole_world
    assert not {"bbox-regional", "bbox-global", "bbox-unplaced"} & whole_world


def test_bbox_combines_with_other_filters_and_search(client, site):
    conn = sqlite3.connect(site[1])
    asgm = {r[0] for r in conn.execute("SELECT project_id FROM project_areas WHERE area = 'asgm'")}
    ongoing = {r[0] for r in conn.execute("SELECT id FROM projects WHERE status = 'ongoing'")}
    conn.close()
    inside = sql_ids(site[1], *box(AFRICA))
    expected = inside & asgm & ongoing
    assert expected and expected != inside
    assert api_ids(client, bbox=AFRICA, area="asgm", status="ongoing") == expected
    # with search words: the search's hits, then the box (the filter path of find_projects)
    gold = api_ids(client, q="gold")
    assert api_ids(client, q="gold", bbox=AFRICA) == gold & inside and gold & inside
    assert api_ids(client, q="gold", bbox=PACIFIC) == gold & {"bbox-fiji", "bbox-samoa"} == {"bbox-fiji"}
    # facets count within the box: the area facet's counts add up over the box's projects
    facets = client.get("/api/projects", query_string={"bbox": PACIFIC}).get_json()["facets"]
    assert {v["value"]: v["count"] for v in facets["area"]["values"]} == {"asgm": 1, "products": 1}
    assert {v["value"]: v["count"] for v in facets["country"]["values"]} == {"FJI": 1, "WSM": 1}


# --- every view takes it -----------------------------------------------------------------------------

def test_every_view_takes_the_box(client, site):
    expected = {"bbox-fiji", "bbox-samoa"}
    q = f"bbox={PACIFIC}"
    page = client.get(f"/projects?{q}").get_data(as_text=True)
    assert "2 projects in the area shown" in page and "Bbox test: Fiji gold panning" in page
    assert "In the area searched on the map" in page            # the chip that removes it
    assert f'href="/map?bbox={PACIFIC}"' in page                  # the map link carries it, canonical
    assert "Bbox test: Solomon" not in page
    map_page = client.get(f"/map?{q}").get_data(as_text=True)
    assert "2 projects in the area shown" in map_page and f'value="{PACIFIC}"' in map_page
    assert f'href="/projects?bbox={PACIFIC}" class="list-link"' in map_page
    embed = client.get(f"/embed/map?{q}").get_data(as_text=True)
    assert "2 projects in the area shown" in embed
    data = client.get(f"/map/data.json?{q}").get_json()
    assert {p["id"] for p in mapdata.records(data, "projects")} == expected
    assert data["bounds"] == {"west": 170, "south": -25, "east": 190, "north": -10}   # across: east above 180
    png = client.get(f"/map.png?{q}&width=400")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO(client.get(f"/projects.csv?{q}").get_data(as_text=True))))
    assert {r["id"] for r in rows} == expected
    exported = client.get(f"/projects.json?{q}").get_json()
    assert {p["id"] for p in exported["projects"]} == expected
    geojson = client.get(f"/projects.geojson?{q}").get_json()
    assert {f["properties"]["id"] for f in geojson["features"]} == expected
    # IATI: only the projects it can hold (with a reporting organisation's role); those inside the box
    africa = sql_ids(site[1], *box(AFRICA))
    iati = client.get(f"/projects.iati.xml?bbox={AFRICA}").get_data(as_text=True)
    ours = re.findall(r"<iati-identifier>XM-DAC-41116-GMP-([^<]+)</iati-identifier>", iati)
    assert ours and set(ours) <= africa
    everything = client.get("/projects.iati.xml").get_data(as_text=True)
    assert iati.count("<iati-activity") < everything.count("<iati-activity")


@pytest.mark.parametrize("path", ["/projects.atom", "/stats"])
def test_views_of_other_parts_take_the_box(client, site, path):
    """The feed and the statistics (built alongside): when they exist, they filter by the box too."""
    if not any(rule.rule == path for rule in site[0].url_map.iter_rules()):
        pytest.skip(f"{path} is not in this build")
    inside = client.get(f"{path}?bbox={PACIFIC}").get_data(as_text=True)
    assert client.get(f"{path}?bbox={PACIFIC}").status_code == 200
    assert "Bbox test: Fiji" in inside or "in the area shown" in inside
    assert "Bbox test: Solomon" not in inside
    assert client.get(f"{path}?bbox=1,2,3").status_code == 400


@pytest.mark.parametrize("path", ["/projects", "/api/projects", "/map", "/embed/map", "/map/data.json",
                                  "/map.png", "/projects.csv", "/projects.geojson", "/projects.json",
                                  "/map/newsletter", "/map/download.html"])
@pytest.mark.parametrize("value", ["1,2,3", "nan,0,1,1", "0,10,1,5", "200,0,10,10"])
def test_a_malformed_box_is_a_400_that_shows_the_form(client, path, value):
    r = client.get(path, query_string={"bbox": value})
    assert r.status_code == 400, (path, value, r.status_code)
    assert "bbox=minlon,minlat,maxlon,maxlat, e.g. bbox=-20,-35,55,38" in r.get_data(as_text=True)


def test_api_error_names_the_code_and_an_empty_box_means_none(client):
    r = client.get("/api/projects", query_string={"bbox": "0,10,1,5"})
    assert r.get_json()["error"]["code"] == "invalid_bbox" and "swap them" in r.get_json()["error"]["message"]
    everything = client.get("/api/projects", query_string={"per_page": 1}).get_json()["total"]
    assert client.get("/api/projects", query_string={"bbox": "", "per_page": 1}).get_json()["total"] == everything
    twice = client.get("/api/projects?bbox=1,2,3,4&bbox=1,2,3,4")
    assert twice.status_code == 400 and "given 2 times" in twice.get_json()["error"]["message"]


def test_links_give_the_box_rounded(client):
    r = client.get("/projects", query_string={"bbox": "-20.123456,-35,55.00001,38"})
    assert 'href="/map?bbox=-20.1235,-35,55,38"' in r.get_data(as_text=True)


def test_the_openapi_description_documents_bbox(client):
    spec = client.get("/api/openapi.json").get_json()
    params = {p["name"]: p for p in spec["paths"]["/api/projects"]["get"]["parameters"]}
    assert "antimeridian" in params["bbox"]["description"] and "invalid_bbox" in params["bbox"]["description"]

