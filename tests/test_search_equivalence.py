"""The speed-ups of search and indexing change nothing users see (docs/benchmarks.md, "Bottlenecks fixed"):
the one-loop analyzer gives Whoosh's tokens, fold and the synonym trie give the plain algorithms' answers,
and facet counts equal one SQL query per facet. Real seed, real SQLite file, real Whoosh index."""
import json
import random
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.analysis import CompositeAnalyzer

from bench.generate import generate
from registry.exchange import ingest
from registry.store import db as storage
from registry.search import index as search
from registry.core import searchdocs
from registry.core.query import ProjectQuery
from registry.core.validate import fold
from conftest import generated_app, make_app


@pytest.fixture(scope="module")
def seed_texts(seeded_instance):
    """Every text of the seed's index documents (projects and organisations)."""
    db = storage.connect(str(seeded_instance / "registry.db"))
    try:
        orgs = storage.list_organisations(db)
        synonyms = searchdocs.synonyms_for(orgs)
        docs = [searchdocs.project_document(p, synonyms) for p in storage.index_documents(db)]
        docs += [searchdocs.organisation_document(o, synonyms) for o in orgs]
    finally:
        db.conn.close()
    return [text for doc in docs for name, text in doc.items() if name not in ("id", "stamp") and text]


# --- analysis --------------------------------------------------------------------------------

CALLS = [dict(positions=True, mode="index"),                       # indexing
         dict(chars=True, keeporiginal=True, mode="query"),         # query words, did-you-mean
         dict(positions=True, chars=True),                          # highlighting
         dict(positions=True, removestops=False, start_pos=3, start_char=7),
         dict(tokenize=False), dict(no_morph=True)]


def tokens(analyzer, text, **options):
    return [(t.text, getattr(t, "pos", None), getattr(t, "startchar", None), getattr(t, "endchar", None),
             getattr(t, "original", None), t.stopped, t.boost) for t in analyzer(text, **options)]


def same_tokens(text):
    for fast in (search.ANALYZER, search.WORDS):
        chain = CompositeAnalyzer(*fast.items)   # Whoosh's own generator chain of the same parts
        assert type(chain) is not type(fast)
        for options in CALLS:
            assert tokens(fast, text, **options) == tokens(chain, text, **options), (text, options)


def test_the_one_loop_analyzer_gives_the_chains_tokens_on_the_seed(seed_texts):
    for text in seed_texts:
        same_tokens(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("aeiouÉéüñçßİı.-_'* 0123\n") + ["the ", "and ", "of ", "a ", "mining "]),
                max_size=40).map("".join) | st.text(max_size=40))
def test_the_one_loop_analyzer_gives_the_chains_tokens(text):
    same_tokens(text)


# --- fold and synonyms -----------------------------------------------------------------------

def plain_fold(text):
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_fold_is_the_plain_algorithm(text):
    assert fold(text) == plain_fold(text)


def plain_expand(synonyms, text):
    """The synonym groups a text mentions, found by comparing the forms starting with each word."""
    forms = {}
    for n, names in enumerate(synonyms.texts):
        for form in names.split(" ; "):
            acronym = form.isupper() and re.fullmatch(r"\w+", form)
            key = (form,) if acronym else tuple(plain_fold(form).split())
            forms.setdefault(key[0], []).append((key, n))
    found = set()
    for words in (plain_fold(text).split(), re.findall(r"\w+", text)):
        for i, word in enumerate(words):
            found |= {n for key, n in forms.get(word, ()) if tuple(words[i:i + len(key)]) == key}
    return "\n".join(synonyms.texts[n] for n in sorted(found))


def test_synonym_expansion_is_the_plain_algorithm(db, seed_texts):
    synonyms = searchdocs.synonyms_for(storage.list_organisations(db))
    samples = seed_texts + [" ".join(seed_texts[i:i + 5]) for i in range(0, len(seed_texts), 5)]
    samples += ["ASGM asgm Hg", "artisanal and small-scale gold mining", "GEF GOLD gef gold", "national action"]
    for text in samples:
        assert synonyms.expand(text) == plain_expand(synonyms, text), text


# --- filters and facets ----------------------------------------------------------------------

