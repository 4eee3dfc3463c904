"""Bounded memory and CPU (issue 11, findings 5 and 6), through the real app on a copy of the seeded
registry: the map-data cache is bounded by bytes, the PNG cache keeps what is used (the newsletter's
image) within a number of bytes, one search has a bounded cost, each client has a budget for searches,
exports and new map images (429 with Retry-After beyond it; plain pages and cached images never count),
and exports stream in constant memory. Timings are measured in bench/ (bench/load_test.py), never here."""
import csv
import io
import json
import random
import string
import tracemalloc

import pytest
from conftest import make_app
from whoosh.codec import base as whoosh_codec

from registry.core.validate import AREAS, STATUSES
from registry.exchange import exports, ingest
from registry.maps import png as staticmap
from registry.search import index as search
from registry.store import db as storage
from registry.store import sources as source_store
from registry.web import maps as map_routes

ELSEWHERE = {"REMOTE_ADDR": "192.0.2.7"}   # another client


def folder_bytes(folder):
    return sum(f.stat().st_size for f in folder.glob("*.png"))


# --- finding 5: caches bounded by bytes ------------------------------------------------------------

def test_map_data_cache_stays_within_its_byte_bound(instance):
    bound = 40_000
    app = make_app(instance, MAP_DATA_CACHE_BYTES=bound)
    client = app.test_client()
    cache = map_routes.data_cache(app)
    selections = ([""] + [f"area={a}" for a in AREAS] + [f"status={s}" for s in STATUSES]
                  + [f"country={c}" for c in ("KEN", "GHA", "PER", "IDN", "COL", "BRA", "PHL", "MNG")])
    served = 0
    for selection in selections:
        for encoding in ("gzip", "identity"):
            response = client.get(f"/map/data.json?{selection}", headers={"Accept-Encoding": encoding})
            assert response.status_code == 200
            served += len(response.data)
            assert cache.bytes <= bound
    assert served > 3 * bound                                     # they could not all be kept
    assert 0 < len(cache.items) < 2 * len(selections)             # some were kept, the oldest dropped
    recent = client.get("/map/data.json?country=MNG", headers={"Accept-Encoding": "identity"})
    assert recent.status_code == 200 and "points" in recent.get_json()


def test_map_data_larger_than_the_whole_cache_is_served_not_kept(instance):
    app = make_app(instance, MAP_DATA_CACHE_BYTES=1000)
    response = app.test_client().get("/map/data.json", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200 and len(response.data) > 1000
    assert map_routes.data_cache(app).bytes == 0


def test_newsletter_image_survives_a_cycle_of_other_sizes(tmp_path):
    """The issue's case: the PNG cache evicted the oldest image first, so cycling through image sizes
    pushed out the newsletter's image while its readers were still loading it. Now the least recently
    used go first, within a number of bytes."""
    image_bytes, bound = 5000, 10 * 5000
    renders = []

    def render_of(key):
        def render():
            renders.append(key)
            return key.encode().ljust(image_bytes, b".")
        return render

    newsletter = "area=asgm|600x360|v1"
    body, _ = staticmap.cached_png(tmp_path, newsletter, render_of(newsletter), max_bytes=bound)
    for cycle in range(3):
        for n, width in enumerate(range(200, 1201, 50)):
            other = f"area=asgm|{width}x{width // 2}|v1"
            staticmap.cached_png(tmp_path, other, render_of(other), max_bytes=bound)
            assert folder_bytes(tmp_path / "maps") <= bound
            if n % 4 == 0:   # the newsletter's readers keep loading its image
                again, _ = staticmap.cached_png(tmp_path, newsletter, render_of(newsletter), max_bytes=bound)
                assert again == body
    assert renders.count(newsletter) == 1
    assert len(renders) == 1 + 3 * 21   # every other image was evicted before its size came round again


def test_png_cache_bound_comes_from_the_config(instance):
    app = make_app(instance, PNG_CACHE_BYTES=1)   # room for none: only the image just rendered stays
    client = app.test_client()
    for width in (200, 210):
        assert client.get(f"/map.png?width={width}").status_code == 200
    assert len(list((instance / "cache" / "maps").glob("*.png"))) == 1


# --- finding 6: the cost of one search -----------------------------------------------------------

def random_words(n, seed=0):
    rng = random.Random(seed)
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(9)) for _ in range(n))


