"""Web imports run as jobs outside the request (issue 11 finding 4; FT3 of docs/reliability-plan.md).

The confirm step answers at once (a 303 to the job's page, a 202 with its URL for API-style clients);
the job runs in a process of its own (registry/exchange/jobs.py) with its state in the `jobs` table; its
page shows the progress and then the report or the errors; a job killed with SIGKILL leaves all or
nothing and is shown as failed; the search index holds the import before the job says it succeeded.
Everything is real: the app, SQLite, the Whoosh index, the job's process, gunicorn, the signals.
"""
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar

import pytest

from conftest import (PASSWORD, add_user, assert_database_sound, count_like, csrf_token, logged_in, make_app,
                      search_total, wait_for_job, writer_active)
from registry.exchange import ingest
from registry.exchange import jobs as runner
from registry.search import index as search
from registry.store import db as storage
from registry.store import jobs as jobs_db
from registry.web.context import index_settings

pytestmark = pytest.mark.timeout(300)
HEADER = ["id", "title", "area", "status", "countries", "locations", "keywords", "leads"]
JOB_URL = re.compile(r"^/editor/jobs/([0-9a-f]{32})$")


def bulk_csv(prefix, n, lead="", words=0):
    """n projects; `words`: a description of that many distinct-ish words each (indexing them is the slow
    part of an import, while checking them is quick)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER + ["description"])
    writer.writerows([f"{prefix}-{i}", f"Bulk {prefix} project {i} on retorts", "asgm", "ongoing", "KEN",
                      "Migori|-1.06|34.47|site", f"{prefix}word", lead,
                      " ".join(f"w{(i * 7919 + j * 104729) % 5000}x" for j in range(words))] for i in range(n))
    return out.getvalue().encode()


def preview(client, data, name="bulk.csv"):
    """Upload a file; returns the preview page and the URL its "Import now" button posts to."""
    page = client.post("/editor/import", data={"csrf_token": csrf_token(client, "/editor/import"),
                                               "file": (io.BytesIO(data), name)})
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text[:1000]
    return text, re.search(r'action="(/editor/import/[0-9a-f]{32})"', text).group(1)


def confirm(client, action, **headers):
    return client.post(action, data={"csrf_token": csrf_token(client, "/editor")}, headers=headers)


@pytest.fixture
def editor(app):
    return logged_in(app, "ida", "editor")


# --- the confirm step answers at once; the job's page shows the progress, then the report ----------------

def test_confirm_starts_a_job_and_its_page_shows_the_report(app, editor, instance):
    db_path = str(instance / "registry.db")
    _, action = preview(editor, bulk_csv("webjob", 300))
    started = time.monotonic()
    response = confirm(editor, action)
    answered = time.monotonic() - started
    token = action.rsplit("/", 1)[1]
    assert response.status_code == 303 and response.headers["Location"] == f"/editor/jobs/{token}"
    assert answered < 2, f"the confirmation took {answered:.1f} s: it should only start the job"

    first = editor.get(response.headers["Location"])
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and 'role="status"' in page
    if "Done" not in page:   # still running: it reloads itself and says how far it got
        assert '<meta http-equiv="refresh" content="3">' in page and "Stop reloading" in page

    job = wait_for_job(editor, response)
    assert job["status"] == "succeeded", job
    # The index holds the records the moment the job says it succeeded.
    assert search_total(editor, "webjobword") == 300 == count_like(db_path, "webjob")
    done = editor.get(response.headers["Location"]).get_data(as_text=True)
    assert "http-equiv=\"refresh\"" not in done and "<strong>Done</strong>" in done
    assert "added <strong>300</strong> projects" in done and "webjob-0: new project" in done
    assert job["report"]["projects"]["added"][:2] == ["webjob-0", "webjob-1"]
    conn = storage.connect(db_path)
    batches = {r[0] for r in conn.execute("SELECT batch FROM history WHERE entity_id LIKE 'webjob-%'")}
    conn.conn.close()
    assert batches == {token}                       # the history names the job as the batch
    assert list((instance / "uploads").iterdir()) == []
    listed = editor.get("/editor/import").get_data(as_text=True)     # the user's recent imports link to it
    assert re.search(rf'href="/editor/jobs/{token}">bulk.csv</a> \([^)]*\):\s*done', listed)


def test_FT3_an_api_client_gets_202_with_the_job_url(app, editor):
    _, action = preview(editor, bulk_csv("apijob", 50))
    response = confirm(editor, action, Accept="application/json")
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()["job"]
    assert JOB_URL.match(response.headers["Location"]) and body["url"].endswith(response.headers["Location"])
    assert body["status"] in ("queued", "running") and body["id"] == action.rsplit("/", 1)[1]
    assert "file" not in body and "pid" not in body      # the server's paths and processes stay inside
    job = wait_for_job(editor, response)
    assert job["status"] == "succeeded" and job["errors"] is None
    assert job["report"]["summary"].startswith("Added 50, changed 0")
    assert search_total(editor, "apijobword") == 50
    again = confirm(editor, action, Accept="application/json")   # a second click: the same job, no second import
    assert again.status_code == 202 and again.get_json()["job"]["status"] == "succeeded"


def test_only_the_uploader_starts_the_job_and_anyone_unknown_gets_404(app, editor):
    _, action = preview(editor, bulk_csv("mine", 3))
    other = logged_in(app, "olga", "editor")
    assert confirm(other, action).status_code == 404
    assert confirm(other, "/editor/import/" + "f" * 32).status_code == 404
    assert other.get("/editor/jobs/" + "f" * 32).status_code == 404
    assert other.get("/editor/jobs/not-a-token").status_code == 404
    response = confirm(editor, action)
    assert wait_for_job(editor, response)["status"] == "succeeded"
    assert confirm(other, action).status_code == 404          # nor can another editor start it again


# --- the job page while a job runs ------------------------------------------------------------------------

def new_job(app, db, token, who="ida"):
    """A queued job of a small upload, as the confirmation creates it (without starting its process)."""
    upload = app.config["UPLOAD_DIR"]
    os.makedirs(upload, exist_ok=True)
    path = os.path.join(upload, f"{token}.data")
    with open(path, "wb") as f:
        f.write(bulk_csv("pagejob", 5))
    assert jobs_db.create(db, token, "import", path, who, filename="big <file>.csv", fmt="csv")
    return path


def test_the_page_of_a_running_job_reloads_and_reads_as_plain_text(app, editor, db):
    token = "a" * 32
    new_job(app, db, token)
    jobs_db.claim(db, token, socket.gethostname(), os.getpid(), runner.process_start(os.getpid()))
    waiting = editor.get(f"/editor/jobs/{token}").get_data(as_text=True)
    assert "Waiting to start</strong>: starting (or waiting for another import to finish)" in waiting
    jobs_db.start(db, token)
    jobs_db.progress(db, token, "validating", 1200, 5000)
    page = editor.get(f"/editor/jobs/{token}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in page
    assert "<title>Import running (24%): big &lt;file&gt;.csv" in page           # announced on each reload
    status = re.search(r'<div role="status"[^>]*>(.*?)</div>', page, re.S).group(1)
    assert "checking the records: 1,200 of 5,000 records (24%)" in status
    assert '<progress max="5000" value="1200"' in status
    paused = editor.get(f"/editor/jobs/{token}?refresh=off").get_data(as_text=True)
    assert "http-equiv" not in paused and "Reload</a>" in paused
    body = editor.get(f"/editor/jobs/{token}", headers={"Accept": "application/json"}).get_json()["job"]
    assert (body["status"], body["stage"], body["done"], body["total"]) == ("running", "validating", 1200, 5000)
    jobs_db.progress(db, token, "writing")
    assert "writing to the database" in editor.get(f"/editor/jobs/{token}").get_data(as_text=True)
    jobs_db.finish(db, token, "failed", errors=["row 3, column title: is required"])
    failed = editor.get(f"/editor/jobs/{token}").get_data(as_text=True)
    assert "http-equiv" not in failed and "The import failed" in failed
    assert "Nothing was stored" in failed and "row 3, column title: is required" in failed


def test_a_job_whose_process_is_gone_is_shown_failed(app, editor, db):
    token = "b" * 32
    new_job(app, db, token)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    jobs_db.claim(db, token, socket.gethostname(), gone.pid, None)
    jobs_db.start(db, token)
    page = editor.get(f"/editor/jobs/{token}").get_data(as_text=True)
    assert "The import failed" in page and "its process ended before the job did" in page
    assert jobs_db.get(db, token)["status"] == "failed"
    assert "failed" in editor.get("/editor/import").get_data(as_text=True)   # so says the list of imports


# --- failures: the registry changed since the preview, a full disk ---------------------------------------

def test_a_job_lists_every_problem_when_the_registry_changed_since_the_preview(app, editor, db, instance):
    orgs = {"organisations": [{"id": "job-org", "name": "Job Org", "type": "ngo"}]}
    ingest.import_data(db, json.dumps(orgs).encode(), "json")
    _, action = preview(editor, bulk_csv("orphan", 3, lead="job-org"))
    with storage.transaction(db):     # the organisation goes behind the preview's back
        db.execute("DELETE FROM organisations WHERE id = 'job-org'")
    job = wait_for_job(editor, confirm(editor, action))
    assert job["status"] == "failed" and job["report"] is None
    assert len(job["errors"]) == 3 and all("job-org" in e for e in job["errors"]), job["errors"]
    assert job["errors"][0].startswith("row 2, column funders/leads/implementers/partners: organisation 'job-org'")
    page = editor.get(f"/editor/jobs/{job['id']}").get_data(as_text=True)
    assert "Nothing was stored. Fix these 3 problems" in page
    assert count_like(str(instance / "registry.db"), "orphan") == 0


def test_FT4_storage_full_during_an_import_job(app, editor, db, instance):
    """The disk fills while the job writes: the job fails saying so, nothing is stored, reads go on.
    (The web import's old 507 in tests/test_faults.py became this: the request no longer writes.)"""
    token = "c" * 32
    new_job(app, db, token)
    before = storage.counts(db), storage.data_version(db)
    full = storage.connect(str(instance / "registry.db"))
    full.execute(f"PRAGMA max_page_count = {full.execute('PRAGMA page_count').fetchone()[0]}")
    assert runner.execute(full, db, index_settings(app), jobs_db.get(db, token)) == "failed"
    assert not full.conn.in_transaction
    full.conn.close()
    job = jobs_db.get(db, token)
    assert job["errors"] == ["the server's storage is full, so nothing was stored; try again later or tell the "
                             "administrators"]
    assert (storage.counts(db), storage.data_version(db)) == before
    page = editor.get(f"/editor/jobs/{token}")
    assert page.status_code == 200 and "storage is full" in page.get_data(as_text=True)
    assert editor.get("/projects").status_code == 200
    assert_database_sound(str(instance / "registry.db"))


def test_the_index_holds_the_import_before_the_job_succeeds(app, editor, db):
    """Even when the index was already behind the database (a change written without updating it), the
    job brings it up to date before it reports success."""
    ingest.import_data(db, bulk_csv("behind", 4), "csv")          # written behind the index's back
    assert search.verify(index_settings(app)) == "stale"
    _, action = preview(editor, bulk_csv("indexed", 20))
    assert wait_for_job(editor, confirm(editor, action))["status"] == "succeeded"
    assert search.verify(index_settings(app)) is None
    assert search_total(editor, "indexedword") == 20 and search_total(editor, "behindword") == 4


@pytest.mark.slow
def test_FT9_two_import_jobs_at_once_both_finish(app, editor, instance):
    """Two editors confirm at the same moment: one job waits for the other (a file lock), both succeed."""
    other = logged_in(app, "otis", "editor")
    actions = [preview(client, bulk_csv(prefix, 400))[1] for client, prefix in ((editor, "one"), (other, "two"))]
    responses = [confirm(client, action) for client, action in zip((editor, other), actions)]
    jobs = [wait_for_job(client, response) for client, response in zip((editor, other), responses)]
    assert [job["status"] for job in jobs] == ["succeeded", "succeeded"], jobs
    spans = sorted((job["started_at"], job["finished_at"]) for job in jobs)
    assert spans[0][1] <= spans[1][0]                      # one after the other, not interleaved
    db_path = str(instance / "registry.db")
    assert count_like(db_path, "one") == 400 == count_like(db_path, "two")
    assert search_total(editor, "oneword") == 400 == search_total(editor, "twoword")


# --- FT1 for jobs: kill -9 of the job's process -----------------------------------------------------------


def job_row(db_path, token):
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT status, stage, pid FROM jobs WHERE id = ?", [token]).fetchone()
        return dict(row) if row else None
    finally:
        conn.close()


N_KILLED = 10_000


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["validating", "writing", "indexing"])
def test_a_killed_job_leaves_all_or_nothing_and_is_shown_failed(app, editor, instance, moment):
    db_path = str(instance / "registry.db")
    _, action = preview(editor, bulk_csv("killed", N_KILLED))
    token = action.rsplit("/", 1)[1]
    response = confirm(editor, action)
    assert response.status_code == 303
    caught, deadline = None, time.monotonic() + 120
    while caught is None and time.monotonic() < deadline:
        job = job_row(db_path, token)
        if job["status"] not in ("queued", "running"):
            break
        if job["status"] == "running" and job["stage"] == moment and (moment != "writing" or writer_active(db_path)):
            os.kill(job["pid"], signal.SIGKILL)
            caught = job["pid"]
        time.sleep(0.005)
    assert caught, f"the job ended before the {moment} moment could be caught: {job}"
    while runner.process_alive(socket.gethostname(), caught, None):   # the spawner reaps it
        time.sleep(0.05)

    page = editor.get(response.headers["Location"]).get_data(as_text=True)
    assert "The import failed" in page and "its process ended before the job did" in page
    assert jobs_db.get(storage.connect(db_path), token)["status"] == "failed"
    assert_database_sound(db_path)
    stored = count_like(db_path, "killed")
    assert stored == (N_KILLED if moment == "indexing" else 0)         # never part of the file
    restarted = make_app(instance, CHECK_INDEX_ON_START=True)          # the next start catches the index up
    assert search.verify(index_settings(restarted)) is None
    assert search_total(restarted.test_client(), "killedword") == stored


