"""Web import: upload a CSV, JSON or GeoJSON file (JSON may also hold source records and changes to stored
records: geodata/updates/README.md), see what would be added and changed (and every row error), then confirm, which starts a job outside the request: its page shows the progress and then the
report (or the errors). The uploaded bytes wait under UPLOAD_DIR (in the instance folder) with a generated
name; the client's file name is only ever shown (escaped), never used as a path. All or nothing: the
preview and the job both go through the audited write path (exchange/apply.py), which writes what
changed in one transaction with one history row per changed record (source: the file name).

The preview still runs in the request (10-40 s for 100,000 rows on 2 cores, within gunicorn's 120 s); the
import itself (1-7 min for 100,000 rows, most of it indexing) runs in a process of its own
(exchange/jobs.py says why not a thread or huey), with its state in the `jobs` table (store/jobs.py).
"""
import hashlib
import json
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..store import jobs as jobs_db
from ..exchange import ingest
from ..exchange import jobs as runner
from .auth import requires
from . import forms
from .editor import actor
from ..web.errors import error_response
from ..core.validate import ValidationError
from ..web.context import get_db, index_settings
from ..web import language
from ..core.language import N_

bp = Blueprint("webimport", __name__)
IMPORT_LABELS = {"file": N_("File"), "format": N_("Format")}   # the upload form's labels (editor/import.html)
# what the job page says about each stage (exchange/jobs.py STAGES, which the JSON keeps in English)
STAGE_TEXTS = {"waiting": N_("starting (or waiting for another import to finish)"), "reading": N_("reading the file"),
               "validating": N_("checking the records"),
               "writing": N_("writing to the database (all records in one transaction)"),
               "indexing": N_("updating the search index")}


def stage_text(stage):
    return _(STAGE_TEXTS[stage]) if stage in STAGE_TEXTS else runner.STAGES.get(stage, stage)

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
KEEP_SECONDS = 24 * 3600


def _folder():
    """The upload folder, cleared of uploads older than a day."""
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - KEEP_SECONDS
    for old in folder.iterdir():
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)
        except FileNotFoundError:   # an import job just used it up
            pass
    return folder


def _sniff(data):
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "geojson" if b"FeatureCollection" in data[:4096] else "json"
    if head[:1] == b"<":    # XML: IATI activities (another root gets the IATI reader's message naming it)
        return "iati"
    return "csv"


def plan(db, data, fmt):
    """The importer's dry run: what the upload would add, change (field by field) and delete, writing
    nothing -> a Report. Raises ValidationError with every row error."""
    return ingest.import_data(db, data, fmt, dry_run=True, actor=actor())


def writes(report):
    """How many records the import would write."""
    return (len(report.added) + len(report.changed) + len(report.deleted) + len(report.organisations)
            + len(report.orgs.deleted) + len(report.sources.added) + len(report.sources.changed)
            + len(report.sources.deleted))


def _wants_json():
    """An API-style client (Accept: application/json) gets JSON and a 202; a browser gets pages."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


@bp.route("/editor/import", methods=["GET", "POST"])
@requires("editor")
def import_upload():
    if request.method == "GET":
        return _upload_page()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _upload_page({"file": [_("choose a file to upload (CSV, JSON, GeoJSON or IATI XML)")]}), 400
    data, filename = upload.read(), upload.filename[-200:]
    fmt = request.form.get("format") or ingest.guess_format(filename) or _sniff(data)
    if fmt not in ingest.FORMATS:
        return _upload_page({"format": [_("choose the file's format: %(formats)s", formats=", ".join(ingest.FORMATS))]}), 400
    db = get_db()
    try:
        report = plan(db, data, fmt)
    except ValidationError as exc:
        return render_template("editor/import_preview.html", filename=filename, fmt=fmt, errors=exc.problems,
                               report=None, token=None, words=language.words()), 400
    token = secrets.token_hex(16)
    folder = _folder()
    (folder / f"{token}.data").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps({
        "fmt": fmt, "filename": filename, "user": actor(), "sha256": hashlib.sha256(data).hexdigest()}))
    return render_template("editor/import_preview.html", filename=filename, fmt=fmt, errors=[],
                           report=runner.report_summary(report), token=token, writes=writes(report))


def _upload_page(errors=None):
    """The upload form, with the user's recent import jobs (those whose process died marked failed)."""
    db = get_db()
    runner.reap(db)
    errors = errors or {}
    return render_template("editor/import.html", formats=ingest.FORMATS, errors=errors, v={},
                           summary=forms.error_summary(errors, ("file", "format"), IMPORT_LABELS, language.words()),
                           jobs=jobs_db.recent(db, who=actor()), stage_text=stage_text)


