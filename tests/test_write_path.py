"""The one audited write path (exchange/apply.py): change detection over every field, dry runs that name
the changed fields, history rows from every writer, one transaction, and the search index following an
organisation's new names. The real app, a real SQLite file and the real Whoosh index throughout."""
import copy
import getpass
import io
import json
import re

import pytest

from conftest import REPORT, SEED_DIR, csrf_token, logged_in, post_form, read_form, set_field, wait_for_job
from registry.core.records import FieldChange, describe, diff
from registry.exchange import apply, exports, ingest
from registry.search import index as search
from registry.store import backup
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.web.context import index_settings

PERU = "planetgold-peru"


def snapshot(db):
    """Row counts, data version and history length: what a write that stores nothing leaves as it was."""
    return storage.counts(db), storage.data_version(db), editing_db.list_history(db, limit=1)[1]


def rows_of(db, **filters):
    return editing_db.list_history(db, limit=1000, **filters)[0]


def invoke(app, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def form_of_page(client, url):
    return read_form(client.get(url).get_data(as_text=True))


def json_file(*projects, organisations=()):
    return json.dumps({"organisations": list(organisations), "projects": list(projects)}).encode()


# --- the record and its differences (pure) --------------------------------------------------------------

def test_diff_names_each_field_down_to_list_items():
    before = {"id": "p", "title": "A", "countries": ["KEN"],
              "locations": [{"name": "X", "lat": 1.0}, {"name": "Y", "lat": 2.0}],
              "organisations": [{"org": "a", "role": "lead"}], "sources": [{"quote": "q"}, {"quote": "r"}]}
    after = copy.deepcopy(before)
    after["locations"][1]["lat"] = 3.5
    after["locations"].append({"name": "Z", "lat": None})
    after["organisations"] = [{"org": "a", "role": "funder"}]
    after["sources"][1]["quote"] = "r2"
    assert diff(before, after) == [
        FieldChange("locations[2].lat", 2.0, 3.5),
        FieldChange("locations", [], [{"name": "Z", "lat": None}]),
        FieldChange("organisations", [{"org": "a", "role": "lead"}], [{"org": "a", "role": "funder"}]),
        FieldChange("sources[2].quote", "r", "r2")]
    assert diff(before, copy.deepcopy(before)) == []
    assert describe(FieldChange("locations[1].lat", -9.26, -12.5), PERU) == f"{PERU}: locations[1].lat -9.26 -> -12.5"
    assert describe(FieldChange("title", "Old", None)) == 'title "Old" -> (none)'


def test_a_reordered_list_without_meaning_is_no_change(db):
    record, _ = editing_db.project_record(db, PERU)
    shuffled = dict(record, organisations=list(reversed(record["organisations"])),
                    countries=list(reversed(record["countries"])))
    assert len(record["organisations"]) > 1
    report = ingest.import_data(db, json_file(shuffled), "json", dry_run=True)
    assert report.unchanged == [PERU] and report.lines() == []


# --- change detection: the planetGOLD Peru correction of the issue, and every other field ---------------

def test_a_moved_point_in_a_csv_import_is_reported_then_stored(app, db, tmp_path):
    record, version = editing_db.project_record(db, PERU)
    old_lat = record["locations"][0]["lat"]
    exported = exports.export_csv([record])
    moved = exported.replace(f"|{old_lat}|", "|-12.5|")
    assert moved != exported
    path = tmp_path / "peru.csv"
    path.write_text(moved, "utf-8")
    before = snapshot(db)

    dry = invoke(app, "import", "--dry-run", str(path))
    assert dry.exit_code == 0, dry.output
    assert f"{PERU}: locations[1].lat {old_lat} -> -12.5" in dry.output
    assert "Would add 0, would change 1, unchanged 0" in dry.output
    assert snapshot(db) == before                                     # a dry run stores nothing

    done = invoke(app, "import", str(path))
    assert done.exit_code == 0, done.output
    assert f"{PERU}: locations[1].lat {old_lat} -> -12.5" in done.output and "Changed 1" not in done.output
    stored, new_version = editing_db.project_record(db, PERU)
    assert stored["locations"][0]["lat"] == -12.5 and new_version == version + 1
    assert stored == dict(record, locations=[dict(record["locations"][0], lat=-12.5)] + record["locations"][1:])
    [row] = [h for h in rows_of(db, entity="project", entity_id=PERU) if h["source_kind"] == "import"]
    assert (row["actor"], row["source"], json.loads(row["fields"])) == \
        (f"cli:{getpass.getuser()}", "peru.csv", ["locations[1].lat"])
    assert (row["before"], row["after"], row["version"]) == (record, stored, version + 1)
    again = invoke(app, "import", str(path))                          # the same file again: nothing to do
    assert "Added 0, changed 0, unchanged 1" in again.output and len(rows_of(db, entity_id=PERU)) == 2


def _edits(record):
    """(what is edited, the record with that edit, the paths the report must name)."""
    loc, src = record["locations"][0], record["sources"]
    return [
        ("location name", dict(record, locations=[dict(loc, name="Madre de Dios")]), ["locations[1].name"]),
        # a region location names its region (issue 12): South America, for Peru
        ("location precision", dict(record, locations=[dict(loc, precision="region", region="005")]),
         ["locations[1].precision", "locations[1].region"]),
        ("location longitude", dict(record, locations=[dict(loc, lon=-70.1)]), ["locations[1].lon"]),
        ("a location more", dict(record, locations=[loc, {"name": "Lima", "precision": "site", "lat": -12.05,
                                                          "lon": -77.04}]), ["locations"]),
        ("other areas", dict(record, other_areas=["waste"]), ["other_areas"]),
        ("parent", dict(record, parent=None), ["parent"]),
        ("a source's quote", dict(record, sources=[src[0], dict(src[1], quote="Another sentence.")]),
         ["sources[2].quote"]),
        ("a source's section", dict(record, sources=[dict(src[0], section="IV.2")] + src[1:]), ["sources[1].section"]),
        ("a role", dict(record, organisations=record["organisations"] + [{"org": "unep", "role": "partner"}]),
         ["organisations"]),
        ("keywords", dict(record, keywords=record["keywords"][::-1]), ["keywords"]),
        ("countries", dict(record, countries=["BOL", "PER"]), ["countries"]),
        ("title", dict(record, title="planetGOLD Perú"), ["title"]),
    ]


@pytest.mark.parametrize("case", range(12))
def test_every_field_counts(db, case):
    record, _ = editing_db.project_record(db, PERU)
    what, edited, paths = _edits(record)[case]
    report = ingest.import_data(db, json_file(edited), "json")
    assert report.changed == [PERU], what
    assert [c.path for c in report.projects.changed[PERU]] == paths, what
    _, [cleaned] = ingest.prepare([], [("", edited)], *storage.existing_ids(db))
    assert diff(editing_db.project_record(db, PERU)[0], cleaned) == [], what   # stored exactly as validated


def test_an_organisation_change_is_named_field_by_field(db):
    org, _ = editing_db.organisation_record(db, "undp")
    report = ingest.import_data(db, json_file(organisations=[dict(org, aliases=org["aliases"] + ["PNUD"])]), "json")
    assert report.organisations == ["undp"] and report.orgs.changed["undp"][0].path == "aliases"
    assert report.lines() == [f'undp: aliases {json.dumps(org["aliases"])} -> {json.dumps(org["aliases"] + ["PNUD"])}']


def test_one_pass_reports_row_errors_and_unknown_references_together(db):
    rows = ("id,title,area,countries,locations,funders\n"
            "good-row,Fine,asgm,KEN,Kenya|||country,ghost-funder\n"
            "bad-row,,asgm,ATL,Kenya|||country,\n")
    before = snapshot(db)
    with pytest.raises(apply.ValidationError) as exc:
        ingest.import_data(db, rows.encode(), "csv")
    text = " ".join(exc.value.errors)
    assert "title" in text and "ghost-funder" in text and "'ATL'" in text
    assert snapshot(db) == before


# --- every writer leaves history rows: actor, source_kind, source ---------------------------------------

def test_the_seed_load_is_history_and_a_second_load_changes_nothing(db):
    seeded = rows_of(db, entity="project")
    counts = storage.counts(db)
    assert len(seeded) == counts["projects"] and {(h["actor"], h["source_kind"]) for h in seeded} == {("seed", "seed")}
    assert len(rows_of(db, entity="organisation")) == counts["organisations"]
    before = snapshot(db)
    report = ingest.load_seed(db, SEED_DIR, REPORT)
    assert report.lines() == [] and len(report.unchanged) == counts["projects"]
    assert snapshot(db) == before


def test_form_web_import_revert_and_approval_record_who_and_from_where(app, db):
    editor = logged_in(app, "wanda", "editor")
    fields = form_of_page(editor, "/editor/organisations/undp/edit")
    set_field(fields, "name", "United Nations Development Programme (UNDP)")
    assert post_form(editor, "/editor/organisations/undp/edit", fields).status_code == 302
    [form_row] = [h for h in rows_of(db, entity_id="undp") if h["source_kind"] == "form"]
    assert (form_row["actor"], form_row["action"], json.loads(form_row["fields"])) == ("wanda", "edit", ["name"])

    upload = json_file({"id": "web-write-path", "title": "Web write path", "area": "waste",
                        "locations": [{"name": "World", "precision": "global"}]})
    page = editor.post("/editor/import", data={"csrf_token": csrf_token(editor, "/editor/import"),
                                               "file": (io.BytesIO(upload), "batch.json")}).get_data(as_text=True)
    assert "web-write-path: new project" in page
    action = re.search(r'action="(/editor/import/[0-9a-f]{32})"', page).group(1)
    confirmed = editor.post(action, data={"csrf_token": csrf_token(editor, "/editor")})
    assert wait_for_job(editor, confirmed)["status"] == "succeeded"   # the import runs as a job
    [imported] = rows_of(db, entity_id="web-write-path")
    assert (imported["actor"], imported["source_kind"], imported["source"], imported["action"]) == \
        ("wanda", "import", "batch.json", "import")
    assert imported["batch"] == action.rsplit("/", 1)[1]

    token = csrf_token(editor, "/editor")
    assert editor.post(f"/editor/history/{form_row['id']}/revert", data={"csrf_token": token}).status_code == 302
    reverted = rows_of(db, entity_id="undp")[0]
    assert (reverted["actor"], reverted["source_kind"], reverted["source"]) == \
        ("wanda", "revert", f"revert of change #{form_row['id']}")
    assert json.loads(reverted["fields"]) == ["name"] and reverted["after"] == form_row["before"]

    public = app.test_client()
    proposal = {"title": "Write path proposal", "area": "asgm", "kind": "project", "status": "ongoing",
                "countries": "Ghana", "loc-1-name": "Ghana", "loc-1-precision": "country", "who": "An NGO",
                "evidence": "Our newsletter", "contact_name": "A", "contact_email": "a@example.org"}
    assert public.post("/propose", data=dict(proposal, csrf_token=csrf_token(public, "/propose"))).status_code == 200
    [pending] = editing_db.list_proposals(db)
    # the proposal's evidence is free text: the editor registers it as a source record and cites that
    source_fields = form_of_page(editor, "/editor/sources/new")
    for name, value in {"id": "write-path-newsletter", "title": "Our newsletter", "publisher": "An NGO",
                        "consulted": "2026-12-01", "url": "https://example.org/newsletter"}.items():
        set_field(source_fields, name, value)
    assert post_form(editor, "/editor/sources/new", source_fields).status_code == 302
    [source_row] = rows_of(db, entity="source", entity_id="write-path-newsletter")
    assert (source_row["actor"], source_row["source_kind"], source_row["action"], source_row["before"]) == \
        ("wanda", "form", "create", None)
    fields = read_form(editor.get(f"/editor/proposals/{pending['id']}").get_data(as_text=True))
    set_field(fields, "src-1-document", "write-path-newsletter")
    assert post_form(editor, f"/editor/proposals/{pending['id']}", fields).status_code == 302
    [approved] = rows_of(db, entity_id="write-path-proposal")
    assert (approved["actor"], approved["source_kind"], approved["source"], approved["action"]) == \
        ("wanda", "proposal", f"proposal #{pending['id']}", "approve")


def test_an_unchanged_form_writes_nothing(app, db):
    editor = logged_in(app, "una", "editor")
    before = snapshot(db), editing_db.organisation_record(db, "undp")
    fields = form_of_page(editor, "/editor/organisations/undp/edit")
    assert post_form(editor, "/editor/organisations/undp/edit", fields).status_code == 302
    assert (snapshot(db), editing_db.organisation_record(db, "undp")) == before


def test_a_restore_is_a_change_of_every_record_that_differs(app, db, tmp_path):
    copy_path = backup.backup_database(app.config["DATABASE"], tmp_path / "before.db")
    ingest.import_data(db, json_file({"id": "after-backup", "title": "After the backup", "area": "coal",
                                      "locations": [{"name": "World", "precision": "global"}]}), "json")
    record, _ = editing_db.project_record(db, PERU)
    ingest.import_data(db, json_file(dict(record, title="Renamed after the backup")), "json")
    result = invoke(app, "restore", str(copy_path), "--yes")
    assert result.exit_code == 0, result.output
    assert storage.get_project(db, "after-backup") is None and editing_db.project_record(db, PERU)[0] == record
    rows = {h["entity_id"]: h for h in rows_of(db) if h["source_kind"] == "restore"}
    assert sorted(rows) == ["after-backup", PERU]
    assert {(h["actor"], h["source"]) for h in rows.values()} == {(f"cli:{getpass.getuser()}", str(copy_path))}
    assert json.loads(rows[PERU]["fields"]) == ["title"] and rows["after-backup"]["after"] is None
    assert search.verify(index_settings(app)) is None


# --- all or nothing --------------------------------------------------------------------------------------

def test_a_foreign_key_failure_mid_write_leaves_nothing(db):
    """Past validation (another change deleted an organisation meanwhile): the first record is written,
    the second breaks a foreign key, and the transaction takes the first back with it."""
    first = dict(editing_db.project_record(db, PERU)[0], title="Written, then rolled back")
    second = {**copy.deepcopy(first), "id": "points-at-nothing", "organisations": [{"org": "gone-org", "role": "lead"}]}
    before = snapshot(db)
    with pytest.raises(storage.StaleReference):
        editing_db.write_changes(db, apply.Origin("test", "import"), projects=[first, second])
    assert snapshot(db) == before and editing_db.project_record(db, PERU)[0]["title"] != first["title"]
    assert not db.conn.in_transaction


def test_a_full_disk_mid_write_leaves_nothing(db):
    projects = [{"id": f"full-{i}", "title": f"Full disk {i}", "summary": "x" * 900, "area": "waste", "description": "y" * 4000,
                 "locations": [{"name": "World", "precision": "global"}]} for i in range(300)]
    before = snapshot(db)
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 20}")    # room for a few records, not for 300
    with pytest.raises(storage.StorageError, match="full"):
        ingest.import_data(db, json_file(*projects), "json")
    assert snapshot(db) == before and not db.conn.in_transaction


