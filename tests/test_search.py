"""The search index (registry/search.py) over the real seed: the real SQLite file, the real Whoosh index
and the real app. Expectations are computed from the database, never written down."""
import json
import re
import shutil
import subprocess
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.store import db as storage
from registry.core import geo
from registry.search import index as search
from registry.core.validate import fold
from registry.web.context import index_settings

from conftest import make_app


@pytest.fixture(scope="module")
def reader(seeded_instance, tmp_path_factory):
    """A client on a private copy of the seeded registry, shared by the tests that only read."""
    folder = tmp_path_factory.mktemp("search") / "instance"
    shutil.copytree(seeded_instance, folder)
    app = make_app(folder)
    return app.test_client()


@pytest.fixture(scope="module")
def rdb(reader):
    conn = storage.connect(reader.application.config["DATABASE"])
    yield conn
    conn.conn.close()


@pytest.fixture(scope="module")
def corpus(rdb):
    """{project id: folded text of everything it says (title, texts, keywords, places, quotes)}."""
    return {p["id"]: fold(" ".join(filter(None, [p["title"], p["summary"], p["description"], *p["keywords"],
                                                 *p["locations"], *p["sources"]])))
            for p in storage.index_documents(rdb)}


def api(client, q, **params):
    """Every matching id through the JSON API (paging through it), and the first page's body."""
    ids, first, page = [], None, 1
    while True:
        r = client.get("/api/projects", query_string={"q": q, "per_page": 100, "page": page, **params})
        assert r.status_code == 200, r.get_data(as_text=True)
        body = r.get_json()
        first = first or body
        ids += [row["id"] for row in body["results"]]
        if len(ids) >= body["total"] or not body["results"]:
            return ids, first
        page += 1


def sql_ids(db, sql, params=()):
    return {r[0] for r in db.execute(sql, params)}


def mentioning(corpus, *phrases):
    """Projects whose text has one of these phrases, starting at a word ("shaking table" in "shaking tables")."""
    pattern = re.compile("|".join(rf"\b{re.escape(fold(p))}" for p in phrases))
    return {pid for pid, text in corpus.items() if pattern.search(text)}


def in_country(db, iso3):
    return sql_ids(db, "SELECT project_id FROM project_countries WHERE iso3 = ?", [iso3])


def with_org(db, org_id):
    return sql_ids(db, "SELECT project_id FROM roles WHERE org_id = ?", [org_id])


def rewrite_project(db, pid, **values):
    """Change a project directly in SQLite, as an editor (or a lost index update) would."""
    sets = ", ".join(f"{k} = ?" for k in values)
    with storage.transaction(db):
        db.execute(f"UPDATE projects SET {sets}, version = version + 1, updated_at = ? WHERE id = ?",
                   [*values.values(), storage.now() + pid, pid])


# --- what users type ---------------------------------------------------------------------------

def expected_for(db, corpus, q):
    """Projects a query must find (and the best hit must be one of), from the database."""
    if q == "retort training Guinea":
        return in_country(db, "GIN") & mentioning(corpus, "retort")
    if q == "Mongolai":
        return in_country(db, "MNG")
    if q == "Hondoras":
        return in_country(db, "HND")
    if q == "ZMWG":
        orgs = sql_ids(db, "SELECT id FROM organisations WHERE acronym LIKE '%ZMWG%' OR aliases LIKE '%ZMWG%'")
        return set().union(*(with_org(db, o) for o in orgs)) | mentioning(corpus, "ZMWG", "Zero Mercury Working Group")
    if q == "UNDP Kenya":
        return with_org(db, "undp") & in_country(db, "KEN")
    if q == "coal India":
        return in_country(db, "IND") & sql_ids(db, "SELECT project_id FROM project_areas WHERE area = 'coal'")
    if q == "GEF GOLD":
        return mentioning(corpus, "GEF GOLD")
    return mentioning(corpus, {"shaking tables": "shaking table"}.get(q, q))


USER_QUERIES = ["borax", "shaking tables", "retort training Guinea", "Fairmined", "Mongolai", "Hondoras", "ZMWG",
                "UNDP Kenya", "Zorgho", "Dialogos", "planetGOLD", "GEF GOLD", "passive air sampling", "coal India"]


