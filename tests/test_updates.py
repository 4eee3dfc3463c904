"""Updates from later sources (issue 19): the files of geodata/updates/ and what applying them does.

Fidelity of the files (as tests/test_seed_fidelity.py for the seed, with its rules of what "a quote says
so" means): each file holds one source that readers can find and the date it was consulted; its name
starts with the source's date; every quote is one sentence at most and no two files share one; every
stated year, role and location is named by the quote it cites; every inferred one has a one-line reason.

The issue's "Done when", on a database with the seed and every update file applied (conftest.py
updated_instance): every citation points to a source record; every file imports through the audited path
and applying it again changes nothing; the history of each record an update changed shows that update's
source; where two files set one field differently, the newer one's value is the record's and the older
one is in the history.
"""
import json
import re
import shutil
import sqlite3

import pytest

from conftest import UPDATES_DIR
from test_seed_fidelity import fold, names_organisation, names_place, names_year
from registry.core.sources import clean_source
from registry.core.validate import clean_project
from registry.exchange import updates
from registry.store import db as storage
from registry.store import editing as editing_db

FILES = updates.update_files(UPDATES_DIR)
MAX_QUOTE = 500   # characters: one long sentence at most, never a passage
# a sentence ends at . ! ? followed by a space and a capital letter or digit; these abbreviations do not end one
ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "Prof", "St", "No", "Nos", "Co", "Inc", "Ltd", "vs", "U.S", "U.K", "e.g",
                 "i.e", "etc", "approx", "Sr", "Sra", "Ing", "Lic", "Jr", "Hon", "Gov", "Min", "Mt")
SENTENCE_BREAK = re.compile(r"(\S+)[.!?][\"'”’)]?\s+(?=[A-Z0-9ÁÉÍÓÚÀÈÇÑ«“\"])")


def read(path):
    return json.loads(path.read_text("utf-8"))


@pytest.fixture(scope="module")
def docs():
    return {path.name: read(path) for path in FILES}


def test_there_are_update_files_from_each_kind_of_source(docs):
    """Guards the tests below against passing on an empty folder."""
    assert len(docs) >= 50
    prefixes = {doc["sources"][0]["id"].split("-")[0] for doc in docs.values()}
    assert {"pg", "gmp", "partner"} <= prefixes


# --- each file: one source, findable, with the date it was consulted ------------------------------------

def test_each_file_holds_one_clean_source_with_a_url_or_reference_and_when_it_was_consulted(docs):
    bad = []
    for name, doc in docs.items():
        if len(doc.get("sources") or []) != 1:
            bad.append((name, "not one source"))
            continue
        source, problems = clean_source(doc["sources"][0], "sources[1]")
        bad += [(name, p.describe()) for p in problems]
        if not (source["url"] or source["reference"]) or not source["consulted"]:
            bad.append((name, "no url or reference, or no consulted date"))
    assert bad == []


def test_each_file_is_named_by_its_sources_date_and_id(docs):
    """The files apply in the order of their names: the date first makes it the order of the sources. A
    page that shows no date is named by the year it speaks of (README.md there), so it still has a place."""
    bad = []
    for name, doc in docs.items():
        source = doc["sources"][0]
        if source.get("date"):
            ok = name == f"{source['date']}-{source['id']}.json"
        else:
            ok = re.fullmatch(r"(19|20)\d\d-" + re.escape(source["id"]) + r"\.json", name) is not None
        if not ok:
            bad.append((name, source.get("date"), source["id"]))
    assert bad == []
    assert any(doc["sources"][0].get("date") for doc in docs.values())


def test_source_ids_are_unique_across_files(docs):
    ids = [doc["sources"][0]["id"] for doc in docs.values()]
    assert len(ids) == len(set(ids))


# --- quotes: one sentence at most, none repeated between files ----------------------------------------

def citations(doc):
    """Every citation of a file: of its new projects and of its changes' added sources."""
    for p in doc.get("projects") or []:
        yield from p.get("sources") or []
    for change in doc.get("changes") or []:
        yield from ((change.get("add") or {}).get("sources") or [])


def sentence_breaks(quote):
    """Where a sentence ends inside the quote (not at its end), abbreviations aside."""
    return [m.group(0) for m in SENTENCE_BREAK.finditer(quote.strip())
            if m.group(1).rstrip(".") not in ABBREVIATIONS and not re.fullmatch(r"[A-Z]", m.group(1))]


def test_the_sentence_rule_is_not_vacuous():
    assert sentence_breaks("The project began in 2021. It ends in 2025.")
    assert sentence_breaks("Launched! Then closed.")
    assert not sentence_breaks("Dr. Smith of the U.S. Department of State said so.")
    assert not sentence_breaks("Funded by the GEF, it began in 2021.")


