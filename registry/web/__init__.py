"""HTTP for everyone: pages, the JSON API, the maps; errors as HTTP answers, security headers.
One blueprint per module, registered here."""
import logging

from ..search import index as search
from . import api, changes, context, errors, maps, security, views

log = logging.getLogger(__name__)


def init_app(app):
    context.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    for module in (views, api, maps, changes):
        app.register_blueprint(module.bp)
    if app.config.get("CHECK_INDEX_ON_START"):
        try:
            search.ensure_index(context.index_settings(app), wait=0)
        except Exception:   # start-up must not fail because of the index
            log.exception("search index check failed at start-up; run `flask --app registry reindex`")
