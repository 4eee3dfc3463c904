"""Accounts, roles and sessions: log in and out, login throttling kept in the database, CSRF, your own
account. The admin pages for users and the CLI commands are in registry/editing/users.py.

Roles: `editor` (create, edit, import, moderate) and `admin` (all of that, plus users, deletes and index
rebuilds). The public reads without an account. Every view of the editing blueprints declares what it
needs with `@requires(role)` or `@public`; tests walk `app.url_map` against those declarations.

Sessions live on the server (store/sessions.py): the signed cookie carries a random session token
(`sid`), plus Flask-WTF's CSRF token and flash messages; no user id. Every request looks the token up, so
logging out, a new password, a role change or a deactivation ends sessions at once, copied cookies too.

Logins are throttled per account *and* client address together (growing delays after a few failures)
and per client address across accounts (store/editing.py LoginPolicy): an attacker slows down only their
own address, never the account's owner elsewhere. The address is `request.remote_addr`, which is the
client's only behind REGISTRY_PROXY_FIX=1 (web/security.py); a forged X-Forwarded-For changes nothing.
"""
import hashlib
import hmac
import ipaddress
import logging
import math
import re
import secrets
import time
from functools import cache, wraps
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _, ngettext
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.security import check_password_hash, generate_password_hash

from ..store import editing as editing_db
from ..store import sessions as sessions_db
from ..store import db as storage
from ..web.errors import error_response
from ..web.context import get_db, index_settings
from ..web import language
from ..core.language import ENGLISH, N_

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
log = logging.getLogger(__name__)

ROLES = ("editor", "admin")
RANK = {"editor": 1, "admin": 2}
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
DEFAULTS = {
    "LOGIN_FREE_FAILURES": 5,         # failures of one account from one client before it must wait,
    "LOGIN_FIRST_DELAY": 1,           # ... first 1 s, doubling with each further failure,
    "LOGIN_MAX_DELAY": 15 * 60,       # ... up to 15 minutes
    "LOGIN_CLIENT_MAX_FAILURES": 20,  # failures from one client, any accounts, within
    "LOGIN_CLIENT_WINDOW": 10 * 60,   # ... this many seconds, before that client must wait
    "SESSION_MAX_AGE": 8 * 3600,      # absolute session lifetime
    "SESSION_IDLE": 30 * 60,          # idle timeout
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,  # a form stays valid as long as the session
}


# --- pure checks ------------------------------------------------------------------------------

def check_username(name, words=ENGLISH):
    """None, or what is wrong with a new username in the language of `words` (the CLI: English)."""
    if not USERNAME_RE.match(name or ""):
        return words.gettext("a username has 2-40 characters: lower-case letters, digits, dots, hyphens or "
                             "underscores")
    return None


def check_password(password, username="", words=ENGLISH):
    if len(password) < MIN_PASSWORD:
        return words.gettext("the password is too short: use at least %(num)d characters (a few words work "
                             "well)") % {"num": MIN_PASSWORD}
    if len(password) > MAX_PASSWORD:
        return words.gettext("the password is too long: use at most %(num)d characters") % {"num": MAX_PASSWORD}
    if username and username.lower() in password.lower():
        return words.gettext("the password must not contain the username")
    return None


def one_time_password():
    return secrets.token_urlsafe(15)


def safe_next(target, default=None):
    """`target` if it is a path on this site, else `default`: no scheme, host, backslash or control
    characters (browsers drop tabs and read backslashes as slashes: %09//evil, /\\evil)."""
    default = default or "/"
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or len(target) > 2000:
        return default
    if "\\" in target or any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in target):
        return default
    parts = urlsplit(target)
    return default if parts.scheme or parts.netloc else target


@cache
def _dummy_hash():
    """Checked against when the username is unknown, so both cases take the same time."""
    return generate_password_hash(secrets.token_hex(16))


# --- who is asking ----------------------------------------------------------------------------

@bp.before_app_request
def load_user():
    g.user = None
    token = session.get("sid")
    if not isinstance(token, str):
        return
    g.user = sessions_db.session_user(get_db(), token, time.time(), current_app.config["SESSION_IDLE"])
    if g.user is None:
        session.clear()        # an ended, expired or unknown session: the browser is logged out


def start_session(user):
    """Log `user` in on this browser: a new server-side session, its token the only login data in the cookie."""
    session.clear()            # a new session at every login: nothing from before it carries over
    session["sid"] = sessions_db.start_session(get_db(), user["id"], time.time(),
                                               current_app.config["SESSION_MAX_AGE"])


