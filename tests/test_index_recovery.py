"""A damaged or busy search index never kills a server and never loses an edit (issue 11 finding 7).

The index's segment files are read without memory maps, so a file truncated under a live searcher raises
an exception in the request that reads it (a 503 with Retry-After) instead of a SIGBUS that ends the whole
process; the serving process then rebuilds the index in the background, one repair at a time.
Every server here is a real process, every index a real Whoosh directory.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, make_app
from registry.exchange import ingest
from registry.search import index as search
from registry.store import db as storage
from registry.web.context import index_settings

pytestmark = pytest.mark.timeout(180)

QUERIES = ["mercury", "gold mining", "retort*", "Kenya", "chlor-alkali", "ZMWG"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base, path, timeout=30):
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def answers(base, queries=QUERIES):
    """{query: (total, ids of the first 100)} from the JSON API."""
    out = {}
    for q in queries:
        status, _, body = get(base, "/api/projects?" + urllib.parse.urlencode({"q": q, "per_page": 100}))
        assert status == 200, body[:300]
        data = json.loads(body)
        out[q] = (data["total"], [r["id"] for r in data["results"]])
    return out


class FlaskRun:
    """`flask run` (what `make run` serves with: the development server, one process) on a free port."""

    def __init__(self, instance):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "FLASK_"))}
        env.update(REGISTRY_DATABASE=str(instance / "registry.db"), REGISTRY_INDEX_DIR=str(instance / "index"),
                   REGISTRY_CACHE_DIR=str(instance / "cache"), REGISTRY_UPLOAD_DIR=str(instance / "uploads"),
                   REGISTRY_SECRET_KEY="index-recovery-test-" + "x" * 32, PYTHONPATH=str(ROOT))
        self.log = open(instance / "flask-run.log", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "registry", "run", "--host",
                                      "127.0.0.1", "--port", str(self.port)], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"flask run exited: {self.output()}"
            try:
                if get(self.base, "/api/countries", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"flask run did not come up: {self.output()}")

    def output(self, tail=4000):
        self.log.flush()
        self.log.seek(0)
        text = self.log.read()
        return text[-tail:] if tail else text

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def truncate_segments(index_dir):
    """Cut every segment file of the current generation to 40 bytes, in place (the same inode: what a
    failing disk or a careless `truncate` does under a server that has the files open)."""
    gen = index_dir / (index_dir / "current").read_text().strip()
    segments = list(gen.glob("*.seg"))
    assert segments
    for seg in segments:
        with open(seg, "r+b") as f:
            f.truncate(40)
    return gen


@pytest.mark.slow
def test_truncated_segment_under_flask_run_is_a_503_then_rebuilt_in_the_background(instance):
    server = FlaskRun(instance)
    try:
        before = answers(server.base)
        assert all(total > 0 for total, _ in before.values())
        damaged = truncate_segments(instance / "index")
        # A search the process has not cached yet reads the truncated segment.
        status, headers, body = get(server.base, "/api/projects?q=amalgam")
        assert status == 503, body[:300]
        assert headers.get("Retry-After") and json.loads(body)["error"]["code"].startswith("search")
        assert server.proc.poll() is None, f"the server died: {server.output()}"
        assert get(server.base, "/")[0] == 200
        assert get(server.base, "/projects")[0] == 200          # browsing without search text goes on
        assert get(server.base, "/projects/planetgold-kenya")[0] == 200
        deadline, now = time.monotonic() + 90, None
        while time.monotonic() < deadline:
            status, _, _ = get(server.base, "/api/projects?q=mercury&per_page=1")
            assert status in (200, 503)
            if status == 200 and (instance / "index" / "current").read_text().strip() != damaged.name:
                now = answers(server.base)
                break
            time.sleep(0.3)
        assert now == before, server.output()
        assert server.proc.poll() is None
        assert "rebuilding it from the database" in server.output(tail=None)   # the log says why
    finally:
        server.stop()


def repairs_started(caplog):
    return [r for r in caplog.records if "repair started" in r.getMessage()]


def test_searches_on_a_truncated_open_index_get_503_and_start_one_repair(instance, caplog):
    app = make_app(instance, CHECK_INDEX_ON_START=False)
    settings, client = index_settings(app), app.test_client()
    before = {q: client.get("/api/projects", query_string={"q": q, "per_page": 100}).get_json() for q in QUERIES}
    damaged = truncate_segments(instance / "index")          # under the searcher this process has open
    statuses, errors = [], []

    def searcher(i):
        c = app.test_client()
        for word in ("amalgam", "cement", "lamps", "coal", "waste", "dental"):
            r = c.get("/api/projects", query_string={"q": f"{word} {i}"})
            statuses.append(r.status_code)
            if r.status_code == 503 and not r.headers.get("Retry-After"):
                errors.append(r.get_json())

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(statuses) <= {200, 503} and 503 in statuses and not errors, (set(statuses), errors[:2])
    assert len(repairs_started(caplog)) == 1                 # one repair, however many searches failed
    assert search.wait_for_repair(settings, 60)
    assert (instance / "index" / "current").read_text().strip() != damaged.name   # rebuilt
    after = {q: client.get("/api/projects", query_string={"q": q, "per_page": 100}).get_json() for q in QUERIES}
    assert after == before
    # Damaged again at once: searches fail, but no second repair starts within REPAIR_INTERVAL (a search
    # that keeps failing for another reason cannot make every request verify or rebuild the index).
    truncate_segments(instance / "index")
    assert client.get("/api/projects", query_string={"q": "cyanide"}).status_code == 503
    assert len(repairs_started(caplog)) == 1
    assert client.get("/projects").status_code == 200


def test_a_stale_mark_left_by_another_process_is_caught_up_by_the_next_search(instance):
    conn = storage.connect(str(instance / "registry.db"))
    rows = "\n".join(f"wombat-{i},Wombat survey {i},asgm,ongoing,KEN,Migori|-1.06|34.47|site,wombatword"
                     for i in range(3))
    ingest.import_data(conn, f"id,title,area,status,countries,locations,keywords\n{rows}\n".encode(), "csv")
    conn.conn.close()                  # written by a process whose index update failed, and which then died
    (instance / "index" / search.STALE_FILE).write_text("2026-12-06T10:00:00Z a test left it\n")
    app = make_app(instance, CHECK_INDEX_ON_START=False)
    settings, client = index_settings(app), app.test_client()
    generation = (instance / "index" / "current").read_text().strip()
    assert search.verify(settings) == "stale" and search.is_marked_stale(settings)
    client.get("/api/projects", query_string={"q": "wombatword"})     # sees the mark: starts the repair
    assert search.wait_for_repair(settings, 60)
    assert client.get("/api/projects", query_string={"q": "wombatword"}).get_json()["total"] == 3
    assert search.verify(settings) is None and not search.is_marked_stale(settings)
    assert (instance / "index" / "current").read_text().strip() == generation   # caught up in place