FACET_SQL = {   # one query per facet over a JSON list of ids: the plain way
    "country": "SELECT iso3, count(*) FROM project_countries WHERE project_id IN (SELECT value FROM json_each(?)) "
               "GROUP BY iso3",
    "funder": "SELECT org_id, count(DISTINCT project_id) FROM roles WHERE role = 'funder' "
              "AND project_id IN (SELECT value FROM json_each(?)) GROUP BY org_id",
    "area": "SELECT area, count(*) FROM project_areas WHERE project_id IN (SELECT value FROM json_each(?)) "
            "GROUP BY area",
    "status": "SELECT status, count(*) FROM projects WHERE id IN (SELECT value FROM json_each(?)) GROUP BY status",
    "kind": "SELECT kind, count(*) FROM projects WHERE id IN (SELECT value FROM json_each(?)) GROUP BY kind",
    "source": "SELECT document, count(DISTINCT project_id) FROM sources WHERE project_id IN "
              "(SELECT value FROM json_each(?)) GROUP BY document",
}


def passing(db, f, ids, skip=None):
    """Project ids passing every filter of `f` but `skip`'s, within `ids` (None: all), one filter at a time."""
    keep = {r[0] for r in db.execute("SELECT id FROM projects")} if ids is None else set(ids)
    rows = {r[0]: r for r in db.execute("SELECT id, status, kind, start_year, end_year FROM projects")}
    of = lambda sql, values: {r[0] for r in db.execute(sql, [json.dumps(list(values))])}  # noqa: E731
    if f.countries and skip != "country":
        keep &= of("SELECT project_id FROM project_countries WHERE iso3 IN (SELECT value FROM json_each(?))",
                   f.countries)
    if f.funders and skip != "funder":
        keep &= of("SELECT project_id FROM roles WHERE role = 'funder' AND org_id IN (SELECT value FROM json_each(?))",
                   f.funders)
    if f.areas and skip != "area":
        keep &= of("SELECT project_id FROM project_areas WHERE area IN (SELECT value FROM json_each(?))", f.areas)
    if f.sources and skip != "source":
        keep &= of("SELECT project_id FROM sources WHERE document IN (SELECT value FROM json_each(?))", f.sources)
    if f.statuses and skip != "status":
        keep = {i for i in keep if rows[i][1] in f.statuses}
    if f.kinds and skip != "kind":
        keep = {i for i in keep if rows[i][2] in f.kinds}
    if f.year_from is not None:
        keep = {i for i in keep if (rows[i][4] if rows[i][4] is not None else rows[i][3]) is not None
                and (rows[i][4] if rows[i][4] is not None else rows[i][3]) >= f.year_from}
    return keep


def test_filters_and_facets_equal_one_query_per_facet(db):
    facets_equal_one_query_per_facet(db)


def test_filters_and_facets_equal_one_query_per_facet_on_generated_projects(generated):
    db = storage.connect(str(generated / "registry.db"))
    try:
        facets_equal_one_query_per_facet(db)
    finally:
        db.conn.close()