def test_a_stale_version_is_refused_and_nothing_is_written(db):
    record, version = editing_db.project_record(db, PERU)
    before = snapshot(db)
    with pytest.raises(apply.Conflict) as exc:
        apply.apply_changes(db, apply.Origin("test", "form"), projects=[dict(record, title="Late")],
                            expected={("project", PERU): version - 1 if version > 1 else version + 1})
    assert exc.value.reason == "stale" and snapshot(db) == before


# --- search follows an organisation's new names -----------------------------------------------------------

def _org_with_projects(db):
    org_id, project_id = db.execute("SELECT org_id, project_id FROM roles ORDER BY org_id, project_id").fetchone()
    return editing_db.organisation_record(db, org_id)[0], project_id


def test_a_new_alias_reaches_search_through_the_write_path(app, db):
    settings = index_settings(app)
    org, project_id = _org_with_projects(db)
    # a project that names the organisation in its text without any role in it: found through synonyms
    mention = {"id": "names-the-org", "title": "Mentions a partner", "area": "waste",
               "description": f"Carried out with advice from the {org['name']}.",
               "locations": [{"name": "World", "precision": "global"}]}
    apply.apply_changes(db, apply.Origin("test", "import"), projects=[mention], index=settings)
    assert search.search_projects(settings, "Quokkafund").ids == []
    apply.apply_changes(db, apply.Origin("test", "form"), index=settings,
                        organisations=[dict(org, aliases=org["aliases"] + ["Quokkafund"])])
    found = set(search.search_projects(settings, "Quokkafund").ids)
    assert project_id in found and "names-the-org" in found
    assert set(search.search_organisations(settings, "Quokkafund")) == {org["id"]}
    assert search.verify(settings) is None


