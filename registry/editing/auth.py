"""Accounts, roles and sessions: log in and out, a per-username lockout kept in the database, CSRF,
your own account. The admin pages for users and the CLI commands are in registry/users.py.

Roles: `editor` (create, edit, import, moderate) and `admin` (all of that, plus users, deletes and index
rebuilds). The public reads without an account. Every view of the editing blueprints declares what it
needs with `@requires(role)` or `@public`; tests walk `app.url_map` against those declarations.

Sessions hold the user id, the user's `session_version` (bumped on a new password, a role change or a
deactivation: old cookies stop working at once), the login time and the last activity time.
"""
import logging
import re
import secrets
import time
from functools import cache, wraps
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.security import check_password_hash, generate_password_hash

from ..store import editing as editing_db
from ..store import db as storage
from ..web.errors import error_response
from ..web.context import get_db, index_settings

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
log = logging.getLogger(__name__)

ROLES = ("editor", "admin")
RANK = {"editor": 1, "admin": 2}
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
DEFAULTS = {
    "LOGIN_MAX_FAILURES": 5,          # failures within LOGIN_WINDOW seconds lock the username ...
    "LOGIN_WINDOW": 15 * 60,
    "LOGIN_LOCK_SECONDS": 15 * 60,    # ... for this long, in every worker process
    "SESSION_MAX_AGE": 8 * 3600,      # absolute session lifetime
    "SESSION_IDLE": 30 * 60,          # idle timeout
    "WTF_CSRF_TIME_LIMIT": 8 * 3600,  # a form stays valid as long as the session
}


# --- pure checks ------------------------------------------------------------------------------

def check_username(name):
    if not USERNAME_RE.match(name or ""):
        return "a username has 2-40 characters: lower-case letters, digits, dots, hyphens or underscores"
    return None


def check_password(password, username=""):
    if len(password) < MIN_PASSWORD:
        return f"the password is too short: use at least {MIN_PASSWORD} characters (a few words work well)"
    if len(password) > MAX_PASSWORD:
        return f"the password is too long: use at most {MAX_PASSWORD} characters"
    if username and username.lower() in password.lower():
        return "the password must not contain the username"
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
    if "uid" not in session:
        return
    cfg, now = current_app.config, time.time()
    user = editing_db.get_user(get_db(), user_id=session["uid"])
    if (user is None or not user["active"] or user["session_version"] != session.get("sv")
            or now - session.get("t0", 0) > cfg["SESSION_MAX_AGE"]
            or now - session.get("seen", 0) > cfg["SESSION_IDLE"]):
        session.clear()
        return
    if now - session.get("seen", 0) > 60:
        session["seen"] = now
    g.user = user


@bp.app_context_processor
def current_user():
    return {"current_user": g.get("user")}


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
                return error_response(403, "forbidden", f"this page needs the {role} role; ask an administrator")
            if user["must_change_password"] and request.endpoint not in ("auth.password", "auth.account"):
                flash("Choose your own password before you go on.")
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

def _login_page(status, error=None, next_url=None):
    return render_template("auth/login.html", error=error, next=next_url), status


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    default = url_for("editor.index") if "editor.index" in current_app.view_functions else "/"
    target = safe_next(request.values.get("next"), default)
    if request.method == "GET":
        return _login_page(200, next_url=target)
    cfg, db, now = current_app.config, get_db(), time.time()
    username = (request.form.get("username") or "").strip().lower()[:100]
    password = request.form.get("password") or ""
    locked = "Too many failed logins for this username: wait 15 minutes and try again, or ask an administrator."
    if editing_db.login_locked_until(db, username, now):
        return _login_page(429, locked, target)
    user = editing_db.get_user(db, username) if username else None
    ok = len(password) <= MAX_PASSWORD and check_password_hash(user["password_hash"] if user else _dummy_hash(),
                                                               password)
    if not (ok and user and user["active"]):
        log.info("failed login for %r from %s", username, request.remote_addr)
        if editing_db.record_login_failure(db, username, now, cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_WINDOW"],
                                        cfg["LOGIN_LOCK_SECONDS"]):
            return _login_page(429, locked, target)
        return _login_page(401, "Wrong username or password.", target)
    editing_db.clear_login_failures(db, username)
    session.clear()
    session.update(uid=user["id"], sv=user["session_version"], t0=now, seen=now)
    log.info("login %r from %s", username, request.remote_addr)
    if user["must_change_password"]:
        return redirect(url_for("auth.password"))
    return redirect(target)


@bp.post("/logout")
@public
def logout():
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
        return render_template("auth/password.html", error=None)
    user, db = g.user, get_db()
    current, new = request.form.get("current_password") or "", request.form.get("new_password") or ""
    error = None
    if len(current) > MAX_PASSWORD or not check_password_hash(user["password_hash"], current):
        error = "the current password is not right"
    elif new != request.form.get("confirm_password"):
        error = "the two new passwords differ: type the same password twice"
    else:
        error = check_password(new, user["username"])
    if error:
        return render_template("auth/password.html", error=error), 400
    updated = editing_db.update_user(db, user["id"], user["username"], password_hash=generate_password_hash(new),
                                  must_change_password=0)
    session["sv"] = updated["session_version"]   # this session goes on; every other one ends
    flash("Password changed. Your other sessions have been logged out.")
    return redirect(url_for("auth.account"))


@bp.post("/account/sessions")
@requires("editor")
def end_sessions():
    editing_db.end_sessions(get_db(), g.user["id"])
    session.clear()
    return redirect(url_for("views.home"))


def _csrf_failed(exc):
    log.warning("CSRF check failed: %s %s (%s)", request.method, request.path, exc.description)
    return error_response(400, "csrf_failed", "this form has expired or did not come from this site: "
                                              "go back, reload the page and send it again")


def init_app(app):
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if app.config.get("SESSION_COOKIE_SECURE") and app.config.get("SESSION_COOKIE_NAME") == "session":
        app.config["SESSION_COOKIE_NAME"] = "__Host-session"   # Secure, Path=/, no Domain
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _csrf_failed)
