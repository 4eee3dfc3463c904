"""One error shape: JSON `{"error": {"code", "message"}}` under /api/ (invalid data adds "details":
one {"where", "field", "message"} per problem), an HTML page elsewhere."""
import logging
import uuid

from flask import Response, jsonify, render_template, request
from flask_babel import gettext as _, get_translations, ngettext
from werkzeug.exceptions import HTTPException, SecurityError

from ..core.query import QueryError
from ..core.validate import ValidationError
from ..search.index import SearchUnavailable
from ..store.db import StorageError

log = logging.getLogger(__name__)
MAX_DETAILS = 1000   # problems listed in one answer; the message says how many more there are


class ApiError(Exception):
    def __init__(self, status, code, message, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def wants_json():
    return request.path.startswith("/api/") or request.path.endswith((".json", ".geojson"))


def error_response(status, code, message, details=None):
    if wants_json():
        body = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message, details=details), status


def validation_response(problems):
    """A 400 listing every problem with its path (the first MAX_DETAILS, saying how many more there are)."""
    shown, more = problems[:MAX_DETAILS], max(len(problems) - MAX_DETAILS, 0)
    if more:
        message = _("the data is not valid, so nothing was stored: %(count)s problems; only the first "
                    "%(shown)s are listed (%(more)s more): fix these and send it again",
                    count=len(problems), shown=MAX_DETAILS, more=more)
    else:
        message = ngettext("the data is not valid, so nothing was stored: %(num)d problem, listed with where "
                           "it is", "the data is not valid, so nothing was stored: %(num)d problems, each "
                           "listed with where it is", len(problems))
    details = [p.as_dict() for p in shown] if wants_json() else [p.describe() for p in shown]
    return error_response(400, "invalid_data", message, details)


def init_app(app):
    @app.errorhandler(ApiError)
    def _api_error(exc):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(SearchUnavailable)
    def _search_unavailable(exc):
        response, status = error_response(503, exc.code, exc.translated(get_translations()))
        return response, status, {"Retry-After": "30"}

    @app.errorhandler(QueryError)
    def _query_error(exc):
        # core writes the message in English; its template and values say it in the request's language
        return error_response(400, exc.code, exc.translated(get_translations()))

    @app.errorhandler(StorageError)
    def _storage_error(exc):
        log.error("write refused by storage: %s", exc)
        if "full" in str(exc):
            return error_response(507, "storage_full", _("the server's storage is full, so nothing was stored; "
                                  "reading the registry still works. Please tell the administrators."))
        response, status = error_response(503, "storage_busy", _("the database is busy with another change, "
                                          "so nothing was stored; please try again in a minute"))
        return response, status, {"Retry-After": "60"}

    @app.errorhandler(ValidationError)
    def _validation_error(exc):
        return validation_response(exc.problems)

    @app.errorhandler(SecurityError)
    def _untrusted_host(exc):
        # A Host outside TRUSTED_HOSTS: no page template, since no link may be built for that host.
        message = _("unknown host: this server only answers for its own host name")
        if wants_json():
            return jsonify({"error": {"code": "untrusted_host", "message": message}}), 400
        return Response(message + "\n", 400, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        code = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(exc.code, code, http_message(exc, app.config["MAX_CONTENT_LENGTH"]))
        allowed = getattr(exc, "valid_methods", None)     # a 405 must say what is allowed (RFC 9110)
        return response, status, ({"Allow": ", ".join(allowed)} if allowed else {})

    @app.errorhandler(Exception)
    def _unexpected(exc):
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error (ref %s)", ref)
        return error_response(500, "internal_error",
                              _("something went wrong on our side (reference %(ref)s); please try again later",
                                ref=ref))


def http_message(exc, max_upload):
    """What an HTTP error says, in the request's language (Werkzeug's own description, in English, for
    the rarer ones)."""
    if exc.code == 404:
        return _("not found: check the address, or search the registry")
    if exc.code == 405:
        return _("this method is not allowed here")
    if exc.code == 413:
        return _("the upload is too large (the limit is %(size)s MB)", size=max_upload // (1024 * 1024))
    if exc.code == 429:
        return _("too many requests from your address in a short time: please wait a little and try again")
    return exc.description or exc.name