def test_every_quote_is_one_sentence_at_most(docs):
    quotes = [(name, c.get("quote") or "") for name, doc in docs.items() for c in citations(doc)]
    assert len(quotes) > 100
    assert [(name, q[:80]) for name, q in quotes if len(q) > MAX_QUOTE] == []
    assert [(name, q[:120]) for name, q in quotes if sentence_breaks(q)] == []


def test_every_citation_of_a_file_cites_that_files_source(docs):
    bad = [(name, c.get("document")) for name, doc in docs.items() for c in citations(doc)
           if c.get("document") != doc["sources"][0]["id"]]
    assert bad == []


def test_no_quote_repeats_another_files_quote(docs):
    seen, repeated = {}, []
    for name, doc in docs.items():
        for q in {fold(c["quote"]) for c in citations(doc) if c.get("quote")}:
            if q in seen:
                repeated.append((seen[q], name, q[:80]))
            seen[q] = name
    assert repeated == []


# --- every stated value is named by its quote; every inferred one has a reason ---------------------------

def values_of_file(name, doc):
    """Every year, role and location a file states or infers, as (where, kind, value, support, quotes):
    `quotes` are the citations a `source: N` counts (a new project's, or a change's own added ones)."""
    for i, raw in enumerate(doc.get("projects") or [], 1):
        p, problems = clean_project(raw, f"{name} projects[{i}]")
        assert problems == [], [x.describe() for x in problems]
        quotes = [c["quote"] for c in p["sources"]]
        for field in ("start_year", "end_year"):
            if p[field] is not None:
                yield f"{name} {p['id']}", field, p[field], p["evidence"].get(field), quotes
        for role in p["organisations"]:
            yield f"{name} {p['id']}", "role", role["org"], role, quotes
        for loc in p["locations"]:
            yield f"{name} {p['id']}", "location", loc, loc, quotes
    for change in doc.get("changes") or []:
        if "project" not in change:
            continue
        where, quotes = f"{name} change of {change['project']}", [
            c["quote"] for c in (change.get("add") or {}).get("sources") or []]
        values = change.get("set") or {}
        for field in ("start_year", "end_year"):
            if values.get(field) is not None:
                yield where, field, values[field], (values.get("evidence") or {}).get(field), quotes
        for role in (change.get("add") or {}).get("organisations") or []:
            yield where, "role", role["org"], role, quotes
        for loc in (change.get("add") or {}).get("locations") or []:
            yield where, "location", loc, dict({"basis": "stated"}, **loc), quotes


@pytest.fixture(scope="module")
def values(docs):
    return [v for name, doc in docs.items() for v in values_of_file(name, doc)]


@pytest.fixture(scope="module")
def organisations(updated_instance):
    """Every organisation after the updates (the seed's, the new ones, with the aliases changes added)."""
    folder, _ = updated_instance
    db = storage.connect(str(folder / "registry.db"))
    try:
        return {o["id"]: o for o in (storage.get_organisation(db, row[0])
                                     for row in db.execute("SELECT id FROM organisations").fetchall())}
    finally:
        db.conn.close()


def unglued(text):
    """Words a web page glued together ("Co-ordinatorUniversity of Helsinki": a label and its value) apart."""
    return re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", " ", text)


def quote_of(support, quotes):
    number = (support or {}).get("source")
    return quotes[number - 1] if isinstance(number, int) and 1 <= number <= len(quotes) else None


def test_the_files_state_and_infer_values_of_every_kind(values):
    counts = {}
    for _, kind, _, support, _ in values:
        kind = "year" if kind.endswith("_year") else kind
        counts[kind, (support or {}).get("basis")] = counts.get((kind, (support or {}).get("basis")), 0) + 1
    for kind in ("year", "role", "location"):
        assert counts.get((kind, "stated"), 0) >= 10, counts
    assert counts.get(("role", "inferred"), 0) >= 3, counts


def test_every_year_role_and_location_records_its_basis_and_a_stated_one_its_quote(values):
    bad = [(where, kind, value if not isinstance(value, dict) else value["name"])
           for where, kind, value, support, quotes in values
           if (support or {}).get("basis") not in ("stated", "inferred")
           or (support["basis"] == "stated" and quote_of(support, quotes) is None)]
    assert bad == []


def test_every_stated_year_is_in_its_quote(values):
    years = [(where, kind, year, quote_of(s, quotes)) for where, kind, year, s, quotes in values
             if kind.endswith("_year") and (s or {}).get("basis") == "stated"]
    assert len(years) >= 10
    assert [(where, kind, year) for where, kind, year, q in years if not (q and names_year(year, q))] == []


