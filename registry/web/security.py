"""Security headers on every response. Only views marked `@embeddable` may be framed by other sites."""
from flask import abort, current_app, request
from werkzeug.routing import IntegerConverter

EMBEDDABLE = set()


def embeddable(view):
    """Mark a view as frameable by the origins in config EMBED_ORIGINS (CSP frame-ancestors)."""
    EMBEDDABLE.add(view.__module__ + "." + view.__name__)
    return view


def _is_embeddable():
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and (view.__module__ + "." + view.__name__) in EMBEDDABLE


class RowIdConverter(IntegerConverter):
    """`<int:...>` in every URL: a row id SQLite can hold (64-bit). A larger number is no row of
    any table, so the URL matches no route (404), where the query would raise OverflowError (a 500)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2 ** 63 - 1)
        super().__init__(map, *args, **kwargs)


def init_app(app):
    # before any blueprint adds its routes (web/__init__.py calls this first): each `<int:...>` is a row id
    app.url_map.converters["int"] = RowIdConverter
    # Host header: with TRUSTED_HOSTS set (REGISTRY_TRUSTED_HOSTS="registry.example.org,www.example.org"
    # or a JSON list) any other Host gets a 400, so absolute links never carry a forged host.
    hosts = app.config.get("TRUSTED_HOSTS")
    if isinstance(hosts, str):
        app.config["TRUSTED_HOSTS"] = [h.strip() for h in hosts.split(",") if h.strip()]
    # X-Forwarded-For/-Proto are trusted only behind a reverse proxy that sets them (REGISTRY_PROXY_FIX=1).
    if app.config.get("PROXY_FIX"):
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)

    @app.before_request
    def refuse_oversized_body():
        # A declared body over the limit gets 413 at once, on every route, before anything reads it.
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if limit and (request.content_length or 0) > limit:
            abort(413)

    @app.after_request
    def headers(response):
        origins = app.config.get("EMBED_ORIGINS") or "*"
        ancestors = origins if _is_embeddable() else "'none'"
        csp = ("default-src 'self'; img-src 'self' data: https://tile.openstreetmap.org; "
               "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
               "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'self'; "
               f"form-action 'self'; frame-ancestors {ancestors}")
        response.headers.setdefault("Content-Security-Policy", csp)
        if ancestors == "'none'":
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.path.startswith(("/editor", "/admin", "/login", "/account")):
            response.headers["Cache-Control"] = "no-store"
        return response
