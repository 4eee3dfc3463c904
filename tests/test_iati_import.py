"""IATI import (issue 14): schema first (line-numbered, nothing stored), the mapping field by field, matching on
re-import and on update, the round trip with the export, the CLI and the web import's format detection."""
import io
import json
import re
import subprocess
import sys

import pytest

from registry.core.validate import ValidationError
from registry.exchange import iati, iati_read, ingest
from registry.exchange.readers import guess_format
from registry.store import db as storage
from registry.store import sources as source_store

from conftest import ROOT, csrf_token, logged_in

DATA = ROOT / "tests" / "data" / "iati"
FILE = DATA / "activities.xml"
UPDATED = DATA / "activities-updated.xml"
SOURCE_ID = "iati-xm-dac-41116-2026-11-30"
REPORTING = {"ref": "XM-DAC-41116", "type": "40", "name": "UN Environment Programme"}


def state(db):
    return storage.counts(db), storage.data_version(db), len(source_store.all_sources(db))


@pytest.mark.parametrize("name, line, words", [
    ("invalid-missing-identifier.xml", 14, "Expected is ( iati-identifier )"),
    ("invalid-order.xml", 6, "'title': This element is not expected. Expected is ( reporting-org )"),
    ("invalid-date.xml", 11, "'2021-13-45' is not a valid value of the atomic type 'xs:date'"),
    ("invalid-root.xml", 3, "the root element is <iati-organisations>"),
])
def test_schema_invalid_files_are_refused_with_their_line_and_nothing_is_stored(db, name, line, words):
    before = state(db)
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(db, (DATA / name).read_bytes(), "iati")
    problems = exc.value.problems
    assert any(p.where == f"line {line}" and words in p.message for p in problems), [str(p) for p in problems]
    assert state(db) == before


def test_not_well_formed_xml_names_its_line(db):
    data = FILE.read_bytes().replace(b"</title>", b"</titel>", 1)
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(db, data, "iati")
    assert exc.value.problems[0].where.startswith("line ") and "not well-formed" in exc.value.problems[0].message


def test_mapping_problems_name_the_activity_and_line(db):
    data = FILE.read_bytes().replace(b'<recipient-country code="BF"', b'<recipient-country code="XQ"')
    data = data.replace(b'<activity-status code="4"/>', b'<activity-status code="5"/>')
    before = state(db)
    with pytest.raises(ValidationError) as exc:
        ingest.import_data(db, data, "iati")
    text = [str(p) for p in exc.value.problems]
    assert any("line 39 (activity XM-DAC-41116-GMP-ASGM-BF-001)" in t and "'XQ' is not an ISO 3166-1 alpha-2" in t
               for t in text), text
    assert any("(activity XM-DAC-41116-GMP-WASTE-LAC)" in t and "5 Cancelled" in t for t in text), text
    assert state(db) == before