@pytest.mark.parametrize("q", USER_QUERIES)
def test_queries_users_try(reader, rdb, corpus, q):
    expected = expected_for(rdb, corpus, q)
    assert expected, f"the seed no longer has anything for {q!r}"
    ids, body = api(reader, q)
    assert expected <= set(ids), sorted(expected - set(ids))
    assert ids[0] in expected
    assert body["results"][0]["score"] > 0


def test_phrase_is_stricter_than_words(reader, corpus):
    words, _ = api(reader, "shaking tables")
    phrase, _ = api(reader, '"shaking tables"')
    expected = mentioning(corpus, "shaking table")
    assert expected and expected <= set(phrase) <= set(words)


@pytest.mark.parametrize("typo, right", [("Mongolai", "Mongolia"), ("Hondoras", "Honduras"), ("Fairmind", "Fairmined")])
def test_typos_are_tolerated_and_corrected(reader, typo, right):
    ids, body = api(reader, typo)
    assert body["suggestion"] == right
    corrected = set(api(reader, right)[0])
    assert corrected and corrected <= set(ids)
    page = reader.get("/projects", query_string={"q": typo}).get_data(as_text=True)
    assert f'Did you mean <a href="/projects?q={right}">{right}</a>' in page


def test_known_words_get_no_suggestion(reader):
    assert "suggestion" not in api(reader, "borax")[1]


@pytest.mark.parametrize("plain, accented", [("Dialogos", "Diálogos"), ("Minamata", "Minamáta"),
                                             ("Cote d'Ivoire", "Côte d'Ivoire")])
def test_accents_do_not_matter(reader, plain, accented):
    assert api(reader, plain)[0] == api(reader, accented)[0] != []


def test_acronyms_and_their_long_forms_find_each_other(reader, corpus):
    for short, long in [("ASGM", "artisanal and small-scale gold mining"), ("ZMWG", "Zero Mercury Working Group"),
                        ("planetGOLD", "GEF GOLD"), ("NRDC", "Natural Resources Defense Council")]:
        with_long, with_short = mentioning(corpus, long), mentioning(corpus, short)
        assert with_short, short
        assert with_long or short == "NRDC", long   # (no project's text spells out NRDC's name)
        assert with_long <= set(api(reader, short)[0]), short
        assert with_short <= set(api(reader, f'"{long}"')[0]), long


def test_every_acronym_and_alias_in_the_database_finds_the_organisations_projects(reader, rdb):
    checked = 0
    for o in storage.list_organisations(rdb):
        projects = with_org(rdb, o["id"])
        for name in filter(None, [o["acronym"], *o["aliases"]]):
            if projects and list(search.ANALYZER(name)):   # (a name made only of stop words is unsearchable)
                assert projects <= set(api(reader, name)[0]), (o["id"], name)
                checked += 1
    assert checked


def test_organisations_search(reader, rdb):
    with_acronym = [o for o in storage.list_organisations(rdb) if o["acronym"]]
    assert len(with_acronym) > 10
    for o in with_acronym:
        body = reader.get("/api/organisations", query_string={"q": o["acronym"], "per_page": 100}).get_json()
        assert o["id"] in [r["id"] for r in body["results"]], o["acronym"]
    canadian = {o["id"] for o in storage.list_organisations(rdb, country=["CAN"])}
    body = reader.get("/api/organisations", query_string={"q": "Canada", "per_page": 100}).get_json()
    assert canadian and canadian <= {r["id"] for r in body["results"]}
    ngos = {o["id"] for o in storage.list_organisations(rdb, org_type=["ngo"])}
    body = reader.get("/api/organisations", query_string={"q": "Non-governmental", "per_page": 100}).get_json()
    assert ngos and ngos == {r["id"] for r in body["results"]}
    page = reader.get("/organisations", query_string={"q": "Zero Mercury Working Group"}).get_data(as_text=True)
    zmwg = [o for o in storage.list_organisations(rdb) if "ZMWG" in (o["acronym"] or "")]
    assert zmwg and f'/organisations/{zmwg[0]["id"]}"' in page


