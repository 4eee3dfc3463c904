"""Issue 13: a project's title and summary may have French and Spanish versions (title_fr, title_es, summary_fr,
summary_es), end to end: validation, the one audited write and its history, CSV, JSON, GeoJSON and IATI out and
back in, a later source's change, the editor's form, the API, and a database made before the fields existed.
Real SQLite files, the real importer and exporters, the real app."""
import json
import re

import pytest

from conftest import logged_in, make_app, post_form, read_form, set_field
from registry.core.language import translated_field_names
from registry.core.validate import MAX_SUMMARY, MAX_TITLE, ValidationError, clean_project
from registry.exchange import apply, exports, iati, ingest
from registry.search import index as search
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.store import sources as source_store

PROGRAMME, PERU, GHANA = "planetgold", "planetgold-peru", "planetgold-ghana"
TRANSLATIONS = {"title_fr": "planetGOLD Pérou", "title_es": "planetGOLD Perú",
                "summary_fr": "Réduire l’utilisation du mercure dans l’extraction minière artisanale et à "
                              "petite échelle d’or (EMAPE) au Pérou.",
                "summary_es": "Reducir el uso del mercurio en la minería aurífera artesanal y en pequeña escala "
                              "(MAPE) en el Perú."}
REPORTING = {"ref": "XM-DAC-41116", "type": "40", "name": "UN Environment Programme"}
FORMATS = ("csv", "json", "geojson", "iati")


def raw_project(**fields):
    return {"id": "t-1", "title": "Survey", "area": "asgm",
            "locations": [{"name": "Peru", "precision": "country", "country": "PER"}], **fields}


def record(db, project_id):
    return editing_db.project_record(db, project_id)[0]


def history(db, project_id):
    """The project's history rows, newest first, without the seed load's."""
    rows, _ = editing_db.list_history(db, entity="project", entity_id=project_id)
    return [h for h in rows if h["source_kind"] != "seed"]


def write(db, *records, actor="test"):
    """Store whole records through the one audited write path."""
    return apply.apply_changes(db, apply.Origin(actor, "import", "test"), projects=list(records))


def translated(r):
    return {k: v for k, v in r.items() if k in translated_field_names()}


# --- validation -------------------------------------------------------------------------------------------

def test_they_are_cleaned_as_their_english_fields_and_a_blank_one_is_absent():
    p, errors = clean_project(raw_project(title_fr="  Cafe\u0301 du mercure\u200b ", title_es="   ",
                                          summary_fr="", summary_es=None))
    assert errors == []
    assert p["title_fr"] == "Café du mercure"            # trimmed, NFC, the zero-width space gone
    assert not {"title_es", "summary_fr", "summary_es"} & set(p)   # blank: absent, not ""
    english_only, _ = clean_project(raw_project())
    assert translated(english_only) == {}


@pytest.mark.parametrize("field, limit", [("title_fr", MAX_TITLE), ("title_es", MAX_TITLE),
                                          ("summary_fr", MAX_SUMMARY), ("summary_es", MAX_SUMMARY)])
def test_too_long_is_a_problem_naming_the_field_and_its_limit(field, limit):
    _, errors = clean_project(raw_project(**{field: "x" * (limit + 1)}), "projects[1]")
    assert [(e.field, e.message) for e in errors] == [
        (field, f"is {limit + 1} characters long; the maximum is {limit}: shorten it")]
    assert str(errors[0]).startswith(f"projects[1]: {field}")
    assert clean_project(raw_project(**{field: "x" * limit}))[1] == []   # the limit itself is allowed


def test_the_limits_are_those_of_the_english_fields():
    _, errors = clean_project(raw_project(title="x" * (MAX_TITLE + 1), summary="x" * (MAX_SUMMARY + 1)))
    assert sorted(e.field for e in errors) == ["summary", "title"]


def test_not_text_and_control_characters_are_refused(empty_db):
    _, errors = clean_project(raw_project(title_es=["a", "list"], summary_fr="nul\x00byte"))
    assert {e.field: e.message for e in errors} == {
        "title_es": "must be text",
        "summary_fr": "contains control characters (such as NUL), which are not allowed: remove them"}


def test_a_language_the_registry_does_not_have_is_an_error_listing_the_fields(empty_db):
    data = json.dumps({"projects": [raw_project(title_de="Umfrage")]}).encode()
    with pytest.raises(ValidationError) as caught:
        ingest.import_data(empty_db, data, "json")
    [problem] = caught.value.problems
    assert problem.field == "title_de" and "title_fr, title_es, summary_fr, summary_es" in problem.message
    assert storage.counts(empty_db)["projects"] == 0


# --- the audited write and its history ----------------------------------------------------------------------