def test_realistic_file_imports_field_by_field(empty_db):
    report = ingest.import_data(empty_db, FILE.read_bytes(), "iati")
    assert report.added == ["xm-dac-41116-gmp-asgm-bf-001", "xm-dac-41116-gmp-waste-lac", "xm-dac-41116-gmp-monitoring"]
    source = source_store.get_source(empty_db, SOURCE_ID)
    assert (source["title"], source["publisher"], source["kind"], source["date"]) == (
        "IATI activity file of UN Environment Programme", "UN Environment Programme", "database", "2026-11-30")

    p = storage.get_project(empty_db, "xm-dac-41116-gmp-asgm-bf-001")
    assert p["iati_identifier"] == "XM-DAC-41116-GMP-ASGM-BF-001"
    assert p["title"] == "Mercury-free gold processing in Burkina Faso"     # the file's language, not the French
    assert p["description"] == "Demonstrates mercury-free gold processing with artisanal miners' cooperatives."
    assert (p["status"], p["start_year"], p["end_year"]) == ("ongoing", 2021, 2025)   # actual start wins
    assert (p["area"], p["kind"], p["countries"]) == ("asgm", "project", ["BFA"])      # DAC 32265
    roles = {(o["id"], o["role"]) for o in p["organisations"]}
    assert roles == {("global-environment-facility", "funder"), ("un-environment-programme", "lead"),
                     ("association-des-orpailleurs-du-ganzourgou", "implementer"), ("sahel-gold-refiners-sa", "partner")}
    site, area = p["locations"]
    assert (site["name"], site["precision"], site["lat"], site["lon"], site["coords_source"], site["country"]) == (
        "Zorgho", "site", 12.24922, -0.61527, "report", "BFA")
    assert (area["name"], area["precision"], area["lat"]) == ("Plateau-Central region", "subnational", 12.3)
    assert p["sources"] == [{"document": SOURCE_ID, "section": "XM-DAC-41116-GMP-ASGM-BF-001",
                             "quote": "Mercury-free gold processing in Burkina Faso"}]
    gef = storage.get_organisation(empty_db, "global-environment-facility")
    assert (gef["identifier"], gef["type"]) == ("XM-DAC-47044", "igo")
    assert storage.get_organisation(empty_db, "sahel-gold-refiners-sa")["type"] == "industry"
    assert storage.get_organisation(empty_db, "association-des-orpailleurs-du-ganzourgou")["type"] == "ngo"

    lac = storage.get_project(empty_db, "xm-dac-41116-gmp-waste-lac")
    assert (lac["status"], lac["start_year"], lac["end_year"]) == ("completed", 2018, 2022)
    assert (lac["area"], lac["other_areas"], lac["countries"]) == ("waste", ["coal"], ["COL", "PER"])
    assert [(loc["precision"], loc["region"]) for loc in lac["locations"]] == [("region", "419")]
    monitoring = storage.get_project(empty_db, "xm-dac-41116-gmp-monitoring")
    assert (monitoring["status"], monitoring["start_year"], monitoring["area"]) == ("planned", 2027, "cross-cutting")
    assert [loc["precision"] for loc in monitoring["locations"]] == ["global"]


def test_organisations_match_by_identifier_then_name(db):
    report = ingest.import_data(db, FILE.read_bytes(), "iati", dry_run=True)
    # UNEP, the GEF and UNDP are seed organisations with identifiers: matched, not created
    assert sorted(report.orgs.added) == ["association-des-orpailleurs-du-ganzourgou", "sahel-gold-refiners-sa"]
    ingest.import_data(db, FILE.read_bytes(), "iati")
    lac = storage.get_project(db, "xm-dac-41116-gmp-waste-lac")
    assert {(o["id"], o["role"]) for o in lac["organisations"]} == {("unep", "lead"), ("undp", "implementer")}


def test_reimporting_the_same_file_changes_nothing(empty_db):
    ingest.import_data(empty_db, FILE.read_bytes(), "iati")
    before = state(empty_db)
    report = ingest.import_data(empty_db, FILE.read_bytes(), "iati")
    assert report.lines() == [] and len(report.unchanged) == 3
    assert state(empty_db) == before


def test_updated_file_updates_its_activities(db):
    ingest.import_data(db, FILE.read_bytes(), "iati")
    dry = ingest.import_data(db, UPDATED.read_bytes(), "iati", dry_run=True)
    assert "xm-dac-41116-gmp-asgm-bf-001: status \"ongoing\" -> \"completed\"" in dry.lines()
    report = ingest.import_data(db, UPDATED.read_bytes(), "iati")
    assert sorted(report.changed) == ["xm-dac-41116-gmp-asgm-bf-001", "xm-dac-41116-gmp-monitoring",
                                      "xm-dac-41116-gmp-waste-lac"] and report.added == []
    p = storage.get_project(db, "xm-dac-41116-gmp-asgm-bf-001")
    assert (p["status"], p["end_year"], p["locations"][0]["lat"]) == ("completed", 2026, 12.25)
    assert p["sources"][0]["document"] == "iati-xm-dac-41116-2027-02-14" and len(p["sources"]) == 1
    assert storage.get_project(db, "xm-dac-41116-gmp-waste-lac")["title"].startswith("Mercury waste inventories and")


