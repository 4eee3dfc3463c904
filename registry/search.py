"""TEMPORARY stand-in until the Whoosh index lands: substring search over SQLite.
Interface (kept by the real module): search_projects(q) -> Hits; snippets(q, ids);
search_organisations(q) -> [ids]; rebuild(); update_projects(ids); init_app(app)."""
from dataclasses import dataclass, field

from . import db as storage


class SearchUnavailable(Exception):
    pass


@dataclass
class Hits:
    ids: list
    scores: dict = field(default_factory=dict)
    suggestion: str | None = None


def init_app(app):
    pass


def search_projects(q):
    db = storage.get_db()
    like = f"%{q}%"
    ids = [r[0] for r in db.execute("SELECT id FROM projects WHERE title LIKE ? OR description LIKE ? "
                                    "OR summary LIKE ?", [like, like, like])]
    return Hits(ids=ids)


def snippets(q, ids):
    return {}


def search_organisations(q):
    db = storage.get_db()
    like = f"%{q}%"
    return [r[0] for r in db.execute("SELECT id FROM organisations WHERE name LIKE ? OR acronym LIKE ? "
                                     "OR aliases LIKE ?", [like, like, like])]


def rebuild(app=None, progress=False):
    return 0


def update_projects(ids, app=None):
    pass


def ensure_index(app=None, progress=False):
    pass
