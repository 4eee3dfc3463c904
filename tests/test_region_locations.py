"""A location of precision `region` carries the code of the region it is (issue 12).

Validation (core/validate.py clean_location): the code or any spelling lookup_region resolves, stored as the
code; the location's own name when no region is given; a problem saying how to fix it otherwise, and for a
region on another precision. Storage (locations.region, added to older databases), every export format and
its import (CSV `region=419`, the `region` key in JSON and in GeoJSON properties), the seed (every region
location names a known region), the project page (the region's name, linked to its page) and the editor's
form, through a real SQLite file, the real importer and the real app.
"""
import csv
import io
import json

import pytest
import yaml

from conftest import SEED_DIR, logged_in, make_app, post_form, read_form, set_field
from registry.core import regions
from registry.core.validate import clean_project
from registry.exchange import exports, ingest
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.store import sources as source_store

SAMPLE = {
    "id": "reg-sample", "title": "Regional sample", "area": "asgm", "countries": ["PER"],
    "locations": [{"name": "Peru", "precision": "country", "source": 1},
                  {"name": "Latin America", "precision": "region", "region": " latin america and the caribbean", "source": 1},
                  {"name": "Amazonia", "precision": "region", "source": 1},
                  {"name": "the nine Amazonian countries", "precision": "region", "region": "Pan-Amazon",
                   "basis": "inferred", "reason": "the countries the study covers"}],
    "organisations": [],
    "sources": [{"section": "IV.1", "quote": "Work in Peru, the Americas and the Amazon."}],
}


def clean_locations(*locations):
    """(the validated locations, [(field, message)]) of a project with these locations."""
    p, problems = clean_project({"id": "x", "title": "X", "area": "asgm", "locations": list(locations),
                                 "organisations": [], "sources": [{"quote": "q"}]})
    return p["locations"], [(problem.field, problem.message) for problem in problems]


def import_json(db, projects):
    return ingest.import_data(db, json.dumps({"organisations": [], "projects": projects}).encode(), "json",
                              actor="test")


# --- validation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("given, code", [
    ("002", "002"), ("2", "002"), (419, "419"), ("Latin America", "419"), ("Amérique latine et Caraïbes", "419"),
    ("AMAZON-BASIN", "amazon-basin"), ("  asean-10 ", "asean-10"), ("Arctique", "arctic"), ("guianas", "guianas"),
])
def test_a_region_in_any_spelling_is_stored_as_its_code(given, code):
    [loc], problems = clean_locations({"name": "Somewhere", "precision": "region", "region": given})
    assert problems == [] and loc["region"] == code


@pytest.mark.parametrize("name, code", [("Africa", "002"), ("Caribbean", "029"), ("Central Africa", "017"),
                                        ("Amazon", "amazon-basin"), ("Asia Pacific", "asia-pacific")])
def test_without_a_region_the_name_is_looked_up(name, code):
    [loc], problems = clean_locations({"name": name, "precision": "region"})
    assert problems == [] and loc["region"] == code


def test_other_precisions_have_no_region():
    locations, problems = clean_locations({"name": "Kenya", "precision": "country"},
                                          {"name": "Global", "precision": "global"})
    assert problems == [] and [loc["region"] for loc in locations] == [None, None]


def test_a_region_on_another_precision_is_an_error_saying_so():
    _, problems = clean_locations({"name": "Kenya", "precision": "country", "region": "002"})
    assert problems == [("locations[1].region", "is only for precision 'region' (this location's is 'country'): "
                                                "remove it, or set the precision to 'region'")]


def test_a_region_name_that_is_no_region_says_how_to_fix_it():
    _, problems = clean_locations({"name": "The Seven Seas", "precision": "region"})
    [(path, message)] = problems
    assert path == "locations[1].region"
    assert message.startswith("is required for precision 'region', and the name 'The Seven Seas' is not one "
                              "the registry knows: give a region code or name from /regions (e.g. 002 Africa, ")
    assert "419 Latin America and the Caribbean" in message and "amazon-basin Amazon basin" in message
    assert message.endswith("or choose another precision")


def test_an_unknown_region_says_how_to_fix_it():
    _, problems = clean_locations({"name": "Atlantis", "precision": "region", "region": "Atlantis"})
    [(path, message)] = problems
    assert path == "locations[1].region"
    assert message.startswith("'Atlantis' is not a region the registry knows: give a region code or name from "
                              "/regions (e.g. 002 Africa")