def test_random_long_words_build_few_levenshtein_automata(client, monkeypatch):
    """Each unknown word was widened in 3 fields, for the size estimate, the AND pass and the OR fallback,
    and corrected at 2 distances: about 300 automata (0.5-1 s of CPU) for 20 random words. Now at most
    MAX_FUZZY_WORDS words are widened, once per search."""
    built = []
    real = whoosh_codec.Automata.levenshtein_dfa

    def counted(*args, **kwargs):
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(whoosh_codec.Automata, "levenshtein_dfa", staticmethod(counted))
    response = client.get("/api/projects", query_string={"q": random_words(20)})
    assert response.status_code == 200 and response.get_json()["total"] == 0
    assert 0 < len(built) <= search.MAX_FUZZY_WORDS * (len(search.PROJECT_FIELDS) + 2)
    typo = client.get("/api/projects?q=mercuy").get_json()   # a typo is still widened and corrected
    assert typo["total"] > 0 and typo["suggestion"] == "mercury"


def test_a_search_too_broad_to_answer_quickly_is_refused_with_a_message(client, monkeypatch):
    monkeypatch.setattr(search, "MIN_POSTINGS_CHECKED", 0)   # the seed is small: check every search
    broad = " ".join(w[:3] + "*" for w in ("mercury", "gold", "mining", "artisanal", "small", "scale", "national",
                                           "action", "plan", "waste", "management", "health", "emissions", "coal",
                                           "cement", "products", "training", "awareness", "monitoring", "government"))
    response = client.get("/api/projects", query_string={"q": broad})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "search_too_broad" and "fewer" in error["message"]
    page = client.get("/projects", query_string={"q": broad})
    assert page.status_code == 400 and "too broad" in page.get_data(as_text=True)
    for normal in ("gold mining", "mercury", "retort*", '"Minamata Convention"', "artisnal gold"):
        assert client.get("/api/projects", query_string={"q": normal}).status_code == 200, normal


def test_engine_result_cache_counts_entries_that_match_nothing(instance, monkeypatch):
    app = make_app(instance)
    monkeypatch.setattr(search, "CACHE_HITS", 50 * search.ENTRY_IDS)
    client = app.test_client()
    for n in range(120):
        response = client.get("/api/projects", query_string={"q": f"zzqx{n}"}, environ_base=ELSEWHERE)
        assert response.status_code == 200
    engine = search._engine(search.Settings(index_dir=app.config["INDEX_DIR"], database=app.config["DATABASE"]))
    assert 0 < len(engine.cache) <= 50


# --- finding 6: budgets per client -----------------------------------------------------------------

def tight(instance, **budgets):
    """An app whose budgets are nearly nothing: the first request of a kind passes, the next is refused."""
    return make_app(instance, RATE_LIMITS_ENABLED=True,
                    RATE_LIMITS={kind: [1e-6, 1e-4] for kind in budgets or ("search",)})


def test_a_client_over_its_search_budget_gets_429_with_retry_after(instance):
    client = tight(instance).test_client()
    assert client.get("/api/projects?q=mercury").status_code == 200
    refused = client.get("/api/projects?q=gold")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    error = refused.get_json()["error"]
    assert error["code"] == "too_many_requests"
    assert "searches" in error["message"] and f"wait {refused.headers['Retry-After']} second" in error["message"]
    page = client.get("/projects?q=gold")   # a page elsewhere, with the same message
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert "too many searches" in page.get_data(as_text=True)


def test_plain_pages_never_count_and_other_clients_keep_their_budget(instance):
    app = tight(instance)
    client = app.test_client()
    assert client.get("/api/projects?q=mercury").status_code == 200
    assert client.get("/api/projects?q=gold").status_code == 429
    for path in ("/", "/projects", "/projects?country=KEN&page=2", "/api/projects?area=asgm",
                 "/projects/planetgold-peru", "/organisations", "/map", "/map/data.json?area=asgm"):
        assert client.get(path).status_code == 200, path
    assert client.get("/api/projects?q=gold", environ_base=ELSEWHERE).status_code == 200


