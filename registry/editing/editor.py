"""Editing the registry: forms for projects, organisations and source records (the documents citations
name: core/sources.py), deletes and the index rebuild. The change
history and reverts live in editing/history.py, web imports in editing/webimport.py and the public
"propose a project" form with its moderation queue in editing/moderation.py, each with its own blueprint.

Every write follows one path: forms.py turns the form into a raw record, ingest.prepare checks it so
errors can be shown next to their fields, then exchange.apply.apply_changes (the one audited write path of
imports, reverts, the seed...) validates it again, writes what changed with its history rows in ONE
transaction (refusing stale versions) and brings the search index up to date after the commit.
"""
import json
import logging
import os

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext

from ..store import editing as editing_db
from ..store import db as storage
from ..store import sources as source_store
from . import forms
from ..exchange import apply, ingest
from ..search import index as search
from .auth import requires
from ..web.errors import error_response
from ..core.language import N_
from ..core.records import diff
from ..core.sources import REPORT_SOURCE_ID, SOURCE_KINDS
from ..core.validate import PRECISIONS, ValidationError
from ..web.context import get_db, index_settings
from ..web import language

bp = Blueprint("editor", __name__)
log = logging.getLogger(__name__)
ENTITIES = ("project", "organisation", "source")
# a record named in a sentence ("the project 'x'"), one msgid per kind of record (their genders differ)
RECORD_NAMES = {"project": N_("project '%(id)s'"), "organisation": N_("organisation '%(id)s'"),
                "source": N_("source '%(id)s'"), "proposal": N_("proposal '%(id)s'")}


# the kinds of source record (core/sources.py SOURCE_KINDS) as the editor's source pages show them
SOURCE_KIND_LABELS = {"report": N_("report"), "progress-report": N_("progress report"), "web-page": N_("web page"),
                      "project-page": N_("project page"), "meeting-page": N_("meeting page"), "news": N_("news"),
                      "evaluation": N_("evaluation"), "database": N_("database")}


@bp.app_template_filter()
def source_kind_option(kind):
    """(kind, its label in the request's language): an option of the source form's Kind list."""
    return kind, _(SOURCE_KIND_LABELS[kind]) if kind in SOURCE_KIND_LABELS else kind


def record_name(entity, entity_id):
    """"project 'x'" in the request's language."""
    return _(RECORD_NAMES[entity], id=entity_id) if entity in RECORD_NAMES else f"{entity} '{entity_id}'"


# --- helpers shared by the editing views --------------------------------------------------------

def actor():
    return g.user["username"]


def write(origin, **changes):
    """Every write of the editing pages: through the audited write path, the index following the commit
    (if that fails, the change stands and the index catches up at its next check). Returns the Report;
    raises Conflict (stale, exists, missing, in_use, decided) or ValidationError."""
    return apply.apply_changes(get_db(), origin, index=index_settings(), **changes)


def conflict_page(exc, mine=None):
    """A 409 page for an editing_db.Conflict, saying what happened and what to do. `mine`: the record the
    editor submitted (validated); the page then shows it next to the current record, field by field, and
    carries the submitted form, to save again on the current version or to edit first: no input is lost."""
    versions, again = _both_versions(exc, mine)
    message = conflict_message(exc)
    return render_template("editor/conflict.html", message=message, entity=exc.entity,
                           entity_id=exc.entity_id, versions=versions, again=again), 409


def conflict_message(exc):
    """What a Conflict means and what to do, in the request's language."""
    detail = exc.detail if isinstance(exc.detail, list) else []
    values = {"what": record_name(exc.entity, exc.entity_id), "id": exc.entity_id}
    if exc.reason == "stale":
        return _("The %(what)s was edited by someone else since you opened it. Your changes were NOT saved yet: "
                 "compare the two versions below, then save yours over the current one, or edit it first.", **values)
    if exc.reason == "exists":
        return _("There is already a %(what)s: choose another id.", **values)
    if exc.reason == "missing":
        return _("The %(what)s no longer exists: someone deleted it since you opened it.", **values)
    if exc.reason == "decided":
        return _("This proposal was already approved or rejected by someone else.")
    if exc.reason == "cycle":
        return _("Saving the %(what)s would make its parents a cycle (%(cycle)s), which another change saved "
                 "meanwhile: choose another parent.", cycle=" -> ".join(detail), **values)
    if exc.reason == "in_use":
        return _in_use_message(exc.entity, detail, values)
    return _("The %(what)s cannot be changed like this.", **values)


