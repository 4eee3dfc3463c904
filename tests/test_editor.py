"""Editing forms, deletes, history and revert, conflicts, web imports and the moderated proposal form:
the real app, a real SQLite file, the real search module; pages read the way a browser submits them."""
import csv
import html
import io
import json
import re

import pytest

from conftest import csrf_token, field, logged_in, make_app, post_form, read_form, set_field, wait_for_job
from registry.store import editing as editing_db
from registry.store import db as storage
from registry.exchange import exports, ingest
from registry.core.validate import ValidationError
def history(db, **filters):
    """History rows, newest first, leaving out those of the seed load that made the test's registry."""
    return [h for h in editing_db.list_history(db, **filters)[0] if h["source_kind"] != "seed"]


def state(db):
    """Row counts and highest rowids of every table an edit may touch."""
    tables = ("projects", "organisations", "locations", "roles", "sources", "project_countries", "history",
              "proposals")
    return {t: db.execute(f"SELECT count(*), max(rowid) FROM {t}").fetchone() for t in tables}


def found(client, words):
    """Project ids the list page finds for a search (through the search module)."""
    page = client.get("/projects", query_string={"q": words, "per_page": 100}).get_data(as_text=True)
    return set(re.findall(r'class="title" href="/projects/([^"]+)"', page))


def form_of(client, url, **values):
    fields = read_form(client.get(url).get_data(as_text=True))
    for name, value in values.items():
        set_field(fields, name.replace("_", "-") if name[:4] in ("loc_", "org_", "src_") else name, value)
    return fields


def some_ids(db, sql):
    return [r[0] for r in db.execute(sql)]


# --- projects ---------------------------------------------------------------------------------

ANNUAL_REPORT = {"id": "annual-report-2023", "title": "Annual report 2023", "publisher": "Quetzal Institute",
                 "date": "2024-02", "url": "https://example.org/annual-2023", "kind": "report"}


def add_source(client, values):
    """Register a source record through its editor form (as a person must before citing it)."""
    fields = read_form(client.get("/editor/sources/new").get_data(as_text=True))
    for name, value in values.items():
        set_field(fields, name, value)
    return post_form(client, "/editor/sources/new", fields)


def test_create_project_with_every_field(editor, db):
    assert add_source(editor, ANNUAL_REPORT).status_code == 302
    parent = some_ids(db, "SELECT id FROM projects ORDER BY id")[0]
    org_a, org_b = db.execute("SELECT id, name FROM organisations ORDER BY id LIMIT 2").fetchall()
    fields = form_of(editor, "/editor/projects/new", id="", title="Quetzal mercury survey", summary="A survey.",
                     description="Longer text.", kind="study", area="asgm", status="planned", start_year="2023",
                     end_year="2025", parent=parent, website="https://example.org/quetzal",
                     keywords="mercury; gold", countries="Kenya; TZA",
                     loc_1_name="Nairobi", loc_1_precision="site", loc_1_lat="-1.28", loc_1_lon="36.82",
                     loc_1_country="Kenya", loc_2_name="Tanzania", loc_2_precision="country",
                     org_1_org=org_a[1], org_1_role="lead", org_2_org=org_b[0], org_2_role="funder",
                     src_1_document="annual-report-2023", src_1_section="2.1", src_1_quote="A survey was made.")
    fields.append(["other_areas", "waste"])
    response = post_form(editor, "/editor/projects/new", fields)
    assert response.status_code == 302 and response.headers["Location"] == "/projects/quetzal-mercury-survey"

    p = storage.get_project(db, "quetzal-mercury-survey")
    assert (p["title"], p["kind"], p["status"], p["start_year"], p["end_year"], p["parent_id"]) == \
        ("Quetzal mercury survey", "study", "planned", 2023, 2025, parent)
    assert p["countries"] == ["KEN", "TZA"] and p["other_areas"] == ["waste"] and p["keywords"] == ["mercury", "gold"]
    assert p["locations"][0] == {"name": "Nairobi", "precision": "site", "lat": -1.28, "lon": 36.82, "country": "KEN",
                                 "region": None, "coords_source": "editor", "gazetteer_id": None, "basis": "stated", "source": None,
                                 "reason": None}
    assert p["locations"][1]["country"] == "TZA" and p["locations"][1]["lat"] is not None   # the country's point
    assert p["locations"][1]["coords_source"] == "country-point"
    assert sorted((o["id"], o["role"]) for o in p["organisations"]) == sorted([(org_a[0], "lead"), (org_b[0], "funder")])
    assert p["sources"] == [{"document": "annual-report-2023", "section": "2.1", "quote": "A survey was made."}]

    [h] = history(db, entity="project", entity_id="quetzal-mercury-survey")
    assert (h["action"], h["actor"], h["before"], h["version"]) == ("create", "eddie", None, 1)
    assert h["after"] == editing_db.project_record(db, "quetzal-mercury-survey")[0]

    page = editor.get(response.headers["Location"]).get_data(as_text=True)
    assert "Quetzal mercury survey" in page and "Kenya" in page and "Nairobi" in page and "Last changed" in page
    assert "quetzal-mercury-survey" in found(editor, "Quetzal")