def test_an_alias_written_behind_the_index_is_found_stale_and_rebuilt(app, db):
    settings = index_settings(app)
    org, project_id = _org_with_projects(db)
    ingest.import_data(db, json_file(organisations=[dict(org, aliases=org["aliases"] + ["Wombatgrant"])]), "json")
    assert search.verify(settings) == "stale"                   # no index settings given: the index missed it
    assert search.ensure_index(settings) == "stale"
    assert project_id in search.search_projects(settings, "Wombatgrant").ids
    assert search.verify(settings) is None


def test_a_parent_cycle_closed_by_two_saves_at_once_is_refused_inside_the_transaction(db):
    """Validation checks cycles against the stored parents before the write; two saves running at once
    (A -> B and B -> A) each pass it, so the write itself refuses the one that would close the cycle."""
    a_id, b_id = [r[0] for r in db.execute(
        "SELECT id FROM projects WHERE parent_id IS NULL ORDER BY id LIMIT 2")]
    a, b = (editing_db.project_record(db, pid)[0] for pid in (a_id, b_id))
    known = storage.existing_ids(db)
    _, [a_under_b] = apply.prepare([], [("", dict(a, parent=b_id))], *known)   # both valid on their own
    _, [b_under_a] = apply.prepare([], [("", dict(b, parent=a_id))], *known)
    origin = apply.Origin("test", "form")
    editing_db.write_changes(db, origin, projects=[a_under_b])
    before = snapshot(db)
    with pytest.raises(editing_db.Conflict) as caught:
        editing_db.write_changes(db, origin, projects=[b_under_a])
    assert caught.value.reason == "cycle" and caught.value.detail == [b_id, a_id, b_id]
    assert snapshot(db) == before and editing_db.project_record(db, b_id)[0]["parent"] is None
