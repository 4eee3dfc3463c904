"""Fixtures: the real app on a temporary instance folder, with the real seed loaded once per session
into a real SQLite file, then copied for each test (so tests can write without affecting others)."""
import shutil
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
  # noqa: E402
from registry import create_app
from registry.store import db as storage  # noqa: E402
from registry.exchange import ingest  # noqa: E402
from registry.web.context import index_settings

SEED_DIR = ROOT / "geodata" / "seed"
REPORT = ROOT / "geodata" / "report" / "gmp-activities-2020-2022.txt"


@pytest.fixture(scope="session")
def seeded_instance(tmp_path_factory):
    """A folder holding registry.db loaded from the real seed, and its search index."""
    folder = tmp_path_factory.mktemp("seeded")
    app = create_app({"TESTING": True, "DATABASE": str(folder / "registry.db"), "INDEX_DIR": str(folder / "index"),
                      "CACHE_DIR": str(folder / "cache"), "CHECK_INDEX_ON_START": False})
    db = storage.connect(app.config["DATABASE"])
    ingest.load_seed(db, SEED_DIR, REPORT)
    db.conn.close()
    from registry.search import index as search
    search.rebuild(index_settings(app))
    return folder


def make_app(folder, **extra):
    config = {"TESTING": True, "DATABASE": str(folder / "registry.db"), "INDEX_DIR": str(folder / "index"),
              "CACHE_DIR": str(folder / "cache"), "SECRET_KEY": "test", "WTF_CSRF_ENABLED": True,
              "SERVER_NAME": None}
    config.update(extra)
    return create_app(config)


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