def test_budgets_are_shared_by_every_worker(instance):
    """Two apps on one instance stand for two gunicorn workers: the budget is in SQLite, not in a process."""
    first, second = tight(instance), tight(instance)
    assert first.test_client().get("/api/projects?q=mercury").status_code == 200
    assert second.test_client().get("/api/projects?q=gold").status_code == 429


def test_exports_count_against_their_own_budget(instance):
    client = tight(instance, export=True).test_client()
    assert client.get("/projects.csv?area=asgm", buffered=True).status_code == 200   # sent whole, then closed
    refused = client.get("/projects.geojson")
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "too_many_requests"
    assert "exports" in refused.get_json()["error"]["message"]
    csv_page = client.get("/projects.csv")
    assert csv_page.status_code == 429 and "too many exports" in csv_page.get_data(as_text=True)
    assert client.get("/api/projects?q=mercury").status_code == 200   # searches have a budget of their own


def test_uncached_png_renders_count_and_cached_images_never_do(instance):
    app = tight(instance, render=True)
    client = app.test_client()
    assert client.get("/map.png?width=200").status_code == 200          # rendered: the budget is spent
    refused = client.get("/map.png?width=210")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "new map images" in refused.get_data(as_text=True)
    for _ in range(10):   # the newsletter's readers: the cached image, however often
        assert client.get("/map.png?width=200").status_code == 200
    assert client.get("/map.png?width=210", environ_base=ELSEWHERE).status_code == 200


def test_a_person_searching_paging_and_exporting_never_hits_the_default_budgets(instance):
    from bench.queries import QUERIES, ours_path
    client = make_app(instance, RATE_LIMITS_ENABLED=True).test_client()
    for page in range(1, 6):
        assert client.get(f"/projects?q=mercury&page={page}").status_code == 200
    for query in QUERIES:
        assert client.get(ours_path(query)).status_code == 200, query
    for fmt in ("csv", "json", "geojson", "csv"):
        assert client.get(f"/projects.{fmt}").status_code == 200


def test_ipv6_clients_are_counted_by_their_64_network(instance):
    app = tight(instance)
    client = app.test_client()

    def search_from(address, q):
        return client.get(f"/api/projects?q={q}", environ_base={"REMOTE_ADDR": address}).status_code

    assert search_from("2001:db8:1:2::10", "mercury") == 200
    assert search_from("2001:db8:1:2:ffff::1", "gold") == 429     # the same /64
    assert search_from("2001:db8:1:3::10", "gold") == 200         # another /64


# --- finding 6: streamed exports -------------------------------------------------------------------

def exported_ids(fmt, body):
    if fmt == "csv":
        return [row[0] for row in list(csv.reader(io.StringIO(body)))[1:]]
    doc = json.loads(body)
    return [p["id"] for p in doc["projects"]] if fmt == "json" else [f["properties"]["id"] for f in doc["features"]]


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_streamed_exports_equal_the_whole_export(client, db, fmt):
    response = client.get(f"/projects.{fmt}?area=asgm")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    ids = exported_ids(fmt, body)
    assert len(ids) > 20
    sources = source_store.export_sources(db, ids) if fmt != "csv" else ()   # the source records they cite
    assert body == exports.export_text(fmt, *storage.export_records(db, ids), sources=sources)


def test_csv_export_content_type_names_its_charset_once(client):
    response = client.get("/projects.csv?country=KEN")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert client.get("/projects.json?country=KEN").headers["Content-Type"] == "application/json"


def test_export_stream_reads_in_batches_the_same_records(db):
    ids = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY title")][:40]
    organisations, projects = storage.export_stream(db, ids, batch=7)
    assert (organisations, list(projects)) == storage.export_records(db, ids)
    assert not db.conn.in_transaction   # the snapshot ended with the last batch
    everything, all_projects = storage.export_stream(db, all_organisations=True)
    assert (everything, list(all_projects)) == storage.export_records(db, all_organisations=True)