@pytest.mark.parametrize("iso3", ["KEN", "MNG", "IND", "PER"])
def test_a_country_finds_the_projects_located_there(reader, rdb, iso3):
    name, code = geo.get_country(iso3).name, iso3
    located = in_country(rdb, iso3)
    assert located, iso3
    assert located <= set(api(reader, name)[0])
    assert located <= set(api(reader, code)[0])


def test_a_country_or_alias_finds_a_project_whose_text_never_names_it(app, client, db):
    pid = sorted(in_country(db, "CIV"))[0] if in_country(db, "CIV") else None
    if pid is None:   # the seed has nothing in Côte d'Ivoire: put a project there
        pid = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
        with storage.transaction(db):
            db.execute("INSERT INTO project_countries (project_id, iso3) VALUES (?, 'CIV')", [pid])
    with storage.transaction(db):
        db.execute("DELETE FROM sources WHERE project_id = ?", [pid])
        db.execute("DELETE FROM locations WHERE project_id = ?", [pid])
    rewrite_project(db, pid, title="Quokka survey", summary="A survey.", description="A survey of quokkas.")
    search.update_projects(index_settings(app), [pid])
    for q in ("Ivory Coast", "Côte d'Ivoire", "Cote dIvoire quokka", "CIV"):
        assert pid in api(client, q)[0], q


def test_places_find_their_projects(reader, rdb):
    places = rdb.execute("SELECT name, project_id FROM locations WHERE precision IN ('site', 'subnational') "
                         "ORDER BY id LIMIT 25").fetchall()
    assert len(places) == 25
    for name, pid in places:
        assert pid in api(reader, f'"{name}"')[0], name


# --- filters, facets, paging, sorting ---------------------------------------------------------

def test_country_and_funder_filters_combine_with_the_search(reader, rdb):
    everything = set(api(reader, "mercury")[0])
    in_ghana = set(api(reader, "mercury", country="GHA")[0])
    assert in_ghana and in_ghana == everything & in_country(rdb, "GHA")
    funded = sql_ids(rdb, "SELECT project_id FROM roles WHERE role = 'funder' AND org_id = 'gef'")
    by_gef = set(api(reader, "mercury", funder="GEF")[0])
    assert by_gef and by_gef == everything & funded
    both = set(api(reader, "gold", country="Ghana", funder="gef")[0])
    assert both and both == set(api(reader, "gold")[0]) & in_country(rdb, "GHA") & funded


@pytest.mark.parametrize("params", [{}, {"area": "asgm"}, {"country": "PER"}])
def test_facet_counts_match_the_database(reader, rdb, params):
    ids, body = api(reader, "gold", facet_size="max", **params)   # every facet value, not the top 10
    assert ids, params   # no hits would give empty facets on both sides
    unfiltered, _ = api(reader, "gold")
    area = params.get("area")
    country = params.get("country")
    in_area = sql_ids(rdb, "SELECT project_id FROM project_areas WHERE area = ?", [area]) if area else None
    in_place = in_country(rdb, country) if country else None

    def restrict(skip):
        keep = set(unfiltered)
        if in_area is not None and skip != "area":
            keep &= in_area
        if in_place is not None and skip != "country":
            keep &= in_place
        return json.dumps(sorted(keep))

    expected = {
        "country": "SELECT iso3, count(*) FROM project_countries WHERE project_id IN "
                   "(SELECT value FROM json_each(?)) GROUP BY iso3",
        "area": "SELECT area, count(*) FROM project_areas WHERE project_id IN "
                "(SELECT value FROM json_each(?)) GROUP BY area",
        "status": "SELECT status, count(*) FROM projects WHERE id IN (SELECT value FROM json_each(?)) GROUP BY status",
        "funder": "SELECT org_id, count(DISTINCT project_id) FROM roles WHERE role = 'funder' AND project_id IN "
                  "(SELECT value FROM json_each(?)) GROUP BY org_id",
    }
    for facet, sql in expected.items():
        counts = dict(rdb.execute(sql, [restrict(facet)]).fetchall())
        assert {f["value"]: f["count"] for f in body["facets"][facet]["values"]} == counts, facet
    assert body["total"] == len(ids) == len(set(ids))


