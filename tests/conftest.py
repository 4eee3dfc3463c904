"""Fixtures: the real app on a temporary instance folder, with the real seed loaded once per session
into a real SQLite file, then copied for each test (so tests can write without affecting others)."""
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registry import create_app  # noqa: E402
from registry import db as storage  # noqa: E402
from registry import ingest  # noqa: E402

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
    from registry import search
    search.rebuild(app)
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