def _in_use_message(entity, detail, values):
    values = dict(values, count=len(detail), projects=", ".join(detail[:5]) + (", …" if len(detail) > 5 else ""))
    if entity == "source":
        return _("The %(what)s is still cited by %(count)s project(s) (%(projects)s): make their citations name "
                 "another source first (or remove them).", **values)
    if entity == "project":
        return _("The %(what)s is still used by %(count)s project(s) (%(projects)s): give them another parent "
                 "first.", **values)
    return _("The %(what)s is still used by %(count)s project(s) (%(projects)s): remove it from those projects "
             "first.", **values)


def _both_versions(exc, mine):
    """([(field path, current value, submitted value)] for every field that differs, and the submitted form
    to send again: its fields, the version to send them with (the current one after a stale edit, so they
    can be saved over it), whether saving is offered); (None, None) when there is nothing to keep."""
    if mine is None or exc.reason not in ("stale", "exists"):
        return None, None
    current, version = editing_db.RECORDS[exc.entity](get_db(), exc.entity_id)
    versions = [(c.path, _shown(c.old), _shown(c.new)) for c in diff(current, mine)]
    fields = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "version", "review")]
    stale = exc.reason == "stale" and current is not None
    return versions, {"fields": fields, "version": version if stale else request.form.get("version"),
                      "can_save": stale}


