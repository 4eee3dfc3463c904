"""The public change log: /changes (a page) and /api/changes (JSON), newest first, filterable by entity,
record id, kind of source and date. Account names are never shown to the public (nor in the JSON, which
anyone may cache); a logged-in editor sees them, with each change's source, on the page."""
import re
from dataclasses import dataclass, replace
from datetime import date

from flask import Blueprint, g, jsonify, make_response, render_template, request, url_for
from flask_babel import gettext as _

from ..core.language import N_
from ..core.query import MAX_PAGE, MAX_PER_PAGE, QueryError
from ..store import changes as change_log
from ..store import sources as source_store
from .context import get_db
from .envelope import list_envelope, page_urls

bp = Blueprint("changes", __name__)

PER_PAGE = 20
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What people read for the keys the log stores (store/changes.py action_of, store/editing.py SOURCE_KINDS)
ACTION_LABELS = {"added": N_("added"), "changed": N_("changed"), "deleted": N_("deleted"),
                 "reverted": N_("reverted"), "restored": N_("restored"), "unrecorded": N_("not recorded")}
# (English keeps the keys' own short words; changes.html explains each in a sentence)
SOURCE_KIND_LABELS = {"form": N_("form"), "import": N_("import"), "seed": N_("seed"), "source": N_("source"),
                      "revert": N_("revert"), "proposal": N_("proposal"), "restore": N_("restore")}
# The kinds of source record (core/sources.py SOURCE_KINDS), as /sources and the source pages show them
SOURCE_TYPE_LABELS = {"report": N_("report"), "progress-report": N_("progress report"), "web-page": N_("web page"),
                      "project-page": N_("project page"), "meeting-page": N_("meeting page"), "news": N_("news"),
                      "evaluation": N_("evaluation"), "database": N_("database")}
ENTITY_LABELS = {"project": N_("project"), "organisation": N_("organisation")}
ENTITY_PLURALS = {"project": N_("projects"), "organisation": N_("organisations")}


@bp.app_template_global()
def action_label(action):
    """What a change did, in the request's language ("added", "ajouté", "añadido")."""
    return _(ACTION_LABELS[action]) if action in ACTION_LABELS else action


@bp.app_template_global()
def source_kind_label(kind):
    """The kind of source of a change, in the request's language."""
    return _(SOURCE_KIND_LABELS[kind]) if kind in SOURCE_KIND_LABELS else (kind or "")


@bp.app_template_global()
def source_type_label(kind):
    """The kind of a source record ("web page", "page web", "página web")."""
    return _(SOURCE_TYPE_LABELS[kind]) if kind in SOURCE_TYPE_LABELS else (kind or "").replace("-", " ")


@bp.app_template_global()
def entity_label(entity, plural=False):
    """"project" / "organisation" (or their plurals) in the request's language."""
    table = ENTITY_PLURALS if plural else ENTITY_LABELS
    return _(table[entity]) if entity in table else (entity or "")


@dataclass(frozen=True)
class ChangesQuery:
    filters: change_log.ChangeFilter = change_log.ChangeFilter()
    page: int = 1
    per_page: int = PER_PAGE

    @property
    def offset(self):
        return (self.page - 1) * self.per_page

    def params(self, **changes):
        """URL parameters of this query (with changes), without defaults."""
        q = replace(self, **changes) if changes else self
        f = q.filters
        pairs = {"entity": f.entity, "id": f.entity_id, "source_kind": f.source_kind, "since": f.since,
                 "page": q.page if q.page != 1 else None,
                 "per_page": q.per_page if q.per_page != PER_PAGE else None}
        return {k: v for k, v in pairs.items() if v is not None}


def _one(args, name):
    """The parameter's single value (None when absent or blank, as an empty form field sends it); given
    twice is an error. Values are taken as they are: " project" is not an entity."""
    values = args.getlist(name)
    if len(values) > 1:
        raise QueryError(N_("'%(name)s' is given %(count)s times: give it once"), name=name, count=len(values))
    value = values[0] if values else ""
    if len(value) > 100 or any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in value):
        raise QueryError(N_("'%(name)s' is too long (over 100 characters) or contains control characters"),
                         name=name)
    return value if value.strip() else None