def test_every_stated_role_is_named_by_its_quote(values, organisations):
    roles = [(where, org, quote_of(s, quotes)) for where, kind, org, s, quotes in values
             if kind == "role" and s.get("basis") == "stated"]
    assert len(roles) >= 20
    assert [(where, org) for where, org, q in roles
            if not (q and org in organisations and (names_organisation(organisations[org], q)
                                                    or names_organisation(organisations[org], unglued(q))))] == []


def test_every_stated_location_is_named_by_its_quote(values):
    places = [(where, loc, quote_of(s, quotes)) for where, kind, loc, s, quotes in values
              if kind == "location" and s.get("basis") == "stated"]
    assert len(places) >= 10
    assert [(where, loc["name"]) for where, loc, q in places if not (q and names_place(loc, q))] == []


def test_every_inferred_value_has_a_one_line_reason(values, docs):
    inferred = [(where, kind, s.get("reason")) for where, kind, _, s, _ in values
                if (s or {}).get("basis") == "inferred"]
    for name, doc in docs.items():
        for change in doc.get("changes") or []:
            for field, entry in ((change.get("set") or {}).get("evidence") or {}).items():
                if entry.get("basis") == "inferred":
                    inferred.append((f"{name} change", field, entry.get("reason")))
        for o in doc.get("organisations") or []:
            inferred += [(f"{name} {o['id']}", field, e.get("reason")) for field, e in (o.get("evidence") or {}).items()]
    assert inferred
    assert [(where, kind) for where, kind, reason in inferred
            if not (reason or "").strip() or "\n" in reason or len(reason) > 300] == []


# --- the "Done when", on the seed with every update applied -------------------------------------

@pytest.fixture
def updated(updated_instance, tmp_path):
    """A private copy of the updated database, and what applying each file did."""
    folder, applied = updated_instance
    shutil.copy(folder / "registry.db", tmp_path / "registry.db")
    db = storage.connect(str(tmp_path / "registry.db"))
    yield db, applied
    db.conn.close()


def test_every_update_file_was_applied_through_the_audited_path(updated_instance):
    _, applied = updated_instance
    assert [a.path.name for a in applied] == [p.name for p in FILES]
    assert all(a.report.added or a.report.changed or a.report.organisations for a in applied), \
        [a.path.name for a in applied if not (a.report.added or a.report.changed or a.report.organisations)]


def test_every_citation_points_to_a_source_record(updated):
    db, _ = updated
    total = db.execute("SELECT count(*) FROM sources").fetchone()[0]
    orphans = db.execute("SELECT s.project_id, s.document FROM sources s LEFT JOIN documents d ON d.id = s.document "
                         "WHERE d.id IS NULL").fetchall()
    assert total > 500 and [tuple(r) for r in orphans] == []
    cited = {r[0] for r in db.execute("SELECT DISTINCT document FROM sources")}
    assert {a.source_id for a in updated[1]} <= cited | {r[0] for r in db.execute("SELECT id FROM documents")}


def later_records(docs):
    """{file name: the records that files after it add or change}."""
    names, out, later = list(docs), {}, set()
    for name in reversed(names):
        out[name] = set(later)
        later |= records_of(docs[name])
    return out


def records_of(doc):
    ids = {("project", p["id"]) for p in doc.get("projects") or []}
    ids |= {("organisation", o["id"]) for o in doc.get("organisations") or []}
    return ids | {("project", c["project"]) if "project" in c else ("organisation", c["organisation"])
                  for c in doc.get("changes") or []}


def test_applying_a_file_again_changes_nothing(updated, docs):
    """Re-importing any one file, also an older one whose records newer files changed since, writes
    nothing: what a newer source set stays as it set it."""
    db, _ = updated
    version, later = storage.data_version(db), later_records(docs)
    overlapping = 0
    for path in FILES:
        report = updates.apply_update(db, path).report
        assert (report.added, report.changed, report.organisations) == ([], [], []), path.name
        assert report.sources.added == [] and not report.sources.changed, path.name
        overlapping += bool(records_of(docs[path.name]) & later[path.name])
    assert overlapping >= 5 and storage.data_version(db) == version


def test_applying_every_file_again_in_order_leaves_every_record_as_it_was(updated):
    db, _ = updated
    before = editing_db.all_records(db)
    again = updates.apply_updates(db, UPDATES_DIR, pending_only=False)
    assert len(again) == len(FILES)
    assert editing_db.all_records(db) == before


