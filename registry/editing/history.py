"""The change history: every change with who, when, before and after (/editor/history, per record with
?entity=project&id=...), and reverts. A revert is a new change that restores the "before" of an earlier
one (of a project, an organisation or a source record) (or deletes what it created, which needs the admin role); it is refused when the record has changed
since, so changes are undone newest first.
"""
import copy
import json

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..store import editing as editing_db
from ..exchange import apply
from .auth import has_role, requires
from .editor import ENTITIES, actor, conflict_page, record_name, write
from ..web.errors import error_response
from ..core.language import N_
from ..core.records import canonical_order, diff
from ..core.validate import ValidationError
from ..web.context import get_db

bp = Blueprint("history", __name__)

PAGE = 50
# what the history says a change did, and to what kind of record (store/editing.py: the stored keys stay English)
ACTION_LABELS = {"create": N_("create"), "edit": N_("edit"), "delete": N_("delete"), "import": N_("import"),
                 "seed": N_("seed"), "update": N_("update"), "revert": N_("revert"), "approve": N_("approve"),
                 "restore": N_("restore"), "password": N_("password"), "reindex": N_("reindex"),
                 "reject": N_("reject")}
ENTITY_NAMES = {"project": N_("project"), "organisation": N_("organisation"), "source": N_("source"),
                "user": N_("user"), "proposal": N_("proposal"), "index": N_("index"), "record": N_("record")}


@bp.app_template_global()
def history_action(action):
    """A history row's action in the request's language (an unknown one as stored)."""
    return _(ACTION_LABELS[action]) if action in ACTION_LABELS else action


@bp.app_template_global()
def history_entity(entity):
    """The kind of record a history row is about, in the request's language."""
    return _(ENTITY_NAMES[entity]) if entity in ENTITY_NAMES else entity
# the argument of apply_changes that takes records of each entity
RECORD_LISTS = {"project": "projects", "organisation": "organisations", "source": "sources"}


@bp.get("/editor/history")
@requires("editor")
def history():
    entity = request.args.get("entity") if request.args.get("entity") in ENTITIES + ("user", "proposal", "index") else None
    entity_id = (request.args.get("id") or "").strip()[:100] or None
    page = request.args.get("page", "1")
    page = min(int(page), 100_000) if page.isascii() and page.isdigit() and int(page) > 0 else 1
    rows, total = editing_db.list_history(get_db(), entity, entity_id, PAGE, (page - 1) * PAGE)
    return render_template("editor/history.html", rows=rows, total=total, page=page, entity=entity,
                           entity_id=entity_id, pages=max(1, -(-total // PAGE)))


def _diff(before, after):
    """[(field, old as JSON text, new as JSON text)] for the fields that differ."""
    before, after = before or {}, after or {}
    show = lambda value: "—" if value is None else json.dumps(value, ensure_ascii=False, indent=1)  # noqa: E731
    return [(k, show(before.get(k)), show(after.get(k))) for k in dict.fromkeys([*before, *after])
            if before.get(k) != after.get(k)]


def _as_left(current, recorded, entity):
    """Is the record still as the change left it? (Compared field by field; rows written before projects
    kept their lists in the canonical order hold them in another order, which means nothing.)"""
    if entity == "project" and recorded is not None:
        recorded = canonical_order(copy.deepcopy(recorded))
    return not diff(current, recorded)


@bp.get("/editor/history/<int:change_id>")
@requires("editor")
def change(change_id):
    h = editing_db.get_history(get_db(), change_id)
    if h is None:
        return error_response(404, "not_found", _("no such change: see the history"))
    revertable = h["entity"] in ENTITIES and (h["before"] is not None or h["after"] is not None)
    return render_template("editor/change.html", h=h, diff=_diff(h["before"], h["after"]), revertable=revertable)


@bp.post("/editor/history/<int:change_id>/revert")
@requires("editor")
def revert(change_id):
    """Undo one change with a new change that restores its "before" (or deletes what it created)."""
    db = get_db()
    h = editing_db.get_history(db, change_id)
    if h is None:
        return error_response(404, "not_found", _("no such change: see the history"))
    entity, entity_id, before = h["entity"], h["entity_id"], h["before"]
    if entity not in ENTITIES or (before is None and h["after"] is None):
        return error_response(400, "not_revertable", _("only changes to projects, organisations and sources can "
                                                       "be reverted"))
    current, version = editing_db.RECORDS[entity](db, entity_id)
    if not _as_left(current, h["after"], entity):
        return render_template("editor/conflict.html", entity=entity, entity_id=entity_id, message=_(
            "The %(what)s has changed since change #%(change)s: revert the later changes first (newest first), or "
            "edit the record directly.", what=record_name(entity, entity_id), change=change_id)), 409
    if before is None and not has_role("admin"):
        return error_response(403, "forbidden", _("reverting this change deletes the record: that needs the admin "
                                                  "role"))
    changes = {"delete": [(entity, entity_id)]}
    if before is not None:
        changes = {RECORD_LISTS[entity]: [before]}
    origin = apply.Origin(actor(), "revert", f"revert of change #{change_id}", note=f"reverts change #{change_id}")
    try:
        write(origin, expected={(entity, entity_id): version or 0}, **changes)
    except editing_db.Conflict as exc:
        return conflict_page(exc)
    except ValidationError as exc:
        return render_template("editor/conflict.html", entity=entity, entity_id=entity_id, details=exc.errors,
                               message=_("Change #%(change)s cannot be reverted: the old version is no longer "
                                         "valid.", change=change_id)), 409
    flash(_("Reverted change #%(change)s.", change=change_id))
    return redirect(url_for("history.history", entity=entity, id=entity_id))
