"""IATI identifiers (issue 14): an organisation's `identifier` (its IATI organisation identifier, e.g.
XM-DAC-41114) and a project's `iati_identifier` (the activity's own). Checked loosely by core/validate.py,
stored by store/db.py, carried by every format (CSV column, JSON and GeoJSON keys), edited in the forms and
shown on the pages; every identifier of the seed says where it is published. Through the real importer,
real SQLite files, the real app and the real seed.
"""
import json
from pathlib import Path

import pytest
import yaml

from conftest import SEED_DIR, logged_in, post_form, read_form, set_field
from registry.core.validate import MAX_IATI_IDENTIFIER, ValidationError, clean_organisation, clean_project
from registry.exchange import exports, ingest
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.store import sources as source_store

PLACE = [{"name": "Kenya", "precision": "country"}]
REASON = "the IATI Registry's publisher page of the organisation"


def org(**fields):
    return dict({"id": "iati-org", "name": "IATI Test Organisation"}, **fields)


def project(**fields):
    return dict({"id": "iati-project", "title": "IATI test project", "area": "asgm", "locations": PLACE,
                 "organisations": [{"org": "iati-org", "role": "funder"}]}, **fields)


def problems_of(record, kind="organisation"):
    clean = clean_organisation if kind == "organisation" else clean_project
    cleaned, problems = clean(record)
    return cleaned, {p.field: p.message for p in problems}


# --- validation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["XM-DAC-41114", "GB-CHC-1234567", "CA-3", "US-EIN-13-2654926", "44000",
                                   "XI-IATI-EC_INTPA", "NL-KVK-41198677"])
def test_an_organisation_identifier_of_any_registration_agency_is_kept_as_given(value):
    cleaned, problems = problems_of(org(identifier=value, evidence={"identifier": {"basis": "inferred",
                                                                                  "reason": REASON}}))
    assert problems == {} and cleaned["identifier"] == value
    assert cleaned["evidence"] == {"identifier": {"basis": "inferred", "reason": REASON}}


def test_an_identifier_is_trimmed_and_an_empty_one_is_none():
    assert problems_of(org(identifier="  XM-DAC-41116\u200b "))[0]["identifier"] == "XM-DAC-41116"
    for empty in (None, "", "   "):
        cleaned, problems = problems_of(org(identifier=empty))
        assert cleaned["identifier"] is None and problems == {}
        cleaned, problems = problems_of(project(iati_identifier=empty), "project")
        assert cleaned["iati_identifier"] is None and problems == {}


@pytest.mark.parametrize("field, kind, record", [("identifier", "organisation", org),
                                                 ("iati_identifier", "project", project)])
@pytest.mark.parametrize("value, says", [
    ("XM-DAC 41114", ["contains a space", "remove the spaces (use hyphens)", "XM-DAC-41114"]),
    ("XM-DAC-41114\t1", ["contains a space"]),
    ("GB-COH/123", ["contains '/'", "use hyphens instead"]),
    ("A&B?C|D", ["contains '&' and '?' and '|'", "use hyphens instead"]),
    ("X" * (MAX_IATI_IDENTIFIER + 1), [f"is {MAX_IATI_IDENTIFIER + 1} characters long; the maximum is "
                                       f"{MAX_IATI_IDENTIFIER}: shorten it"]),
    ("XM-DAC\x00-1", ["control characters", "remove them"]),
    (["XM-DAC-41114"], ["must be text"]),
])
def test_a_malformed_identifier_is_refused_saying_how_to_fix_it(field, kind, record, value, says):
    cleaned, problems = problems_of(record(**{field: value}), kind)
    assert list(problems) == [field] and cleaned[field] is None
    assert all(part in problems[field] for part in says), problems[field]


def test_the_longest_identifier_is_accepted():
    value = "XM-DAC-" + "9" * (MAX_IATI_IDENTIFIER - 7)
    assert problems_of(project(iati_identifier=value), "project")[0]["iati_identifier"] == value


def test_an_identifiers_evidence_is_inferred_with_a_reason_and_needs_an_identifier():
    _, problems = problems_of(org(identifier="CA-3", evidence={"identifier": {"basis": "stated", "source": 1}}))
    assert "must be 'inferred'" in problems["evidence.identifier.basis"]
    _, problems = problems_of(org(identifier="CA-3", evidence={"identifier": {"basis": "inferred"}}))
    assert "is required when basis is 'inferred'" in problems["evidence.identifier.reason"]
    _, problems = problems_of(org(evidence={"identifier": {"basis": "inferred", "reason": REASON}}))
    assert "identifier has no value" in problems["evidence.identifier"]


