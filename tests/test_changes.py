"""The public change log: /changes, /api/changes, the last change on each record page and `flask history`.
Changes are made through the real editor forms (a real SQLite file, the real app), then read back the way
the public, an editor and an operator see them."""
import re
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import csrf_token, logged_in, post_form, read_form, set_field

EDITOR = "eddie"


@pytest.fixture
def editor(app):
    return logged_in(app, EDITOR, "editor")


def project_ids(db, n):
    return [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id LIMIT ?", [n])]


def edit_project(client, pid, **values):
    """Submit the project's edit form as a browser would, with some fields changed."""
    fields = read_form(client.get(f"/editor/projects/{pid}/edit").get_data(as_text=True))
    for name, value in values.items():
        set_field(fields, name, value)
    response = post_form(client, f"/editor/projects/{pid}/edit", fields)
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


def first_site_lat(client, pid):
    """The form name and value of the project's first location latitude that has a value."""
    fields = read_form(client.get(f"/editor/projects/{pid}/edit").get_data(as_text=True))
    return next((name, value) for name, value in fields if re.fullmatch(r"loc-\d+-lat", name) and value)


def project_with_site(db):
    return db.execute("SELECT project_id FROM locations WHERE lat IS NOT NULL ORDER BY project_id, id "
                      "LIMIT 1").fetchone()[0]


def changes_of(client, **params):
    response = client.get("/api/changes", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def today():
    return datetime.now(timezone.utc).date().isoformat()


# --- the change log, public and for editors ------------------------------------------------------

def test_a_form_edit_is_listed_with_its_fields_without_the_account_name(app, editor, db):
    pid = project_with_site(db)
    lat_name, lat = first_site_lat(editor, pid)
    edit_project(editor, pid, title="Quillwort mercury project", **{lat_name: str(round(float(lat) + 0.5, 4))})

    public = app.test_client()
    body = changes_of(public, entity="project", id=pid, source_kind="form")
    assert body["total"] == 1 and body["prev"] is None and body["next"] is None
    [change] = body["results"]
    assert (change["entity"], change["entity_id"], change["title"], change["action"], change["source_kind"]) == \
        ("project", pid, "Quillwort mercury project", "changed", "form")
    position = int(lat_name.split("-")[1])   # form rows and field paths both count from 1
    assert {"title", f"locations[{position}].lat"} <= set(change["fields"])
    # nothing else changed (a moved point may also say where its coordinates now come from)
    assert all(f == "title" or f.startswith(f"locations[{position}].") for f in change["fields"])
    assert change["url"].endswith(f"/projects/{pid}") and change["at"].startswith(today())
    assert "actor" not in change and EDITOR not in public.get("/api/changes?entity=project&id=" + pid).get_data(
        as_text=True)

    page = public.get("/changes", query_string={"entity": "project", "id": pid})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Quillwort mercury project" in text
    assert "title" in text and f"locations[{position}].lat" in text and "source: form" in text
    assert EDITOR not in text


def test_an_editor_sees_the_account_name_on_the_page_but_never_in_the_json(editor, db):
    pid = project_ids(db, 1)[0]
    edit_project(editor, pid, title="Edited by an editor")
    page = editor.get("/changes", query_string={"entity": "project", "id": pid})
    text = page.get_data(as_text=True)
    assert f"by {EDITOR}" in text and "Edited by an editor" in text
    assert "no-store" in page.headers["Cache-Control"]        # names are never kept by a shared cache
    body = changes_of(editor, entity="project", id=pid, source_kind="form")
    assert body["total"] == 1 and "actor" not in body["results"][0]
    assert EDITOR not in editor.get("/api/changes", query_string={"id": pid}).get_data(as_text=True)


def test_the_public_log_lists_no_account_changes(app, editor, db):
    """Creating an account writes history too (entity user, its id the username): never public."""
    pid = project_ids(db, 1)[0]
    edit_project(editor, pid, title="A change among account changes")
    assert db.execute("SELECT count(*) FROM history WHERE entity = 'user'").fetchone()[0] >= 1
    public, url, seen = app.test_client(), "/api/changes?per_page=100", []
    while url:
        body = public.get(url).get_json()
        assert EDITOR not in str(body["results"])
        seen += body["results"]
        url = body["next"]
    assert len(seen) == body["total"] >= 1
    assert {c["entity"] for c in seen} <= {"project", "organisation"} and pid in {c["entity_id"] for c in seen}


def test_organisation_edit_is_listed_and_filters_combine(app, editor, db):
    org_id = db.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]
    fields = read_form(editor.get(f"/editor/organisations/{org_id}/edit").get_data(as_text=True))
    set_field(fields, "aliases", "Quokka Alliance")
    assert post_form(editor, f"/editor/organisations/{org_id}/edit", fields).status_code == 302

    public = app.test_client()
    [change] = changes_of(public, entity="organisation", id=org_id, source_kind="form", since=today())["results"]
    assert (change["action"], change["fields"]) == ("changed", ["aliases"])
    assert changes_of(public, entity="project", id=org_id)["total"] == 0
    assert changes_of(public, entity="organisation", id=org_id, source_kind="import")["total"] == 0
    assert changes_of(public, entity="organisation", id=org_id, since="2999-01-01")["total"] == 0


def test_rows_without_recorded_fields_show_fields_computed_from_before_and_after(app, editor, db):
    """Rows written before the history had source_kind and fields (both NULL) still say what changed."""
    pid = project_ids(db, 1)[0]
    edit_project(editor, pid, title="Older row", summary="An older summary")
    change_id = changes_of(app.test_client(), entity="project", id=pid)["results"][0]["id"]
    db.execute("UPDATE history SET fields = NULL, source_kind = NULL WHERE id = ?", [change_id])
    change = changes_of(app.test_client(), entity="project", id=pid)["results"][0]
    assert (change["id"], change["source_kind"], sorted(change["fields"])) == (change_id, "form",
                                                                              ["summary", "title"])


def test_added_deleted_and_reverted_records_keep_their_title(app, editor):
    admin = logged_in(app, "ada", "admin")
    fields = read_form(editor.get("/editor/projects/new").get_data(as_text=True))
    for name, value in {"title": "Short lived survey", "area": "coal", "loc-1-name": "Global",
                        "loc-1-precision": "global"}.items():
        set_field(fields, name, value)
    assert post_form(editor, "/editor/projects/new", fields).status_code == 302
    pid = "short-lived-survey"
    fields = read_form(admin.get(f"/editor/projects/{pid}/delete").get_data(as_text=True))
    assert post_form(admin, f"/editor/projects/{pid}/delete", fields).status_code == 302

    public = app.test_client()
    deleted, added = changes_of(public, id=pid)["results"]
    assert (added["action"], added["fields"], added["title"]) == ("added", [], "Short lived survey")
    assert (deleted["action"], deleted["title"], deleted["url"]) == ("deleted", "Short lived survey", None)
    assert 'href="/projects/short-lived-survey"' not in public.get(f"/changes?id={pid}").get_data(as_text=True)

    token = csrf_token(admin, "/editor")
    assert admin.post(f"/editor/history/{deleted['id']}/revert", data={"csrf_token": token}).status_code == 302
    reverted = changes_of(public, id=pid)["results"][0]
    assert (reverted["action"], reverted["source_kind"]) == ("reverted", "revert")
    assert reverted["url"].endswith(f"/projects/{pid}")


# --- paging ---------------------------------------------------------------------------------------

def test_paging_newest_first_with_next_and_prev_links(app, editor, db):
    pids = project_ids(db, 3)
    for n, pid in enumerate(pids):
        edit_project(editor, pid, title=f"Paged change {n}")
    public = app.test_client()
    first = changes_of(public, source_kind="form", per_page=2)
    assert (first["total"], first["page"], first["per_page"], first["prev"]) == (3, 1, 2, None)
    assert [c["entity_id"] for c in first["results"]] == [pids[2], pids[1]]     # newest first
    assert parse_qs(urlsplit(first["next"]).query) == {"source_kind": ["form"], "per_page": ["2"], "page": ["2"]}

    second = public.get(first["next"]).get_json()
    assert [c["entity_id"] for c in second["results"]] == [pids[0]] and second["next"] is None
    assert public.get(second["prev"]).get_json() == first

    page = public.get("/changes", query_string={"source_kind": "form", "per_page": 2}).get_data(as_text=True)
    assert 'rel="next"' in page and 'rel="prev"' not in page and "Paged change 2" in page
    assert "Paged change 0" not in page and "Page 1 of 2" in page


# --- bad parameters -------------------------------------------------------------------------------

@pytest.mark.parametrize("query, words", [
    ("entity=user", "unknown entity 'user'"),
    ("source_kind=magic", "unknown source_kind 'magic'"),
    ("page=0", "'page' must be a whole number"),
    ("page=two", "'page' must be a whole number"),
    ("per_page=101", "'per_page' must be a whole number from 1 to 100"),
    ("per_page=5&per_page=6", "'per_page' is given 2 times"),
    ("entity=project&entity=organisation", "'entity' is given 2 times"),
    ("since=06/12/2026", "'since' must be a date written YYYY-MM-DD"),
    ("since=2026-02-30", "'since' must be a date written YYYY-MM-DD"),
    ("id=" + "x" * 101, "'id' is too long"),
])
def test_bad_parameters_get_400_with_the_error_shape(client, query, words):
    response = client.get("/api/changes?" + query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter" and words in error["message"]
    page = client.get("/changes?" + query)
    assert page.status_code == 400 and words in page.get_data(as_text=True).replace("&#39;", "'")


# --- record pages ---------------------------------------------------------------------------------

def test_the_project_page_says_when_it_last_changed_and_what_changed(app, editor, db):
    pid = project_ids(db, 1)[0]
    edit_project(editor, pid, title="Last changed test")
    text = app.test_client().get(f"/projects/{pid}").get_data(as_text=True)
    block = re.search(r'<dd class="last-change">(.*?)</dd>', text, re.S).group(1)
    assert f'datetime="{today()}' in block and "(form): " in block and "title" in block   # shown as words
    assert f'href="/changes?entity=project&amp;id={pid}"' in block


def test_the_organisation_page_says_when_it_last_changed(app, editor, db):
    org_id = db.execute("SELECT id FROM organisations ORDER BY id DESC LIMIT 1").fetchone()[0]
    fields = read_form(editor.get(f"/editor/organisations/{org_id}/edit").get_data(as_text=True))
    set_field(fields, "acronym", "QXZ")
    assert post_form(editor, f"/editor/organisations/{org_id}/edit", fields).status_code == 302
    text = app.test_client().get(f"/organisations/{org_id}").get_data(as_text=True)
    block = re.search(r'<dd class="last-change">(.*?)</dd>', text, re.S).group(1)
    assert f'datetime="{today()}' in block and "(form): " in block and "acronym" in block
    assert f'href="/changes?entity=organisation&amp;id={org_id}"' in block


# --- the command line -----------------------------------------------------------------------------

def history(app, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=["history", *args])


def test_flask_history_lists_changes_with_actor_source_and_fields(app, editor, db):
    pids = project_ids(db, 2)
    edit_project(editor, pids[0], title="History line one")
    edit_project(editor, pids[1], summary="History line two")

    one = history(app, pids[0])
    assert one.exit_code == 0, one.output
    line = one.output.splitlines()[0]          # newest first (the seed's own row may follow)
    assert f"project {pids[0]}" in line and f"by {EDITOR}" in line and "(form)" in line
    assert line.endswith("fields: title")

    recent = history(app, "--source-kind", "form", "--limit", "1")
    assert recent.exit_code == 0, recent.output
    first, more = recent.output.splitlines()
    assert f"project {pids[1]}" in first and first.endswith("fields: summary")
    assert "1 older change(s)" in more and "--limit 2" in more

    missing = history(app, "no-such-record")
    assert missing.exit_code == 1 and "no project or organisation 'no-such-record'" in missing.output
