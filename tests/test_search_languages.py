"""Search across languages (issue 13): a French or Spanish query finds the English records it means.

Real SQLite files written through the real import path, real Whoosh indexes, the real app. The glossary
(geodata/glossary.yaml) and the table of queries (tests/data/multilingual_queries.yaml) are read as they are
committed: every entry and every query is checked, none is written down here. Run with -s to see the table
of queries and their top results.
"""
import json
import re
import shutil

import pytest
import yaml
from whoosh.analysis import CompositeAnalyzer

from registry.exchange import ingest
from registry.search import analysis, glossary, languages
from registry.search.analysis import WORDS as _WORDS
from registry.search import index as search
from registry.store import db as storage

from conftest import ROOT, make_app

QUERIES_FILE = ROOT / "tests" / "data" / "multilingual_queries.yaml"
TOP = 3   # "the same top results": see test_the_table_of_queries_finds_what_english_finds
FOREIGN = ("fr", "es")


@pytest.fixture(scope="module")
def entries():
    return glossary.load()


def ids(settings, q):
    return search.search_projects(settings, q).ids


def phrase(term):
    """An English term searched as a phrase (as a glossary phrase's English terms are)."""
    return '"' + " ".join(languages._UNSAFE.sub(" ", term).split()) + '"'


# --- the glossary file ---------------------------------------------------------------------------

def test_the_glossary_loads_and_covers_the_issue(entries):
    assert len(entries) >= 150, len(entries)
    assert {e.topic for e in entries} >= {"asgm", "mercury", "products", "coal", "chlor-alkali", "cement", "waste",
                                         "supply-trade-storage", "air-transport", "monitoring", "health", "policy"}
    assert all(e.terms[lang] for e in entries for lang in glossary.LANGS)
    assert languages.current(), "the search uses the committed glossary"


def write(tmp_path, text):
    path = tmp_path / "glossary.yaml"
    path.write_text(text, "utf-8")
    return path


GOOD = """- id: mercury
  topic: mercury
  en: [mercury]
  fr: [mercure]
  es: [mercurio]
"""


@pytest.mark.parametrize("text, expected", [
    (GOOD + GOOD, "entry 2: id 'mercury' is already the id of entry 1"),
    (GOOD.replace("es: [mercurio]", "es: []"), "entry 1 (id 'mercury'), es: give at least one term"),
    (GOOD.replace("es: [mercurio]", "es: [mercurio, '']"), "entry 1 (id 'mercury'), es: every term is non-empty"),
    (GOOD.replace("es: [mercurio]", "es: [mercurio]\n  pt: [mercúrio]"), "unknown key(s) pt"),
    (GOOD.replace("  es: [mercurio]\n", ""), "entry 1 (id 'mercury'): 'es' is missing"),
    (GOOD.replace("topic: mercury", "topic: metals"), "topic 'metals' is not one of"),
    (GOOD.replace("id: mercury", "id: Mercury Hg"), "id must be a slug"),
    ("mercury: [mercure]", "a YAML list of entries"),
    ("- id: [", "not valid YAML"),
])
def test_a_bad_glossary_is_refused_with_every_problem_named(tmp_path, text, expected):
    with pytest.raises(glossary.GlossaryError) as caught:
        glossary.load(write(tmp_path, text))
    assert expected in str(caught.value), str(caught.value)
    assert str(write(tmp_path, text)) in str(caught.value)   # the file is named


def test_every_problem_is_listed_at_once(tmp_path):
    text = GOOD.replace("topic: mercury", "topic: metals").replace("fr: [mercure]", "fr: []") + GOOD
    with pytest.raises(glossary.GlossaryError) as caught:
        glossary.load(write(tmp_path, text))
    assert len(caught.value.problems) == 2, caught.value.problems


# --- analysis --------------------------------------------------------------------------------

TEXTS = ["L'extraction minière artisanale et à petite échelle d'or (EMAPE) au Burkina Faso",
         "Minería aurífera artesanal y en pequeña escala: reducción del uso de mercurio en Perú",
         "Côte d'Ivoire, Guinée, République du Congo; Œuvres, naïve, Ñuñoa", "St. Kitts and Nevis (SKN)"]


def tokens(analyzer, text, options):
    return [(t.text, getattr(t, "pos", None), getattr(t, "startchar", None)) for t in analyzer(text, **options)]


@pytest.mark.parametrize("text", TEXTS)
def test_the_french_and_spanish_analyzers_give_the_chains_tokens(text):
    for fast in (analysis.FRENCH, analysis.SPANISH):
        chain = CompositeAnalyzer(*fast.items)
        for options in (dict(positions=True, mode="index"), dict(chars=True, keeporiginal=True, mode="query")):
            assert tokens(fast, text, options) == tokens(chain, text, options)