# --- storage and every format ---------------------------------------------------------------------

def load(db, orgs, projects, fmt="json"):
    return ingest.import_data(db, json.dumps({"organisations": orgs, "projects": projects}).encode(), fmt)


def test_the_columns_are_added_to_an_older_database(empty_db):
    for table, column in (("organisations", "identifier"), ("projects", "iati_identifier")):
        assert (table, column) in storage.ADDED_COLUMNS
        assert column in {row[1] for row in empty_db.execute(f"PRAGMA table_info({table})")}


def test_identifiers_are_stored_and_read_back(empty_db):
    load(empty_db, [org(identifier="XM-DAC-41114", evidence={"identifier": {"basis": "inferred", "reason": REASON}})],
         [project(iati_identifier="XM-DAC-41114-00012345")])
    record, _ = editing_db.organisation_record(empty_db, "iati-org")
    assert record["identifier"] == "XM-DAC-41114" and record["evidence"]["identifier"]["reason"] == REASON
    assert editing_db.project_record(empty_db, "iati-project")[0]["iati_identifier"] == "XM-DAC-41114-00012345"
    assert storage.get_project(empty_db, "iati-project")["iati_identifier"] == "XM-DAC-41114-00012345"
    assert storage.get_organisation(empty_db, "iati-org")["identifier"] == "XM-DAC-41114"
    # a later import that changes them names exactly those fields
    report = load(empty_db, [org(identifier="XM-DAC-41116", evidence={"identifier": {"basis": "inferred",
                                                                                     "reason": REASON}})],
                  [project(iati_identifier="XM-DAC-41116-1")])
    assert [c.path for c in report.projects.changed["iati-project"]] == ["iati_identifier"]
    assert editing_db.organisation_record(empty_db, "iati-org")[0]["identifier"] == "XM-DAC-41116"


def test_a_bad_identifier_in_a_file_stores_nothing(empty_db):
    with pytest.raises(ValidationError) as error:
        load(empty_db, [org(identifier="GB CHC 1")], [project(iati_identifier="a/b")])
    text = str(error.value)
    assert "identifier" in text and "contains a space" in text and "contains '/'" in text
    assert storage.counts(empty_db)["projects"] == 0 and storage.counts(empty_db)["organisations"] == 0


# values a CSV cell must guard (a leading = or -) or that hold the cell separators
@pytest.mark.parametrize("fmt", ("csv", "json", "geojson"))
@pytest.mark.parametrize("activity", ["XM-DAC-41114-00012345", "=GB-1-1", "-US-1", "A;B_C.d", "ÜN-ïd"])
def test_every_format_carries_the_identifiers_there_and_back(tmp_path, fmt, activity):
    first, second = (storage.connect(str(tmp_path / name)) for name in ("a.db", "b.db"))
    for db in (first, second):
        storage.migrate(db)
    organisation = org(identifier="XM-DAC-41114", evidence={"identifier": {"basis": "inferred", "reason": REASON}})
    load(first, [organisation], [project(iati_identifier=activity)])
    orgs, projects = storage.export_records(first, ["iati-project"])
    text = exports.export_text(fmt, orgs, projects, sources=source_store.export_sources(first, ["iati-project"]))
    if fmt == "csv":
        header = text.splitlines()[0].split(",")
        assert "iati_identifier" in header
        load(second, [organisation], [])      # a CSV file holds projects only: their organisations come first
    else:
        assert '"identifier": "XM-DAC-41114"' in text
        assert f'"iati_identifier": {json.dumps(activity, ensure_ascii=False)}' in text
    ingest.import_data(second, text.encode(), fmt)
    assert storage.export_records(second, ["iati-project"]) == (orgs, projects)
    assert projects[0]["iati_identifier"] == activity and orgs[0]["identifier"] == "XM-DAC-41114"
    report = ingest.import_data(second, text.encode(), fmt)      # and again: nothing changes
    assert report.changed == [] and report.added == [] and report.unchanged == ["iati-project"]
    for db in (first, second):
        db.conn.close()


def test_a_csv_without_the_column_still_imports(empty_db):
    load(empty_db, [org()], [])
    csv_text = "id,title,area,locations,funders\niati-project,Old file,asgm,Kenya|||country,iati-org\n"
    report = ingest.import_data(empty_db, csv_text.encode(), "csv")
    assert report.added == ["iati-project"]
    assert editing_db.project_record(empty_db, "iati-project")[0]["iati_identifier"] is None


# --- the seed --------------------------------------------------------------------------------------

def seed_organisations():
    return [o for path in sorted(Path(SEED_DIR).glob("organisations*.yaml"))
            for o in yaml.safe_load(path.read_text(encoding="utf-8"))]