# --- FT3 on gunicorn: an import longer than the worker timeout ---------------------------------------------

class Browser:
    """urllib with a cookie jar: logs in, uploads, confirms, as a browser (or an API client) would."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()),
                                                  _NoRedirect())

    def request(self, path, data=None, headers=None, timeout=60):
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def token(self, path):
        return re.search(r'name="csrf_token" value="([^"]+)"', self.request(path)[2]).group(1)

    def post_form(self, path, fields, headers=None):
        body = urllib.parse.urlencode(fields).encode()
        return self.request(path, body, dict(headers or {}, **{"Content-Type": "application/x-www-form-urlencoded"}))

    def upload(self, path, fields, name, data):
        boundary = "----registry-test-boundary"
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields.items()]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f'Content-Type: text/csv\r\n\r\n'.encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.request(path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# REGISTRY_TIMEOUT for this test instead of the default 120 s, and a file whose import (mostly indexing its
# 200-word descriptions) takes 10-30 s on this machine while its preview, still in the request, takes 0.3-1 s.
GUNICORN_TIMEOUT = 5
N_SERVED, WORDS_SERVED = 2000, 200


@pytest.mark.slow
def test_FT3_an_import_longer_than_the_worker_timeout_returns_202_and_finishes(seeded_instance, tmp_path):
    """On the real gunicorn (registry/gunicorn.conf.py) with its worker timeout lowered through the
    environment (REGISTRY_TIMEOUT=5, so that a file of 2,000 rows is enough instead of 100,000): the
    confirmation answers 202 at once, the job finishes, it took longer than the timeout (in the request
    the worker would have been killed half-way), and no worker was killed."""
    from test_serving import Server
    instance = tmp_path / "instance"
    shutil.copytree(seeded_instance, instance)
    add_user(make_app(instance), "gina", "editor")
    server = Server(instance, REGISTRY_TIMEOUT=str(GUNICORN_TIMEOUT))
    try:
        workers = server.workers()
        browser = Browser(server.base)
        status, headers, _ = browser.post_form("/login", {"csrf_token": browser.token("/login"), "username": "gina",
                                                          "password": PASSWORD})
        assert status == 302, headers
        t0 = time.monotonic()
        status, _, page = browser.upload("/editor/import", {"csrf_token": browser.token("/editor/import")},
                                         "served.csv", bulk_csv("served", N_SERVED, words=WORDS_SERVED))
        assert status == 200, (page[:1000], server.output())
        preview_took = time.monotonic() - t0
        action = re.search(r'action="(/editor/import/[0-9a-f]{32})"', page).group(1)
        started = time.monotonic()
        status, headers, body = browser.post_form(action, {"csrf_token": browser.token("/editor")},
                                                  {"Accept": "application/json"})
        assert status == 202, body[:1000]
        assert time.monotonic() - started < GUNICORN_TIMEOUT / 2
        url = headers["Location"]
        deadline = time.monotonic() + 240
        while True:
            job = json.loads(browser.request(url, headers={"Accept": "application/json"})[2])["job"]
            if job["finished"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert job["status"] == "succeeded", job
        took = _seconds(job["finished_at"]) - _seconds(job["started_at"])
        assert took > GUNICORN_TIMEOUT, (f"the job took {took} s (its preview {preview_took:.1f} s): not longer than "
                                         "the timeout, so this proves nothing")
        assert count_like(str(instance / "registry.db"), "served") == N_SERVED
        status, _, body = server.get("/api/projects?q=servedword&per_page=1")
        assert status == 200 and json.loads(body)["total"] == N_SERVED
        assert server.workers() == workers and "WORKER TIMEOUT" not in server.output()
    finally:
        server.stop()


def _seconds(stamp):
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
