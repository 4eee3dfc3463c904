"""Web import: upload a CSV, JSON or GeoJSON file, see what would be added and changed (and every row
error), then confirm. The uploaded bytes wait under UPLOAD_DIR (in the instance folder) with a generated
name; the client's file name is only ever shown (escaped), never used as a path. All or nothing: the
preview and the import both go through the audited write path (exchange/apply.py), which writes what
changed in one transaction with one history row per changed record (source: the file name).
"""
import hashlib
import json
import re
import secrets
import time
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from ..store import editing as editing_db
from ..store import db as storage
from ..exchange import ingest
from .auth import requires
from .editor import actor, conflict_page
from ..web.errors import error_response
from ..core.validate import ValidationError
from ..web.context import get_db, index_settings

bp = Blueprint("webimport", __name__)

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")
KEEP_SECONDS = 24 * 3600


def _folder():
    """The upload folder, cleared of uploads older than a day."""
    folder = Path(current_app.config["UPLOAD_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - KEEP_SECONDS
    for old in folder.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return folder


def _sniff(data):
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return "geojson" if b"FeatureCollection" in data[:4096] else "json"
    return "csv"


def plan(db, data, fmt):
    """The importer's dry run: what the upload would add, change (field by field) and delete, writing
    nothing -> a Report. Raises ValidationError with every row error."""
    return ingest.import_data(db, data, fmt, dry_run=True, actor=actor())


def writes(report):
    """How many records the import would write."""
    return (len(report.added) + len(report.changed) + len(report.deleted) + len(report.organisations)
            + len(report.orgs.deleted))


@bp.route("/editor/import", methods=["GET", "POST"])
@requires("editor")
def import_upload():
    if request.method == "GET":
        return render_template("editor/import.html", formats=ingest.FORMATS)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("editor/import.html", formats=ingest.FORMATS,
                               error="choose a file to upload (CSV, JSON or GeoJSON)"), 400
    data, filename = upload.read(), upload.filename[-200:]
    fmt = request.form.get("format") or ingest.guess_format(filename) or _sniff(data)
    if fmt not in ingest.FORMATS:
        return render_template("editor/import.html", formats=ingest.FORMATS,
                               error=f"choose the file's format: {', '.join(ingest.FORMATS)}"), 400
    db = get_db()
    try:
        report = plan(db, data, fmt)
    except ValidationError as exc:
        return render_template("editor/import_preview.html", filename=filename, fmt=fmt, errors=exc.problems,
                               report=None, token=None), 400
    token = secrets.token_hex(16)
    folder = _folder()
    (folder / f"{token}.data").write_bytes(data)
    (folder / f"{token}.json").write_text(json.dumps({
        "fmt": fmt, "filename": filename, "user": actor(), "sha256": hashlib.sha256(data).hexdigest()}))
    return render_template("editor/import_preview.html", filename=filename, fmt=fmt, errors=[], report=report,
                           token=token, writes=writes(report))


@bp.post("/editor/import/<token>")
@requires("editor")
def import_confirm(token):
    folder = _folder()
    meta_path = folder / f"{token}.json" if TOKEN_RE.match(token) else None
    meta = json.loads(meta_path.read_text()) if meta_path and meta_path.exists() else None
    if meta is None or meta["user"] != actor():
        return error_response(404, "upload_not_found", "this upload has expired or was imported already: "
                                                       "upload the file again")
    data = (folder / f"{token}.data").read_bytes()
    db = get_db()
    try:
        report = ingest.import_data(db, data, meta["fmt"], actor=actor(), source=meta["filename"], batch=token,
                                    note=f"sha256 {meta['sha256'][:12]}", index=index_settings())
    except ValidationError as exc:   # the registry changed since the preview
        return render_template("editor/import_preview.html", filename=meta["filename"], fmt=meta["fmt"],
                               errors=exc.problems, report=None, token=None), 400
    except editing_db.Conflict as exc:
        return conflict_page(exc)
    except storage.StaleReference:
        return error_response(409, "changed_during_import", "the registry changed while importing (an "
                              "organisation the file uses was deleted): nothing was stored; upload it again")
    for suffix in (".data", ".json"):
        (folder / f"{token}{suffix}").unlink(missing_ok=True)
    flash(f"Imported {meta['filename']}: {len(report.added)} project(s) added, {len(report.changed)} changed, "
          f"{len(report.unchanged)} unchanged; {len(report.organisations)} organisation(s) added or changed.")
    return redirect(url_for("history.history"))
