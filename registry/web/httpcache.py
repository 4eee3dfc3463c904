"""HTTP caching of what a newsletter's readers open all at once: the PNG map (/map.png) and the embedded map
(/embed/map) of one selection (docs/deployment.md, "Caching and CDNs").

Two parts:
- Validators and headers, set by the routes themselves: a short public `Cache-Control`, an `ETag` derived
  from what the answer depends on (the selection, size, language, host and the data version) and
  `Last-Modified` (when the data last changed). A request whose `If-None-Match` or `If-Modified-Since` still
  matches gets 304 before anything is drawn.
- ResponseCache, a WSGI middleware in front of Flask: the last answers of those two routes, per process,
  within RESPONSE_CACHE_BYTES. A repeat request is answered from it without Flask's routing, hooks, database
  connection or template: the burst of a newsletter costs a dictionary look-up and one read of the data
  version per request. Its key holds everything the answer depends on (path, query string, the language's
  three sources: ?lang= inside the query string, the language cookie, Accept-Language as matched, the host
  and scheme of absolute links, and the data version), so a cached answer is byte for byte the one Flask
  would give. Requests carrying a session cookie, and answers that are not 200 or set a cookie, never go
  through it; a cached answer costs no client budget (web/limits.py: cached images never count).
"""
import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cachetools import LRUCache
from flask import Response, current_app, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import (http_date, is_resource_modified, parse_accept_header, parse_cookie, quote_etag,
                           remove_entity_headers)

from ..core.language import LANG_COOKIE, LANGUAGES, valid_language
from ..store import db as storage

# What a browser or CDN may keep without asking (the data changes: an edit shows within 5 minutes), and how
# long it may keep showing the old answer while it revalidates in the background (a cheap 304).
MAX_AGE = 300
STALE_WHILE_REVALIDATE = 600
CACHE_CONTROL = f"public, max-age={MAX_AGE}, stale-while-revalidate={STALE_WHILE_REVALIDATE}"
PRIVATE = "private, no-cache"   # an answer that sets a cookie: never kept by a shared cache
# Bump when a release changes what these URLs show for the same data: the validators of old answers then stop
# matching, and browsers and CDNs fetch the new ones.
FORMAT = 1
CACHED_PATHS = frozenset({"/map.png", "/embed/map"})
RESPONSE_CACHE_BYTES = 32 * 1024 * 1024   # per process; config RESPONSE_CACHE_BYTES, 0 turns the cache off
ENTRY_OVERHEAD = 1024                     # the key and headers kept beside each body


@dataclass(frozen=True)
class Validators:
    """What a conditional request is checked against: the entity tag (weak when equal answers may differ
    in bytes) and when the data last changed (None: unknown)."""
    etag: str
    weak: bool
    last_modified: datetime | None


def validators(db, *content, weak=False):
    """The validators of an answer that depends on `content` (strings naming the selection, size,
    language...) and on the data."""
    version = storage.data_version(db)
    digest = hashlib.sha256("|".join(map(str, (FORMAT, version, *content))).encode()).hexdigest()[:24]
    return Validators(digest, weak, _changed_at(db, version))


_CHANGED_AT = LRUCache(maxsize=64)    # (database, data version) -> when it changed: one history read each
_CHANGED_AT_LOCK = threading.Lock()


def _changed_at(db, version):
    key = (current_app.config["DATABASE"], version)
    with _CHANGED_AT_LOCK:
        if key in _CHANGED_AT:
            return _CHANGED_AT[key]
    changed = storage.data_changed_at(db)
    with _CHANGED_AT_LOCK:
        _CHANGED_AT[key] = changed
    return changed


def not_modified(checked):
    """A 304 when the request's If-None-Match (or, without it, If-Modified-Since) still matches; else None."""
    if is_resource_modified(request.environ, etag=quote_etag(checked.etag, checked.weak),
                            last_modified=checked.last_modified):
        return None
    response = with_validators(Response(status=304), checked)
    del response.headers["Content-Type"]
    return response


def with_validators(response, checked):
    """`response` with Cache-Control, ETag and Last-Modified."""
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(checked.etag, weak=checked.weak)
    if checked.last_modified is not None:
        response.headers["Last-Modified"] = http_date(checked.last_modified)
    return response


