"""Accounts administration: the admin pages for users (/admin/users) and the command line that makes
the first admin (there are no default accounts):

    flask --app registry create-user NAME [--role admin] [--prompt]   # prints a one-time password
    flask --app registry reset-password NAME
"""
import click
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask.cli import with_appcontext
from werkzeug.security import generate_password_hash

from ..store import editing as editing_db
from ..store import db as storage
from . import forms
from .auth import ROLES, check_password, check_username, one_time_password, requires, start_session
from ..web.errors import error_response
from ..web.context import get_db, index_settings
from ..web import language
from ..core.language import N_

bp = Blueprint("users", __name__)
# the fields of the two forms in page order, with the words of their labels (templates/auth/users.html, user.html)
NEW_USER_LABELS = {"username": N_("Username"), "role": N_("Role")}
USER_LABELS = {"role": N_("Role"), "active": N_("Active")}


def _errors(error, field, labels):
    """One problem -> {field: [message]} and its summary (the forms' error pattern, editor/_fields.html)."""
    errors = {field: [error]} if error else {}
    return {"errors": errors, "summary": forms.error_summary(errors, tuple(labels), labels, language.words())}


@bp.route("/admin/users", methods=["GET", "POST"])
@requires("admin")
def users():
    db, error, created, field = get_db(), None, None, "username"
    if request.method == "POST":
        username = (request.form.get("username") or "").strip().lower()
        role = request.form.get("role")
        error = check_username(username, language.words())
        if not error and role not in ROLES:
            error, field = _("choose a role: %(roles)s", roles=", ".join(ROLES)), "role"
        if not error:
            secret = one_time_password()
            try:
                editing_db.create_user(db, username, generate_password_hash(secret), role, g.user["username"])
                created = {"username": username, "password": secret}
            except editing_db.Conflict:
                error = _("the username '%(name)s' is taken: choose another one", name=username)
    status = 400 if error else 200
    values = {k: request.form.get(k) or "" for k in NEW_USER_LABELS} if error else {}
    return render_template("auth/users.html", users=editing_db.list_users(db), created=created, roles=ROLES,
                           v=values, **_errors(error, field, NEW_USER_LABELS)), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@requires("admin")
def user(user_id):
    db = get_db()
    row = editing_db.get_user(db, user_id=user_id)
    if row is None:
        return error_response(404, "not_found", _("no such user: see the list of users"))
    error, secret, field = None, None, "_form"
    if request.method == "POST":
        changes = {}
        if request.form.get("action") == "reset_password":
            secret = one_time_password()
            changes = {"password_hash": generate_password_hash(secret), "must_change_password": 1}
        else:
            role = request.form.get("role")
            if role not in ROLES:
                error, field = _("choose a role: %(roles)s", roles=", ".join(ROLES)), "role"
            changes = {"role": role, "active": 1 if request.form.get("active") else 0}
        if not error:
            try:
                row = editing_db.update_user(db, user_id, g.user["username"], **changes)   # ends their sessions
                if secret:
                    editing_db.clear_login_failures(db, row["username"])   # a reset lifts every login wait
                if user_id == g.user["id"] and row["active"]:
                    start_session(row)              # an admin changing their own account stays logged in
                if not secret:
                    flash(_("Saved %(name)s.", name=row["username"]))
                    return redirect(url_for("users.users"))
            except editing_db.Conflict:
                error = _("this is the last active admin: make someone else admin first")
    return render_template("auth/user.html", row=row, roles=ROLES, secret=secret, v={"role": row["role"]},
                           **_errors(error, field, USER_LABELS)), 400 if error else 200


# --- command line -----------------------------------------------------------------------------

@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True)
@click.option("--prompt", is_flag=True, help="Type the password instead of getting a generated one-time one.")
@with_appcontext
def create_user_command(username, role, prompt):
    """Create an account. Prints a one-time password, to be changed at the first login."""
    username = username.strip().lower()
    problem = check_username(username)
    if problem:
        raise click.BadParameter(problem, param_hint="USERNAME")
    secret = click.prompt("Password", hide_input=True, confirmation_prompt=True) if prompt else one_time_password()
    problem = check_password(secret, username)
    if problem:
        raise click.UsageError(problem)
    db = storage.connect(current_app.config["DATABASE"])
    storage.migrate(db)
    try:
        editing_db.create_user(db, username, generate_password_hash(secret), role, "cli", must_change_password=not prompt)
    except editing_db.Conflict:
        raise click.UsageError(f"the user '{username}' exists already; use reset-password") from None
    click.echo(f"Created {role} '{username}'.")
    if not prompt:
        click.echo(f"One-time password (to be changed at the first login): {secret}")


@click.command("reset-password")
@click.argument("username")
@with_appcontext
def reset_password_command(username):
    """Give an account a new one-time password, reactivate it and lift its login waits."""
    db = storage.connect(current_app.config["DATABASE"])
    storage.migrate(db)
    row = editing_db.get_user(db, username.strip().lower())
    if row is None:
        raise click.UsageError(f"no user '{username}'; create it with create-user")
    secret = one_time_password()
    editing_db.update_user(db, row["id"], "cli", password_hash=generate_password_hash(secret), must_change_password=1,
                        active=1)
    editing_db.clear_login_failures(db, row["username"])
    click.echo(f"One-time password for '{row['username']}' (to be changed at the next login): {secret}")


COMMANDS = (create_user_command, reset_password_command)
