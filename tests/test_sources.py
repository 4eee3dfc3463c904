"""Source records and changes to stored records (issue 19): the pure parts (core/sources.py clean_source,
core/patches.py), the one audited write path taking `sources=` and `changes=` (exchange/apply.py), and the
commands `flask --app registry setup` and `apply-updates` run as real subprocesses on temporary files.

The update files themselves (geodata/updates/) and the issue's "Done when" are in tests/test_updates.py.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from conftest import ROOT, UPDATES_DIR
from registry.core import patches
from registry.core.sources import REPORT_SOURCE_ID, clean_source
from registry.core.validate import ValidationError
from registry.exchange.apply import Origin, apply_changes
from registry.store import db as storage

GOOD_SOURCE = {"id": "test-source", "title": "A later report", "publisher": "A publisher", "date": "2024-05",
               "url": "https://example.org/report", "kind": "report", "consulted": "2026-12-06"}


def source_problems(**changes):
    raw = {k: v for k, v in dict(GOOD_SOURCE, **changes).items() if v is not ...}
    _, problems = clean_source(raw, "sources[1]")
    return {p.field: p.message for p in problems}


# --- clean_source: every field's problem says how to fix it -------------------------------------------

def test_a_good_source_is_clean_and_its_date_may_be_a_year_a_month_or_a_day():
    for date in ("2024", "2024-05", "2024-02-29"):
        source, problems = clean_source(dict(GOOD_SOURCE, date=date), "sources[1]")
        assert problems == [] and source["date"] == date
    source, problems = clean_source(dict(GOOD_SOURCE, date=2024), "sources[1]")   # a bare JSON number
    assert problems == [] and source["date"] == "2024"
    source, _ = clean_source({k: v for k, v in GOOD_SOURCE.items() if k != "kind"}, "")
    assert source["kind"] == "web-page"


@pytest.mark.parametrize("changes, field, words", [
    ({"id": ...}, "id", ["required", "lower-case letters, digits and hyphens", "document"]),
    ({"id": "Not A Slug"}, "id", ["not a valid id", "lower-case letters, digits and hyphens"]),
    ({"title": ...}, "title", ["required", "title as the source gives it"]),
    ({"title": "  "}, "title", ["required"]),
    ({"publisher": ...}, "publisher", ["required", "who published"]),
    ({"date": "2024-13"}, "date", ["'2024-13'", "YYYY, YYYY-MM or YYYY-MM-DD", "e.g."]),
    ({"date": "24"}, "date", ["YYYY, YYYY-MM or YYYY-MM-DD"]),
    ({"date": "2024-02-30"}, "date", ["'2024-02-30'", "YYYY-MM-DD"]),
    ({"date": "1850"}, "date", ["YYYY"]),
    ({"date": ..., "consulted": ...}, "date", ["published", "consulted"]),
    ({"consulted": "2026-12"}, "consulted", ["'2026-12'", "YYYY-MM-DD"]),
    ({"url": ..., "reference": ...}, "url", ["url or a reference", "document symbol"]),
    ({"url": "ftp://example.org/x"}, "url", ["http"]),
    ({"kind": "blog"}, "kind", ["'blog'", "report", "web-page", "news"]),
    ({"pages": 12}, "pages", ["not a field of a source", "title, publisher, date"]),
])
def test_each_problem_of_a_source_names_its_field_and_how_to_fix_it(changes, field, words):
    problems = source_problems(**changes)
    assert field in problems, problems
    assert all(w in problems[field] for w in words), problems[field]


def test_a_source_with_a_reference_and_no_url_or_with_only_a_consulted_date_is_clean():
    assert source_problems(url=..., reference="UNEP/Hg/PAG.13/2") == {}
    assert source_problems(date=...) == {}


def test_every_problem_of_a_source_is_reported_at_once():
    """A wrong id does not hide the missing url and date (one pass, as for records)."""
    problems = source_problems(id="Bad Id", url=..., date=..., consulted=..., kind="blog")
    assert set(problems) == {"id", "url", "date", "kind"}
    _, problems = clean_source("a string", "sources[2]")
    assert len(problems) == 1 and "mapping of fields" in problems[0].message and problems[0].where == "sources[2]"


# --- patches: changes to a stored record --------------------------------------------------------------

RECORD = {
    "id": "p", "title": "T", "status": "planned", "start_year": 2020,
    "evidence": {"status": {"basis": "stated", "source": 1}, "start_year": {"basis": "stated", "source": 1}},
    "sources": [{"document": REPORT_SOURCE_ID, "section": "s", "quote": "Planned in 2020."}],
    "organisations": [{"org": "gef", "role": "funder", "basis": "stated", "source": 1},
                      {"org": "unep", "role": "lead", "basis": "inferred", "reason": "usual agency"}],
    "locations": [{"name": "Ghana", "precision": "country", "basis": "stated", "source": 1}],
    "keywords": ["gold"],
}
NEW_CITATION = {"document": "test-source", "section": "p. 2", "quote": "The project started in 2022."}


def changed(change):
    after, problems = patches.apply_change(RECORD, change, "changes[1]")
    assert problems == []
    return after


def test_set_replaces_a_field_and_drops_its_old_evidence():
    after = changed({"project": "p", "set": {"status": "ongoing"}})
    assert after["status"] == "ongoing"
    assert "status" not in after["evidence"] and after["evidence"]["start_year"] == RECORD["evidence"]["start_year"]
    assert RECORD["status"] == "planned" and "status" in RECORD["evidence"]   # the record given is left as it is


def test_set_with_evidence_gives_the_new_basis_renumbered_to_the_records_citation():
    after = changed({"project": "p", "set": {"start_year": 2022, "evidence": {"start_year": {"basis": "stated",
                                                                                            "source": 1}}},
                     "add": {"sources": [NEW_CITATION]}})
    assert after["start_year"] == 2022 and after["sources"][1] == NEW_CITATION
    assert after["evidence"]["start_year"] == {"basis": "stated", "source": 2}     # the change's 1 is the record's 2


def test_add_appends_a_role_and_replaces_the_same_org_and_role():
    after = changed({"project": "p", "add": {"sources": [NEW_CITATION], "organisations": [
        {"org": "unep", "role": "lead", "basis": "stated", "source": 1},
        {"org": "impact", "role": "implementer", "basis": "stated", "source": 1}]}})
    roles = {(o["org"], o["role"]): o for o in after["organisations"]}
    assert list(roles) == [("gef", "funder"), ("unep", "lead"), ("impact", "implementer")]
    assert roles["unep", "lead"] == {"org": "unep", "role": "lead", "basis": "stated", "source": 2}


def test_add_replaces_the_location_with_the_same_name_and_words_are_not_repeated():
    after = changed({"project": "p", "add": {"locations": [{"name": "Ghana", "precision": "country",
                                                            "basis": "inferred", "reason": "r"},
                                                           {"name": "Tarkwa", "precision": "site"}],
                                             "keywords": ["gold", "retorts", "retorts"]}})
    assert [(loc["name"], loc["basis"] if "basis" in loc else None) for loc in after["locations"]] == [
        ("Ghana", "inferred"), ("Tarkwa", None)]
    assert after["keywords"] == ["gold", "retorts"]


def test_remove_takes_out_roles_by_org_and_role_and_locations_by_name():
    after = changed({"project": "p", "remove": {"organisations": [{"org": "unep", "role": "lead"},
                                                                  {"org": "gef", "role": "lead"}],
                                                "locations": [{"name": "Ghana"}], "keywords": ["gold"]}})
    assert [(o["org"], o["role"]) for o in after["organisations"]] == [("gef", "funder")]
    assert after["locations"] == [] and after["keywords"] == []


def test_a_citation_already_there_is_not_added_twice_and_applying_a_change_again_changes_nothing():
    change = {"project": "p", "set": {"status": "ongoing", "evidence": {"status": {"basis": "stated", "source": 2}}},
              "add": {"sources": [RECORD["sources"][0], NEW_CITATION]}}
    once = changed(change)
    assert once["sources"] == [RECORD["sources"][0], NEW_CITATION]
    assert once["evidence"]["status"] == {"basis": "stated", "source": 2}
    twice, problems = patches.apply_change(once, change)
    assert problems == [] and twice == once


def test_an_unknown_source_number_is_a_problem_that_says_what_the_numbers_count():
    _, problems = patches.apply_change(RECORD, {"project": "p", "add": {
        "sources": [NEW_CITATION], "organisations": [{"org": "x", "role": "funder", "basis": "stated", "source": 3}]}},
        "changes[4]")
    assert len(problems) == 1
    assert problems[0].where == "changes[4]" and "no source 3" in problems[0].message
    assert "add.sources has 1" in problems[0].message


@pytest.mark.parametrize("change, field, words", [
    ("not a mapping", "", ["must be a mapping"]),
    ({"set": {"status": "ongoing"}}, "", ["names one record", "\"project\": id"]),
    ({"project": "p", "organisation": "o"}, "", ["names one record"]),
    ({"project": "p", "replace": {}}, "replace", ["not part of a change", "set, add, remove"]),
    ({"project": "p", "set": {"id": "q"}}, "set.id", ["cannot be set on a project", "status"]),
    ({"organisation": "o", "set": {"status": "ongoing"}}, "set.status", ["on an organisation", "acronym"]),
    ({"project": "p", "add": {"title": "x"}}, "add.title", ["cannot be added on a project", "sources"]),
    ({"project": "p", "remove": {"sources": []}}, "remove.sources", ["cannot be removed", "organisations"]),
    ({"project": "p", "add": {"keywords": "gold"}}, "add.keywords", ["must be a list"]),
    ({"project": "p", "set": ["status"]}, "set", ["must be a mapping of field names"]),
])
def test_check_change_names_what_is_wrong_and_what_is_allowed(change, field, words):
    problems = patches.check_change(change, "changes[2]")
    assert problems, change
    found = [p for p in problems if p.field == field]
    assert found and all(p.where == "changes[2]" for p in problems), problems
    assert all(w in found[0].message for w in words), found[0].message


def test_a_well_formed_change_has_no_problems():
    assert patches.check_change({"project": "p", "set": {"status": "completed"}, "add": {"keywords": ["x"]},
                                 "remove": {"countries": ["GHA"]}}, "changes[1]") == []
    assert patches.check_change({"organisation": "gef", "add": {"aliases": ["GEF Trust Fund"]}}, "c") == []


# --- the write path: sources and changes through apply_changes -------------------------------------------

ORIGIN = Origin("updates", "source", "test-source")


def snapshot(db):
    return (storage.counts(db), storage.data_version(db), db.execute("SELECT count(*) FROM history").fetchone()[0],
            db.execute("SELECT count(*) FROM documents").fetchone()[0], storage.get_project(db, "planetgold-ghana"))


def test_a_source_and_a_change_are_stored_with_history_naming_the_source(db):
    change = {"project": "planetgold-ghana", "set": {"status": "completed", "evidence": {"status": {"basis": "stated",
                                                                                              "source": 1}}},
              "add": {"sources": [NEW_CITATION]}}
    report = apply_changes(db, ORIGIN, sources=[GOOD_SOURCE], changes=[change])
    assert report.changed == ["planetgold-ghana"] and report.sources.added == ["test-source"]
    p = storage.get_project(db, "planetgold-ghana")
    assert p["status"] == "completed" and p["sources"][-1]["document"] == "test-source"
    assert p["evidence"]["status"] == {"basis": "stated", "source": len(p["sources"])}
    row = db.execute("SELECT actor, source_kind, source, fields FROM history WHERE entity = 'project' "
                     "AND entity_id = 'planetgold-ghana' ORDER BY id DESC LIMIT 1").fetchone()
    assert row[:3] == ("updates", "source", "test-source") and "status" in json.loads(row[3])
    again = apply_changes(db, ORIGIN, sources=[GOOD_SOURCE], changes=[change])
    assert again.changed == [] and again.sources.added == [] and not again.sources.changed


def rejected(db, **batch):
    before = snapshot(db)
    with pytest.raises(ValidationError) as exc:
        apply_changes(db, ORIGIN, **batch)
    assert snapshot(db) == before, "something was stored from a batch with problems"
    return [p.describe() if hasattr(p, "describe") else str(p) for p in exc.value.problems]


def test_a_change_to_a_missing_record_is_a_problem_and_nothing_is_stored(db):
    problems = rejected(db, sources=[GOOD_SOURCE], changes=[
        ("changes[1]: ", {"project": "planetgold-ghana", "set": {"status": "completed"}}),
        ("changes[2]: ", {"project": "no-such-project", "set": {"status": "completed"}})])
    assert len(problems) == 1
    assert "changes[2]" in problems[0] and "'no-such-project' does not exist" in problems[0]
    assert "give a new project in full" in problems[0]


def test_a_file_giving_a_record_in_full_and_changing_it_is_a_problem(db):
    new = {"id": "test-new-project", "title": "A new project", "area": "asgm", "status": "ongoing",
           "locations": [{"name": "World", "precision": "global"}],
           "sources": [{"document": "test-source", "section": "p. 1", "quote": "A new project."}]}
    problems = rejected(db, sources=[GOOD_SOURCE], projects=[new],
                        changes=[{"project": "test-new-project", "set": {"status": "completed"}}])
    assert len(problems) == 1 and "in full and changes it too" in problems[0] and "give one of the two" in problems[0]


def test_problems_of_sources_records_and_changes_are_reported_together(db):
    problems = rejected(db, sources=[("sources[1]: ", dict(GOOD_SOURCE, date="2024-13"))],
                        projects=[("projects[1]: ", {"id": "test-bad", "title": "Bad", "area": "nowhere",
                                                     "status": "ongoing",
                                                     "sources": [{"document": "not-a-source", "quote": "q"}]})],
                        changes=[("changes[1]: ", {"project": "planetgold-ghana", "set": {"colour": "red"}}),
                                 ("changes[2]: ", {"project": "planetgold-ghana", "add": {
                                     "organisations": [{"org": "gef", "role": "funder", "basis": "stated",
                                                        "source": 9}]}})])
    text = "\n".join(problems)
    assert "sources[1], field date" in text, text
    assert "projects[1], field area" in text, text
    assert "changes[1], field set.colour" in text, text
    assert "changes[2]" in text and "no source 9" in text, text


def test_a_citation_of_an_unknown_source_is_a_problem_that_says_where_sources_are_listed(db):
    problems = rejected(db, changes=[{"project": "planetgold-ghana", "add": {
        "sources": [dict(NEW_CITATION, document="not-a-source")]}}])
    assert len(problems) == 1 and "'not-a-source' is not a source of the registry" in problems[0]
    assert "/api/sources" in problems[0] and "under 'sources'" in problems[0]


def test_a_change_to_an_organisation_through_the_write_path(db):
    report = apply_changes(db, ORIGIN, sources=[GOOD_SOURCE],
                           changes=[{"organisation": "gef", "add": {"aliases": ["GEF Trust Fund"]}}])
    assert report.organisations == ["gef"]
    assert "GEF Trust Fund" in storage.get_organisation(db, "gef")["aliases"]
    row = db.execute("SELECT source_kind, source FROM history WHERE entity = 'organisation' AND entity_id = 'gef' "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    assert tuple(row) == ("source", "test-source")


def test_a_dry_run_reports_the_change_and_stores_nothing(db):
    before = snapshot(db)
    report = apply_changes(db, ORIGIN, sources=[GOOD_SOURCE], dry_run=True,
                           changes=[{"project": "planetgold-ghana", "set": {"status": "completed"}}])
    assert report.dry_run and report.changed == ["planetgold-ghana"] and report.sources.added == ["test-source"]
    assert snapshot(db) == before


# --- the commands: setup applies pending updates, apply-updates --dry-run keeps nothing -----------------

def flask(folder, *args, updates_dir=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "FLASK_"))}
    env.update(REGISTRY_DATABASE=str(folder / "registry.db"), REGISTRY_INDEX_DIR=str(folder / "index"),
               REGISTRY_CACHE_DIR=str(folder / "cache"), REGISTRY_SECRET_KEY="test", PYTHONPATH=str(ROOT),
               REGISTRY_UPDATES_DIR=str(updates_dir or UPDATES_DIR))
    return subprocess.run([sys.executable, "-m", "flask", "--app", "registry", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def db_state(path):
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("SELECT count(*), max(id) FROM history").fetchone(),
                conn.execute("SELECT count(*) FROM projects").fetchone(),
                conn.execute("SELECT count(*) FROM documents").fetchone(),
                conn.execute("SELECT key, value FROM meta WHERE key LIKE 'update:%' ORDER BY key").fetchall())
    finally:
        conn.close()


def applied_files(output):
    return int(output.split("Updates from later sources: ")[1].split(" file")[0])


@pytest.mark.slow
def test_setup_applies_pending_updates_once_and_an_edited_file_again(tmp_path, seeded_instance):
    folder = tmp_path / "instance"
    shutil.copytree(seeded_instance, folder)
    updates_dir = tmp_path / "updates"
    shutil.copytree(UPDATES_DIR, updates_dir)
    files = sorted(updates_dir.glob("*.json"))
    first = flask(folder, "setup", updates_dir=updates_dir)
    assert first.returncode == 0, first.stderr
    assert applied_files(first.stdout) == len(files) > 50
    assert all(f.name in first.stdout for f in files)
    state = db_state(folder / "registry.db")
    assert len(state[3]) == len(files)

    second = flask(folder, "setup", updates_dir=updates_dir)
    assert second.returncode == 0, second.stderr
    assert applied_files(second.stdout) == 0 and db_state(folder / "registry.db") == state

    edited = updates_dir / "2024-12-17-pg-bantugazette-planetgold-zimbabwe.json"
    doc = json.loads(edited.read_text("utf-8"))
    doc["projects"][0]["keywords"].append("test keyword")
    edited.write_text(json.dumps(doc, indent=2), "utf-8")
    third = flask(folder, "setup", updates_dir=updates_dir)
    assert third.returncode == 0, third.stderr
    assert applied_files(third.stdout) == 1 and edited.name in third.stdout    # it alone
    assert files[0].name not in third.stdout
    conn = sqlite3.connect(folder / "registry.db")
    try:
        row = conn.execute("SELECT source_kind, source, after, fields FROM history WHERE entity_id = "
                           "'planetgold-zimbabwe' ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    assert row[:2] == ("source", "pg-bantugazette-planetgold-zimbabwe")
    assert "test keyword" in json.loads(row[2])["keywords"] and json.loads(row[3]) == ["keywords"]


@pytest.mark.slow
def test_apply_updates_dry_run_keeps_nothing(tmp_path, seeded_instance):
    folder = tmp_path / "instance"
    shutil.copytree(seeded_instance, folder)
    before = db_state(folder / "registry.db")
    result = flask(folder, "apply-updates", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "Dry run: nothing was kept." in result.stdout
    assert "planetgold-zimbabwe" in result.stdout or "added 1" in result.stdout.lower()
    assert applied_files(result.stdout) > 50
    assert db_state(folder / "registry.db") == before


@pytest.mark.slow
def test_an_invalid_update_file_is_named_with_its_field_and_nothing_of_it_is_stored(tmp_path, seeded_instance):
    folder = tmp_path / "instance"
    shutil.copytree(seeded_instance, folder)
    updates_dir = tmp_path / "updates"
    updates_dir.mkdir()
    good = "2024-12-17-pg-bantugazette-planetgold-zimbabwe.json"
    shutil.copy(UPDATES_DIR / good, updates_dir / good)
    bad = json.loads((UPDATES_DIR / good).read_text("utf-8"))
    bad["sources"][0].update(id="test-bad-source", date="2025-13")
    bad["projects"][0].update(id="test-bad-project", status="finished-ish")
    for citation in bad["projects"][0]["sources"]:
        citation["document"] = "test-bad-source"
    (updates_dir / "2025-test-bad.json").write_text(json.dumps(bad), "utf-8")
    result = flask(folder, "apply-updates", updates_dir=updates_dir)
    assert result.returncode == 1
    assert "2025-test-bad.json: sources[1], field date" in result.stderr, result.stderr
    assert "2025-test-bad.json: projects[1], field status" in result.stderr, result.stderr
    assert "not applied" in result.stderr
    conn = sqlite3.connect(folder / "registry.db")
    try:
        assert conn.execute("SELECT count(*) FROM projects WHERE id = 'test-bad-project'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM documents WHERE id = 'test-bad-source'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM meta WHERE key = 'update:2025-test-bad.json'").fetchone()[0] == 0
        # the file before it stays applied: each file is its own change
        assert conn.execute("SELECT count(*) FROM projects WHERE id = 'planetgold-zimbabwe'").fetchone()[0] == 1
    finally:
        conn.close()