@dataclass(frozen=True)
class Entry:
    """One kept answer: the 200's headers and body, the 304's headers, and its validators as sent."""
    headers: list
    body: bytes
    headers_304: list
    etag: str
    last_modified: str | None


class ResponseCache:
    """WSGI middleware: answers repeated anonymous GETs of CACHED_PATHS from this process's memory."""

    def __init__(self, app, wsgi_app, max_bytes):
        self.app, self.wsgi_app = app, wsgi_app
        self.entries = LRUCache(maxsize=max_bytes, getsizeof=lambda e: len(e.body) + ENTRY_OVERHEAD)
        self.lock = threading.Lock()    # cachetools caches are not thread-safe (gthread workers)
        self.data_state = storage.VersionReader(app.config["DATABASE"])   # (file, data version)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") not in CACHED_PATHS:
            return self.wsgi_app(environ, start_response)
        key = self.key(environ)
        if key is None:
            return self.wsgi_app(environ, lambda status, headers, exc_info=None:
                                 start_response(status, _private_if_cookie(headers), exc_info))
        with self.lock:
            entry = self.entries.get(key)
        if entry is None:
            return self.fill(key, environ, start_response)
        if not _conditional(environ) or is_resource_modified(environ, etag=entry.etag,
                                                             last_modified=entry.last_modified):
            start_response("200 OK", entry.headers)
            return [entry.body]
        start_response("304 NOT MODIFIED", entry.headers_304)
        return []

    def key(self, environ):
        """Everything the answer depends on; None when it must not come from the cache."""
        cookies = parse_cookie(environ) if environ.get("HTTP_COOKIE") else {}
        if environ["REQUEST_METHOD"] != "GET" or self.app.config["SESSION_COOKIE_NAME"] in cookies:
            return None
        state = self.data_state()
        if state is None:
            return None
        return (state, environ["PATH_INFO"], environ.get("QUERY_STRING", ""),
                valid_language(cookies.get(LANG_COOKIE)), _accepted(environ.get("HTTP_ACCEPT_LANGUAGE")),
                environ["wsgi.url_scheme"], environ.get("HTTP_HOST") or environ.get("SERVER_NAME"),
                environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME", ""))

    def fill(self, key, environ, start_response):
        """Let Flask answer, keep the answer when it may be shared, and pass it on."""
        status, headers, body = _collect(self.wsgi_app, environ)
        entry = _entry(status, headers, body)
        if entry is not None and len(body) + ENTRY_OVERHEAD <= self.entries.maxsize:
            with self.lock:
                self.entries[key] = entry
        start_response(status, _private_if_cookie(headers))
        return [body]


@lru_cache(maxsize=256)   # readers' browsers send a handful of different headers
def _accepted(accept_language):
    """The language Accept-Language asks for, matched as Flask's request.accept_languages does."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(LANGUAGES)


def _conditional(environ):
    return "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ


def _collect(wsgi_app, environ):
    """(status, headers, body) of the app's answer."""
    started, chunks = [], []

    def start_response(status, headers, exc_info=None):
        started[:] = [status, headers]
        return chunks.append

    result = wsgi_app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0], started[1], b"".join(chunks)


def _entry(status, headers, body):
    """The answer as an Entry when it may be kept (a 200 with an ETag that sets no cookie), else None."""
    names = {name.lower(): value for name, value in headers}
    if not status.startswith("200 ") or "set-cookie" in names or "etag" not in names:
        return None
    headers_304 = list(headers)
    remove_entity_headers(headers_304)   # what werkzeug leaves out of Flask's own 304s
    return Entry(headers, body, headers_304, names["etag"], names.get("last-modified"))


def _private_if_cookie(headers):
    """The headers, made private when they set a cookie (a logged-in reader's refreshed session): a shared
    cache must never keep such an answer."""
    if not any(name.lower() == "set-cookie" for name, _ in headers):
        return headers
    return [(n, v) for n, v in headers if n.lower() != "cache-control"] + [("Cache-Control", PRIVATE)]


def init_app(app):
    size = app.config.get("RESPONSE_CACHE_BYTES", RESPONSE_CACHE_BYTES)
    if size:
        app.wsgi_app = ResponseCache(app, app.wsgi_app, int(size))
