"""Faults: the registry survives kill -9, a full disk, concurrent writers, leftovers of a crash and a
broken search index, without a 500 and without half-written data (FT ids of docs/reliability-plan.md).

Every process here is real (the `flask` command in a subprocess, SIGKILL), every file is real (SQLite
in WAL mode, the Whoosh index); loops and waits are bounded.
"""
import csv
import errno
import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager

import pytest

from registry.store import db as storage
from registry.exchange import ingest
from registry.search import index as search
from registry.web.context import get_db, index_settings
from conftest import ROOT, assert_database_sound, count_like, csrf_token, logged_in, make_app, search_total, writer_active

pytestmark = pytest.mark.timeout(240)
slow = pytest.mark.slow   # processes killed or racing, index rebuilds: seconds each

HEADER = ["id", "title", "area", "status", "countries", "locations", "keywords"]


def bulk_csv(prefix, n):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([f"{prefix}-{i}", f"Bulk {prefix} project {i} on retorts", "asgm", "ongoing", "KEN",
                      "Migori|-1.06|34.47|site", f"{prefix}word"] for i in range(n))
    return out.getvalue().encode()


def env_for(instance):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "FLASK_"))}
    env.update(REGISTRY_DATABASE=str(instance / "registry.db"), REGISTRY_INDEX_DIR=str(instance / "index"),
               REGISTRY_CACHE_DIR=str(instance / "cache"), PYTHONPATH=str(ROOT))
    return env


def flask_cmd(*args):
    return [sys.executable, "-m", "flask", "--app", "registry", *args]


def data_version(db_path):
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


# --- FT1: kill -9 during an import -------------------------------------------------------------------

N_BULK = 2000