def _choice(args, name, allowed):
    value = _one(args, name)
    if value is not None and value not in allowed:
        raise QueryError(N_("unknown %(name)s '%(value)s': use one of %(allowed)s"), name=name, value=value[:40],
                         allowed=", ".join(allowed))
    return value


def _number(args, name, high, default):
    value = _one(args, name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= high):
        raise QueryError(N_("'%(name)s' must be a whole number from 1 to %(high)s"), name=name, high=high)
    return int(value)


def _since(args):
    value = _one(args, "since")
    if value is None:
        return None
    try:
        if DATE_RE.match(value):
            return date.fromisoformat(value).isoformat()
    except ValueError:   # 2026-02-30
        pass
    raise QueryError(N_("'since' must be a date written YYYY-MM-DD, e.g. 2026-12-06"))


def parse_changes_query(args):
    """Request arguments -> ChangesQuery; QueryError (a 400 saying what to fix) for anything wrong."""
    filters = change_log.ChangeFilter(entity=_choice(args, "entity", change_log.ENTITIES),
                                      entity_id=_one(args, "id"),
                                      source_kind=_choice(args, "source_kind", change_log.SOURCE_KINDS),
                                      since=_since(args))
    return ChangesQuery(filters, page=_number(args, "page", MAX_PAGE, 1),
                        per_page=_number(args, "per_page", MAX_PER_PAGE, PER_PAGE))


def viewer_is_editor():
    """Whether the request comes from a logged-in editor (or admin). editing/auth.py sets g.user for
    every request; the web layer may not import it, so it reads the role that g.user carries."""
    user = g.get("user")
    return user is not None and user["role"] in ("editor", "admin")


def _record_url(change, endpoint_kind="views"):
    if not change["exists"]:
        return None
    if change["entity"] == "project":
        return url_for(f"{endpoint_kind}.project", project_id=change["entity_id"], _external=True)
    return url_for(f"{endpoint_kind}.organisation", org_id=change["entity_id"], _external=True)


def with_update_sources(db, rows):
    """The rows, each change applied from a source record given `update_source` ({"id", "title", "as_of"}):
    a source's id is public (unlike the account or file name other rows keep in `source`)."""
    by_change = source_store.sources_of_changes(db, [c["id"] for c in rows])
    return [dict(c, update_source=by_change.get(c["id"])) for c in rows]


def _source_json(source):
    return source and dict(source, page_url=url_for("views.source", source_id=source["id"], _external=True))


def _public_json(change):
    return {"id": change["id"], "at": change["at"], "entity": change["entity"], "entity_id": change["entity_id"],
            "title": change["title"], "url": _record_url(change), "api_url": _record_url(change, "api"),
            "action": change["action"], "source_kind": change["source_kind"], "fields": change["fields"],
            "source": _source_json(change["update_source"])}


@bp.get("/api/changes")
def changes_api():
    query = parse_changes_query(request.args)
    db = get_db()
    rows, total = change_log.recent_changes(db, query.filters, query.per_page, query.offset)
    rows = with_update_sources(db, rows)
    return jsonify(list_envelope([_public_json(c) for c in rows], total, query.page, query.per_page))


@bp.get("/changes")
def changes_page():
    query = parse_changes_query(request.args)
    editor = viewer_is_editor()
    db = get_db()
    rows, total = change_log.recent_changes(db, query.filters, query.per_page, query.offset, for_editor=editor)
    rows = with_update_sources(db, rows)
    prev, next_ = page_urls(total, query.page, query.per_page, external=False)
    response = make_response(render_template(
        "changes.html", rows=rows, total=total, query=query, prev=prev, next=next_, editor=editor,
        pages=max(1, -(-total // query.per_page)), ENTITIES=change_log.ENTITIES,
        SOURCE_KINDS=change_log.SOURCE_KINDS))
    if editor:   # account names: never kept by a shared cache
        response.headers["Cache-Control"] = "private, no-store"
    return response