def test_french_and_spanish_words_fold_accents_and_stem_in_their_language():
    assert analysis.stems(analysis.SPANISH, "minería") == analysis.stems(analysis.SPANISH, "MINERIA")
    assert analysis.stems(analysis.SPANISH, "mineras") == analysis.stems(analysis.SPANISH, "minera")
    assert analysis.stems(analysis.FRENCH, "orpailleurs") == analysis.stems(analysis.FRENCH, "orpailleur")
    assert analysis.stems(analysis.FRENCH, "la Côte d'Ivoire") == analysis.stems(analysis.FRENCH, "cote ivoire")
    # English stop words are no words of the other fields either (words are AND-ed across fields)
    assert analysis.stems(analysis.FRENCH, "Kitts and Nevis") == analysis.stems(analysis.FRENCH, "Kitts Nevis")


# --- one record per glossary entry: each French and Spanish term finds it -------------------------

@pytest.fixture(scope="module")
def glossary_registry(entries, tmp_path_factory):
    """A registry holding one record per glossary entry, titled with the entry's first English term,
    written through the real import path, and its index."""
    folder = tmp_path_factory.mktemp("glossary-registry")
    projects = [{"id": f"g-{e.id}", "title": e.terms["en"][0], "area": "cross-cutting", "status": "ongoing",
                 "locations": [{"name": "Worldwide", "precision": "global"}]} for e in entries]
    db = storage.connect(str(folder / "registry.db"))
    try:
        ingest.import_data(db, json.dumps({"projects": projects}).encode("utf-8"), "json")
    finally:
        db.conn.close()
    settings = search.Settings(str(folder / "index"), str(folder / "registry.db"))
    assert search.rebuild(settings) == len(entries)
    return settings


def test_each_entry_is_found_by_its_english_term(entries, glossary_registry):
    missed = [(e.id, e.terms["en"][0]) for e in entries
              if f"g-{e.id}" not in ids(glossary_registry, e.terms["en"][0])[:TOP]]
    assert not missed, missed   # the record is there to be found: the checks below are not vacuous


@pytest.mark.slow   # (about 1,500 searches: 10 s)
def test_each_french_and_spanish_term_finds_its_entrys_record(entries, glossary_registry):
    missed = [(e.id, lang, term, ids(glossary_registry, term)[:TOP])
              for e in entries for lang in FOREIGN for term in e.terms[lang]
              if f"g-{e.id}" not in ids(glossary_registry, term)[:TOP]]
    assert not missed, "\n".join(map(repr, missed))


# --- the seed and its updates: French and Spanish terms find what the English terms find ------------

@pytest.fixture(scope="module")
def updated(updated_instance, tmp_path_factory):
    """The seed with every update applied (French and Spanish titles among them), its index rebuilt."""
    folder = tmp_path_factory.mktemp("languages") / "instance"
    shutil.copytree(updated_instance[0], folder)
    settings = search.Settings(str(folder / "index"), str(folder / "registry.db"))
    search.rebuild(settings)
    return settings


@pytest.mark.slow   # (about 4,000 searches: 40 s)
def test_on_the_seed_each_term_finds_what_its_english_terms_find(entries, updated):
    """For each entry whose first English term (as a phrase) finds records: each French and Spanish term finds
    every one of them. What a term finds beyond the English terms is exactly what its own words find (a
    record's French title, or English words such as "plan", "action", "national"): it finds the union of
    both, no more."""
    unsearched = search.Settings(updated.index_dir, updated.database, glossary=False)
    checked, wrong = 0, []
    for e in entries:
        english = set(ids(updated, phrase(e.terms["en"][0])))
        if not english:
            continue
        every_english = set(ids(updated, " OR ".join(map(phrase, e.terms["en"]))))
        for lang in FOREIGN:
            for term in e.terms[lang]:
                found = set(ids(updated, term))
                own = set(ids(unsearched, term))   # the term's own words, not the glossary's English terms
                if not english <= found or not found <= every_english | own:
                    wrong.append((e.id, term, sorted(english - found), sorted(found - every_english - own)))
                checked += 1
    assert checked > 100 and not wrong, "\n".join(map(repr, wrong))


@pytest.mark.slow   # (about 1,500 searches: 10 s)
def test_english_queries_search_as_without_the_glossary(entries, updated):
    """English terms, and the English queries of the table, are left alone: no French or Spanish term of the
    same stem widens them (they are English terms of the glossary, which come first: languages.py)."""
    unsearched = search.Settings(updated.index_dir, updated.database, glossary=False)
    english = [term for e in entries for term in e.terms["en"]] + [item["en"] for item in load_queries()]
    changed = [q for q in english if ids(updated, q) != ids(unsearched, q)]
    assert not changed, changed


# --- the table of queries --------------------------------------------------------------------------

def load_queries():
    return yaml.safe_load(QUERIES_FILE.read_text("utf-8"))


def test_the_table_of_queries_finds_what_english_finds(seeded_instance):
    """Each French and Spanish query of the table, on the seed, finds the English query's top result among
    its own TOP first, and shares at least two of the English top TOP (all of them when English finds fewer)."""
    settings = search.Settings(str(seeded_instance / "index"), str(seeded_instance / "registry.db"))
    rows, wrong = [], []
    items = load_queries()
    assert len(items) >= 30
    for item in items:
        english = ids(settings, item["en"])[:TOP]
        assert english, f"the English query {item['en']!r} finds nothing: the row checks nothing"
        rows.append(("en", item["en"], english))
        for lang in FOREIGN:
            top = ids(settings, item[lang])[:TOP]
            rows.append((lang, item[lang], top))
            if english[0] not in top or len(set(top) & set(english)) < min(2, len(english)):
                wrong.append((item[lang], top, item["en"], english))
    width = max(len(q) for _, q, _ in rows)
    print("\n\nlang | query | top ids")
    for lang, q, top in rows:
        print(f"{lang} | {q.ljust(width)} | {', '.join(top)}")
    assert not wrong, "\n".join(map(repr, wrong))