def test_a_wrong_precision_is_named_once():
    _, problems = clean_locations({"name": "Africa", "precision": "continent", "region": "002"})
    assert [path for path, _ in problems] == ["locations[1].precision"]


def test_the_examples_in_messages_are_real_regions():
    from registry.core.validate import REGION_EXAMPLES
    assert all(regions.get_region(code) for code in REGION_EXAMPLES)


# --- storage --------------------------------------------------------------------------------------------

def test_an_older_database_gains_the_column_filled_where_the_name_is_a_region(tmp_path):
    path = tmp_path / "old.db"
    db = storage.connect(str(path))
    db.execute("CREATE TABLE locations (id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, "
               "precision TEXT NOT NULL, lat REAL, lon REAL, country TEXT)")
    for name, precision in (("Africa", "region"), ("Somewhere Else", "region"), ("Africa", "site")):
        db.execute("INSERT INTO locations (project_id, name, precision) VALUES ('p', ?, ?)", [name, precision])
    storage.migrate(db)
    assert [tuple(r) for r in db.execute("SELECT name, precision, region FROM locations ORDER BY id")] == [
        ("Africa", "region", "002"), ("Somewhere Else", "region", None), ("Africa", "site", None)]
    db.conn.close()


def test_the_region_is_stored_and_read_back(db):
    report = import_json(db, [SAMPLE])
    assert report.added == ["reg-sample"]
    record, _ = editing_db.project_record(db, "reg-sample")
    assert [loc["region"] for loc in record["locations"]] == [None, "419", "amazon-basin", "pan-amazon"]
    assert [loc["region"] for loc in storage.get_project(db, "reg-sample")["locations"]] == \
        [None, "419", "amazon-basin", "pan-amazon"]
    # what the map data reads (registry/maps/data.py)
    assert [loc["region"] for loc in storage.locations_for(db, ["reg-sample"])] == \
        [None, "419", "amazon-basin", "pan-amazon"]


# --- every format, both ways ----------------------------------------------------------------------------

def export(db, fmt, ids):
    orgs, projects = storage.export_records(db, ids)
    return exports.export_text(fmt, orgs, projects, sources=source_store.export_sources(db, ids))


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_every_format_carries_the_region_and_imports_unchanged(db, fmt):
    import_json(db, [SAMPLE])
    before = storage.export_records(db, ["reg-sample"])
    text = export(db, fmt, ["reg-sample"])
    if fmt == "csv":
        [row] = csv.DictReader(io.StringIO(text))
        entries = [entry.strip() for entry in row["locations"].split(";")]
        assert "region=419" in entries[1].split("|") and "region=pan-amazon" in entries[3].split("|")
        assert "region=" not in entries[0]           # no empty key for a location without a region
    else:
        doc = json.loads(text)
        p = doc["features"][0]["properties"] if fmt == "geojson" else doc["projects"][0]
        assert [loc["region"] for loc in p["locations"]] == [None, "419", "amazon-basin", "pan-amazon"]
    report = ingest.import_data(db, text.encode(), fmt, actor="test")
    assert report.unchanged == ["reg-sample"] and report.changed == []
    assert storage.export_records(db, ["reg-sample"]) == before


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_an_edited_region_is_one_changed_field(db, fmt):
    import_json(db, [SAMPLE])
    text = export(db, fmt, ["reg-sample"]).replace("pan-amazon", "amazon-basin")
    report = ingest.import_data(db, text.encode(), fmt, actor="test")
    assert report.changed == ["reg-sample"]
    assert [c.path for c in report.projects.changed["reg-sample"]] == ["locations[4].region"]


def test_a_csv_region_may_be_a_name_and_an_unknown_one_names_row_and_column(db):
    header = "id,title,area,locations,sources\n"
    good = header + 'reg-csv,CSV regional,asgm,"Amérique latine|||region|region=Latin America",|Work there.\n'
    ingest.import_data(db, good.encode(), "csv", actor="test")
    assert storage.get_project(db, "reg-csv")["locations"][0]["region"] == "419"
    bad = header + 'reg-csv2,CSV regional,asgm,"Nowhere|||region|region=Atlantis",|Work there.\n'
    with pytest.raises(Exception) as caught:
        ingest.import_data(db, bad.encode(), "csv", actor="test")
    [problem] = caught.value.problems
    assert problem.describe().startswith("row 2, column locations (entry 1, region): 'Atlantis' is not a region "
                                         "the registry knows")
    assert storage.get_project(db, "reg-csv2") is None