def test_update_keeps_the_registrys_own_fields(db):
    ingest.import_data(db, FILE.read_bytes(), "iati")
    project = storage.get_project(db, "xm-dac-41116-gmp-monitoring")
    edited = {k: project[k] for k in ("id", "title", "iati_identifier")}
    edited.update(area="air-transport", kind="monitoring-network", keywords=["GMOS"], status="planned",
                  locations=[{"name": "Global", "precision": "global"}], organisations=[{"org": "unep", "role": "funder"}],
                  sources=[{"document": "gmp-report-2020-2022", "section": "II.3", "quote": "x"}, project["sources"][0]],
                  start_year=2027)
    ingest.import_data(db, json.dumps({"projects": [edited]}).encode(), "json")   # an editor's classification
    ingest.import_data(db, UPDATED.read_bytes(), "iati")
    after = storage.get_project(db, "xm-dac-41116-gmp-monitoring")
    assert (after["area"], after["kind"], after["keywords"]) == ("air-transport", "monitoring-network", ["GMOS"])
    assert [s["document"] for s in after["sources"]] == ["gmp-report-2020-2022", "iati-xm-dac-41116-2027-02-14"]


def export(db):
    organisations, projects = storage.export_stream(db, all_organisations=True)
    return b"".join(iati.activities_xml(list(organisations), projects, REPORTING, REPORTING["ref"]))


def activities(xml):
    """The file's activities, the generated timestamp and the comment on projects left out aside."""
    return re.findall(rb"<iati-activity\b.*?</iati-activity>", xml, re.S)


def test_round_trip_export_import_export(updated_instance, empty_db):
    source = storage.connect(str(updated_instance[0] / "registry.db"))
    try:
        first = export(source)
    finally:
        source.conn.close()
    report = ingest.import_data(empty_db, first, "iati")
    assert len(report.added) == len(activities(first)) > 50
    second = export(empty_db)
    assert activities(second) == activities(first)


def test_own_export_matches_the_projects_it_came_from(db):
    first = export(db)
    report = ingest.import_data(db, first, "iati", dry_run=True)
    assert report.added == [] and report.orgs.added == []


def test_format_is_detected_from_the_name_or_the_root_element():
    assert guess_format("activities.xml") == "iati"
    assert guess_format("download", FILE.read_bytes()[:4096]) == "iati"
    assert guess_format("download", b"<?xml version='1.0'?>\n<kml/>") is None


def test_cli_imports_an_iati_file(instance):
    env = {"REGISTRY_DATABASE": str(instance / "registry.db"), "REGISTRY_INDEX_DIR": str(instance / "index"),
           "REGISTRY_CACHE_DIR": str(instance / "cache"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "flask", "--app", "registry", "import", str(FILE), "--dry-run"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Would add 3" in run.stdout and "xm-dac-41116-gmp-asgm-bf-001: new project" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "flask", "--app", "registry", "import", str(DATA / "invalid-date.xml")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "line 11" in bad.stdout + bad.stderr


def test_web_import_previews_an_xml_upload(app):
    client = logged_in(app, "importer", "editor")
    response = client.post("/editor/import", data={"csrf_token": csrf_token(client, "/editor/import"),
                                                   "file": (io.BytesIO(FILE.read_bytes()), "activities.xml")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert "xm-dac-41116-gmp-asgm-bf-001" in response.get_data(as_text=True)
    bad = client.post("/editor/import", data={"csrf_token": csrf_token(client, "/editor/import"),
                                              "file": (io.BytesIO((DATA / "invalid-order.xml").read_bytes()), "x.xml")},
                      content_type="multipart/form-data")
    assert bad.status_code == 400 and "line 6" in bad.get_data(as_text=True)


def test_read_iati_alone_maps_as_if_the_registry_were_empty():
    batch = iati_read.read_iati(FILE.read_bytes())
    assert [raw["id"] for _, raw in batch.projects][0] == "xm-dac-41116-gmp-asgm-bf-001"
    assert batch.projects[0][0].startswith("line 7 (activity XM-DAC-41116-GMP-ASGM-BF-001)")
