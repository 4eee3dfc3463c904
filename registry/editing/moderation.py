"""Propose a project: a public form (no account) with spam protection that needs no outside service -
a honeypot field and a rate limit per client address kept in the database - landing in a moderation
queue (only proposals that are kept count against the quota; every post counts against a larger budget
of attempts). Editors open a proposal as a prefilled project form, then approve it (the same validation and
write as any edit, recorded as "approve") after any changes, or reject it.
"""
import hashlib
import hmac
import logging
import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from ..store import editing as editing_db
from ..store import db as storage
from . import forms
from .auth import public, requires
from .editor import actor, conflict_page, project_form, save_project
from ..web.errors import error_response
from ..core.language import ENGLISH, N_
from ..core.validate import PRECISIONS, Checker, clean_project
from ..web.context import get_db, index_settings
from ..web import language

bp = Blueprint("moderation", __name__)

log = logging.getLogger(__name__)
PROJECT_FIELDS = ("title", "summary", "description", "area", "kind", "status", "start_year", "end_year",
                  "countries", "website", "keywords", "loc-1-name", "loc-1-precision", "loc-1-lat", "loc-1-lon")
EXTRA_FIELDS = {"who": 2000, "evidence": 5000, "contact_name": 200, "contact_email": 200}
# the form's fields in page order, and the words of their labels where they differ from the editor's
PROPOSE_FORM = ("title", "summary", "description", "area", "kind", "status", "start_year", "end_year",
                "countries", "loc", "who", "website", "keywords", "src", "evidence", "contact_name",
                "contact_email")
PROPOSE_LABELS = {"area": N_("Partnership area"), "loc-1-name": N_("Place name"), "loc-1-precision": N_("Precision"),
                  "loc-1-lat": N_("Latitude"), "loc-1-lon": N_("Longitude"),
                  "who": N_("Who funds, leads or carries it out?"),
                  "evidence": N_("Where does this information come from?"), "contact_name": N_("Your name"),
                  "contact_email": N_("Your e-mail")}
HONEYPOT = "homepage"   # hidden from people by CSS; bots fill it in
DOCUMENT = "Proposed through the registry's public form"


def proposal_from_form(form, words=None):
    """-> (proposal data: project form values plus who/evidence/contact, {field: [messages]} in the language
    of `words` (default: English))."""
    words = words or ENGLISH
    data = {k: (form.get(k) or "").strip() for k in PROJECT_FIELDS}
    c = Checker()
    for name, limit in EXTRA_FIELDS.items():
        data[name] = c.text(form.get(name), name, max_len=limit) or ""
    if data["evidence"]:
        data.update({"src-1-document": DOCUMENT, "src-1-quote": data["evidence"]})
    raw, rows, errors = forms.project_from_form(MultiDict(data), lambda texts: {}, words=words)
    raw["id"] = forms.slugify(raw["title"]) or "proposal"
    _unused, messages = clean_project(raw)
    for key, texts in forms.place_errors(c.problems + messages, rows, fields=PROPOSE_FORM, words=words).items():
        errors.setdefault("evidence" if key.startswith("src-") else key, []).extend(texts)
    return data, errors


def client_key():
    """The client address, keyed with the secret: counted, never stored in clear."""
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, (request.remote_addr or "").encode(), hashlib.sha256).hexdigest()[:32]


@bp.route("/propose", methods=["GET", "POST"])
@public
def propose():
    if request.method == "GET":
        return render_template("editor/propose.html", v={}, errors={}, PRECISIONS=PRECISIONS)
    # Two budgets per client address, both in the database (they hold across workers): every post counts
    # against PROPOSE_ATTEMPT_LIMIT, which bounds clients that only fail or fill the honeypot; only proposals
    # that are kept count against PROPOSE_LIMIT, so a person's mistakes never use up their quota.
    db, cfg, client, now = get_db(), current_app.config, client_key(), time.time()
    if not editing_db.rate_limit_hit(db, f"propose-attempt:{client}", cfg["PROPOSE_ATTEMPT_LIMIT"],
                                     cfg["PROPOSE_WINDOW"], now):
        return error_response(429, "too_many_attempts", _("too many attempts to send a proposal came from your "
                                                          "network in the last hour: please try again later"))
    if request.form.get(HONEYPOT):
        log.info("proposal dropped: honeypot filled")
        return render_template("editor/propose_thanks.html")
    data, errors = proposal_from_form(request.form, language.words())
    if errors:
        summary = forms.error_summary(errors, PROPOSE_FORM, PROPOSE_LABELS, language.words())
        return render_template("editor/propose.html", v=request.form, errors=errors, summary=summary,
                               PRECISIONS=PRECISIONS), 400
    if not editing_db.rate_limit_hit(db, f"propose:{client}", cfg["PROPOSE_LIMIT"], cfg["PROPOSE_WINDOW"], now):
        return error_response(429, "too_many_proposals", _("too many proposals were sent from your network in the "
                                                           "last hour: please try again later"))
    editing_db.add_proposal(db, data)
    return render_template("editor/propose_thanks.html")


@bp.get("/editor/proposals")
@requires("editor")
def proposals():
    status = request.args.get("status") if request.args.get("status") in ("approved", "rejected") else "pending"
    return render_template("editor/proposals.html", rows=editing_db.list_proposals(get_db(), status),
                           status=status)


@bp.route("/editor/proposals/<int:proposal_id>", methods=["GET", "POST"])
@requires("editor")
def proposal(proposal_id):
    p = editing_db.get_proposal(get_db(), proposal_id)
    if p is None:
        return error_response(404, "not_found", _("no such proposal: see the moderation queue"))
    if p["status"] != "pending":
        return render_template("editor/proposal_done.html", p=p)
    if request.method == "POST":
        return save_project("approve", proposal=p)
    values = dict(p["data"], id=forms.slugify(p["data"].get("title")), version="0")
    counts = {"loc": 1 + forms.EXTRA_ROWS, "org": forms.EXTRA_ROWS, "src": 1 + forms.EXTRA_ROWS}
    return project_form(values, counts, {}, "approve", proposal=p)


@bp.post("/editor/proposals/<int:proposal_id>/reject")
@requires("editor")
def proposal_reject(proposal_id):
    c = Checker()
    note = c.text(request.form.get("note"), "note", max_len=500)
    if c.errors:
        return error_response(400, "invalid_note", _("%(label)s: %(message)s", label=_("Reason"),
                                                     message=c.errors[0].message_in(language.words())))
    db = get_db()
    if editing_db.get_proposal(db, proposal_id) is None:
        return error_response(404, "not_found", _("no such proposal: see the moderation queue"))
    try:
        editing_db.reject_proposal(db, proposal_id, actor(), note)
    except editing_db.Conflict as exc:
        return conflict_page(exc)
    flash(_("Proposal #%(number)s rejected.", number=proposal_id))
    return redirect(url_for("moderation.proposals"))