@slow
@pytest.mark.parametrize("moment", ["validating", "writing", "indexing"])
def test_FT1_kill_9_during_import_leaves_all_or_nothing(instance, tmp_path, moment):
    db_path = str(instance / "registry.db")
    path = tmp_path / "big.csv"
    # Validating a file this size takes seconds, so a kill at 0.8 s lands before the write starts
    # even on a quiet machine; the other moments are caught by watching the database.
    path.write_bytes(bulk_csv("killed", 10 * N_BULK if moment == "validating" else N_BULK))
    version = data_version(db_path)
    proc = subprocess.Popen(flask_cmd("import", str(path)), cwd=ROOT, env=env_for(instance),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started, killed_at = time.monotonic(), None
    try:
        while proc.poll() is None and time.monotonic() - started < 120:
            if (moment == "validating" and time.monotonic() - started > 0.8 and not writer_active(db_path)
                    and data_version(db_path) == version):
                killed_at = "validating"
            elif moment == "writing" and writer_active(db_path):
                killed_at = "writing"
            elif moment == "indexing" and data_version(db_path) != version:
                killed_at = "indexing"
            if killed_at:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and not killed_at:
            proc.kill()
        proc.wait(timeout=30)
    assert killed_at == moment, f"the import finished before the {moment} moment could be caught"
    assert proc.returncode == -signal.SIGKILL

    assert_database_sound(db_path)
    stored = count_like(db_path, "killed")
    assert stored == (N_BULK if moment == "indexing" else 0)      # never part of the file
    assert data_version(db_path) == version + (1 if moment == "indexing" else 0)

    # The next start recovers the WAL and the index; search agrees with the database.
    app = make_app(instance, CHECK_INDEX_ON_START=True)
    assert search.verify(index_settings(app)) is None
    client = app.test_client()
    assert search_total(client, "killedword") == stored
    assert client.get("/projects").status_code == 200


# --- FT4: disk full ------------------------------------------------------------------------------------

def fill_disk(conn):
    """SQLite's own limit on the database size, at its current size: the next new page fails as on a full disk."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def test_FT4_disk_full_stores_nothing_and_reads_go_on(app, instance):
    db_path = str(instance / "registry.db")
    conn = storage.connect(db_path)
    before = (storage.counts(conn), storage.data_version(conn))
    fill_disk(conn)
    with pytest.raises(storage.StorageError, match="full"):
        ingest.import_data(conn, bulk_csv("full", 500), "csv")
    assert not conn.conn.in_transaction
    assert (storage.counts(conn), storage.data_version(conn)) == before   # the same connection still works
    conn.conn.close()
    assert_database_sound(db_path)
    client = app.test_client()
    assert client.get("/projects").status_code == 200
    assert client.get("/api/projects").get_json()["total"] == before[0]["projects"]


# A web import no longer writes in the request: it runs as a job (registry/exchange/jobs.py), and a full
# disk during the job is tests/test_jobs.py::test_FT4_storage_full_during_an_import_job (the job fails
# saying so, nothing stored, reads go on).


def test_FT4_full_disk_in_the_api_error_shape(instance):
    app = make_app(instance)

    @app.get("/api/test-only-write")
    def write_on_a_full_disk():
        db = get_db()
        fill_disk(db.conn)
        ingest.import_data(db, bulk_csv("apifull", 300), "csv")

    r = app.test_client().get("/api/test-only-write")
    assert r.status_code == 507
    assert r.get_json()["error"]["code"] == "storage_full"


# --- FT9: two imports at once, from two processes ----------------------------------------------------

@slow
def test_FT9_two_imports_at_once(instance, tmp_path):
    db_path = str(instance / "registry.db")
    before = storage.counts(storage.connect(db_path))["projects"]
    files = []
    for prefix in ("first", "second"):
        files.append(tmp_path / f"{prefix}.csv")
        files[-1].write_bytes(bulk_csv(prefix, 800))
    procs = [subprocess.Popen(flask_cmd("import", str(f)), cwd=ROOT, env=env_for(instance),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    results = [p.communicate(timeout=180) for p in procs]
    stored = {prefix: count_like(db_path, prefix) for prefix in ("first", "second")}
    for proc, (out, err), prefix in zip(procs, results, ("first", "second")):
        assert "Traceback" not in err, err
        if proc.returncode == 0:
            assert "Added 800" in out and stored[prefix] == 800
        else:   # allowed: a clear refusal, and then nothing of that file
            assert "database busy" in err and "nothing was stored" in err and stored[prefix] == 0
    assert any(p.returncode == 0 for p in procs)
    assert storage.counts(storage.connect(db_path))["projects"] == before + sum(stored.values())
    assert_database_sound(db_path)
    app = make_app(instance, CHECK_INDEX_ON_START=True)
    client = app.test_client()
    assert search_total(client, "firstword") == stored["first"]
    assert search_total(client, "secondword") == stored["second"]


@slow
def test_FT9_import_while_the_database_is_locked_gets_a_clear_error(instance, tmp_path):
    """A writer that holds the lock longer than the busy timeout: the import says so, stores nothing."""
    path = tmp_path / "waiting.csv"
    path.write_bytes(bulk_csv("waiting", 20))
    db_path = str(instance / "registry.db")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        app = make_app(instance)
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["import", str(path)])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 1, result.output
    assert "nothing was stored" in result.output and "locked" in result.output
    assert count_like(db_path, "waiting") == 0


# --- FT10: concurrent read-then-write transactions -----------------------------------------------------

COUNTER_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[2])
from registry.store import db as storage
conn = storage.connect(sys.argv[1])
for _ in range(int(sys.argv[3])):
    with storage.transaction(conn):
        value = int(storage.get_meta(conn, "ft10_counter", "0"))
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('ft10_counter', ?)", [str(value + 1)])
"""


@slow
def test_FT10_concurrent_writers_lose_no_update(instance):
    db_path = str(instance / "registry.db")
    procs = [subprocess.Popen([sys.executable, "-c", COUNTER_SCRIPT, db_path, str(ROOT), "50"],
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    conn = storage.connect(db_path)
    assert storage.get_meta(conn, "ft10_counter") == "200"
    conn.conn.close()


# --- FT13: start-up with the leftovers of a crash -------------------------------------------------------

def test_FT13_start_up_with_stale_locks_and_half_built_generations(instance):
    index_dir = instance / "index"
    baseline = search_total(make_app(instance).test_client(), "mercury")
    current = (index_dir / "current").read_text().strip()
    (index_dir / "write.lock").write_text("")                        # filelock's file, no holder
    for name in ("MAIN_WRITELOCK", "projects_WRITELOCK", "organisations_WRITELOCK"):
        (index_dir / current / name).write_text("")                 # Whoosh's lock files, no holder
    half = index_dir / "gen-1.tmp"                                   # a rebuild killed half-way
    half.mkdir()
    (half / "_projects_1.toc").write_bytes(b"half")
    (index_dir / "current.tmp").write_text("gen-1.tmp")
    app = make_app(instance, CHECK_INDEX_ON_START=True)
    client = app.test_client()
    assert search_total(client, "mercury") == baseline
    # Writers are not blocked by the stale lock files: an update and a rebuild both go through.
    assert search.rebuild(index_settings(app), wait=5) > 0
    assert search.verify(index_settings(app)) is None
    assert not half.exists()                                         # the half-built generation is gone
    assert search_total(client, "mercury") == baseline


# --- FT6/FT7/FT8: the index deleted, corrupted or stale while serving -------------------------------------

QUERIES = ["mercury", "gold mining", "retort*", "Kenya", "chlor-alkali", "ZMWG"]


def results(client):
    out = {}
    for q in QUERIES:
        body = client.get("/api/projects", query_string={"q": q, "per_page": 100}).get_json()
        out[q] = (body["total"], [r["id"] for r in body["results"]])
    return out


def damage(index_dir, how):
    gen = index_dir / (index_dir / "current").read_text().strip()
    if how == "deleted":
        shutil.rmtree(index_dir)
    elif how == "toc-garbage":
        for toc in gen.glob("*.toc"):
            toc.write_bytes(b"\x00garbage" * 10)
    elif how == "seg-truncated":
        for seg in gen.glob("*.seg"):
            seg.write_bytes(seg.read_bytes()[:40])
    elif how == "seg-deleted":
        for seg in gen.glob("*.seg"):
            seg.unlink()


@slow
@pytest.mark.parametrize("how", ["deleted", "toc-garbage", "seg-truncated", "seg-deleted"])
def test_FT6_FT7_broken_index_never_gives_a_500_and_is_rebuilt(instance, tmp_path, how):
    reference = tmp_path / "reference"
    shutil.copytree(instance, reference)
    before = results(make_app(reference).test_client())
    assert all(total > 0 for total, _ in before.values())
    app = make_app(instance)
    client = app.test_client()
    assert results(client) == before      # the index is open in this process while it is damaged
    # (segments are read without memory maps: a truncated one raises, where it used to end the process)
    damage(instance / "index", how)
    for q in QUERIES:
        for url in ("/api/projects", "/projects", "/organisations"):
            r = client.get(url, query_string={"q": q})
            assert r.status_code in (200, 503), (how, url, q, r.status_code)
            if r.status_code == 503:
                assert "search" in r.get_data(as_text=True) and r.headers.get("Retry-After")
    assert client.get("/projects").status_code == 200            # browsing without search text goes on
    assert client.get("/api/projects").status_code == 200
    # The failing searches started a repair in the background (test_index_recovery.py); once it is done, a
    # worker (re)start checks the index too: the same answers as before.
    assert search.wait_for_repair(index_settings(app), 120)
    restarted = make_app(instance, CHECK_INDEX_ON_START=True)
    assert search.verify(index_settings(restarted)) is None
    assert results(restarted.test_client()) == before
    assert results(client) == before


def test_FT8_stale_index_is_detected_and_rebuilt(instance):
    db_path = str(instance / "registry.db")
    conn = storage.connect(db_path)
    ingest.import_data(conn, bulk_csv("stale", 3), "csv")       # written behind the index's back
    conn.conn.close()
    app = make_app(instance, CHECK_INDEX_ON_START=False)
    assert search.verify(index_settings(app)) == "stale"
    assert search.ensure_index(index_settings(app)) == "stale"
    assert search.verify(index_settings(app)) is None
    assert search_total(app.test_client(), "staleword") == 3


# --- FT11: searches during a full reindex -----------------------------------------------------------------

@slow
def test_FT11_fifty_searches_during_reindex(instance):
    app = make_app(instance)
    expected = {q: search_total(app.test_client(), q) for q in ("mercury", "gold", "Kenya", "waste")}
    assert all(expected.values())
    failures, done = [], threading.Event()

    def searcher(i):
        client = app.test_client()
        q = list(expected)[i % len(expected)]
        for _ in range(3):
            r = client.get("/api/projects", query_string={"q": q, "per_page": 5})
            if r.status_code != 200 or r.get_json()["total"] != expected[q]:
                failures.append((q, r.status_code, r.get_data(as_text=True)[:200]))

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    rebuilds = 0
    while any(t.is_alive() for t in threads) and rebuilds < 5:
        search.rebuild(index_settings(app))
        rebuilds += 1
    for t in threads:
        t.join(timeout=120)
    done.set()
    assert rebuilds >= 1 and not failures, failures[:5]
    generations = [p for p in (instance / "index").iterdir() if p.name.startswith("gen-")]
    assert len(generations) <= 2                                   # old generations are cleaned up
    assert search.verify(index_settings(app)) is None


# --- FT5: the index's disk is full; FT12: another process holds the index's write lock --------------------

def edit_title(client, pid, title):
    """Save a project's edit form with a new title, as a browser would."""
    from conftest import post_form, read_form, set_field
    fields = read_form(client.get(f"/editor/projects/{pid}/edit").get_data(as_text=True))
    set_field(fields, "title", title)
    return post_form(client, f"/editor/projects/{pid}/edit", fields)


def found_ids(client, q):
    body = client.get("/api/projects", query_string={"q": q, "per_page": 100}).get_json()
    return {r["id"] for r in body["results"]}


def stored_title(db_path, pid):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT title FROM projects WHERE id = ?", [pid]).fetchone()[0]
    finally:
        conn.close()


@contextmanager
def tmpfs_at(path, size_mb):
    """Mount a tmpfs of `size_mb` MB at `path` with what `path` held copied in (mounting needs root: CI and
    these machines run tests as root; elsewhere the test is skipped, saying why)."""
    saved = path.with_name(path.name + ".saved")
    path.rename(saved)
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        path.rmdir()
        saved.rename(path)
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        shutil.copytree(saved, path, dirs_exist_ok=True)
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)   # lazy: this process has index files open


def fill_up(folder):
    """Write a file until the file system holding `folder` has no byte left; returns the file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def current_generation(instance):
    return (instance / "index" / "current").read_text().strip()


@slow
def test_FT5_disk_full_on_the_index_keeps_the_edit_and_the_old_generation_then_catches_up(instance, caplog):
    db_path = str(instance / "registry.db")
    with tmpfs_at(instance / "index", size_mb=16) as index_dir:
        app = make_app(instance)
        settings, client = index_settings(app), app.test_client()
        editor = logged_in(app, "fiona", "editor")
        before = results(client)
        pid = before["mercury"][1][0]
        generation = current_generation(instance)
        filler = fill_up(index_dir)

        response = edit_title(editor, pid, "Quokka retort survey")
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/projects/{pid}")
        assert stored_title(db_path, pid) == "Quokka retort survey"        # the commit stands
        assert_database_sound(db_path)
        assert "No space left on device" in caplog.text                      # the update did fail
        # Searches go on with the generation in place: the old title still, nothing of the new one.
        assert found_ids(client, "Quokka") == set()
        assert results(client) == before
        assert search.verify(settings) == "stale"
        # A full rebuild fails too, and leaves the generation in use and no half-built one behind.
        with pytest.raises(OSError):
            search.rebuild(settings)
        assert current_generation(instance) == generation
        assert not list(index_dir.glob("gen-*.tmp")) and not (index_dir / f"{generation}.tmp").exists()
        assert results(client) == before
        assert not search.wait_for_repair(settings, 3)                       # still retrying
        assert "search index repair failed" in caplog.text

        filler.unlink()                                                      # space again: the retry succeeds
        assert search.wait_for_repair(settings, 90)
        assert found_ids(client, "Quokka") == {pid}
        assert search.verify(settings) is None and not search.is_marked_stale(settings)
        assert results(client)["gold mining"] == before["gold mining"]


@slow
@pytest.mark.parametrize("lock", ["write.lock", "whoosh"])
def test_FT12_a_save_while_another_process_holds_the_index_lock_is_queued_then_indexed(instance, lock):
    db_path = str(instance / "registry.db")
    app = make_app(instance)
    settings, client = index_settings(app), app.test_client()
    editor = logged_in(app, "ivy", "editor")
    pid = sorted(found_ids(client, "mercury"))[0]
    generation = current_generation(instance)
    if lock == "write.lock":   # the registry's own writer lock: a rebuild or an update in another process
        hold = ("import filelock, sys, time; l = filelock.FileLock(sys.argv[1]); l.acquire(); "
                "print('held', flush=True); time.sleep(10)")
        target = instance / "index" / "write.lock"
    else:                      # Whoosh's lock of the projects index, taken by a process outside the registry
        hold = ("import sys, time; from whoosh.filedb.filestore import FileStorage; "
                "l = FileStorage(sys.argv[1]).lock('projects_WRITELOCK'); assert l.acquire(); "
                "print('held', flush=True); time.sleep(10)")
        target = instance / "index" / generation
    holder = subprocess.Popen([sys.executable, "-c", hold, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        response = edit_title(editor, pid, "Numbat amalgam survey")
        saved_in = time.monotonic() - started
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/projects/{pid}")
        assert saved_in < 9, saved_in                        # the save did not wait for the lock to be freed
        assert holder.poll() is None                         # the lock is still held
        assert stored_title(db_path, pid) == "Numbat amalgam survey"
        assert pid not in found_ids(client, "Numbat")        # queued, not indexed yet (typos may match others)
        assert search.is_marked_stale(settings)
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
    assert search.wait_for_repair(settings, 60)              # drained once the lock was released
    assert pid in found_ids(client, "Numbat")
    assert search.verify(settings) is None and not search.is_marked_stale(settings)
    assert current_generation(instance) == generation        # caught up in place, not rebuilt
    assert_database_sound(db_path)


# --- FT16: the online tile server is unavailable -----------------------------------------------------------

TILE_HOST = "https://tile.openstreetmap.org/"
OSM_TILES = {"url": TILE_HOST + "{z}/{x}/{y}.png", "label": "OpenStreetMap (online)",
             "attribution": "&copy; OpenStreetMap contributors"}


@slow
@pytest.mark.parametrize("failure", ["refused", "silent"])
def test_FT16_a_dead_tile_server_leaves_the_map_and_the_image_working(instance, browser, failure):
    from conftest import serve
    server, base = serve(make_app(instance, MAP_TILES=OSM_TILES))   # online tiles configured (docs/maps.md)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tiles, errors = [], []

    def dead_tile_server(route):
        tiles.append(route.request.url)
        if failure == "refused":
            route.abort("connectionrefused")
        # "silent": never answered (a black-holed host); the map gives up after its own wait

    context.route(TILE_HOST + "**", dead_tile_server)
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/map")
        page.wait_for_selector(".folium-map[data-ready]", timeout=15000)
        assert tiles == []                                   # online tiles are optional: not asked for
        drawn = page.evaluate("() => registryMaps[0].markers.length")
        page.hover(".leaflet-control-layers")
        page.locator(".leaflet-control-layers label", has_text="OpenStreetMap (online)").locator("input").check()
        page.wait_for_selector(".folium-map[data-tiles=unavailable]", timeout=20000)
        assert tiles and all(u.startswith(TILE_HOST) for u in tiles)
        assert "Online map tiles are unavailable" in page.inner_text(".map-notice")
        # Back on the offline country layer, every point still drawn, nothing thrown.
        assert page.evaluate("() => { const c = registryMaps[0]; return c.map.hasLayer(c.shaded) && "
                             "!c.map.hasLayer(c.tiles); }")
        assert page.evaluate("() => registryMaps[0].markers.length") == drawn > 0
        assert page.locator(".leaflet-control-layers label", has_text="Countries shaded").locator("input").is_checked()
        assert errors == []
        # The pages and the static image never depend on the tile server.
        for path in ("/", "/projects?q=mercury", "/map.png?area=asgm"):
            with urllib.request.urlopen(base + path, timeout=60) as r:
                assert r.status == 200
                if path.startswith("/map.png"):
                    assert r.headers["Content-Type"] == "image/png" and r.read(8) == b"\x89PNG\r\n\x1a\n"
    finally:
        context.close()
        server.shutdown()