# --- accents, translated titles, places, did you mean, snippets, function words --------------------

@pytest.fixture(scope="module")
def client(seeded_instance, tmp_path_factory):
    folder = tmp_path_factory.mktemp("languages-app") / "instance"
    shutil.copytree(seeded_instance, folder)
    return make_app(folder).test_client()


def api(client, q, page=1, **params):
    r = client.get("/api/projects", query_string={"q": q, "per_page": 100, "page": page, **params})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()


def api_ids(client, q, **params):
    """Every matching id, best first, paging through the API."""
    found, page = [], 1
    while True:
        body = api(client, q, page, **params)
        found += [row["id"] for row in body["results"]]
        if len(found) >= body["total"] or not body["results"]:
            return found
        page += 1


@pytest.mark.parametrize("accented, plain", [("Côte d'Ivoire", "Cote d'Ivoire"), ("minería", "mineria"),
                                             ("Pérou", "PEROU"), ("Guinée", "guinee")])
def test_accents_and_case_are_folded(client, accented, plain):
    found = api_ids(client, accented)
    assert found and found == api_ids(client, plain)


@pytest.mark.parametrize("place, params", [("Pérou", {"country": "PER"}), ("Perú", {"country": "PER"}),
                                           ("Guinée", {"country": "GIN"}),
                                           ("República del Congo", {"country": "COG"}),
                                           ("Afrique de l'Ouest", {"region": "011"}),
                                           ("África occidental", {"region": "011"}),
                                           ("América Latina", {"region": "419"}),
                                           ("Amérique latine et Caraïbes", {"region": "419"})])
def test_french_and_spanish_place_names_find_the_projects_there(client, place, params):
    located = set(api_ids(client, "", **params))
    assert located and located <= set(api_ids(client, place))


def test_a_spanish_title_and_a_french_summary_are_found_by_their_own_words(app):
    record = {"id": "nar-comunidades", "title": "Community work in Nariño", "area": "asgm", "status": "ongoing",
              "countries": ["COL"], "locations": [{"name": "Nariño", "precision": "subnational", "country": "COL"}],
              "title_es": "Fortalecimiento comunitario de los mineros de Nariño",
              "summary_fr": "Des ateliers communautaires pour les orpailleuses du département de Nariño."}
    db = storage.connect(app.config["DATABASE"])
    try:
        report = ingest.import_data(db, json.dumps({"projects": [record]}).encode("utf-8"), "json")
    finally:
        db.conn.close()
    settings = search.Settings(app.config["INDEX_DIR"], app.config["DATABASE"])
    assert search.update_projects(settings, report.added)
    spanish_words = "fortalecimientos comunitarios minero"   # other forms of the title's words
    french_words = "atelier communautaire orpailleuse"
    for q in (spanish_words, french_words):
        assert search.search_projects(settings, q).ids[:1] == ["nar-comunidades"], q
    assert search.search_projects(settings, spanish_words).suggestion is None   # known words: no "did you mean"


@pytest.fixture
def app(seeded_instance, tmp_path):
    folder = tmp_path / "instance"
    shutil.copytree(seeded_instance, folder)
    return make_app(folder)


@pytest.mark.parametrize("typo, right", [("orpaillge", "orpaillage"), ("amalgamacin", "amalgamación"),
                                         ("mineria aurfera", "mineria aurífera")])
def test_did_you_mean_proposes_french_and_spanish_words(client, typo, right):
    """Words of the glossary that no record says: the correction comes from the glossary, written with
    its accents, and the misspelt query finds what the right one finds."""
    assert all(word in languages.current().vocabulary for word in (t.text for t in _WORDS(right.split()[-1])))
    body = api(client, typo)
    assert body["suggestion"] == right
    assert body["total"] and api_ids(client, typo) == api_ids(client, right)


def test_a_french_query_highlights_the_english_text_it_matched(client):
    page = client.get("/projects", query_string={"q": "orpaillage"}).get_data(as_text=True)
    assert "<mark>" in page
    marked = {m.lower() for m in re.findall(r"<mark>([^<]+)</mark>", page)}
    english = {w.lower() for e in glossary.load() if "orpaillage" in e.terms["fr"]
               for t in e.terms["en"] for w in t.split()}
    assert marked & english, marked


@pytest.mark.parametrize("with_stops, without", [("minería de oro", "minería oro"), ("les mercure", "mercure"),
                                                 ("el mercurio y la salud", "mercurio salud")])
def test_french_and_spanish_function_words_never_make_a_query_fail(client, with_stops, without):
    found = api_ids(client, with_stops)
    assert found and found == api_ids(client, without)
