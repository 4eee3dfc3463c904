"""Source records in the editor (issue 19): a citation's document chosen from them, their own forms with
versions, conflicts, refused deletes and reverts, and web imports that carry them (JSON `sources` and
`changes`, through the job) or cannot (CSV). The real app, a real SQLite file, real import jobs."""
import html
import io
import json
import re

import pytest

from conftest import csrf_token, logged_in, post_form, read_form, set_field, wait_for_job
from registry.core.sources import REPORT_SOURCE_ID
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.store import sources as source_store

NEWSLETTER = {"id": "quetzal-newsletter-2024", "title": "Quetzal newsletter, May 2024", "publisher": "Quetzal Institute",
              "date": "2024-05", "url": "https://example.org/quetzal/2024-05", "kind": "news"}


@pytest.fixture
def editor(app):
    return logged_in(app, "sofia", "editor")


def page_form(client, url):
    return read_form(client.get(url).get_data(as_text=True))


def submit(client, url, /, **values):
    fields = page_form(client, url)
    for name, value in values.items():
        set_field(fields, name, value)
    return post_form(client, url, fields)


def text_of(response):
    return html.unescape(response.get_data(as_text=True))


def options(page, name):
    """The values of the options of the select named `name`, and the selected one."""
    select = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S).group(1)
    values = re.findall(r'<option value="([^"]*)"', select)
    chosen = re.findall(r'<option value="([^"]*)" selected', select)
    return values, chosen


def history_rows(db, **filters):
    return [h for h in editing_db.list_history(db, limit=1000, **filters)[0] if h["source_kind"] != "seed"]


def counts(db):
    return storage.counts(db), storage.data_version(db), editing_db.list_history(db, limit=1)[1]


# --- the project form: a citation's document is a source record ------------------------------------------

def test_the_document_of_a_citation_is_chosen_from_the_source_records(editor, db):
    page = editor.get("/editor/projects/new").get_data(as_text=True)
    values, chosen = options(page, "src-1-document")
    assert set(values) == {s["id"] for s in source_store.all_sources(db)} and chosen == [REPORT_SOURCE_ID]
    assert values[0] == REPORT_SOURCE_ID                     # the default first, then the newest

    assert submit(editor, "/editor/sources/new", **NEWSLETTER).status_code == 302
    values, _ = options(editor.get("/editor/projects/new").get_data(as_text=True), "src-1-document")
    assert NEWSLETTER["id"] in values                        # a new source is offered at once
    response = submit(editor, "/editor/projects/new", title="Quetzal pilot", area="asgm", **{
        "loc-1-name": "Global", "loc-1-precision": "global", "src-1-document": NEWSLETTER["id"],
        "src-1-section": "p. 2", "src-1-quote": "The pilot began.", "src-2-quote": "The report says so."})
    assert response.status_code == 302
    assert editing_db.project_record(db, "quetzal-pilot")[0]["sources"] == [
        {"document": NEWSLETTER["id"], "section": "p. 2", "quote": "The pilot began."},
        {"document": REPORT_SOURCE_ID, "section": None, "quote": "The report says so."}]
    # the edit form shows each citation's source selected
    page = editor.get("/editor/projects/quetzal-pilot/edit").get_data(as_text=True)
    assert options(page, "src-1-document")[1] == [NEWSLETTER["id"]]
    assert options(page, "src-2-document")[1] == [REPORT_SOURCE_ID]


