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

from registry.store import db as storage
from registry.search import index as search
from registry.core import searchdocs
from registry.core.query import ProjectQuery
from registry.core.validate import fold


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