def facets_equal_one_query_per_facet(db):
    values = {name: [r[0] for r in db.execute(sql)] for name, sql in {
        "countries": "SELECT DISTINCT iso3 FROM project_countries", "areas": "SELECT DISTINCT area FROM project_areas",
        "funders": "SELECT DISTINCT org_id FROM roles WHERE role = 'funder'",
        "statuses": "SELECT DISTINCT status FROM projects", "kinds": "SELECT DISTINCT kind FROM projects"}.items()}
    everything = sorted(r[0] for r in db.execute("SELECT id FROM projects"))
    rnd = random.Random(7)
    nonempty = 0
    for _ in range(60):
        f = ProjectQuery(**{name: tuple(rnd.sample(vals, min(len(vals), rnd.choice([0, 0, 1, 2]))))
                            for name, vals in values.items()}, year_from=rnd.choice([None, None, 2018]))
        ids = rnd.choice([None, everything, rnd.sample(everything, len(everything) // 3), []])
        assert set(storage.filter_ids(db, f, ids=ids)) == passing(db, f, ids)
        nonempty += bool(passing(db, f, ids))
        counts = storage.facet_counts(db, f, ids=ids)
        assert [name for name in counts if name != "region"] == list(FACET_SQL)   # region: test_region_filter.py
        for name, sql in FACET_SQL.items():
            expected = db.execute(sql, [json.dumps(sorted(passing(db, f, ids, skip=name)))]).fetchall()
            assert counts[name] == sorted(expected, key=lambda x: (-x[1], x[0])), (name, f, ids is None)
    assert nonempty >= 20   # most random selections match something: empty == empty would prove nothing


def test_the_search_ids_table_follows_each_list_and_survives_a_rollback(db):
    everything = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id")]
    f = ProjectQuery()
    first, second = everything[::2], everything[1::2]
    assert first and second
    assert set(storage.filter_ids(db, f, ids=first, sort="updated")) == set(first)
    assert set(storage.filter_ids(db, f, ids=second)) == set(second)
    with pytest.raises(RuntimeError):
        with storage.transaction(db):
            assert set(storage.filter_ids(db, f, ids=first)) == set(first)
            raise RuntimeError("roll back")
    assert set(storage.filter_ids(db, f, ids=first)) == set(first)   # reloaded: the rollback emptied it
    readonly = storage.connect(db.conn.execute("PRAGMA database_list").fetchone()[2], readonly=True)
    try:
        assert set(storage.filter_ids(readonly, f, ids=second)) == set(second)
    finally:
        readonly.conn.close()


def test_region_facet_equals_the_regions_of_each_projects_places(db, generated):
    """Regions counted in memory = the plain way: each project's places read for the hits, then its regions."""
    other = storage.connect(str(generated / "registry.db"))
    try:
        for conn in (db, other):
            everything = sorted(r[0] for r in conn.execute("SELECT id FROM projects"))
            rnd = random.Random(3)
            for ids in (None, everything, rnd.sample(everything, len(everything) // 4), []):
                scope = "(SELECT id FROM projects)" if ids is None else "(SELECT value FROM json_each(?))"
                rows = conn.execute(storage.FACET_SQL["region"].format(scope=scope), [] if ids is None else
                                    [json.dumps(ids)] * 2).fetchall()
                expected = sorted(storage._region_counts(rows).items(), key=lambda x: (-x[1], x[0]))
                assert storage.facet_counts(conn, ProjectQuery(), ids=ids)["region"] == expected
                assert expected or ids == []
    finally:
        other.conn.close()


def test_facet_counts_follow_a_write(instance):
    """The counts held in memory are read again once a write moved the data version on."""
    app = make_app(instance)
    db = storage.connect(app.config["DATABASE"])
    try:
        before = dict(storage.facet_counts(db, ProjectQuery())["status"])
        project_id = next(r[0] for r in db.execute("SELECT id FROM projects WHERE status != 'planned'"))
        _, (project,) = storage.export_records(db, [project_id])
        ingest.import_data(db, json.dumps({"projects": [dict(project, status="planned")]}).encode(), "json")
        after = dict(storage.facet_counts(db, ProjectQuery())["status"])
    finally:
        db.conn.close()
    assert after["planned"] == before.get("planned", 0) + 1
    assert sum(after.values()) == sum(before.values())


# --- scoring every match at once -------------------------------------------------------------

@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """An instance of 300 generated projects (bench/generate.py, seed 0) and its index."""
    folder = tmp_path_factory.mktemp("generated")
    generated_app(folder)
    return folder


SEARCHES = ["mercury", "gold", "amalgam", "UNITAR", "Indonesia", "artisanal gold", "small-scale gold mining",
            "chlor-alkali plants", "national action plan", "health risks miners", "mercury waste", "coal combustion",
            "mercuy", "artisnal gold", "minamta convention", '"Minamata Convention"', '"small-scale gold mining"',
            "gold OR cement", "mercury NOT gold", "retort*", "(gold OR coal) AND emissions", "orpaillage",
            "Pérou mercurio",
            "ASGM", "Zero Mercury Working Group", "nothingatall", "the"]


def walked(searcher, q, context):
    """(docnum, score) of every match, Whoosh walking its matcher match by match (the plain way)."""
    out = []
    for subsearcher, offset in searcher.leaf_searchers():
        m = q.matcher(subsearcher, context)
        while m.is_active():
            out.append((m.id() + offset, m.score()))
            m.next()
    return out


def scored_at_once(searcher, q, context):
    found = [(search._scored_at_once(q.matcher(sub, context), sub), offset)
             for sub, offset in searcher.leaf_searchers()]
    if any(f is None for f, _ in found):
        return None
    return [(d + offset, s) for (docs, scores), offset in found for d, s in zip(docs.tolist(), scores.tolist())]


@pytest.mark.parametrize("which", ["seed", "generated"])
def test_scores_at_once_equal_whooshs_walk_to_the_last_bit(which, seeded_instance, generated):
    """Every match and its score, for AND and OR queries, with the matchers Whoosh picks for a small index
    (an array union of the fields) and for a large one (binary trees: needs_current)."""
    folder = seeded_instance if which == "seed" else generated
    settings_ = search.Settings(str(folder / "index"), str(folder / "registry.db"))
    searcher = search._engine(settings_).searcher("projects")
    fast = 0
    for text in SEARCHES:
        for conjunctive in (True, False):
            q = search._compile(searcher, "projects", text, search._glossary(settings_), conjunctive)
            for context in (searcher.context(), searcher.context(needs_current=True)):
                at_once = scored_at_once(searcher, q, context)
                if at_once is not None:
                    assert at_once == walked(searcher, q, context), (text, conjunctive)
                    fast += bool(at_once)
    assert fast >= 60   # most of them are scored at once (phrases, prefixes and NOT are walked)


@pytest.mark.parametrize("which", ["seed", "generated"])
def test_search_results_equal_whooshs_collector(which, seeded_instance, generated):
    """search._run (scored at once where it can) = Whoosh's own collector: the same ids, order and scores."""
    folder = seeded_instance if which == "seed" else generated
    settings_ = search.Settings(str(folder / "index"), str(folder / "registry.db"))
    engine = search._engine(settings_)
    searcher, ids = engine.searcher("projects"), engine.ids["projects"]
    for text in SEARCHES:
        for conjunctive in (True, False):
            q = search._compile(searcher, "projects", text, search._glossary(settings_), conjunctive)
            collector = search._AllScored(60)
            searcher.search_with_collector(q, collector)
            plain = sorted(collector.items, key=lambda x: (-x[0], x[1]))
            found, scores = search._run(searcher, ids, q, 60)
            assert found == [ids[d] for _, d in plain], (text, conjunctive)
            assert [scores[i] for i in found] == [s for s, _ in plain], (text, conjunctive)


def plain_resolve(db, texts):
    """Each text's organisation: every organisation's id, name, acronym and aliases folded on each call."""
    index = {}
    for r in db.query("SELECT id, name, acronym, aliases FROM organisations"):
        for key in [r["id"], r["name"], r["acronym"], *json.loads(r["aliases"])]:
            if key:
                index.setdefault(fold(key), r["id"])
    return {t: index.get(fold(t)) for t in texts}


def test_organisation_names_held_per_state_resolve_as_the_plain_scan(instance):
    db = storage.connect(str(instance / "registry.db"))
    try:
        orgs = storage.list_organisations(db)
        texts = [o["name"] for o in orgs] + [o["acronym"] for o in orgs if o["acronym"]] + ["GEF", "unep", "nobody"]
        texts += [f"{o['name']} project" for o in orgs[:20]]
        assert storage.resolve_organisations(db, texts) == plain_resolve(db, texts)
        assert storage.resolve_organisations(db, texts) == plain_resolve(db, texts)   # held: the same
        new = {"id": "held-test-org", "name": "Held Test Organisation", "type": "ngo", "country": "KEN"}
        ingest.import_data(db, json.dumps({"organisations": [new]}).encode(), "json")
        found = storage.resolve_organisations(db, ["Held Test Organisation"] + texts)
        assert found == plain_resolve(db, ["Held Test Organisation"] + texts)
        assert found["Held Test Organisation"] == "held-test-org"   # read again after the write
    finally:
        db.conn.close()


@pytest.mark.parametrize("which", ["seed", "generated"])
def test_field_lengths_read_at_once_are_doc_field_lengths(which, seeded_instance, generated):
    folder = seeded_instance if which == "seed" else generated
    searcher = search._engine(search.Settings(str(folder / "index"), str(folder / "registry.db"))).searcher("projects")
    for subsearcher, _ in searcher.leaf_searchers():
        reader = subsearcher.reader()
        for name in search.KINDS["projects"]:
            lengths = search._read_lengths(reader, name).tolist()
            whooshs = [reader.doc_field_length(d, name, 1) for d in range(reader.doc_count_all())]
            # (Whoosh answers None for a document without the field, whose length nothing scores)
            assert [n for n, w in zip(lengths, whooshs) if w is not None] == [w for w in whooshs if w is not None]
            assert any(n > 1 for n in lengths) or name in search.OTHER_PROJECT_FIELDS