def test_the_edit_form_keeps_every_stored_field(editor, db):
    """Opening and saving any seed project unchanged changes nothing: the same record, the same version,
    no history row (the write path writes only what changed)."""
    ids = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id")]
    for pid in ids[::8]:
        before, version = editing_db.project_record(db, pid)
        fields = read_form(editor.get(f"/editor/projects/{pid}/edit").get_data(as_text=True))
        response = post_form(editor, f"/editor/projects/{pid}/edit", fields)
        assert response.status_code == 302, (pid, response.get_data(as_text=True)[-2000:])
        after, new_version = editing_db.project_record(db, pid)
        assert after == before, pid
        assert new_version == version and history(db, entity="project", entity_id=pid) == [], pid


def test_edit_records_before_and_after_and_the_index_follows(editor, db):
    pid = some_ids(db, "SELECT id FROM projects ORDER BY title DESC")[0]
    before, version = editing_db.project_record(db, pid)
    fields = form_of(editor, f"/editor/projects/{pid}/edit", title="Xylophone renamed project")
    assert field(fields, "version") == str(version)
    assert post_form(editor, f"/editor/projects/{pid}/edit", fields).status_code == 302
    [h] = history(db, entity="project", entity_id=pid)
    assert (h["action"], h["version"]) == ("edit", version + 1)
    assert h["before"] == before and h["after"] == dict(before, title="Xylophone renamed project")
    assert found(editor, "Xylophone") == {pid}
    page = editor.get(f"/editor/history/{h['id']}").get_data(as_text=True)
    assert "Xylophone renamed project" in page and "Revert this change" in page