def test_paging_walks_the_ranked_list(reader):
    ids, body = api(reader, "mercury")
    assert body["total"] > 10
    pages = [reader.get("/api/projects", query_string={"q": "mercury", "per_page": 5, "page": n}).get_json()
             for n in (1, 2)]
    assert [r["id"] for p in pages for r in p["results"]] == ids[:10]
    assert all(p["total"] == body["total"] for p in pages)
    scores = [r["score"] for p in pages for r in p["results"]]
    assert scores == sorted(scores, reverse=True)


def test_sorting_a_search(reader, rdb):
    ids, _ = api(reader, "gold", sort="title")
    assert len(ids) > 1
    titles = dict(rdb.execute("SELECT id, title FROM projects").fetchall())
    assert [titles[i].casefold() for i in ids] == sorted(titles[i].casefold() for i in ids)
    newest, _ = api(reader, "gold", sort="-start_year")
    years = dict(rdb.execute("SELECT id, start_year FROM projects").fetchall())
    known = [years[i] for i in newest if years[i] is not None]
    assert len(known) > 1 and known == sorted(known, reverse=True)
    assert set(newest) == set(ids) == set(api(reader, "gold")[0])


# --- snippets -----------------------------------------------------------------------------------

def test_snippets_highlight_the_matched_words(reader, corpus):
    page = reader.get("/projects", query_string={"q": "borax"}).get_data(as_text=True)
    assert page.count("<mark>borax</mark>") + page.count("<mark>Borax</mark>") >= len(mentioning(corpus, "borax")) > 0
    _, body = api(reader, "mining")   # stemmed: "mining" also marks "mines" and "mined"
    assert any("<mark>" in (r["snippet"] or "") for r in body["results"])


def test_snippets_escape_the_text(app, client, db):
    pid = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
    rewrite_project(db, pid, description='<script>alert("x")</script> <b>zanzibarite</b> & "quotes"')
    search.update_projects(index_settings(app), [pid])
    _, body = api(client, "zanzibarite")
    snippet = body["results"][0]["snippet"]
    assert "<mark>zanzibarite</mark>" in snippet
    assert not set("<>") & set(snippet.replace("<mark>", "").replace("</mark>", ""))
    assert "&lt;/script&gt;" in snippet and "&lt;b&gt;" in snippet and "&amp;" in snippet
    page = client.get("/projects", query_string={"q": "zanzibarite"}).get_data(as_text=True)
    assert '<script>alert("x")' not in page and "<mark>zanzibarite</mark>" in page


# --- query safety -------------------------------------------------------------------------------

@pytest.mark.parametrize("q", ['"unbalanced', "(unbalanced", "unbalanced)", "((((gold))))", "nosuchfield:foo",
                               "when:[ to ]", "when:[abc to def]", "year:[abc TO def]", "AND", "OR OR OR", "NOT",
                               "~", "foo^abc", "foo~9", "<script>alert(1)</script>", "?", "mercury?", "gold AND",
                               "NOT gold", '""', "retort*"])
def test_odd_queries_are_words(reader, q):
    for url in ("/api/projects", "/projects", "/api/organisations", "/organisations"):
        r = reader.get(url, query_string={"q": q})
        assert r.status_code == 200, (url, q, r.get_data(as_text=True)[:300])
        assert "<script>alert(1)" not in r.get_data(as_text=True)


def test_a_search_over_its_time_budget_answers_503(instance):
    client = make_app(instance, SEARCH_TIME_LIMIT=1e-9).test_client()
    r = client.get("/api/projects", query_string={"q": "mercury"})
    assert r.status_code == 503
    assert r.get_json()["error"]["code"] == "search_timeout" and "more specific" in r.get_json()["error"]["message"]
    assert client.get("/api/projects", query_string={"q": "zzzzzz"}).status_code == 200   # nothing to collect