ROLE_NAMES = {"editor": N_("editor"), "admin": N_("admin")}   # as the account pages show a role


@bp.app_context_processor
def current_user():
    return {"current_user": g.get("user"), "ACCOUNT_ROLES": {role: _(ROLE_NAMES[role]) for role in ROLES}}


def has_role(role):
    user = g.get("user")
    return user is not None and RANK.get(user["role"], 0) >= RANK[role]


def requires(role):
    """The view needs a logged-in user with `role` (admin includes editor). Anonymous users are sent
    to the login page; users without the role get a 403 page."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = g.get("user")
            if user is None:
                target = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("auth.login", next=target))
            if not has_role(role):
                return error_response(403, "forbidden", _("this page needs the %(role)s role; ask an administrator",
                                                          role=role))
            if user["must_change_password"] and request.endpoint not in ("auth.password", "auth.account"):
                flash(_("Choose your own password before you go on."))
                return redirect(url_for("auth.password"))
            return view(*args, **kwargs)
        wrapped.required_role = role
        return wrapped
    return decorate


def public(view):
    """Declares that a view of the editing blueprints is open to everyone (CSRF still applies)."""
    view.required_role = None
    return view


# --- log in and out ---------------------------------------------------------------------------

# the fields of this module's forms in page order, with the words of their labels (templates/auth/)
LOGIN_LABELS = {"username": N_("Username"), "password": N_("Password")}
PASSWORD_LABELS = {"current_password": N_("Current password"), "new_password": N_("New password"),
                   "confirm_password": N_("New password again")}
# what an empty field says (one msgid per field: the label's words do not make a sentence in every language)
EMPTY_MESSAGES = {"username": N_("is empty: type your username"), "password": N_("is empty: type your password"),
                  "current_password": N_("is empty: type your current password"),
                  "new_password": N_("is empty: type your new password"),
                  "confirm_password": N_("is empty: type your new password again")}


def error_summary(errors, labels):
    """{field: [messages]} -> the entries of the form's error summary (editor/_fields.html), as
    forms.error_summary makes them for the record forms (which this module may not import): form-level
    ("_form") first, then the fields in page order, each linked by its label's words."""
    return [{"field": None if name == "_form" else name, "label": _(labels[name]) if name in labels else "",
             "message": message} for name in ("_form", *labels) for message in errors.get(name, [])]


def empty_fields(form, labels):
    """{field: [message]} for each field of `labels` left empty: the form says which one."""
    return {name: [subjectless(_(EMPTY_MESSAGES[name]))] for name in labels if not form.get(name)}


class Subjectless(str):
    """A message that names no subject ("is empty: ..."), in any language: the form puts the field's label in
    front of it (editor/_fields.html; forms.FieldMessage, which this module may not import, says the same)."""
    needs_label = True


def subjectless(message):
    return Subjectless(message)


def _login_page(status, errors=None, next_url=None, username=""):
    errors = errors or {}
    return render_template("auth/login.html", errors=errors, summary=error_summary(errors, LOGIN_LABELS),
                           v={"username": username}, next=next_url), status


def login_policy(cfg):
    return editing_db.LoginPolicy(free_failures=cfg["LOGIN_FREE_FAILURES"], first_delay=cfg["LOGIN_FIRST_DELAY"],
                                  max_delay=cfg["LOGIN_MAX_DELAY"], client_failures=cfg["LOGIN_CLIENT_MAX_FAILURES"],
                                  client_window=cfg["LOGIN_CLIENT_WINDOW"])


def client_key(address):
    """The client, as the throttle counts it: its address (an IPv6 client by its /64, which one machine
    usually holds whole), keyed with the secret so that the database holds no addresses in clear."""
    try:
        ip = ipaddress.ip_address(address or "")
        network = ipaddress.ip_network(f"{ip}/64", strict=False) if ip.version == 6 else ip
    except ValueError:
        network = address or "unknown"
    secret = str(current_app.secret_key).encode()
    return hmac.new(secret, str(network).encode(), hashlib.sha256).hexdigest()[:32]


def _wait_text(seconds):
    if seconds < 120:
        return ngettext("%(num)d second", "%(num)d seconds", math.ceil(seconds))
    return ngettext("%(num)d minute", "%(num)d minutes", math.ceil(seconds / 60))


