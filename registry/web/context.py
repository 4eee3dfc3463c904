"""What a request works with: its database connection and the search index's settings, both taken
from the app's configuration. Storage and search know nothing of Flask; they get these as arguments."""
from flask import current_app, g
from flask_babel import get_locale, get_translations

from ..core.summary import summarise
from ..search.index import Settings
from ..store import db as storage
from ..store import sources as source_store


def get_db():
    """The request's connection (opened on first use, closed when the request ends)."""
    if "db" not in g:
        g.db = storage.connect(current_app.config["DATABASE"])
    return g.db


def close_db(exc=None):
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def index_settings(app=None):
    """The search index's Settings for `app` (default: the current app)."""
    config = (app or current_app).config
    return Settings(index_dir=config["INDEX_DIR"], database=config["DATABASE"],
                    time_limit=config.get("SEARCH_TIME_LIMIT") or 2.0)


def selection_summary(db, query, total):
    """The one readable summary of a selection (core/summary.py), with the names it needs: what the list
    heading, the map, the embed, the PNG, the newsletter, the feeds, the statistics and file names say."""
    return summarise(query, total, storage.org_labels(db, query.funders + query.orgs),
                     source_store.source_titles(db, query.sources),
                     # the request's language (web/language.py is Flask-Babel's locale selector)
                     words=get_translations(), lang=get_locale().language)


def init_app(app):
    app.teardown_appcontext(close_db)
