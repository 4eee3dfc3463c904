"""HTTP for everyone: pages, the JSON API, the maps; errors as HTTP answers, security headers.
One blueprint per module, registered here."""
import logging

from ..search import index as search
from . import api, changes, context, errors, feeds, httpcache, language, limits, maps, security, stats, views

log = logging.getLogger(__name__)


def init_app(app):
    context.init_app(app)
    language.init_app(app)   # before the blueprints: their templates speak the request's language
    httpcache.init_app(app)  # before security's ProxyFix wraps the app: the cache sees the client's scheme
    security.init_app(app)
    errors.init_app(app)
    limits.init_app(app)   # budgets per client for searches, exports and map renders
    for module in (views, api, maps, changes, feeds, stats):
        app.register_blueprint(module.bp)
    if app.config.get("CHECK_INDEX_ON_START"):
        settings = context.index_settings(app)
        try:
            search.ensure_index(settings, wait=0)
        except Exception as exc:   # start-up must not fail because of the index (a full disk, ...)
            log.exception("search index check failed at start-up; repairing it in the background")
            search.schedule_repair(settings, f"the start-up check failed: {type(exc).__name__}", urgent=True)