def test_a_write_stores_them_and_the_history_names_each_one(db):
    before = record(db, PERU)
    assert translated(before) == {}
    report = write(db, dict(before, **TRANSLATIONS), actor="translator")
    assert report.changed == [PERU]
    assert sorted(c.path for c in report.projects.changed[PERU]) == sorted(TRANSLATIONS)
    after = record(db, PERU)
    assert after == dict(before, **TRANSLATIONS)
    [h] = history(db, PERU)
    assert h["actor"] == "translator" and sorted(h["changed_fields"]) == sorted(TRANSLATIONS)
    assert h["before"] == before and translated(h["after"]) == TRANSLATIONS

    emptied = dict(after, title_es="  ")        # removing one: stored as NULL, absent from the record
    assert write(db, emptied).changed == [PERU]
    assert "title_es" not in record(db, PERU)
    assert db.execute("SELECT title_es FROM projects WHERE id = ?", [PERU]).fetchone()[0] is None
    assert history(db, PERU)[0]["changed_fields"] == ["title_es"]
    assert write(db, emptied).unchanged == [PERU]   # the same again: nothing written


# --- formats: export, then import into an empty registry --------------------------------------------------

def export_file(db, fmt, ids):
    orgs, projects = storage.export_records(db, ids)
    if fmt == "iati":
        return b"".join(iati.activities_xml(orgs, projects, REPORTING, REPORTING["ref"]))
    return exports.export_text(fmt, orgs, projects, sources=source_store.export_sources(db, ids)).encode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_then_import_into_an_empty_registry_gives_the_same_records(db, empty_db, fmt):
    # (with a year: IATI requires an activity date)
    write(db, dict(record(db, PERU), start_year=2019, **TRANSLATIONS),
          dict(record(db, GHANA), start_year=2019, title_fr="planetGOLD Ghana",
               summary_es="Un resumen; con | separadores"))
    ids = [PROGRAMME, GHANA, PERU]     # (the programme: their parent)
    data = export_file(db, fmt, ids)
    if fmt == "csv":    # a CSV holds projects only: their organisations and sources go first, as JSON
        orgs, _ = storage.export_records(db, ids)
        ingest.import_data(empty_db, exports.export_text("json", orgs, [], sources=source_store.export_sources(
            db, ids)).encode(), "json")
    report = ingest.import_data(empty_db, data, fmt)
    assert len(report.added) == (len(re.findall(rb"<iati-activity\b", data)) if fmt == "iati" else len(ids))
    if fmt == "iati":   # IATI carries what it has words for: the narratives are the texts in each language
        assert b'<narrative xml:lang="fr">planetGOLD P\xc3\xa9rou</narrative>' in data
        imported = {r["title"]: r for r in storage.export_records(empty_db)[1]}
        for pid in (GHANA, PERU):
            stored = record(db, pid)
            assert translated(imported[stored["title"]]) == translated(stored)
            assert imported[stored["title"]]["summary"] == stored["summary"]
        assert export_file(empty_db, "iati", sorted(r["id"] for r in imported.values())).count(b"xml:lang=\"es\"") \
            == data.count(b"xml:lang=\"es\"")
    else:
        assert storage.export_records(empty_db, ids)[1] == storage.export_records(db, ids)[1]
        assert translated(record(empty_db, PERU)) == TRANSLATIONS


def test_csv_columns_are_named_as_the_fields(db):
    write(db, dict(record(db, PERU), **TRANSLATIONS))
    header, row = exports.export_csv(storage.export_records(db, [PERU])[1]).splitlines()[:2]
    columns = header.split(",")
    assert columns[:7] == ["id", "title", "summary", "title_fr", "title_es", "summary_fr", "summary_es"]
    assert "planetGOLD Pérou" in row


def test_json_leaves_out_the_languages_a_record_lacks(db):
    doc = json.loads(export_file(db, "json", [PERU]))
    assert not set(doc["projects"][0]) & set(translated_field_names())


def test_iati_reimport_keeps_a_french_title_the_file_lacks(db):
    """An activity file of another publisher (no French narrative) updates a project: its French title stays."""
    write(db, dict(record(db, PERU), start_year=2019, title_fr="planetGOLD Pérou",
                   iati_identifier="XM-DAC-41116-PERU"))
    xml = export_file(db, "iati", [PERU]).replace(b'<narrative xml:lang="fr">planetGOLD P\xc3\xa9rou</narrative>', b"")
    assert b'xml:lang="fr"' not in xml
    ingest.import_data(db, xml, "iati")
    assert record(db, PERU)["title_fr"] == "planetGOLD Pérou"


# --- a later source's change (geodata/updates/) ---------------------------------------------------------------

SOURCE = {"id": "pg-peru-page-fr", "title": "planetGOLD Pérou", "publisher": "planetGOLD", "date": "2024-05",
          "url": "https://example.org/planetgold-perou", "kind": "project-page", "consulted": "2026-12-06"}
CHANGE = {"project": PERU, "set": {"title_fr": "planetGOLD Pérou"},
          "add": {"sources": [{"document": SOURCE["id"], "section": "Titre", "quote": "planetGOLD Pérou"}]}}


def test_an_update_sets_a_french_title_with_its_citation(db):
    data = json.dumps({"sources": [SOURCE], "changes": [CHANGE]}).encode()
    report = ingest.import_data(db, data, "json")
    assert report.changed == [PERU]
    after = record(db, PERU)
    assert after["title_fr"] == "planetGOLD Pérou" and after["sources"][-1]["document"] == SOURCE["id"]
    assert {"title_fr", "sources"} <= set(history(db, PERU)[0]["changed_fields"])
    again = ingest.import_data(db, data, "json")       # applying the same file again changes nothing
    assert again.changed == [] and again.unchanged == [PERU]


