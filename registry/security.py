"""Security headers on every response. Only views marked `@embeddable` may be framed by other sites."""
from flask import current_app, request

EMBEDDABLE = set()


def embeddable(view):
    """Mark a view as frameable by the origins in config EMBED_ORIGINS (CSP frame-ancestors)."""
    EMBEDDABLE.add(view.__module__ + "." + view.__name__)
    return view


def _is_embeddable():
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and (view.__module__ + "." + view.__name__) in EMBEDDABLE


def init_app(app):
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
