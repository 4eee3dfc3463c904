"""Fixtures and shared helpers for every test module (import them with `from conftest import ...`).

- the real app on a temporary instance folder, with the real seed loaded once per session into a real
  SQLite file, then copied for each test (so tests can write without affecting others);
- editing: accounts, CSRF tokens, logging in, and a small reader of HTML forms so tests submit what a
  browser would submit;
- map samples: records the map tests import through the real importer and index update;
- browsers: Debian's chromium driven by Playwright, the app on a real local server.
"""
import csv
import gettext
import html
import json
import os
import re
import shutil
import sqlite3
import sys
import threading
import time
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict
from werkzeug.security import generate_password_hash

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # the registry package, whatever directory pytest runs from

from registry import create_app  # noqa: E402
from registry.exchange import ingest  # noqa: E402
from registry.exchange import updates  # noqa: E402
from registry.search import index as search  # noqa: E402
from registry.store import db as storage  # noqa: E402
from registry.store import editing as editing_db  # noqa: E402
from registry.web.context import index_settings  # noqa: E402

# SEED_UNDER_TEST: another seed folder to load and check instead (e.g. a copy being audited)
SEED_DIR = Path(os.environ.get("SEED_UNDER_TEST") or ROOT / "geodata" / "seed")
REPORT = ROOT / "geodata" / "report" / "gmp-activities-2020-2022.txt"
UPDATES_DIR = ROOT / "geodata" / "updates"


@pytest.fixture(scope="session")
def seeded_instance(tmp_path_factory):
    """A folder holding registry.db loaded from the real seed, and its search index."""
    folder = tmp_path_factory.mktemp("seeded")
    app = create_app({"TESTING": True, "DATABASE": str(folder / "registry.db"), "INDEX_DIR": str(folder / "index"),
                      "CACHE_DIR": str(folder / "cache"), "CHECK_INDEX_ON_START": False,
                      "SECRET_KEY": "test"})   # (without one, create_app would write instance/secret_key)
    db = storage.connect(app.config["DATABASE"])
    ingest.load_seed(db, SEED_DIR, REPORT)
    db.conn.close()
    search.rebuild(index_settings(app))
    return folder


@pytest.fixture(scope="session")
def updated_instance(seeded_instance, tmp_path_factory):
    """(folder, [Applied]): a copy of the seeded instance with every file of geodata/updates/ applied
    through the audited path (issue 19), and what applying each did. Its search index is the seed's
    (stale): tests that search rebuild it."""
    folder = tmp_path_factory.mktemp("updated")
    shutil.copytree(seeded_instance, folder, dirs_exist_ok=True)
    db = storage.connect(str(folder / "registry.db"))
    try:
        applied = updates.apply_updates(db, UPDATES_DIR)
    finally:
        db.conn.close()
    return folder, applied


def make_app(folder, **extra):
    config = {"TESTING": True, "DATABASE": str(folder / "registry.db"), "INDEX_DIR": str(folder / "index"),
              "CACHE_DIR": str(folder / "cache"), "SECRET_KEY": "test", "WTF_CSRF_ENABLED": True,
              "SERVER_NAME": None}
    config.update(extra)
    return create_app(config)


def generated_app(folder, n=300, seed=0):
    """The app of a new instance holding `n` generated projects (bench/generate.py) and their index."""
    from bench.generate import generate
    app = make_app(folder, CHECK_INDEX_ON_START=False)
    db = storage.connect(app.config["DATABASE"])
    storage.migrate(db)
    ingest.import_data(db, json.dumps(generate(n, seed=seed)).encode(), "json")
    db.conn.close()
    search.rebuild(index_settings(app))
    return app


@pytest.fixture
def instance(seeded_instance, tmp_path):
    """A private copy of the seeded instance for one test."""
    folder = tmp_path / "instance"
    shutil.copytree(seeded_instance, folder)
    return folder


@pytest.fixture
def app(instance):
    return make_app(instance)


@pytest.fixture
def empty_db(tmp_path):
    """A new, empty registry database (every table, no record)."""
    db = storage.connect(str(tmp_path / "empty.db"))
    storage.migrate(db)
    yield db
    db.conn.close()