def _shown(value):
    """A field's value on the conflict page: text as it is, other values as JSON, nothing as a dash."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


def form_version():
    """The record version the form was loaded with (0 for a new record), or None if it is missing."""
    text = (request.form.get("version") or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def bad_version():
    return error_response(400, "missing_version", _("the form is incomplete (its version is missing): open the "
                                                    "edit page again"))


# --- dashboard ------------------------------------------------------------------------------------

@bp.get("/editor")
@requires("editor")
def index():
    db = get_db()
    changes, _unused = editing_db.list_history(db, limit=15)
    return render_template("editor/index.html", changes=changes, pending=editing_db.count_proposals(db),
                           counts=storage.counts(db))


# --- projects ---------------------------------------------------------------------------------

def project_form(values, counts, errors, mode, status=200, **extra):
    db = get_db()
    orgs = storage.list_organisations(db)
    cited = [value for name, value in values.items() if forms.ROW_NAME_RE.match(name) and name.startswith("src-")
             and name.endswith("-document") and isinstance(value, str)]
    documents = forms.document_choices(source_store.all_sources(db), cited, language.words())
    return render_template("editor/project_form.html", v=values, counts=counts, errors=errors, mode=mode,
                           summary=forms.error_summary(errors, forms.PROJECT_FORM, words=language.words()), orgs=orgs,
                           documents=documents,
                           default_document=REPORT_SOURCE_ID, PRECISIONS=PRECISIONS, **extra), status


@bp.route("/editor/projects/new", methods=["GET", "POST"])
@requires("editor")
def project_new():
    if request.method == "POST":
        return save_project("new")
    counts = {prefix: forms.EXTRA_ROWS for prefix in ("loc", "org", "src")}
    return project_form({"version": "0", "kind": "project", "status": "ongoing"}, counts, {}, "new")


@bp.route("/editor/projects/<project_id>/edit", methods=["GET", "POST"])
@requires("editor")
def project_edit(project_id):
    record, version = editing_db.project_record(get_db(), project_id)
    if record is None:
        return error_response(404, "not_found", _("no project with this id: it may have been deleted"))
    if request.method == "POST":
        return save_project("edit", project_id)
    values, counts = forms.project_values(record)
    values["version"] = str(version)
    return project_form(values, counts, {}, "edit", project_id=project_id)


def save_project(mode, project_id=None, proposal=None):
    """Create ("new"), edit ("edit") or publish a proposal ("approve"): validate like the importer,
    then write the record and its history row in one transaction."""
    db = get_db()
    version = form_version()
    if version is None:
        return bad_version()
    if request.form.get("review"):     # "edit my version first" on the conflict page: the form, filled in
        values, counts = forms.submitted_values(request.form)
        return project_form(values, counts, {}, mode, project_id=project_id, proposal=proposal)
    raw, rows, errors = forms.project_from_form(request.form, lambda texts: storage.resolve_organisations(db, texts),
                                                source_store.source_ids(db), language.words())
    raw["id"] = project_id if mode == "edit" else (raw["id"] or forms.slugify(raw["title"]))
    known_projects, known_orgs = storage.existing_ids(db)
    if mode != "edit" and raw["id"] in known_projects:
        errors.setdefault("id", []).append(_("'%(id)s' is already the id of another project: choose another id",
                                             id=raw["id"]))
    try:
        _unused, projects = ingest.prepare([], [("", raw)], known_projects, known_orgs, parents=apply.stored_parents(db))
    except ValidationError as exc:
        errors = forms.place_errors(exc.problems, rows, found=errors, fields=forms.shown(forms.PROJECT_FORM, mode),
                                    words=language.words())
    if errors:
        values, counts = forms.submitted_values(request.form)
        return project_form(values, counts, errors, mode, 400, project_id=project_id, proposal=proposal)
    origin = apply.Origin(actor(), "form")
    if proposal:
        origin = apply.Origin(actor(), "proposal", f"proposal #{proposal['id']}", note=f"proposal #{proposal['id']}")
    try:
        write(origin, projects=projects, expected={("project", raw["id"]): version},
              proposal_id=proposal["id"] if proposal else None)
    except editing_db.Conflict as exc:
        return conflict_page(exc, mine=projects[0])
    return redirect(url_for("views.project", project_id=raw["id"]))


@bp.route("/editor/projects/<project_id>/delete", methods=["GET", "POST"])
@requires("admin")
def project_delete(project_id):
    return delete("project", project_id)


# --- organisations ----------------------------------------------------------------------------

def organisation_form(values, errors, mode, status=200, **extra):
    return render_template("editor/organisation_form.html", v=values, errors=errors, mode=mode,
                           summary=forms.error_summary(errors, forms.ORG_FORM, words=language.words()), **extra), status


@bp.route("/editor/organisations/new", methods=["GET", "POST"])
@requires("editor")
def organisation_new():
    if request.method == "POST":
        return save_organisation("new")
    return organisation_form({"version": "0", "type": "other"}, {}, "new")


@bp.route("/editor/organisations/<org_id>/edit", methods=["GET", "POST"])
@requires("editor")
def organisation_edit(org_id):
    record, version = editing_db.organisation_record(get_db(), org_id)
    if record is None:
        return error_response(404, "not_found", _("no organisation with this id: it may have been deleted"))
    if request.method == "POST":
        return save_organisation("edit", org_id)
    return organisation_form(dict(forms.organisation_values(record), version=str(version)), {}, "edit",
                             org_id=org_id)


def save_organisation(mode, org_id=None):
    db = get_db()
    version = form_version()
    if version is None:
        return bad_version()
    if request.form.get("review"):     # "edit my version first" on the conflict page: the form, filled in
        values, _unused = forms.submitted_values(request.form)
        return organisation_form(values, {}, mode, org_id=org_id)
    raw, errors = forms.organisation_from_form(request.form, language.words())
    raw["id"] = org_id if mode == "edit" else (raw["id"] or forms.slugify(raw["acronym"] or raw["name"]))
    known_projects, known_orgs = storage.existing_ids(db)
    if mode == "new" and raw["id"] in known_orgs:
        errors.setdefault("id", []).append(_("'%(id)s' is already the id of another organisation: choose another "
                                             "id", id=raw["id"]))
    try:
        orgs, _unused = ingest.prepare([("", raw)], [], known_projects, known_orgs)
    except ValidationError as exc:
        errors = forms.place_errors(exc.problems, found=errors, fields=forms.shown(forms.ORG_FORM, mode),
                                    words=language.words())
    if errors:
        values, _unused = forms.submitted_values(request.form)
        return organisation_form(values, errors, mode, 400, org_id=org_id)
    try:
        write(apply.Origin(actor(), "form"), organisations=orgs, expected={("organisation", raw["id"]): version})
    except editing_db.Conflict as exc:
        return conflict_page(exc, mine=orgs[0])
    return redirect(url_for("views.organisation", org_id=raw["id"]))


@bp.route("/editor/organisations/<org_id>/delete", methods=["GET", "POST"])
@requires("admin")
def organisation_delete(org_id):
    return delete("organisation", org_id)


# --- source records ---------------------------------------------------------------------------

def source_form(values, errors, mode, status=200, **extra):
    return render_template("editor/source_form.html", v=values, errors=errors, mode=mode, KINDS=SOURCE_KINDS,
                           summary=forms.error_summary(errors, forms.SOURCE_FORM, words=language.words()), **extra), status


@bp.get("/editor/sources")
@requires("editor")
def source_list():
    return render_template("editor/sources.html", sources=list(reversed(source_store.list_sources(get_db()))))


@bp.route("/editor/sources/new", methods=["GET", "POST"])
@requires("editor")
def source_new():
    if request.method == "POST":
        return save_source("new")
    return source_form({"version": "0", "kind": "web-page"}, {}, "new")


@bp.route("/editor/sources/<source_id>/edit", methods=["GET", "POST"])
@requires("editor")
def source_edit(source_id):
    record, version = editing_db.source_record(get_db(), source_id)
    if record is None:
        return error_response(404, "not_found", _("no source with this id: it may have been deleted"))
    if request.method == "POST":
        return save_source("edit", source_id)
    cited = len(source_store.citing_projects(get_db(), [source_id]))
    return source_form(dict(forms.source_values(record), version=str(version)), {}, "edit", source_id=source_id,
                       cited=cited)


def save_source(mode, source_id=None):
    """Create or edit a source record through the audited write path (history entity "source")."""
    db = get_db()
    version = form_version()
    if version is None:
        return bad_version()
    if request.form.get("review"):     # "edit my version first" on the conflict page: the form, filled in
        values, _unused = forms.submitted_values(request.form)
        return source_form(values, {}, mode, source_id=source_id)
    raw = forms.source_from_form(request.form)
    raw["id"] = source_id if mode == "edit" else (raw["id"] or forms.slugify(raw["title"] or ""))
    errors = {}
    if mode == "new" and raw["id"] in source_store.source_ids(db):
        errors["id"] = [_("'%(id)s' is already the id of another source: choose another id", id=raw["id"])]
    source, problems = apply.clean_sources([("", raw)])
    errors = forms.place_errors(problems, found=errors, fields=forms.shown(forms.SOURCE_FORM, mode),
                                words=language.words())
    if errors:
        values, _unused = forms.submitted_values(request.form)
        return source_form(values, errors, mode, 400, source_id=source_id)
    try:
        write(apply.Origin(actor(), "form"), sources=source, expected={("source", raw["id"]): version})
    except editing_db.Conflict as exc:
        return conflict_page(exc, mine=source[0])
    flash(_("Saved the source '%(id)s'.", id=raw["id"]))
    return redirect(url_for("editor.source_list"))


@bp.route("/editor/sources/<source_id>/delete", methods=["GET", "POST"])
@requires("admin")
def source_delete(source_id):
    return delete("source", source_id)


def delete(entity, entity_id):
    db = get_db()
    record, version = editing_db.RECORDS[entity](db, entity_id)
    if record is None:
        return error_response(404, "not_found", _("no %(what)s: it may have been deleted already",
                                                  what=record_name(entity, entity_id)))
    if request.method == "GET":
        return render_template("editor/delete.html", entity=entity, record=record, version=version)
    version = form_version()
    if version is None:
        return bad_version()
    try:
        write(apply.Origin(actor(), "form"), delete=[(entity, entity_id)], expected={(entity, entity_id): version})
    except editing_db.Conflict as exc:
        return conflict_page(exc)
    flash(_("Deleted the %(what)s. The history keeps it: it can be restored from there.",
            what=record_name(entity, entity_id)))
    return redirect(url_for("editor.index"))


# --- search index -------------------------------------------------------------------------------

@bp.post("/admin/reindex")
@requires("admin")
def rebuild_index():
    try:
        n = search.rebuild(index_settings(), wait=5)
    except search.IndexBusy as exc:
        flash(_("Not rebuilt: %(reason)s.", reason=exc))
        return redirect(url_for("editor.index"))
    except Exception:
        log.exception("index rebuild failed")
        flash(_("The index rebuild failed (see the server log). Search keeps using the previous index."))
        return redirect(url_for("editor.index"))
    editing_db.log_event(get_db(), actor(), "reindex", "index", "projects", note=f"{n} projects indexed")
    flash(ngettext("Search index rebuilt: %(num)d project.", "Search index rebuilt: %(num)d projects.", n))
    return redirect(url_for("editor.index"))


def init_app(app):
    # uploads wait next to the database (instance/uploads by default)
    app.config.setdefault("UPLOAD_DIR", os.path.join(os.path.dirname(app.config["DATABASE"]), "uploads"))
    app.config.setdefault("PROPOSE_LIMIT", 10)       # proposals kept per client address ...
    app.config.setdefault("PROPOSE_ATTEMPT_LIMIT", 60)   # ... posts of the form, kept or not ...
    app.config.setdefault("PROPOSE_WINDOW", 3600)    # ... per this many seconds