def test_an_unknown_document_is_a_form_error_saying_how_to_fix_it(editor, db):
    before = counts(db)
    response = submit(editor, "/editor/projects/new", title="Quetzal pilot", area="asgm", **{
        "loc-1-name": "Global", "loc-1-precision": "global", "src-1-document": "Annual report 2023",
        "src-1-quote": "A survey was made."})
    page = text_of(response)
    assert response.status_code == 400 and "Nothing was saved" in page
    error = re.search(r'id="err-src-1-document"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert "'Annual report 2023' is not a source of the registry: choose one from the list, or add it first" in error
    assert 'href="#f-src-1-document">Source 1 document</a>' in page     # linked from the summary
    values, chosen = options(response.get_data(as_text=True), "src-1-document")
    assert chosen == ["Annual report 2023"] and REPORT_SOURCE_ID in values   # what was sent stays shown
    assert counts(db) == before


# --- source records: create, edit, conflicts, delete, history, revert ---------------------------------------

def test_create_and_edit_a_source_with_history(editor, db):
    response = submit(editor, "/editor/sources/new", **NEWSLETTER)
    assert response.status_code == 302 and response.headers["Location"] == "/editor/sources"
    record, version = editing_db.source_record(db, NEWSLETTER["id"])
    assert record == dict(NEWSLETTER, reference=None, consulted=None, language=None) and version == 1
    assert NEWSLETTER["title"] in editor.get("/editor/sources").get_data(as_text=True)

    url = f"/editor/sources/{NEWSLETTER['id']}/edit"
    assert submit(editor, url, title="Quetzal newsletter no. 5", consulted="2026-12-01").status_code == 302
    assert editing_db.source_record(db, NEWSLETTER["id"]) == (
        dict(record, title="Quetzal newsletter no. 5", consulted="2026-12-01"), 2)
    edit, create = history_rows(db, entity="source", entity_id=NEWSLETTER["id"])
    assert (create["action"], create["actor"], create["before"], create["after"]) == ("create", "sofia", None, record)
    assert (edit["action"], sorted(json.loads(edit["fields"]))) == ("edit", ["consulted", "title"])
    page = editor.get(f"/editor/history?entity=source&id={NEWSLETTER['id']}").get_data(as_text=True)
    assert f"/editor/history/{edit['id']}" in page and f'href="{url}"' in page
    change = text_of(editor.get(f"/editor/history/{edit['id']}"))
    assert "Quetzal newsletter no. 5" in change and "Revert this change" in change

    unchanged = counts(db)                       # saving the form as it is writes nothing
    assert post_form(editor, url, page_form(editor, url)).status_code == 302 and counts(db) == unchanged


@pytest.mark.parametrize("values, field, message", [
    ({"title": ""}, "title", "required"),
    ({"date": "May 2024"}, "date", "is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD"),
    ({"url": "", "reference": ""}, "url", "a source needs a url or a reference"),
    ({"url": "ftp://example.org/x"}, "url", "http"),
    ({"id": "Not A Slug!"}, "id", ""),
])
def test_an_invalid_source_is_shown_next_to_its_field(editor, db, values, field, message):
    before = counts(db)
    response = submit(editor, "/editor/sources/new", **dict(NEWSLETTER, **values))
    page = text_of(response)
    assert response.status_code == 400 and "Nothing was saved" in page
    error = re.search(rf'id="err-{field}"[^>]*>(.*?)</div>', page, re.S)
    assert error and message in error.group(1), page[-3000:]
    assert counts(db) == before


def test_a_duplicate_source_id_is_refused(editor, db):
    before = counts(db)
    response = submit(editor, "/editor/sources/new", **dict(NEWSLETTER, id=REPORT_SOURCE_ID))
    assert response.status_code == 400 and "is already the id of another source" in text_of(response)
    assert counts(db) == before


def test_a_stale_source_form_gets_a_conflict_instead_of_overwriting(app, editor, db):
    assert submit(editor, "/editor/sources/new", **NEWSLETTER).status_code == 302
    url = f"/editor/sources/{NEWSLETTER['id']}/edit"
    mine = page_form(editor, url)
    other = logged_in(app, "otto", "editor")
    assert submit(other, url, title="Otto's title").status_code == 302
    set_field(mine, "title", "Sofia's title")
    response = post_form(editor, url, mine)
    page = text_of(response)
    assert response.status_code == 409 and "was edited by someone else" in page
    assert "Otto's title" in page and "Sofia's title" in page      # both versions, field by field
    assert editing_db.source_record(db, NEWSLETTER["id"])[0]["title"] == "Otto's title"


def test_a_cited_source_cannot_be_deleted_and_the_message_names_the_citing_projects(editor, admin, db):
    citing = source_store.citing_projects(db, [REPORT_SOURCE_ID])
    assert editor.get(f"/editor/sources/{REPORT_SOURCE_ID}/delete").status_code == 403
    before = counts(db)
    fields = page_form(admin, f"/editor/sources/{REPORT_SOURCE_ID}/delete")
    response = post_form(admin, f"/editor/sources/{REPORT_SOURCE_ID}/delete", fields)
    page = text_of(response)
    assert response.status_code == 409
    assert f"is still cited by {len(citing)} project(s) ({', '.join(citing[:5])}, …)" in page
    assert "make their citations name another source first" in page
    assert counts(db) == before and editing_db.source_record(db, REPORT_SOURCE_ID)[0] is not None


def test_delete_an_unused_source_then_revert_the_deletion_and_the_creation(editor, admin, db):
    assert submit(editor, "/editor/sources/new", **NEWSLETTER).status_code == 302
    record = editing_db.source_record(db, NEWSLETTER["id"])[0]
    fields = page_form(admin, f"/editor/sources/{NEWSLETTER['id']}/delete")
    assert post_form(admin, f"/editor/sources/{NEWSLETTER['id']}/delete", fields).status_code == 302
    assert editing_db.source_record(db, NEWSLETTER["id"]) == (None, None)
    deletion, creation = history_rows(db, entity="source", entity_id=NEWSLETTER["id"])
    assert (deletion["action"], deletion["before"], deletion["after"]) == ("delete", record, None)

    token = csrf_token(admin, "/editor")
    assert admin.post(f"/editor/history/{deletion['id']}/revert", data={"csrf_token": token}).status_code == 302
    assert editing_db.source_record(db, NEWSLETTER["id"])[0] == record
    # reverting the creation deletes it again: refused while a project cites it
    response = submit(editor, "/editor/projects/new", title="Cites the newsletter", area="coal", **{
        "loc-1-name": "Global", "loc-1-precision": "global", "src-1-document": NEWSLETTER["id"],
        "src-1-quote": "It says so."})
    assert response.status_code == 302
    refused = admin.post(f"/editor/history/{creation['id']}/revert", data={"csrf_token": token})
    assert refused.status_code == 409 and "cites-the-newsletter" in text_of(refused)
    assert editing_db.source_record(db, NEWSLETTER["id"])[0] == record


def test_revert_an_edit_of_a_source(editor, db):
    before, version = editing_db.source_record(db, REPORT_SOURCE_ID)
    url = f"/editor/sources/{REPORT_SOURCE_ID}/edit"
    assert submit(editor, url, publisher="Someone else").status_code == 302
    [edit] = history_rows(db, entity="source", entity_id=REPORT_SOURCE_ID)
    response = editor.post(f"/editor/history/{edit['id']}/revert", data={"csrf_token": csrf_token(editor, "/editor")})
    assert response.status_code == 302
    assert editing_db.source_record(db, REPORT_SOURCE_ID) == (before, version + 2)
    revert = history_rows(db, entity="source", entity_id=REPORT_SOURCE_ID)[0]
    assert (revert["action"], revert["note"]) == ("revert", f"reverts change #{edit['id']}")


# --- web import: sources and changes in JSON, through the job; CSV cannot carry sources --------------------

def upload(client, data, name):
    return client.post("/editor/import", data={"csrf_token": csrf_token(client, "/editor/import"),
                                               "file": (io.BytesIO(data), name)})


def test_a_json_file_with_sources_and_changes_imports_through_the_job(editor, db):
    pid = db.execute("SELECT id FROM projects WHERE status != 'completed' ORDER BY id LIMIT 1").fetchone()[0]
    stored = editing_db.project_record(db, pid)[0]
    doc = {"sources": [dict(NEWSLETTER, consulted="2026-12-01")],
           "projects": [{"id": "quetzal-follow-up", "title": "Quetzal follow-up", "area": "asgm",
                         "locations": [{"name": "Global", "precision": "global"}],
                         "sources": [{"document": NEWSLETTER["id"], "quote": "A follow-up starts."}]}],
           "changes": [{"project": pid, "set": {"status": "completed",
                                                "evidence": {"status": {"basis": "stated", "source": 1}}},
                        "add": {"sources": [{"document": NEWSLETTER["id"], "section": "p. 3",
                                             "quote": "The project ended."}]}}]}
    before = counts(db)
    preview = upload(editor, json.dumps(doc).encode(), "update.json")
    page = text_of(preview)
    assert preview.status_code == 200, page[-2000:]
    assert re.search(rf"add or change <strong>1</strong> source record.*{NEWSLETTER['id']}", page)
    assert f"{NEWSLETTER['id']}: new source" in page and "quetzal-follow-up: new project" in page
    assert re.search(rf"change <strong>1</strong> project.*{pid}", page)
    assert f'{pid}: status "{stored["status"]}" -> "completed"' in page      # field by field
    assert f'{pid}: sources added [{{"document": "{NEWSLETTER["id"]}"' in page
    assert counts(db) == before                                  # a preview stores nothing

    action = re.search(r'action="(/editor/import/[0-9a-f]{32})"', page).group(1)
    job = wait_for_job(editor, editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")}))
    assert job["status"] == "succeeded", job
    assert job["report"]["sources"]["added"] == [NEWSLETTER["id"]]
    assert editing_db.source_record(db, NEWSLETTER["id"])[0]["title"] == NEWSLETTER["title"]
    changed = editing_db.project_record(db, pid)[0]
    assert changed["status"] == "completed" and changed["sources"][-1]["document"] == NEWSLETTER["id"]
    rows = [h for h in history_rows(db) if h["batch"] == action.rsplit("/", 1)[1]]
    assert {(h["entity"], h["entity_id"]) for h in rows} == {
        ("source", NEWSLETTER["id"]), ("project", "quetzal-follow-up"), ("project", pid)}
    assert {(h["actor"], h["source_kind"], h["source"]) for h in rows} == {("sofia", "import", "update.json")}
    job_page = text_of(editor.get(action.replace("/editor/import/", "/editor/jobs/")))
    assert re.search(rf"added or changed <strong>1</strong> source record.*{NEWSLETTER['id']}", job_page)


def test_a_csv_citing_an_unknown_document_gets_the_teaching_error(editor, db, instance):
    data = (b"id,title,area,locations,sources\n"
            b'csv-cites,CSV cites,asgm,World|||global,"II|A quote.|quetzal-newsletter-2024"\n')
    before = counts(db)
    response = upload(editor, data, "cites.csv")
    page = text_of(response)
    assert response.status_code == 400 and "nothing was stored" in page
    assert ("row 2, column sources (entry 1, document): 'quetzal-newsletter-2024' is not a source of the "
            "registry: a CSV file cannot hold source records: import the source first, as JSON") in page
    assert counts(db) == before and not list((instance / "uploads").glob("*"))

    assert submit(editor, "/editor/sources/new", **NEWSLETTER).status_code == 302   # the source first ...
    preview = upload(editor, data, "cites.csv")                                    # ... then the CSV imports
    assert preview.status_code == 200 and "csv-cites: new project" in text_of(preview)