def test_validation_errors_are_shown_next_to_their_fields_and_nothing_is_stored(editor, db):
    before = state(db)
    fields = form_of(editor, "/editor/projects/new", title="", area="", website="javascript:alert(1)",
                     start_year="20x5", countries="Kenya; Atlantis", loc_1_name="Somewhere", loc_1_precision="site",
                     loc_1_lat="200", loc_1_lon="abc", org_1_org="No Such Organisation", src_1_quote="x\x00y")
    response = post_form(editor, "/editor/projects/new", fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    expected = {"title": "is required", "area": "is required", "website": "only http:// and https://",
                "start_year": "is not a year", "countries": "'Atlantis' is not a country",
                "loc-1-lat": "between -90 and 90", "loc-1-lon": "is not a decimal number",
                "org-1-org": "no organisation is called", "src-1-quote": "control characters"}
    for name, text in expected.items():
        block = re.search(rf'<div class="field-error" id="err-{name}">(.*?)</div>', page, re.S)
        assert block and text in html.unescape(block.group(1)), name
        assert re.search(rf'id="f-{name}"[^>]* aria-invalid="true" aria-describedby="[^"]*\berr-{name}"', page), name
    assert "Nothing was saved" in page
    assert 'value="Somewhere"' in page and 'value="Kenya; Atlantis"' in page     # the input is kept
    assert state(db) == before


def test_duplicate_id_and_unknown_parent(editor, db):
    taken = some_ids(db, "SELECT id FROM projects")[0]
    fields = form_of(editor, "/editor/projects/new", id=taken, title="T", area="asgm", parent="no-such-parent",
                     loc_1_name="Global", loc_1_precision="global")
    page = html.unescape(post_form(editor, "/editor/projects/new", fields).get_data(as_text=True))
    assert re.search(r'id="err-id">.*already the id of another project', page, re.S)
    assert re.search(r'id="err-parent">.*parent \'no-such-parent\' does not exist', page, re.S)


def test_a_stale_form_gets_a_conflict_page_instead_of_overwriting(app, editor, db):
    pid = some_ids(db, "SELECT id FROM projects ORDER BY id DESC")[0]
    mine = form_of(editor, f"/editor/projects/{pid}/edit", title="My late change")
    other = logged_in(app, "olga", "editor")
    theirs = form_of(other, f"/editor/projects/{pid}/edit", title="Their change first")
    assert post_form(other, f"/editor/projects/{pid}/edit", theirs).status_code == 302
    response = post_form(editor, f"/editor/projects/{pid}/edit", mine)
    assert response.status_code == 409
    assert "edited by someone else since you opened it" in response.get_data(as_text=True)
    assert storage.get_project(db, pid)["title"] == "Their change first"
    assert [h["actor"] for h in history(db, entity="project", entity_id=pid)] == ["olga"]


CONFLICTS = [("project", "SELECT id FROM projects WHERE summary > '' ORDER BY id DESC", "/editor/projects/{}/edit",
              "title", "summary"),
             ("organisation", "SELECT id FROM organisations WHERE acronym > '' ORDER BY id DESC",
              "/editor/organisations/{}/edit", "name", "acronym")]


@pytest.mark.parametrize("entity, sql, url, first, second", CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_the_conflict_page_keeps_the_late_input_and_reapplies_it(app, editor, db, entity, sql, url, first, second):
    """Issue 11, finding 11: the 409 page shows the current record and what the late editor submitted, field
    by field, and carries their values, on the current version, to save or to edit first."""
    record_id = some_ids(db, sql)[0]
    url = url.format(record_id)
    mine = form_of(editor, url, **{first: "My late value", second: "MINE"})
    other = logged_in(app, "olga", "editor")
    assert post_form(other, url, form_of(other, url, **{first: "Their value first"})).status_code == 302
    current, version = editing_db.RECORDS[entity](db, record_id)

    response = post_form(editor, url, mine)
    assert response.status_code == 409
    page = html.unescape(response.get_data(as_text=True))
    for name, theirs, ours in ((first, "Their value first", "My late value"), (second, current[second], "MINE")):
        row = re.search(rf'<tr><th scope="row">{name}</th>(.*?)</tr>', page, re.S)
        assert row and str(theirs) in row.group(1) and ours in row.group(1), name
        assert row.group(1).index(str(theirs)) < row.group(1).index(ours), name    # current first, then theirs
    assert editing_db.RECORDS[entity](db, record_id) == (current, version)          # nothing saved yet

    again = read_form(response.get_data(as_text=True))                # their values, on the current version
    assert field(again, "version") == str(version) and field(again, first) == "My late value"
    review = post_form(editor, url, again + [["review", "1"]])        # "edit my version first": a form, no write
    assert review.status_code == 200 and editing_db.RECORDS[entity](db, record_id) == (current, version)
    assert field(read_form(review.get_data(as_text=True)), first) == "My late value"
    assert post_form(editor, url, again).status_code == 302          # "save my version"
    saved, _ = editing_db.RECORDS[entity](db, record_id)
    assert (saved[first], saved[second]) == ("My late value", "MINE")
    assert [h["actor"] for h in history(db, entity=entity, entity_id=record_id)] == ["eddie", "olga"]


def test_delete_needs_admin_and_revert_restores(editor, admin, db):
    pid = some_ids(db, "SELECT id FROM projects p WHERE NOT EXISTS "
                       "(SELECT 1 FROM projects c WHERE c.parent_id = p.id) ORDER BY id")[0]
    record, _ = editing_db.project_record(db, pid)
    assert editor.get(f"/editor/projects/{pid}/delete").status_code == 403
    word = record["title"].split()[0]
    assert pid in found(admin, word)
    fields = read_form(admin.get(f"/editor/projects/{pid}/delete").get_data(as_text=True))
    assert post_form(admin, f"/editor/projects/{pid}/delete", fields).status_code == 302
    assert storage.get_project(db, pid) is None and admin.get(f"/projects/{pid}").status_code == 404
    assert pid not in found(admin, word)
    [h] = history(db, entity="project", entity_id=pid)
    assert (h["action"], h["before"], h["after"]) == ("delete", record, None)

    response = admin.post(f"/editor/history/{h['id']}/revert", data={"csrf_token": csrf_token(admin, "/editor")})
    assert response.status_code == 302
    assert editing_db.project_record(db, pid)[0] == record
    latest = history(db, entity="project", entity_id=pid)[0]
    assert (latest["action"], latest["note"], latest["before"]) == ("revert", f"reverts change #{h['id']}", None)
    assert pid in found(admin, word)


def test_revert_an_edit_and_newest_first(editor, db):
    pid = some_ids(db, "SELECT id FROM projects ORDER BY id")[1]
    original = editing_db.project_record(db, pid)[0]
    for title in ("First new title", "Second new title"):
        assert post_form(editor, f"/editor/projects/{pid}/edit",
                         form_of(editor, f"/editor/projects/{pid}/edit", title=title)).status_code == 302
    second, first = history(db, entity="project", entity_id=pid)
    token = csrf_token(editor, "/editor")
    refused = editor.post(f"/editor/history/{first['id']}/revert", data={"csrf_token": token})
    assert refused.status_code == 409 and "has changed since change" in refused.get_data(as_text=True)
    assert storage.get_project(db, pid)["title"] == "Second new title"
    for change in (second, first):
        assert editor.post(f"/editor/history/{change['id']}/revert", data={"csrf_token": token}).status_code == 302
    assert editing_db.project_record(db, pid)[0] == original
    assert [h["action"] for h in history(db, entity="project", entity_id=pid)] == ["revert", "revert", "edit", "edit"]


def test_reverting_a_creation_deletes_and_needs_admin(editor, admin, db):
    fields = form_of(editor, "/editor/projects/new", title="Short lived", area="coal", loc_1_name="Global",
                     loc_1_precision="global")
    assert post_form(editor, "/editor/projects/new", fields).status_code == 302
    [h] = history(db, entity="project", entity_id="short-lived")
    assert editor.post(f"/editor/history/{h['id']}/revert",
                       data={"csrf_token": csrf_token(editor, "/editor")}).status_code == 403
    assert admin.post(f"/editor/history/{h['id']}/revert",
                      data={"csrf_token": csrf_token(admin, "/editor")}).status_code == 302
    assert storage.get_project(db, "short-lived") is None


def test_a_programme_with_parts_cannot_be_deleted(editor, admin, db):
    parent = some_ids(db, "SELECT id FROM projects ORDER BY id")[2]
    fields = form_of(editor, "/editor/projects/new", title="A part", area="waste", parent=parent,
                     loc_1_name="Global", loc_1_precision="global")
    assert post_form(editor, "/editor/projects/new", fields).status_code == 302
    before = state(db)
    fields = read_form(admin.get(f"/editor/projects/{parent}/delete").get_data(as_text=True))
    response = post_form(admin, f"/editor/projects/{parent}/delete", fields)
    assert response.status_code == 409 and "a-part" in response.get_data(as_text=True)
    assert state(db) == before


# --- parent cycles (issue 11, finding 11): refused, so every record stays deletable ------------------------

def new_part(client, title, parent=""):
    fields = form_of(client, "/editor/projects/new", title=title, area="waste", parent=parent, loc_1_name="Global",
                     loc_1_precision="global")
    return post_form(client, "/editor/projects/new", fields)


def test_a_form_that_closes_a_cycle_of_parents_is_refused_naming_it(editor, admin, db):
    assert new_part(editor, "Cycle A").status_code == 302
    assert new_part(editor, "Cycle B", parent="cycle-a").status_code == 302
    assert new_part(editor, "Cycle C", parent="cycle-b").status_code == 302
    before = state(db)
    for parent, cycle in (("cycle-b", "cycle-a -> cycle-b -> cycle-a"),
                          ("cycle-c", "cycle-a -> cycle-c -> cycle-b -> cycle-a")):
        fields = form_of(editor, "/editor/projects/cycle-a/edit", parent=parent)
        response = post_form(editor, "/editor/projects/cycle-a/edit", fields)
        page = html.unescape(response.get_data(as_text=True))
        assert response.status_code == 400
        assert re.search(r'id="err-parent"><p><strong>Error:</strong>[^<]*' + re.escape(cycle), page), cycle
    assert state(db) == before and storage.get_project(db, "cycle-a")["parent"] is None
    for pid in ("cycle-c", "cycle-b", "cycle-a"):          # parts first, as for any programme
        fields = read_form(admin.get(f"/editor/projects/{pid}/delete").get_data(as_text=True))
        assert post_form(admin, f"/editor/projects/{pid}/delete", fields).status_code == 302, pid


def test_an_import_that_makes_a_cycle_of_parents_is_refused_naming_it(db):
    part = {"area": "waste", "locations": [{"name": "Global", "precision": "global"}]}
    inside = {"projects": [dict(part, id="loop-x", title="X", parent="loop-y"),
                           dict(part, id="loop-y", title="Y", parent="loop-z"),
                           dict(part, id="loop-z", title="Z", parent="loop-x")]}
    top = some_ids(db, "SELECT id FROM projects WHERE parent_id IS NULL ORDER BY id")[0]
    ingest.import_data(db, json.dumps({"projects": [dict(part, id="loop-part", title="P", parent=top)]}).encode(),
                       "json")
    _, [stored_top] = storage.export_records(db, [top])
    with_stored = {"projects": [dict(stored_top, parent="loop-part")]}    # the file closes a stored chain
    before = state(db)
    for doc, where, cycle in ((inside, "projects[1]", "loop-x -> loop-y -> loop-z -> loop-x"),
                              (with_stored, "projects[1]", f"{top} -> loop-part -> {top}")):
        with pytest.raises(ValidationError) as exc:
            ingest.import_data(db, json.dumps(doc).encode(), "json")
        [problem] = [p for p in exc.value.problems if p.field == "parent"]     # once per cycle
        assert problem.where == where and cycle in problem.message, problem
        assert state(db) == before


# --- organisations -------------------------------------------------------------------------------

def test_organisation_create_edit_delete(editor, admin, db):
    fields = form_of(editor, "/editor/organisations/new", name="Zinc Institute", acronym="ZNI",
                     aliases="Zinc Inst.; ZI", type="academia", country="Kenya", website="https://zni.example")
    fields.append(["leads_areas", "waste"])
    assert post_form(editor, "/editor/organisations/new", fields).headers["Location"] == "/organisations/zni"
    record, version = editing_db.organisation_record(db, "zni")
    assert record == {"id": "zni", "name": "Zinc Institute", "acronym": "ZNI", "aliases": ["Zinc Inst.", "ZI"],
                      "type": "academia", "country": "KEN", "website": "https://zni.example", "identifier": None,
                      "leads_areas": ["waste"], "evidence": {}}
    fields = form_of(editor, "/editor/organisations/zni/edit", name="Zinc Institute of Nairobi")
    assert post_form(editor, "/editor/organisations/zni/edit", fields).status_code == 302
    bad = post_form(editor, "/editor/organisations/zni/edit",
                    form_of(editor, "/editor/organisations/zni/edit", country="Narnia", website="ftp://x"))
    assert bad.status_code == 400
    assert 'id="err-country"' in bad.get_data(as_text=True) and 'id="err-website"' in bad.get_data(as_text=True)
    assert editor.get("/editor/organisations/zni/delete").status_code == 403
    fields = read_form(admin.get("/editor/organisations/zni/delete").get_data(as_text=True))
    assert post_form(admin, "/editor/organisations/zni/delete", fields).status_code == 302
    assert [h["action"] for h in history(db, entity="organisation", entity_id="zni")] == ["delete", "edit", "create"]


def test_an_organisation_in_use_cannot_be_deleted(admin, db):
    org = some_ids(db, "SELECT org_id FROM roles GROUP BY org_id ORDER BY count(*) DESC")[0]
    before = state(db)
    fields = read_form(admin.get(f"/editor/organisations/{org}/delete").get_data(as_text=True))
    response = post_form(admin, f"/editor/organisations/{org}/delete", fields)
    assert response.status_code == 409 and "remove it from those projects first" in response.get_data(as_text=True)
    assert state(db) == before


# --- web import -------------------------------------------------------------------------------

def _csv(db, changed_id, new_title):
    _, [p] = storage.export_records(db, [changed_id])
    rows = list(exports.export_rows([dict(p, title=new_title)]))
    org = db.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]
    new = dict(zip(rows[0], [""] * len(rows[0])), id="web-imported-one", title="Web imported one", area="asgm",
               countries="KEN", locations="Nairobi|-1.28|36.82|site", leads=org)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([rows[0], rows[1], [new[c] for c in rows[0]]])
    return out.getvalue().encode()


def test_import_preview_then_confirm(app, editor, db, instance):
    pid = some_ids(db, "SELECT id FROM projects ORDER BY id")[3]
    data = _csv(db, pid, "Imported new title")
    before = state(db)
    token = csrf_token(editor, "/editor/import")
    name = "<script>alert(1)</script>.csv"
    preview = editor.post("/editor/import", data={"csrf_token": token, "format": "",
                                                  "file": (io.BytesIO(data), name)})
    page = preview.get_data(as_text=True)
    assert preview.status_code == 200, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in page and name not in page
    assert re.search(r"add <strong>1</strong> project.*web-imported-one", page)
    assert re.search(rf"change <strong>1</strong> project.*{pid}", page)
    assert state(db) == before                                  # a preview stores nothing
    stored = sorted(p.name for p in (instance / "uploads").iterdir())
    assert len(stored) == 2 and all(re.fullmatch(r"[0-9a-f]{32}\.(data|json)", n) for n in stored)

    action = re.search(r'action="(/editor/import/[0-9a-f]{32})"', page).group(1)
    other = logged_in(app, "otto", "editor")                    # only the uploader can confirm
    assert other.post(action, data={"csrf_token": csrf_token(other, "/editor")}).status_code == 404
    response = editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")})
    assert wait_for_job(editor, response)["status"] == "succeeded"    # the import runs as a job
    assert storage.get_project(db, pid)["title"] == "Imported new title"
    assert storage.get_project(db, "web-imported-one")["countries"] == ["KEN"]
    rows = [h for h in history(db) if h["action"] == "import"]
    assert {h["entity_id"] for h in rows} == {pid, "web-imported-one"}
    assert {h["batch"] for h in rows} == {action.rsplit("/", 1)[1]}
    assert list((instance / "uploads").iterdir()) == []
    again = editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")})   # a second click
    assert again.status_code == 303 and again.headers["Location"] == response.headers["Location"]
    assert len([h for h in history(db) if h["action"] == "import"]) == len(rows)   # finds the same job
    assert "web-imported-one" in found(editor, "Web imported")


def test_an_invalid_file_is_rejected_with_every_row_error(editor, db, instance):
    data = (b"id,title,area,locations\nok-one,Fine,asgm,Global|||global\nBad Id,,nowhere,Here|95|0|site\n"
            b"two,Two,asgm,There|1|500|site\n")
    before = state(db)
    response = editor.post("/editor/import", data={"csrf_token": csrf_token(editor, "/editor/import"),
                                                   "file": (io.BytesIO(data), "bad.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "nothing was stored" in page
    for text in ("row 3, column id", "row 3, column title: is required", "row 3, column area",
                 "row 3, column locations (entry 1, lat)", "row 4, column locations (entry 1, lon)"):
        assert text in page, text
    assert "Import now" not in page
    assert state(db) == before and not list((instance / "uploads").glob("*"))


def test_geojson_and_json_imports(editor, db):
    geo = {"type": "FeatureCollection", "features": [{"type": "Feature",
           "geometry": {"type": "Point", "coordinates": [36.8, -1.3]},
           "properties": {"id": "geo-imported", "title": "Geo imported", "area": "waste", "countries": ["KEN"]}}]}
    orgs = {"organisations": [{"id": "json-org", "name": "Json Org", "type": "ngo"}],
            "projects": [{"id": "json-proj", "title": "Json project", "area": "coal",
                          "locations": [{"name": "Global", "precision": "global"}],
                          "organisations": [{"org": "json-org", "role": "lead"}]}]}
    for name, doc in (("x.geojson", geo), ("x.json", orgs)):
        page = editor.post("/editor/import", data={"csrf_token": csrf_token(editor, "/editor/import"),
                                                   "file": (io.BytesIO(json.dumps(doc).encode()), name)})
        assert page.status_code == 200, page.get_data(as_text=True)
        action = re.search(r'action="(/editor/import/[0-9a-f]{32})"', page.get_data(as_text=True)).group(1)
        response = editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")})
        assert wait_for_job(editor, response)["status"] == "succeeded"
    assert storage.get_project(db, "geo-imported")["locations"][0]["lat"] == -1.3
    assert storage.get_organisation(db, "json-org")["projects"][0]["id"] == "json-proj"
    assert {(h["entity"], h["entity_id"]) for h in history(db) if h["action"] == "import"} == \
        {("project", "geo-imported"), ("project", "json-proj"), ("organisation", "json-org")}


def test_an_upload_over_the_limit_gets_a_413_page(instance, db):
    app = make_app(instance, UPLOAD_DIR=str(instance / "uploads"), MAX_CONTENT_LENGTH=4096)
    client = logged_in(app, "ulla", "editor")
    before = state(db)
    response = client.post("/editor/import", data={"csrf_token": csrf_token(client, "/editor/import"),
                                                   "file": (io.BytesIO(b"x" * 10_000), "big.csv")})
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
    assert state(db) == before


# --- propose, moderate -------------------------------------------------------------------------------

PROPOSAL = {"title": "Zanzibarite mercury-free pilot", "summary": "Gold without mercury.", "area": "asgm",
            "kind": "project", "status": "ongoing", "countries": "Tanzania", "loc-1-name": "Zanzibar",
            "loc-1-precision": "site", "loc-1-lat": "-6.16", "loc-1-lon": "39.19", "who": "A local NGO",
            "evidence": "Our newsletter, May 2024", "contact_name": "Amina", "contact_email": "amina@example.org"}


def propose(client, **changes):
    data = dict(PROPOSAL, csrf_token=csrf_token(client, "/propose"), **changes)
    return client.post("/propose", data=data)


def test_propose_then_approve_makes_it_public_and_searchable(app, editor, db):
    public = app.test_client()
    page = public.get("/propose").get_data(as_text=True)
    assert 'name="homepage"' in page
    assert "Thank you" in propose(public).get_data(as_text=True)
    [p] = editing_db.list_proposals(db)
    assert p["data"]["title"] == PROPOSAL["title"] and p["status"] == "pending"
    assert not found(public, "Zanzibarite")

    assert PROPOSAL["title"] in editor.get("/editor/proposals").get_data(as_text=True)
    fields = read_form(editor.get(f"/editor/proposals/{p['id']}").get_data(as_text=True))
    assert field(fields, "id") == "zanzibarite-mercury-free-pilot" and field(fields, "loc-1-lat") == "-6.16"
    org = some_ids(db, "SELECT id FROM organisations ORDER BY id")[0]
    set_field(fields, "org-1-org", org)
    # the proposer's evidence is free text, no source record: approving needs one, chosen by the editor
    response = post_form(editor, f"/editor/proposals/{p['id']}", fields)
    assert response.status_code == 400 and not found(public, "Zanzibarite")
    assert "is not a source of the registry: choose one from the list, or add it first" in html.unescape(
        response.get_data(as_text=True))
    assert add_source(editor, {"id": "zanzibar-newsletter-2024-05", "title": "Our newsletter, May 2024",
                               "publisher": "A local NGO", "date": "2024-05",
                               "url": "https://example.org/news-2024-05"}).status_code == 302
    set_field(fields, "src-1-document", "zanzibar-newsletter-2024-05")
    response = post_form(editor, f"/editor/proposals/{p['id']}", fields)
    assert response.status_code == 302 and response.headers["Location"] == "/projects/zanzibarite-mercury-free-pilot"

    project = storage.get_project(db, "zanzibarite-mercury-free-pilot")
    assert project["countries"] == ["TZA"] and project["organisations"][0]["id"] == org
    assert project["sources"][0]["quote"] == "Our newsletter, May 2024"
    assert project["sources"][0]["document"] == "zanzibar-newsletter-2024-05"
    [h] = history(db, entity="project", entity_id="zanzibarite-mercury-free-pilot")
    assert (h["action"], h["note"]) == ("approve", f"proposal #{p['id']}")
    decided = editing_db.get_proposal(db, p["id"])
    assert (decided["status"], decided["decided_by"], decided["project_id"]) == \
        ("approved", "eddie", "zanzibarite-mercury-free-pilot")
    assert found(public, "Zanzibarite") == {"zanzibarite-mercury-free-pilot"}
    api = public.get("/api/projects", query_string={"q": "Zanzibarite"}).get_json()
    assert [r["id"] for r in api["results"]] == ["zanzibarite-mercury-free-pilot"]
    again = post_form(editor, f"/editor/proposals/{p['id']}", fields)        # already decided
    assert "approved" in again.get_data(as_text=True) and len(history(db, entity="project",
                                                                      entity_id="zanzibarite-mercury-free-pilot")) == 1


def test_reject_a_proposal(app, editor, db):
    propose(app.test_client())
    [p] = editing_db.list_proposals(db)
    token = csrf_token(editor, "/editor/proposals")
    assert editor.post(f"/editor/proposals/{p['id']}/reject", data={"csrf_token": token,
                                                                    "note": "not mercury"}).status_code == 302
    assert editing_db.get_proposal(db, p["id"])["status"] == "rejected"
    [h] = history(db, entity="proposal")
    assert (h["action"], h["entity_id"], h["note"]) == ("reject", str(p["id"]), "not mercury")
    assert editor.post(f"/editor/proposals/{p['id']}/reject", data={"csrf_token": token}).status_code == 409
    assert editing_db.list_proposals(db) == []


def test_proposal_validation_errors(app, db):
    before = state(db)
    response = propose(app.test_client(), website="javascript:alert(1)", **{"loc-1-lat": "999", "title": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    for name in ("title", "website", "loc-1-lat"):
        assert f'id="err-{name}"' in page, name
    assert state(db) == before


def test_honeypot_and_rate_limit(instance, db):
    """Issue 11, finding 11: only accepted proposals count against PROPOSE_LIMIT, so failed tries and the
    honeypot leave a person's quota whole; every post counts against the larger PROPOSE_ATTEMPT_LIMIT,
    which bounds clients that only fail (or only fill the honeypot)."""
    app = make_app(instance, PROPOSE_LIMIT=2, PROPOSE_ATTEMPT_LIMIT=6)
    bot = app.test_client()
    assert "Thank you" in propose(bot, homepage="http://spam.example").get_data(as_text=True)
    assert editing_db.list_proposals(db) == []                      # the honeypot: accepted, then dropped
    assert propose(bot, title="").status_code == 400
    assert propose(bot, **{"loc-1-lat": "999"}).status_code == 400  # failed tries leave the quota whole
    assert propose(bot).status_code == 200 and propose(bot).status_code == 200
    limited = propose(bot)                                           # the 6th attempt, the 3rd proposal
    assert limited.status_code == 429 and "too many proposals" in limited.get_data(as_text=True)
    assert len(editing_db.list_proposals(db)) == 2
    for attempt in (dict(homepage="http://spam.example"), dict(title=""), {}):    # past 6 attempts: all refused
        refused = propose(bot, **attempt)
        assert refused.status_code == 429 and "too many attempts" in refused.get_data(as_text=True), attempt
    assert len(editing_db.list_proposals(db)) == 2
    other = app.test_client()
    other.environ_base = {"REMOTE_ADDR": "192.0.2.7"}
    assert propose(other).status_code == 200                      # per client address
    keys = [r[0] for r in db.execute("SELECT key FROM rate_events")]
    assert keys and not any("127.0.0.1" in k or "192.0.2.7" in k for k in keys)   # addresses are not stored


# --- escaping, index ------------------------------------------------------------------------------

def test_user_text_is_escaped_everywhere(app, editor, db):
    evil = '<script>alert("x")</script>'
    fields = form_of(editor, "/editor/projects/new", id="evil", title=evil, summary=evil, description=evil,
                     area="asgm", keywords=evil, loc_1_name=evil, loc_1_precision="global", src_1_quote=evil)
    assert post_form(editor, "/editor/projects/new", fields).status_code == 302
    [h] = history(db, entity="project", entity_id="evil")
    propose(app.test_client(), title=evil, who=evil, contact_name=evil)
    [p] = editing_db.list_proposals(db)
    for url in ("/projects/evil", "/editor/projects/evil/edit", f"/editor/history/{h['id']}",
                "/editor/proposals", f"/editor/proposals/{p['id']}", "/projects?q=script"):
        page = editor.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
        assert "&lt;script&gt;" in page, url


def test_admin_rebuilds_the_index(admin, db):
    response = admin.post("/admin/reindex", data={"csrf_token": csrf_token(admin, "/editor")})
    assert response.status_code == 302
    [h] = history(db, entity="index")
    assert h["action"] == "reindex"
    assert h["actor"] == "ada" and "projects indexed" in h["note"]
    assert "Search index rebuilt" in admin.get("/editor").get_data(as_text=True)