def test_field_syntax_is_plain_text(reader):
    assert api(reader, "nosuchfield:borax")[0] == api(reader, "nosuchfield borax")[0]
    plain = set(api(reader, "title borax")[0])
    assert plain and set(api(reader, "title:borax")[0]) == plain


@pytest.mark.parametrize("q", ["a*", "*", "*a*", "ab*", "a* b* c* d*", "*gold", "go*ld", "*:*"])
def test_costly_wildcards_are_refused(reader, q):
    r = reader.get("/api/projects", query_string={"q": q})
    assert r.status_code == 400
    assert "wildcards need at least 3 leading characters" in r.get_json()["error"]["message"]
    assert reader.get("/projects", query_string={"q": q}).status_code == 400


def test_prefix_wildcards_work(reader, corpus):
    for word, wildcard in (("retort", "retor*"), ("mining", "minin*")):
        expected = mentioning(corpus, word)
        assert expected and expected <= set(api(reader, wildcard)[0]), word
    assert api(reader, "Diálog*")[0] == api(reader, "dialog*")[0] != []


def test_and_by_default_with_an_or_fallback(reader, corpus):
    both = set(api(reader, "borax Uganda")[0])
    assert both and both <= set(api(reader, "borax")[0]) & set(api(reader, "Uganda")[0])
    fallback = set(api(reader, "borax zyxwvutsrq")[0])   # nothing has both: any of the words
    assert fallback == set(api(reader, "borax")[0])
    assert api(reader, "borax AND zyxwvutsrq")[0] == []   # explicit operators are kept


WORD = st.sampled_from(["gold", "mercury", "borax", "Kenya", "Diálogos", "a", "xq", "retort", "to", "AND", "OR",
                        "NOT", "TO", "<script>", "水銀", "ab", "planetGOLD", "-", "'", ":", "\\"])
MAYBE = st.one_of(st.just(""), WORD)
ATOM = st.one_of(
    WORD, WORD.map(lambda w: w + "*"), WORD.map(lambda w: "*" + w), st.sampled_from(["*", "?", "**", "*?*"]),
    st.builds(lambda f, w: f"{f}:{w}", st.sampled_from(["title", "year", "when", "nosuchfield", "", "id"]), WORD),
    st.builds(lambda f, a, b, k: f"{f}:[{a} {k} {b}]", st.sampled_from(["year", "when", "title", ""]), MAYBE, MAYBE,
              st.sampled_from(["TO", "to", ""])),
    st.builds(lambda f, a, b: f"{f}:{{{a} TO {b}]", st.sampled_from(["year", "when"]), MAYBE, MAYBE),
    WORD.map(lambda w: w + "~"), WORD.map(lambda w: w + "~2"), WORD.map(lambda w: w + "^abc"),
    WORD.map(lambda w: w + "^2"), WORD.map(lambda w: w + "^"), WORD.map(lambda w: f"'{w}'"),
)
QUERY = st.recursive(ATOM, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=4).map(" ".join),
    inner.map(lambda e: f"({e})"), inner.map(lambda e: f"({e}"), inner.map(lambda e: f"{e})"),
    inner.map(lambda e: f'"{e}"'), inner.map(lambda e: f'"{e}'),
    st.tuples(inner, st.sampled_from([" AND ", " OR ", " NOT ", " ANDNOT ", " ANDMAYBE ", " && ", " | "]),
              inner).map("".join),
    inner.map(lambda e: "NOT " + e), inner.map(lambda e: "+" + e), inner.map(lambda e: "-" + e),
), max_leaves=8)   # a small grammar of query syntax: random text never reaches the parser's corners