def test_an_edited_older_file_is_applied_again_and_what_newer_files_set_stays(updated, tmp_path):
    """planetgold-burkina-faso: a 2019 page, a 2022 page and a 2025 news story change it; the 2019 file,
    edited, is applied again alone: its new keyword comes in, the newer files' values stay."""
    db, _ = updated
    folder = tmp_path / "updates"
    shutil.copytree(UPDATES_DIR, folder)
    older = folder / "2019-pg-gef-project-gold-burkina-faso.json"
    doc = read(older)
    doc["changes"][0].setdefault("add", {}).setdefault("keywords", []).append("test keyword")
    older.write_text(json.dumps(doc, indent=2, ensure_ascii=False), "utf-8")
    before = storage.get_project(db, "planetgold-burkina-faso")
    done = updates.apply_updates(db, folder)
    assert [a.path.name for a in done] == [older.name]
    after = storage.get_project(db, "planetgold-burkina-faso")
    assert "test keyword" in after["keywords"]
    for field in ("status", "start_year", "end_year", "evidence", "organisations", "locations", "sources"):
        assert after[field] == before[field], field
    assert updates.apply_updates(db, folder) == []


def history(db, **where):
    clauses = " AND ".join(f"{k} = ?" for k in where)
    return db.query(f"SELECT * FROM history WHERE {clauses} ORDER BY id", list(where.values()))


def test_the_history_of_each_updated_record_shows_the_updates_source_and_its_date(updated):
    db, applied = updated
    checked = 0
    for a in applied:
        source = db.execute("SELECT date, consulted FROM documents WHERE id = ?", [a.source_id]).fetchone()
        assert source is not None and (source[0] or source[1]), a.source_id
        touched = [("project", i) for i in a.report.added + a.report.changed]
        touched += [("organisation", i) for i in a.report.organisations]
        for entity, record_id in touched:
            rows = [r for r in history(db, entity=entity, entity_id=record_id) if r["source"] == a.source_id]
            assert len(rows) == 1, (a.path.name, entity, record_id)
            assert rows[0]["source_kind"] == "source" and rows[0]["actor"] == updates.ACTOR and rows[0]["at"]
            checked += 1
    assert checked > 80


def set_values(docs):
    """{(entity, id, field): [(file name, value)]} for every field a file sets, in the order files apply."""
    out = {}
    for name, doc in docs.items():
        for p in doc.get("projects") or []:
            for field in ("status", "start_year", "end_year", "summary", "title"):
                if field in p:
                    out.setdefault(("project", p["id"], field), []).append((name, p[field]))
        for change in doc.get("changes") or []:
            entity = "project" if "project" in change else "organisation"
            for field, value in (change.get("set") or {}).items():
                if field != "evidence":
                    out.setdefault((entity, change[entity], field), []).append((name, value))
    return out


def test_where_two_files_set_a_field_the_newer_wins_and_the_older_is_in_the_history(updated, docs):
    db, _ = updated
    source_of = {name: doc["sources"][0]["id"] for name, doc in docs.items()}
    disputed = {key: chain for key, chain in set_values(docs).items() if len({json.dumps(v) for _, v in chain}) > 1}
    assert disputed, "no two files set one field differently: nothing to check"
    for (entity, record_id, field), chain in disputed.items():
        record = (storage.get_project if entity == "project" else storage.get_organisation)(db, record_id)
        assert record[field] == chain[-1][1], (record_id, field)
        for name, value in chain[:-1]:
            rows = [r for r in history(db, entity=entity, entity_id=record_id) if r["source"] == source_of[name]]
            assert rows and json.loads(rows[-1]["after"])[field] == value, (record_id, field, name)


def test_a_value_an_update_replaced_stays_in_the_history(updated):
    """The value before an update (the seed's, or an older file's) is the `after` of an earlier history row
    of that record: the older value stays visible."""
    db, _ = updated
    rows = db.query("SELECT id, entity_id, before, fields FROM history WHERE source_kind = 'source' "
                    "AND entity = 'project' AND before IS NOT NULL")
    replaced = [(r, f) for r in rows for f in json.loads(r["fields"]) if f in ("status", "start_year", "end_year")]
    assert len(replaced) >= 5
    for row, field in replaced:
        earlier = [json.loads(r["after"]).get(field) for r in history(db, entity="project", entity_id=row["entity_id"])
                   if r["after"] and r["id"] < row["id"]]
        assert earlier and earlier[-1] == json.loads(row["before"])[field], (row["entity_id"], field)


def test_records_can_be_listed_by_source(updated_instance):
    folder, _ = updated_instance
    conn = sqlite3.connect(folder / "registry.db")
    try:
        zimbabwe = conn.execute("SELECT DISTINCT project_id FROM sources WHERE document = "
                                "'pg-bantugazette-planetgold-zimbabwe'").fetchall()
    finally:
        conn.close()
    assert zimbabwe == [("planetgold-zimbabwe",)]