def test_every_seed_identifier_says_where_it_is_published():
    with_identifier = [o for o in seed_organisations() if o.get("identifier")]
    assert len(with_identifier) >= 5
    for o in with_identifier:
        evidence = (o.get("evidence") or {}).get("identifier") or {}
        assert evidence.get("basis") == "inferred" and len(evidence.get("reason") or "") > 20, o["id"]
        assert clean_organisation(o)[1] == [], o["id"]
    # an identifier is one organisation's: two organisations never share one
    identifiers = [o["identifier"] for o in with_identifier]
    assert len(identifiers) == len(set(identifiers))


def test_the_seed_holds_the_agencies_identifiers(db):
    expected = {"undp": "XM-DAC-41114", "unep": "XM-DAC-41116", "unido": "XM-DAC-41123", "gef": "XM-DAC-47044",
                "world-bank": "XM-DAC-44000", "global-affairs-canada": "CA-3"}
    for org_id, identifier in expected.items():
        assert editing_db.organisation_record(db, org_id)[0]["identifier"] == identifier


# --- forms and pages -------------------------------------------------------------------------------

@pytest.fixture
def editor(app):
    return logged_in(app, "ida", "editor")


def test_the_organisation_form_sets_the_identifier_and_where_it_is_published(editor, db):
    fields = read_form(editor.get("/editor/organisations/new").get_data(as_text=True))
    for name, value in (("name", "Quetzal Fund"), ("type", "ngo"), ("identifier", "GB-CHC-1234567"),
                        ("ev-identifier-reason", REASON)):
        set_field(fields, name, value)
    response = post_form(editor, "/editor/organisations/new", fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    record, _ = editing_db.organisation_record(db, "quetzal-fund")
    assert record["identifier"] == "GB-CHC-1234567"
    assert record["evidence"] == {"identifier": {"basis": "inferred", "reason": REASON}}
    # the edit form shows both again, so that saving it keeps them
    fields = read_form(editor.get("/editor/organisations/quetzal-fund/edit").get_data(as_text=True))
    assert dict(fields)["identifier"] == "GB-CHC-1234567" and dict(fields)["ev-identifier-reason"] == REASON


def test_a_bad_identifier_in_a_form_is_shown_next_to_the_field_and_nothing_is_stored(editor, db):
    before = storage.counts(db)
    fields = read_form(editor.get("/editor/organisations/new").get_data(as_text=True))
    for name, value in (("name", "Slash Fund"), ("identifier", "GB/CHC 1")):
        set_field(fields, name, value)
    response = post_form(editor, "/editor/organisations/new", fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="err-identifier"' in page and "contains a space" in page
    assert 'href="#f-identifier">IATI identifier</a>' in page
    assert storage.counts(db) == before


def test_the_project_form_edits_the_iati_identifier(editor, db):
    project_id = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
    url = f"/editor/projects/{project_id}/edit"
    fields = set_field(read_form(editor.get(url).get_data(as_text=True)), "iati_identifier", "XM-DAC-41114-42")
    assert post_form(editor, url, fields).status_code == 302
    assert editing_db.project_record(db, project_id)[0]["iati_identifier"] == "XM-DAC-41114-42"
    bad = post_form(editor, url, set_field(read_form(editor.get(url).get_data(as_text=True)), "iati_identifier",
                                           "XM-DAC-41114 42"))
    assert bad.status_code == 400 and 'id="err-iati_identifier"' in bad.get_data(as_text=True)
    assert editing_db.project_record(db, project_id)[0]["iati_identifier"] == "XM-DAC-41114-42"


def test_the_pages_and_the_api_show_the_identifiers(client, editor, db):
    page = client.get("/organisations/undp").get_data(as_text=True)
    assert "IATI identifier" in page and "XM-DAC-41114" in page and "CRSChannelCode" in page
    assert client.get("/api/organisations/undp").get_json()["identifier"] == "XM-DAC-41114"
    project_id = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
    assert "IATI identifier" not in client.get(f"/projects/{project_id}").get_data(as_text=True)
    url = f"/editor/projects/{project_id}/edit"
    post_form(editor, url, set_field(read_form(editor.get(url).get_data(as_text=True)), "iati_identifier",
                                     "XM-DAC-41114-00099"))
    page = client.get(f"/projects/{project_id}").get_data(as_text=True)
    assert "IATI identifier" in page and "XM-DAC-41114-00099" in page
    assert "XM-DAC-41114-00099" in client.get(f"/api/projects/{project_id}").get_data(as_text=True)