@pytest.mark.parametrize("indent", [None, 1])
def test_streamed_json_and_csv_are_exactly_what_the_whole_document_gives(db, indent):
    organisations, projects = storage.export_records(db, all_organisations=True)
    for fmt, orgs, records, doc in (
            ("json", organisations, projects, exports.export_json(organisations, projects)),
            ("geojson", organisations, projects, exports.export_geojson(organisations, projects)),
            ("json", [], [], exports.export_json([], [])),
            ("geojson", [], [], exports.export_geojson([], []))):
        chunks = list(exports.export_chunks(fmt, orgs, iter(records), indent=indent))
        assert "".join(chunks) == json.dumps(doc, ensure_ascii=False, indent=indent)
    assert "".join(exports.export_chunks("csv", [], iter(projects))) == exports.export_csv(projects)


@pytest.mark.slow
def test_export_memory_does_not_grow_with_the_selection(tmp_path):
    """3,000 synthetic projects (bench/generate.py): the whole registry's export takes no more memory at
    its peak than the export of a part of it (a whole export held every record and the whole text)."""
    from bench.generate import generate
    folder = tmp_path / "big"
    folder.mkdir()
    app = make_app(folder, CHECK_INDEX_ON_START=False)
    db = storage.connect(app.config["DATABASE"])
    storage.migrate(db)
    ingest.import_data(db, json.dumps(generate(3000, seed=1)).encode(), "json")
    db.conn.close()
    client = app.test_client()

    def export(selection):
        """(bytes sent, peak bytes allocated while answering)"""
        tracemalloc.start()
        try:
            response = client.get(f"/projects.json?{selection}", buffered=False)
            size = sum(len(chunk) for chunk in response.response)
            response.close()
            return size, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    part_size, part_peak = export("status=completed")   # 880 of the 3,000
    whole_size, whole_peak = export("")
    assert whole_size > 2.5 * part_size and part_size > 1_000_000
    assert whole_peak < 1.3 * part_peak, (f"{whole_peak / 1e6:.1f} MB at the peak for {whole_size / 1e6:.1f} MB, "
                                          f"{part_peak / 1e6:.1f} MB for {part_size / 1e6:.1f} MB")


def test_heavy_work_waits_for_a_free_slot_with_503_and_retry_after(instance):
    """Every slot for exports and renders taken (here by a lock held as another worker would hold it):
    a 503 with Retry-After at once; searches and pages go on; the slot freed, the export is served."""
    import fcntl
    app = make_app(instance, HEAVY_SLOTS=1, RATE_LIMITS_ENABLED=True)
    client = app.test_client()
    slot = instance / "cache" / "slots" / "heavy-0.lock"
    slot.parent.mkdir(parents=True, exist_ok=True)
    with open(slot, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = client.get("/projects.json?country=KEN")
        assert busy.status_code == 503 and int(busy.headers["Retry-After"]) >= 1
        assert busy.get_json()["error"]["code"] == "busy" and "try again" in busy.get_json()["error"]["message"]
        assert client.get("/map.png?width=220").status_code == 503
        assert client.get("/api/projects?q=mercury").status_code == 200
        assert client.get("/projects").status_code == 200
    assert client.get("/projects.json?country=KEN").status_code == 200
    assert client.get("/projects.json?country=KEN").status_code == 200   # the first one gave its slot back


@pytest.mark.slow
def test_the_abuse_load_test_runs(seeded_instance, tmp_path):
    """bench/load_test.py --abuse for a few seconds on the seed: it runs both phases and reports them (no
    timing is asserted: speed is measured in bench/)."""
    import shutil
    from bench import load_test
    folder = tmp_path / "load"
    shutil.copytree(seeded_instance, folder)
    ok, summary = load_test.abuse_run(folder, seconds=3, normal=2, abusive=2, workers=2)
    for label in ("normal, alone: all", "normal, with abuse: all", "abusive: search"):
        assert summary[label]["count"] > 0, label
    assert summary["projects"] > 200 and summary["worker_peak_mb"] > 0
    statuses = {s for kind in ("search", "export", "png") for s in summary[f"abusive: {kind}"]["statuses"]}
    assert statuses <= {200, 429, 503}