@pytest.mark.slow   # 200 Hypothesis examples
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(q=QUERY)
def test_query_shaped_strings_never_break_the_search(reader, q):
    r = reader.get("/api/projects", query_string={"q": q})
    assert r.status_code in (200, 400), (q, r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    if r.status_code == 400:
        assert body["error"]["code"] and body["error"]["message"]
    else:
        assert body["total"] == len(set(api(reader, q)[0]))


# --- building, updating, recovering -------------------------------------------------------------

def generations(app):
    return sorted(p.name for p in search._root(index_settings(app)).iterdir() if p.is_dir())


def test_rebuild_swaps_generations_and_keeps_one_previous(app, client, db):
    before = api(client, "gold")[0]
    first = (search._root(index_settings(app)) / "current").read_text()
    for _ in range(3):
        assert search.rebuild(index_settings(app)) == db.execute("SELECT count(*) FROM projects").fetchone()[0]
    current = (search._root(index_settings(app)) / "current").read_text()
    assert current != first and len(generations(app)) == 2 and current in generations(app)
    assert api(client, "gold")[0] == before
    assert search.verify(index_settings(app)) is None


def test_cli_reindex(app, db):
    with app.app_context():   # as `flask --app registry reindex` runs it
        result = app.test_cli_runner().invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert f"Indexed {db.execute('SELECT count(*) FROM projects').fetchone()[0]} projects." in result.output
    assert search.verify(index_settings(app)) is None


def test_updates_follow_edits_and_deletions(app, client, db):
    pid, other = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id LIMIT 2")]
    with app.app_context():   # one searcher per process, kept across searches
        search.search_projects(index_settings(app), "gold")
        engine = search._engines[search._root(index_settings(app))]
        searcher = engine.searchers["projects"]
        search.search_projects(index_settings(app), "mercury")
        assert engine.searchers["projects"] is searcher
    rewrite_project(db, pid, title="Wombat retorts for everyone")
    assert search.verify(index_settings(app)) == "stale"
    search.update_projects(index_settings(app), [pid])
    assert api(client, "wombat")[0] == [pid]
    rewrite_project(db, pid, title="Numbat study")
    search.update_projects(index_settings(app), [pid])
    assert api(client, "wombat")[0] == [] and pid in api(client, "numbat")[0]
    assert search._engines[search._root(index_settings(app))] is engine and engine.searchers["projects"] is not searcher
    with storage.transaction(db):
        db.execute("DELETE FROM projects WHERE id = ?", [other])
    search.update_projects(index_settings(app), [other])
    assert other not in api(client, "mercury")[0] + api(client, other.replace("-", " "))[0]
    assert search.verify(index_settings(app)) is None


def test_organisation_edits_reach_their_projects(app, client, db):
    org = db.execute("SELECT org_id FROM roles GROUP BY org_id ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    with storage.transaction(db):
        db.execute("UPDATE organisations SET aliases = ?, version = version + 1 WHERE id = ?",
                   [json.dumps(["Quokka Mercury Trust"]), org])
    search.update_organisations(index_settings(app), [org])
    found = set(api(client, "Quokka Mercury Trust")[0])
    assert with_org(db, org) < found      # and the projects whose text names it (its synonyms reach them)
    body = client.get("/api/organisations", query_string={"q": "quokka"}).get_json()
    assert [r["id"] for r in body["results"]] == [org]
    assert search.verify(index_settings(app)) is None
    search.rebuild(index_settings(app))
    assert set(api(client, "Quokka Mercury Trust")[0]) == found      # the update did what a rebuild does


def test_a_failed_update_leaves_the_edit_and_the_next_check_repairs(app, client, db, instance):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys, time; l = filelock.FileLock(sys.argv[1]); l.acquire(); "
                               "print('held', flush=True); time.sleep(60)", str(instance / "index" / "write.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        pid = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
        rewrite_project(db, pid, title="Platypus amalgam study")
        search.update_projects(index_settings(app), [pid], wait=0.2)   # cannot get the lock: logs, does not raise
        assert search.verify(index_settings(app)) == "stale"
        assert db.execute("SELECT title FROM projects WHERE id = ?", [pid]).fetchone()[0] == "Platypus amalgam study"
    finally:
        holder.kill()
        holder.wait()
    # The failed update started a repair in this process: it catches up once the lock is free.
    assert search.wait_for_repair(index_settings(app), 60)
    assert make_app(instance).test_client().get("/api/projects?q=platypus").get_json()["total"] == 1


def damage(index_dir, how):
    gen = index_dir / (index_dir / "current").read_text()
    if how == "deleted":
        shutil.rmtree(index_dir)
    elif how == "toc":
        for toc in gen.glob("*.toc"):
            toc.write_bytes(b"\x00garbage" * 50)
    elif how == "segment-truncated":
        for seg in gen.glob("*.seg"):
            seg.write_bytes(seg.read_bytes()[: seg.stat().st_size // 2])
    elif how == "segment-missing":
        for seg in gen.glob("projects_*.seg"):
            seg.unlink()
    elif how == "pointer":
        (index_dir / "current").write_text("gen-that-does-not-exist")


@pytest.mark.parametrize("how", ["deleted", "toc", "segment-truncated", "segment-missing", "pointer"])
def test_start_up_rebuilds_a_missing_or_damaged_index(instance, seeded_instance, how):
    reference = make_app(seeded_instance, CHECK_INDEX_ON_START=False).test_client()
    damage(instance / "index", how)
    app = make_app(instance)
    assert search.verify(index_settings(app)) is None
    client = app.test_client()
    for q in ("gold", "borax", "Mongolai"):
        assert api(client, q)[0] == api(reference, q)[0]


def test_start_up_catches_up_with_a_database_changed_behind_its_back(instance):
    db = storage.connect(str(instance / "registry.db"))
    pid = db.execute("SELECT id FROM projects ORDER BY id DESC LIMIT 1").fetchone()[0]
    rewrite_project(db, pid, title="Echidna mercury monitoring")
    db.conn.close()
    app = make_app(instance)
    assert search.verify(index_settings(app)) is None
    assert api(app.test_client(), "echidna")[0] == [pid]


def test_without_an_index_search_answers_503_and_browsing_works(instance):
    shutil.rmtree(instance / "index")
    client = make_app(instance, CHECK_INDEX_ON_START=False).test_client()
    r = client.get("/api/projects", query_string={"q": "gold"})
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "search_unavailable"
    assert "index" in r.get_json()["error"]["message"]
    page = client.get("/projects", query_string={"q": "gold"})
    assert page.status_code == 503 and "search" in page.get_data(as_text=True)
    assert client.get("/api/projects").status_code == 200
    assert client.get("/projects").status_code == 200


@pytest.mark.slow   # searches in threads during repeated full rebuilds
def test_searches_during_rebuilds_never_fail(app, client, db):
    expected = api(client, "borax")[0]
    errors = []

    def rebuild_twice():
        try:
            search.rebuild(index_settings(app))
            search.rebuild(index_settings(app))
        except Exception as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=rebuild_twice)
    worker.start()
    seen = 0
    while worker.is_alive() or not seen:
        assert api(client, "borax")[0] == expected
        seen += 1
    worker.join()
    assert not errors and seen > 1
    assert len(generations(app)) == 2


def test_first_import_into_an_empty_registry_updates_the_index_in_place(tmp_path):
    """The first import meets an index without documents (no id column to read): the update must apply
    there, not fail and leave a stale index for a full rebuild (which doubled the bench's import time)."""
    app = make_app(tmp_path, CHECK_INDEX_ON_START=False)
    db = storage.connect(app.config["DATABASE"])
    storage.migrate(db)
    db.conn.close()
    search.rebuild(index_settings(app))   # an empty index, as `flask import` makes it on an empty registry
    data = tmp_path / "projects.json"
    data.write_text(json.dumps({"organisations": [{"id": "wombat-trust", "name": "Wombat Trust", "type": "ngo"}],
                                "projects": [
        {"id": "first-one", "title": "Wombat retorts in Ghana", "area": "asgm", "countries": ["GHA"],
         "organisations": [{"org": "wombat-trust", "role": "funder"}],
         "locations": [{"name": "Ghana", "country": "GHA", "precision": "country"}]},
        {"id": "first-two", "title": "Numbat lamps", "area": "products",
         "locations": [{"name": "Worldwide", "precision": "global"}]}]}), "utf-8")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["import", str(data)])
    assert result.exit_code == 0, result.output
    assert "repair" not in result.output and search.verify(index_settings(app)) is None
    with app.app_context():
        assert [h for h in search.search_projects(index_settings(app), "wombat").ids] == ["first-one"]