@bp.post("/editor/import/<token>")
@requires("editor")
def import_confirm(token):
    """Start the import job of an upload and answer at once: a redirect to the job's page (a 202 with its
    URL for API-style clients). A second confirmation (a double click) finds the first one's job."""
    if not TOKEN_RE.match(token):
        return _upload_gone()
    db = get_db()
    job = jobs_db.get(db, token)
    if job is not None:
        return _job_started(job) if job["who"] == actor() else _upload_gone()
    folder = _folder()
    meta_path = folder / f"{token}.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta is None or meta["user"] != actor() or not (folder / f"{token}.data").exists():
        return _upload_gone()
    if jobs_db.create(db, token, "import", str(folder / f"{token}.data"), actor(), filename=meta["filename"],
                      fmt=meta["fmt"], options={"sha256": meta["sha256"], "note": f"sha256 {meta['sha256'][:12]}"}):
        meta_path.unlink(missing_ok=True)   # the job row holds what it said now
        settings = index_settings()
        try:
            runner.start(settings.database, settings.index_dir, token)
        except OSError as exc:
            jobs_db.fail_if_unfinished(db, token, [_("the import could not be started (%(reason)s); nothing was "
                                                     "stored. Please tell the administrators.", reason=exc)])
    return _job_started(jobs_db.get(db, token))


def _error(status, code, message):
    if _wants_json():
        return jsonify({"error": {"code": code, "message": message}}), status
    return error_response(status, code, message)


def _upload_gone():
    return _error(404, "upload_not_found", _("this upload has expired or was imported already: upload the file "
                                             "again"))


def _job_started(job):
    url = url_for("webimport.job_page", token=job["id"])
    if _wants_json():
        return jsonify({"job": _job_json(job)}), 202, {"Location": url}
    return redirect(url, 303)


@bp.get("/editor/jobs/<token>")
@requires("editor")
def job_page(token):
    """A job's progress (the page reloads itself until the job ends) and then its report or errors."""
    db = get_db()
    job = jobs_db.get(db, token) if TOKEN_RE.match(token) else None
    if job is None:
        return _error(404, "job_not_found", _("there is no such import job: start imports at /editor/import"))
    if not job["finished"] and runner.reap(db):
        job = jobs_db.get(db, token)
    if _wants_json():
        return jsonify({"job": _job_json(job)})
    refresh = not job["finished"] and request.args.get("refresh") != "off"
    percent = 100 * job["done"] // job["total"] if job["total"] and job["done"] is not None else None
    words = language.words()
    return render_template("editor/job.html", job=job, stage=stage_text(job["stage"]),
                           percent=percent, refresh=refresh, refresh_seconds=JOB_REFRESH,
                           errors=[runner.error_text(e, words) for e in job["errors"] or []],
                           summary=runner.summary_text(job["report"], words) if job["report"] else "")


JOB_REFRESH = 3   # seconds between two reloads of a running job's page


def _job_json(job):
    public = ("id", "kind", "status", "stage", "done", "total", "filename", "format", "who", "created_at",
              "started_at", "finished_at", "report", "errors")
    # the API's errors stay English text (the page writes them in its reader's language)
    errors = None if job["errors"] is None else [runner.error_text(e) for e in job["errors"]]
    return dict({k: job[k] for k in public}, finished=job["finished"], errors=errors,
                stage_text=runner.STAGES.get(job["stage"], job["stage"]),
                url=url_for("webimport.job_page", token=job["id"], _external=True))