def _throttled(wait, target):
    """429 with Retry-After: the attempt was not checked."""
    if wait.scope == "account":
        error = _("Too many failed logins for this account from your network: wait %(time)s and try again, or log "
                  "in from another network. An administrator can reset your password.", time=_wait_text(wait.seconds))
    else:
        error = _("Too many failed logins from your network: wait %(time)s and try again, or log in from another "
                  "network.", time=_wait_text(wait.seconds))
    body, status = _login_page(429, {"_form": [error]}, target)
    return body, status, {"Retry-After": str(max(1, math.ceil(wait.seconds)))}


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    default = url_for("editor.index") if "editor.index" in current_app.view_functions else "/"
    target = safe_next(request.values.get("next"), default)
    if request.method == "GET":
        return _login_page(200, next_url=target)
    db = get_db()
    username = (request.form.get("username") or "").strip().lower()[:100]
    password = request.form.get("password") or ""
    client = client_key(request.remote_addr)
    missing = empty_fields(request.form, LOGIN_LABELS)
    if missing:        # nothing to check: not counted as an attempt
        return _login_page(400, missing, target, username)
    # Unknown and known usernames are counted and answered alike: the answers reveal no account names.
    wait = editing_db.begin_login_attempt(db, username, client, time.time(), login_policy(current_app.config))
    if wait is not None:
        log.warning("login for %r from %s refused for %.0f s (%s)", username, request.remote_addr, wait.seconds,
                    wait.scope)
        return _throttled(wait, target)
    user = editing_db.get_user(db, username) if username else None
    ok = len(password) <= MAX_PASSWORD and check_password_hash(user["password_hash"] if user else _dummy_hash(),
                                                               password)
    if not (ok and user and user["active"]):
        log.info("failed login for %r from %s", username, request.remote_addr)
        return _login_page(401, {"_form": [_("Wrong username or password.")]}, target, username)
    editing_db.forgive_login_failures(db, username, client)
    start_session(user)
    log.info("login %r from %s", username, request.remote_addr)
    if user["must_change_password"]:
        return redirect(url_for("auth.password"))
    return redirect(target)


@bp.post("/logout")
@public
def logout():
    token = session.get("sid")
    if isinstance(token, str):
        sessions_db.end_session(get_db(), token, "logout", time.time())   # the cookie, and any copy, ends here
    session.clear()
    return redirect(url_for("views.home"))


# --- own account ------------------------------------------------------------------------------

@bp.get("/account")
@requires("editor")
def account():
    return render_template("auth/account.html")


@bp.route("/account/password", methods=["GET", "POST"])
@requires("editor")
def password():
    if request.method == "GET":
        return _password_page({}, 200)
    user, db = g.user, get_db()
    current, new = request.form.get("current_password") or "", request.form.get("new_password") or ""
    errors = empty_fields(request.form, PASSWORD_LABELS)
    if not errors:
        errors = _password_problems(user, current, new, request.form.get("confirm_password"))
    if errors:
        return _password_page(errors, 400)
    updated = editing_db.update_user(db, user["id"], user["username"], password_hash=generate_password_hash(new),
                                     must_change_password=0)   # ends every session of the user ...
    start_session(updated)                                       # ... and this browser goes on in a new one
    flash(_("Password changed. Your other sessions have been logged out."))
    return redirect(url_for("auth.account"))


def _password_problems(user, current, new, confirm):
    if len(current) > MAX_PASSWORD or not check_password_hash(user["password_hash"], current):
        return {"current_password": [subjectless(_("is not right: type the password you use now"))]}
    if new != confirm:
        return {"confirm_password": [_("differs from the new password: type the same password twice")]}
    problem = check_password(new, user["username"], language.words())
    return {"new_password": [problem]} if problem else {}


def _password_page(errors, status):
    return render_template("auth/password.html", errors=errors, summary=error_summary(errors, PASSWORD_LABELS),
                           v={}), status


@bp.post("/account/sessions")
@requires("editor")
def end_sessions():
    sessions_db.end_user_sessions(get_db(), g.user["id"], "logged out everywhere", time.time())
    session.clear()
    return redirect(url_for("views.home"))


def _csrf_failed(exc):
    log.warning("CSRF check failed: %s %s (%s)", request.method, request.path, exc.description)
    return error_response(400, "csrf_failed", _("this form has expired or did not come from this site: go back, "
                                                "reload the page and send it again"))


def init_app(app):
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if app.config.get("SESSION_COOKIE_SECURE") and app.config.get("SESSION_COOKIE_NAME") == "session":
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"   # Secure, Path=/, no Domain
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _csrf_failed)