def test_a_change_may_not_set_a_language_the_registry_does_not_have(db):
    change = dict(CHANGE, set={"title_de": "planetGOLD Peru"})
    with pytest.raises(ValidationError) as caught:
        ingest.import_data(db, json.dumps({"sources": [SOURCE], "changes": [change]}).encode(), "json")
    [problem] = caught.value.problems
    assert problem.field == "set.title_de" and "title_fr, title_es, summary_fr, summary_es" in problem.message


# --- the editor's form --------------------------------------------------------------------------------------

def field_tag(page, name):
    """The <input> or <textarea> opening tag of form field `name`."""
    return re.search(rf'<(?:input|textarea)[^>]*\bname="{name}"[^>]*>', page).group(0)


def test_the_editor_form_shows_them_in_their_language_and_saves_them(app, db):
    editor = logged_in(app, "eddie", "editor")
    page = editor.get(f"/editor/projects/{PERU}/edit").get_data(as_text=True)
    assert "<legend>Translations</legend>" in page
    for name in translated_field_names():
        assert f' lang="{name[-2:]}"' in field_tag(page, name)
        assert f'<label for="f-{name}">' in page
    fields = read_form(page)
    for name, value in TRANSLATIONS.items():
        set_field(fields, name, value)
    response = post_form(editor, f"/editor/projects/{PERU}/edit", fields)
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    assert translated(record(db, PERU)) == TRANSLATIONS
    h = history(db, PERU)[0]
    assert (h["actor"], h["source_kind"]) == ("eddie", "form") and sorted(h["changed_fields"]) == sorted(TRANSLATIONS)

    page = editor.get(f"/editor/projects/{PERU}/edit").get_data(as_text=True)   # shown again, as stored
    assert 'value="planetGOLD Pérou"' in field_tag(page, "title_fr")
    assert "Reducir el uso del mercurio" in page


def test_a_too_long_translation_is_shown_next_to_its_field_and_nothing_is_saved(app, db):
    editor = logged_in(app, "eddie", "editor")
    before = record(db, PERU)
    fields = read_form(editor.get(f"/editor/projects/{PERU}/edit").get_data(as_text=True))
    set_field(fields, "title_es", "x" * (MAX_TITLE + 1))
    response = post_form(editor, f"/editor/projects/{PERU}/edit", fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(r'<div class="field-error" id="err-title_es">(.*?)</div>', page, re.S).group(1)
    assert "Spanish title is 201 characters long; the maximum is 200: shorten it" in re.sub(r"<[^>]+>", "", error)
    assert 'aria-invalid="true"' in field_tag(page, "title_es") and 'href="#f-title_es"' in page
    assert record(db, PERU) == before


def test_the_form_in_french_names_the_fields_in_french(app):
    editor = logged_in(app, "eddie", "editor")
    page = editor.get(f"/editor/projects/{PERU}/edit", query_string={"lang": "fr"}).get_data(as_text=True)
    assert "<legend>Traductions</legend>" in page and "Titre en espagnol" in page


# --- the API ----------------------------------------------------------------------------------------------

def test_the_api_returns_them_for_one_project_and_in_lists(app, db):
    index = search.Settings(app.config["INDEX_DIR"], app.config["DATABASE"])
    apply.apply_changes(db, apply.Origin("test", "import", "test"), projects=[dict(record(db, PERU), **TRANSLATIONS)],
                        index=index)
    client = app.test_client()
    one = client.get(f"/api/projects/{PERU}").get_json()
    assert translated(one) == TRANSLATIONS
    listed = client.get("/api/projects", query_string={"q": "planetgold peru", "per_page": 100}).get_json()
    rows = {row["id"]: row for row in listed["results"]}
    assert translated(rows[PERU]) == TRANSLATIONS
    other = next(row for pid, row in rows.items() if pid != PERU)
    assert translated(other) == dict.fromkeys(translated_field_names())    # null: none


# --- a database made before the fields ----------------------------------------------------------------------

def test_an_older_database_gains_the_columns_and_keeps_every_record(instance):
    db = storage.connect(str(instance / "registry.db"))
    before = storage.export_records(db)
    for name in translated_field_names():        # as a registry of before issue 13 has it
        db.execute(f"ALTER TABLE projects DROP COLUMN {name}")
    assert not set(translated_field_names()) & {r[1] for r in db.execute("PRAGMA table_info(projects)")}
    storage.migrate(db)                          # what `flask setup` (make run) and every CLI command do
    assert set(translated_field_names()) <= {r[1] for r in db.execute("PRAGMA table_info(projects)")}
    assert storage.export_records(db) == before
    write(db, dict(record(db, PERU), **TRANSLATIONS))
    assert translated(record(db, PERU)) == TRANSLATIONS
    db.conn.close()
    assert translated(make_app(instance).test_client().get(f"/api/projects/{PERU}").get_json()) == TRANSLATIONS