# --- the seed ---------------------------------------------------------------------------------------------

def seed_region_locations():
    for path in sorted(SEED_DIR.glob("projects*.yaml")):
        for p in yaml.safe_load(path.read_text(encoding="utf-8")):
            for i, loc in enumerate(p.get("locations") or [], 1):
                if loc.get("precision") == "region" or "region" in loc:
                    yield p["id"], i, loc


def test_every_region_location_of_the_seed_names_a_known_region_by_its_code():
    found = list(seed_region_locations())
    assert len(found) >= 31
    for project_id, i, loc in found:
        where = f"{project_id} locations[{i}] ({loc['name']})"
        assert loc["precision"] == "region", where
        assert isinstance(loc.get("region"), str), f"{where}: give its region code (quoted, so YAML keeps it text)"
        region = regions.get_region(loc["region"])
        assert region is not None and region.code == loc["region"], where


def test_the_seed_regions_the_report_words_call_for():
    codes = {(pid, loc["name"]): loc["region"] for pid, _, loc in seed_region_locations()}
    assert codes[("ubc-amazonian-agm-legislation-study", "Amazon")] == "pan-amazon"   # "the 9 Amazonian countries"
    assert codes[("pact-scioa-amazon", "Amazon")] == "amazon-basin"
    assert codes[("acp-mea-phase-3-eeb-zmwg-mercury-added-products", "Africa")] == "002"
    assert codes[("ait-asean-mercury-medical-measuring-devices", "ASEAN Member States")] == "asean-10"
    assert "TLS" not in regions.members("asean-10") and regions.members("035") - regions.members("asean-10") == {"TLS"}
    assert regions.members("pan-amazon") == regions.members("amazon-basin") | {"GUF"}
    assert codes[("arm-guianas-mercury-phase-out", "Guianas")] == "guianas"


def test_the_loaded_seed_stores_a_region_for_every_region_location_only(db):
    rows = [tuple(r) for r in db.execute("SELECT precision, region IS NOT NULL, count(*) FROM locations "
                                         "GROUP BY 1, 2 ORDER BY 1, 2")]
    with_region = {precision for precision, has, _ in rows if has}
    assert with_region == {"region"} and ("region", 0) not in {(p, h) for p, h, _ in rows}


# --- pages and forms -----------------------------------------------------------------------------------------

def test_the_project_page_names_the_region_and_links_its_page(client):
    html = client.get("/projects/ubc-amazonian-agm-legislation-study").get_data(as_text=True)
    assert 'href="/regions/pan-amazon">Pan-Amazon (nine countries and territories)</a>' in html
    html = client.get("/projects/acp-mea-phase-3-eeb-zmwg-mercury-added-products").get_data(as_text=True)
    assert 'href="/regions/029">Caribbean</a>' in html and 'href="/regions/002">Africa</a>' in html


@pytest.fixture
def editor(instance):
    return logged_in(make_app(instance), "reggie", "editor")


def location_row(fields, name):
    """The form row number of the location called `name`."""
    return next(key.split("-")[1] for key, value in fields if key.startswith("loc-") and key.endswith("-name")
                and value == name)


def test_the_form_shows_the_region_and_saves_a_name_as_its_code(editor, db):
    url = "/editor/projects/apmmn/edit"
    fields = read_form(editor.get(url).get_data(as_text=True))
    n = location_row(fields, "Asia Pacific")
    assert dict(fields)[f"loc-{n}-region"] == "asia-pacific"
    set_field(fields, f"loc-{n}-region", "Asie du Sud-Est")     # M49 035 in French
    response = post_form(editor, url, fields)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    record, _ = editing_db.project_record(db, "apmmn")
    assert [loc["region"] for loc in record["locations"]] == ["035"]


def test_the_form_names_a_region_problem_at_its_field(editor, db):
    url = "/editor/projects/apmmn/edit"
    before = editing_db.project_record(db, "apmmn")
    fields = read_form(editor.get(url).get_data(as_text=True))
    n = location_row(fields, "Asia Pacific")
    set_field(fields, f"loc-{n}-name", "Pacific Rim")
    set_field(fields, f"loc-{n}-region", "")
    response = post_form(editor, url, fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Location 1 region" in html and "is required for precision &#39;region&#39;" in html
    assert f'name="loc-{n}-region"' in html
    assert editing_db.project_record(db, "apmmn") == before        # nothing stored
