"""The fast indexing path (search/index.py `_add`: one loop per field instead of Whoosh's generators, and the
pool sorted by one key per posting) writes the same index as Whoosh's own `writer.add_document`: the same
terms and postings (documents, weights, encoded positions) in every field, the same field lengths, columns
and deleted documents, and the same search results. Built from the seed plus 300 generated projects
(bench/generate.py), as a new generation (rebuild) and then updated in place (an import's path)."""
import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from bench.generate import generate
from bench.queries import QUERIES, WARMUP
from registry.core.searchdocs import organisation_document, synonyms_for
from registry.exchange import ingest
from registry.search import index as search
from registry.store import db as storage

SEARCHES = sorted({parse_qs(q)["q"][0] for q in QUERIES + WARMUP if "q=" in q}) + [
    "ZMWG", "Pérou", "minería aurífera", "retort*", "Mongolai", "waste OR cement", "chloralkali", "orpaillage"]


def _plain_generation(root, settings):
    """A generation written with Whoosh's own add_document (the reference), made current in `root`."""
    projects, orgs, _ = search._read_db(settings)
    synonyms = synonyms_for(orgs)
    docs = {"projects": [search._project_document(p, synonyms) for p in projects],
            "organisations": [organisation_document(o, synonyms) for o in orgs]}
    path = root / "gen-plain"
    path.mkdir(parents=True)
    for kind in search.SCHEMAS:
        writer = search._create_index(path, kind).writer(limitmb=search._pool_mb(len(docs[kind])),
                                                          codec=search._codec())
        for doc in docs[kind]:
            writer.add_document(**dict(doc, stamp=doc["stamp"].encode("utf-8")))
        writer.commit()
    search._write_fingerprint(path, search._fingerprint(synonyms))
    (root / "current").write_text("gen-plain", "utf-8")


def _plain_update(root, settings, ids):
    """update_projects(ids) the reference way: delete, then Whoosh's own add_document, in place."""
    path = root / search._current(root)
    projects, orgs, _ = search._read_db(settings, ids)
    synonyms = synonyms_for(orgs)
    writer = search._open_index(path, "projects").writer(codec=search._codec())
    for i in ids:
        writer.delete_by_term("id", i)
    for p in projects:
        doc = search._project_document(p, synonyms)
        writer.add_document(**dict(doc, stamp=doc["stamp"].encode("utf-8")))
    writer.commit()


def _contents(root, kind):
    """Everything a search can read from the current generation's `kind` index."""
    with search._open_index(root / search._current(root), kind).searcher() as s:
        r = s.reader()
        postings = {}
        for name in r.indexed_field_names():
            for term in r.lexicon(name):
                m, found = r.postings(name, term), []
                while m.is_active():
                    found.append((m.id(), m.weight(), m.value()))
                    m.next()
                postings[(name, term)] = found
        docs = list(r.all_doc_ids())
        return {"postings": postings, "docs": docs, "deleted": [d for d in range(r.doc_count_all()) if r.is_deleted(d)],
                "lengths": {(name, d): r.doc_field_length(d, name) for d in docs for name in r.indexed_field_names()},
                "columns": {c: list(r.column_reader(c)) for c in ("id", "stamp")},
                "segments": [leaf.doc_count_all() for leaf, _ in r.leaf_readers()]}


def _results(settings):
    out = {}
    for q in SEARCHES:
        try:
            hits = search.search_projects(settings, q)
            out[q] = (hits.ids, [round(hits.scores[i], 9) for i in hits.ids], hits.suggestion)
        except search.QueryError as exc:
            out[q] = ("refused", exc.code)
    return out


@pytest.fixture(scope="module")
def registry(seeded_instance, tmp_path_factory):
    """The seed plus 300 generated projects; (database path, generated projects)."""
    folder = tmp_path_factory.mktemp("indexing")
    shutil.copy(seeded_instance / "registry.db", folder / "registry.db")
    generated = generate(300, seed=0)
    db = storage.connect(str(folder / "registry.db"))
    ingest.import_data(db, json.dumps(generated).encode(), "json")
    db.conn.close()
    return folder / "registry.db", generated["projects"]


@pytest.fixture(scope="module")
def indexes(registry, tmp_path_factory):
    """{"fast": Settings, "plain": Settings}: the same database, indexed by each path."""
    database, _ = registry
    base = tmp_path_factory.mktemp("indexes")
    settings = {name: search.Settings(index_dir=str(base / name), database=str(database), time_limit=60)
                for name in ("fast", "plain")}
    assert search.rebuild(settings["fast"]) > 300
    _plain_generation(Path(settings["plain"].index_dir), settings["plain"])
    return settings


def _same_index(indexes):
    for kind in search.SCHEMAS:
        fast, plain = (_contents(Path(indexes[n].index_dir), kind) for n in ("fast", "plain"))
        assert fast["postings"], kind   # not vacuous: the index holds terms
        assert fast["postings"].keys() == plain["postings"].keys(), kind
        for key, found in plain["postings"].items():
            assert fast["postings"][key] == found, key
        for part in ("docs", "deleted", "lengths", "columns", "segments"):
            assert fast[part] == plain[part], (kind, part)


def test_a_new_generation_is_the_same_index(indexes):
    _same_index(indexes)


def test_an_update_in_place_is_the_same_index_and_finds_the_same(registry, indexes):
    _, generated = registry
    ids = [p["id"] for p in generated[::3]] + ["no-such-project"]   # reindexed, one gone (deleted)
    assert search.update_projects(indexes["fast"], ids)
    _plain_update(Path(indexes["plain"].index_dir), indexes["plain"], ids)
    _same_index(indexes)
    deleted = _contents(Path(indexes["fast"].index_dir), "projects")["deleted"]
    assert deleted, "the update deleted the old versions of the reindexed projects"
    fast, plain = _results(indexes["fast"]), _results(indexes["plain"])
    assert sum(len(r[0]) for r in fast.values() if r[0] != "refused") > 1000   # the searches find things
    assert fast == plain


def test_the_sorted_pool_orders_postings_as_whoosh_does():
    """Field names that begin with another (title, title_es, title_fr), terms that begin with another,
    non-ASCII terms and several documents per term: the key sort equals Whoosh's sort of the tuples."""
    postings = [(f, t.encode("utf-8"), d, 1.0, b"") for d in range(3)
                for f in ("title_fr", "title", "title_es", "words", "names")
                for t in ("mine", "mines", "min", "minería", "zinc", "a", "ą")]
    pool = search._SortedPool(None, None, limitmb=1)
    for p in postings:
        pool.add(p)
    assert list(pool.items()) == sorted(postings)