@pytest.fixture(scope="module")
def shared_app(seeded_instance):
    """The seeded instance itself, for the tests that only read (faster than a copy per test)."""
    return make_app(seeded_instance)


@pytest.fixture
def reader(shared_app):
    return shared_app.test_client()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    conn = storage.connect(app.config["DATABASE"])
    yield conn
    conn.conn.close()


# --- browser tests: Debian's chromium driven by Playwright, the app on a real local server -----------

CHROMIUM = "/usr/bin/chromium"   # installed by `make test` (apt-get); never `playwright install`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def catalog(lang):
    """The committed catalog of `lang`, as the app reads it (gettext's interface)."""
    from registry.web.language import TRANSLATIONS_DIR
    return gettext.translation("messages", str(TRANSLATIONS_DIR), languages=[lang])


def page_text(response):
    """A page's text as a person reads it: scripts, styles and tags removed, entities decoded, spaces
    collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def serve(app):
    """Serve `app` on 127.0.0.1 on a free port in a thread; returns (server, base URL)."""
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A desktop-sized page (1280x900) of its own context; `page.requests` lists every URL it asked for and
    `page.errors` every script error (a test that expects none asserts `page.errors == []`)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.requests, page.errors = [], []
    context.on("request", lambda r: page.requests.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


# --- editing: accounts, CSRF tokens, logging in, HTML forms -------------------------------------------

PASSWORD = "a long enough test password"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_user(app, username, role, password=PASSWORD, must_change=False):
    db = storage.connect(app.config["DATABASE"])
    storage.migrate(db)
    try:
        return editing_db.create_user(db, username, generate_password_hash(password), role, "test",
                                   must_change_password=must_change)
    finally:
        db.conn.close()


def csrf_token(client, url="/login"):
    response = client.get(url)
    match = TOKEN_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {url} ({response.status_code})"
    return match.group(1)


def login(client, username, password=PASSWORD, next_url=None):
    data = {"csrf_token": csrf_token(client), "username": username, "password": password}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data)


def logged_in(app, username, role):
    """A test client logged in as a new user with `role`."""
    add_user(app, username, role)
    client = app.test_client()
    response = login(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def editor(app):
    """A test client logged in as an editor (files whose tests name another user define their own)."""
    return logged_in(app, "eddie", "editor")


@pytest.fixture
def admin(app):
    return logged_in(app, "ada", "admin")


def session_copied_before_logout(app, username):
    """(session cookie, CSRF token) of a user who then logged out: what a stolen or stale cookie looks like."""
    client = logged_in(app, username, "editor")
    token = csrf_token(client, "/editor/projects/new")
    copied = client.get_cookie("session").value
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    return copied, token


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms, self._select, self._textarea = [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                               "fields": [], "attrs": a})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file", "image", "reset"):
                self.forms[-1]["fields"].append([a["name"], a.get("value") or ("on" if kind == "checkbox" else "")])
        elif tag == "select" and a.get("name"):
            self._select = {"name": a["name"], "options": [], "selected": None}
        elif tag == "option" and self._select is not None:
            self._select["options"].append(a.get("value", ""))
            if "selected" in a:
                self._select["selected"] = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]
            self.forms[-1]["fields"].append(self._textarea)

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            s = self._select
            chosen = s["selected"] if s["selected"] is not None else (s["options"][0] if s["options"] else "")
            self.forms[-1]["fields"].append([s["name"], chosen])
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1] += data


def read_form(html, has_field="version"):
    """The first form holding a field named `has_field`, as a list of [name, value] pairs (what a browser
    would send without changes). Change values with set_field, then post the list."""
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if any(name == has_field for name, _ in form["fields"]):
            return form["fields"]
    raise AssertionError(f"no form with a field {has_field!r}")


def set_field(fields, name, value):
    for pair in fields:
        if pair[0] == name:
            pair[1] = value
            return fields
    fields.append([name, value])
    return fields


def field(fields, name):
    return next(value for key, value in fields if key == name)


def post_form(client, url, fields):
    return client.post(url, data=MultiDict([tuple(p) for p in fields]))


def wait_for_job(client, response, timeout=120):
    """Follow a web import's confirmation (a 303 to its job's page, or a 202 with its URL) and wait until
    the job, which runs in a process of its own, has finished. Returns the job (its JSON)."""
    assert response.status_code in (202, 303), (response.status_code, response.get_data(as_text=True)[:500])
    url, deadline = response.headers["Location"], time.monotonic() + timeout
    while True:
        job = client.get(url, headers={"Accept": "application/json"}).get_json()["job"]
        if job["finished"] or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


# --- map samples: a project with one exact site, and one whose title, organisation and places are ------
# --- script injections; imported into a test's private instance through the real importer -------------

XSS_TITLE = "<img src=x onerror=window.PWNED=1> ${window.PWNED=1} </script><script>window.PWNED=1</script>"
XSS_ORG = "</script><img src=x onerror=window.PWNED=1>${window.PWNED=1}"
XSS_PLACE = "<svg onload=window.PWNED=1>${window.PWNED=1}"
MAP_SAMPLE_SOURCE = [{"section": "test", "quote": "Recorded for the map tests."}]


def map_sample_records():
    """The map samples' organisations and projects, in the registry's JSON import format."""
    return {
        "organisations": [
            {"id": "map-test-org", "name": "Map Test Organisation", "type": "ngo"},
            {"id": "map-xss-org", "name": XSS_ORG, "acronym": XSS_ORG[:40], "type": "other"},
        ],
        "projects": [
            {"id": "map-test-site", "title": "Map test: mercury-free processing at one site", "kind": "project",
             "area": "asgm", "status": "ongoing", "countries": ["GHA"],
             "locations": [{"name": "Tarkwa test site", "precision": "site", "lat": 5.3, "lon": -1.99}],
             "organisations": [{"org": "map-test-org", "role": "implementer"}], "sources": MAP_SAMPLE_SOURCE},
            {"id": "map-xss", "title": XSS_TITLE, "summary": XSS_TITLE, "kind": "project", "area": "products",
             "status": "planned", "countries": ["KEN"],
             "locations": [{"name": XSS_PLACE, "precision": "site", "lat": -1.29, "lon": 36.82},
                           {"name": XSS_PLACE + " (worldwide)", "precision": "global"}],
             "organisations": [{"org": "map-xss-org", "role": "funder"}], "sources": MAP_SAMPLE_SOURCE},
        ],
    }


def import_samples(app):
    """Import the map samples into the app's database and bring the search index up to date."""
    db = storage.connect(app.config["DATABASE"])
    try:
        report = ingest.import_data(db, json.dumps(map_sample_records()).encode("utf-8"), "json")
    finally:
        db.conn.close()
    with app.app_context():
        search.update_projects(index_settings(app), report.added + report.changed, organisations=report.organisations)
    return report


# --- database and search checks shared by the fault and job tests -----------------------------------

def count_like(db_path, prefix):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM projects WHERE id LIKE ?", [prefix + "-%"]).fetchone()[0]
    finally:
        conn.close()


def search_total(client, q):
    r = client.get("/api/projects", query_string={"q": q, "per_page": 1})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["total"]


def assert_database_sound(db_path):
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def writer_active(db_path):
    """True while another connection holds the write lock (an import is inside its transaction)."""
    conn = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        conn.close()


# --- countries by any of their names (geodata/countries.csv), for the seed's place checks --------------

COUNTRY_ROWS = list(csv.DictReader((ROOT / "geodata" / "countries.csv").open(encoding="utf-8")))


def _folded(text):
    text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^0-9a-z]+", " ", text).strip()


def country_names(name):
    """Every name of the country `name` names (countries.csv: name, official name, aliases); [] if none."""
    for row in COUNTRY_ROWS:
        names = [row["name"], row["official_name"]] + [a for a in row["aliases"].split("|") if a]
        if _folded(name) in {_folded(n) for n in names}:
            return names
    return []
