"""Accounts, roles, sessions, login throttling, the secret key, CSRF and redirects: the real app on a real
SQLite file."""
import base64
import importlib.metadata
import json
import multiprocessing
import re
import secrets
import stat
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from packaging.version import Version
from werkzeug.security import generate_password_hash

from conftest import PASSWORD, add_user, csrf_token, logged_in, login, make_app, session_copied_before_logout
from registry import create_app
from registry.editing import auth
from registry.store import editing as editing_db
from registry.store import db as storage  # Every editing route and the role it needs (None: public). A new route must be added here on purpose.
EXPECTED = {
    "auth.login": None, "auth.logout": None, "moderation.propose": None,
    "auth.account": "editor", "auth.password": "editor", "auth.end_sessions": "editor",
    "users.users": "admin", "users.user": "admin", "editor.rebuild_index": "admin",
    "editor.index": "editor", "history.history": "editor", "history.change": "editor", "history.revert": "editor",
    "webimport.import_upload": "editor", "webimport.import_confirm": "editor", "webimport.job_page": "editor",
    "editor.project_new": "editor", "editor.project_edit": "editor", "editor.project_delete": "admin",
    "editor.organisation_new": "editor", "editor.organisation_edit": "editor", "editor.organisation_delete": "admin",
    "editor.source_list": "editor", "editor.source_new": "editor", "editor.source_edit": "editor",
    "editor.source_delete": "admin",
    "moderation.proposals": "editor", "moderation.proposal": "editor", "moderation.proposal_reject": "editor",
    "quality.quality": "editor",
}
EDITING_PREFIXES = ("/editor", "/admin", "/account", "/login", "/logout", "/propose")


def _sample_args(db):
    """Real values for every URL argument of the editing routes."""
    storage.migrate(db)
    project = db.execute("SELECT id FROM projects ORDER BY id LIMIT 1").fetchone()[0]
    org = db.execute("SELECT id FROM organisations ORDER BY id LIMIT 1").fetchone()[0]
    proposal = editing_db.add_proposal(db, {"title": "A proposal", "area": "asgm"})
    change = db.execute("SELECT max(id) FROM history").fetchone()[0]
    user = db.execute("SELECT min(id) FROM users").fetchone()[0]
    source = db.execute("SELECT id FROM documents ORDER BY id LIMIT 1").fetchone()[0]
    return {"project_id": project, "org_id": org, "source_id": source, "proposal_id": proposal, "change_id": change, "user_id": user,
            "token": "0" * 32, "path": "x", "anything": "x", "fmt": "csv", "code": "KEN", "area": "asgm",
            "filename": "style.css"}


def _url(rule, args):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(args[m.group(1)]), rule.rule)


def _state(db):
    tables = ("projects", "organisations", "users", "history", "proposals", "locations", "roles")
    return {t: db.execute(f"SELECT count(*), max(rowid) FROM {t}").fetchone() for t in tables}


# --- the first admin, passwords ---------------------------------------------------------------

def test_no_default_accounts_and_cli_creates_first_admin(app, db):
    storage.migrate(db)
    assert editing_db.list_users(db) == []
    result = app.test_cli_runner().invoke(args=["create-user", "Alice", "--role", "admin"])
    assert result.exit_code == 0, result.output
    secret = re.search(r"password[^:]*: (\S+)", result.output).group(1)
    user = editing_db.get_user(db, "alice")
    assert user["role"] == "admin" and user["password_hash"].startswith("scrypt:")
    assert secret not in user["password_hash"]
    again = app.test_cli_runner().invoke(args=["create-user", "alice"])
    assert again.exit_code != 0 and "exists already" in again.output

    client = app.test_client()
    response = login(client, "alice", secret)          # one-time password: must choose a new one first
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/password")
    assert client.get("/editor").headers["Location"].endswith("/account/password")
    token = csrf_token(client, "/account/password")
    new = "my own passphrase for the registry"
    response = client.post("/account/password", data={"csrf_token": token, "current_password": secret,
                                                      "new_password": new, "confirm_password": new})
    assert response.status_code == 302
    assert client.get("/editor").status_code == 200
    assert login(app.test_client(), "alice", secret).status_code == 401


def test_create_user_with_a_typed_password(app):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["create-user", "typed", "--prompt"], input="too short\ntoo short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    typed = "a password entered twice"
    result = runner.invoke(args=["create-user", "typed", "--prompt"], input=f"{typed}\n{typed}\n")
    assert result.exit_code == 0 and "One-time" not in result.output
    assert login(app.test_client(), "typed", typed).headers["Location"] == "/editor"   # no forced change


def test_reset_password_cli_lifts_lockout(app, db):
    add_user(app, "bob", "editor")
    for _ in range(5):
        login(app.test_client(), "bob", "wrong password!!")
    result = app.test_cli_runner().invoke(args=["reset-password", "bob"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().rsplit(": ", 1)[1]
    assert login(app.test_client(), "bob", secret).status_code == 302


def test_password_rules_and_no_truncation(app):
    client = logged_in(app, "carol", "editor")

    def change(new, confirm=None):
        token = csrf_token(client, "/account/password")
        return client.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                      "new_password": new, "confirm_password": confirm or new})

    short = change("short pass")
    assert short.status_code == 400 and "at least 12 characters" in short.get_data(as_text=True)
    assert "differ" in change("twelve chars ok", "twelve chars OK").get_data(as_text=True)
    assert "must not contain the username" in change("carol-is-my-password").get_data(as_text=True)
    assert "too long" in change("x" * (auth.MAX_PASSWORD + 1)).get_data(as_text=True)
    long_password = "correct horse battery staple " * 20          # 580 characters
    assert change(long_password).status_code == 302
    assert login(app.test_client(), "carol", long_password[:-1] + "!").status_code == 401   # last char counts
    assert login(app.test_client(), "carol", long_password[:72]).status_code == 401
    assert login(app.test_client(), "carol", long_password).status_code == 302


def test_unknown_user_and_wrong_password_get_the_same_answer(app):
    add_user(app, "dave", "editor")
    unknown = login(app.test_client(), "nobody", "some password 123")
    wrong = login(app.test_client(), "dave", "some password 123")
    assert unknown.status_code == wrong.status_code == 401
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(unknown) == strip(wrong)
    assert "Wrong username or password." in strip(wrong)


def test_inactive_account_cannot_log_in(app, db):
    uid = add_user(app, "erin", "editor")
    add_user(app, "root", "admin")
    editing_db.update_user(db, uid, "root", active=0)
    assert login(app.test_client(), "erin").status_code == 401


# --- login throttling: by account and client together, plus per client (finding 10) ----------------

ATTACKER, OWNER = "203.0.113.66", "192.0.2.10"


def from_address(app, address, forwarded=None):
    """A test client whose requests come from `address` (and claim `forwarded` in X-Forwarded-For)."""
    client = app.test_client()
    client.environ_base = {"REMOTE_ADDR": address}
    if forwarded:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded
    return client


def test_an_attacker_cannot_lock_the_owner_out(instance, db):
    app = make_app(instance, LOGIN_FIRST_DELAY=60)
    add_user(app, "victor", "admin")
    attacker = from_address(app, ATTACKER)
    answers = []
    for i in range(8):   # a new forged X-Forwarded-For each time: ignored without REGISTRY_PROXY_FIX
        attacker.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{i}"
        answers.append(login(attacker, "victor", f"guess number {i}!"))
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 3
    refused = answers[-1]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    text = refused.get_data(as_text=True)
    assert "Too many failed logins" in text and "from your network" in text and "another network" in text
    # the right password from the attacker's address waits too: the pair is throttled, not checked
    assert login(attacker, "victor").status_code == 429
    # the owner, from another address, logs in at once
    owner = from_address(app, OWNER)
    assert login(owner, "victor").status_code == 302 and owner.get("/admin/users").status_code == 200
    # when the wait is over the attacker may try once more, and then waits twice as long
    db.execute("UPDATE login_failures SET at = at - 61")
    assert login(attacker, "victor", "guess number 9!").status_code == 401
    again = login(attacker, "victor", "guess number 10!")
    assert again.status_code == 429 and 60 < int(again.headers["Retry-After"]) <= 120


def test_unknown_accounts_are_throttled_alike(instance):
    app = make_app(instance, LOGIN_FIRST_DELAY=60)
    add_user(app, "wendy", "editor")
    statuses = {name: [login(from_address(app, ATTACKER), name, "not the password").status_code for _ in range(6)]
                for name in ("wendy", "ghost")}
    assert statuses["wendy"] == statuses["ghost"] == [401] * 5 + [429]   # nothing tells which names exist


def test_one_client_guessing_many_accounts_waits(instance):
    app = make_app(instance, LOGIN_CLIENT_MAX_FAILURES=6, LOGIN_CLIENT_WINDOW=600)
    add_user(app, "xavier", "editor")
    sprayer = from_address(app, ATTACKER)
    assert [login(sprayer, f"user{i}", "a common password").status_code for i in range(6)] == [401] * 6
    refused = login(sprayer, "xavier", "a common password")
    assert refused.status_code == 429 and 500 < int(refused.headers["Retry-After"]) <= 600
    assert "from your network" in refused.get_data(as_text=True)
    assert login(from_address(app, OWNER), "xavier").status_code == 302


def test_growing_delays_in_the_store(db):
    """The delays themselves, at chosen times: free tries, then 1, 2, 4 ... seconds up to the cap."""
    storage.migrate(db)
    policy = editing_db.LoginPolicy(free_failures=3, first_delay=1, max_delay=10, client_failures=100,
                                    client_window=600)
    t, waits = 1000.0, []
    for _ in range(9):
        assert editing_db.begin_login_attempt(db, "yara", "client-a", t, policy) is None   # made when allowed
        wait = editing_db.login_wait(db, "yara", "client-a", t, policy)
        waits.append(0 if wait is None else wait.seconds)
        t += waits[-1]
    assert waits == [0, 0, 1, 2, 4, 8, 10, 10, 10]     # the third attempt's failure starts the delays
    assert editing_db.begin_login_attempt(db, "yara", "client-b", t - 5, policy) is None   # another client
    editing_db.forgive_login_failures(db, "yara", "client-a")                   # a successful login
    assert editing_db.begin_login_attempt(db, "yara", "client-a", t - 5, policy) is None


def test_forwarded_address_counts_only_behind_the_proxy(instance):
    app = make_app(instance, PROXY_FIX=True, LOGIN_FIRST_DELAY=60)
    add_user(app, "zoe", "editor")
    proxy = "127.0.0.1"      # every request arrives from the reverse proxy, which names the client
    attacker = from_address(app, proxy, forwarded=ATTACKER)
    assert [login(attacker, "zoe", "not the password").status_code for _ in range(6)] == [401] * 5 + [429]
    assert login(from_address(app, proxy, forwarded=OWNER), "zoe").status_code == 302


def _worker(folder, username, wrong, barrier, results):
    """Runs in its own process: its own create_app and connections, the same database file."""
    app = make_app(Path(folder), LOGIN_FIRST_DELAY=60)
    client = app.test_client()
    barrier.wait(timeout=60)
    failures = [login(client, username, p).status_code for p in wrong]
    barrier.wait(timeout=60)
    results.put((failures, login(client, username, PASSWORD).status_code))


def test_throttle_holds_across_worker_processes(instance, app):
    add_user(app, "grace", "editor")
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(instance), "grace", [f"wrong password {i}"] * 3, barrier, results))
             for i in range(2)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    # six failures from one client at the same time in two processes: counted atomically, and
    # counted before the password is checked, so the sixth waits ...
    assert sorted(out[0][0] + out[1][0]) == [401, 401, 401, 401, 401, 429]
    # ... and so does the right password from that client, in both processes
    assert [out[0][1], out[1][1]] == [429, 429]
    assert login(from_address(app, OWNER), "grace").status_code == 302


# --- sessions ---------------------------------------------------------------------------------

def test_session_cookie_flags_and_renewal_at_login(app):
    add_user(app, "heidi", "editor")
    client = app.test_client()
    old_token = csrf_token(client)
    response = login(client, "heidi")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    # the session was renewed: the pre-login session (and its CSRF token) is gone
    stale = client.post("/logout", data={"csrf_token": old_token})
    assert stale.status_code == 400
    assert client.get("/editor").status_code == 200


def test_secure_cookie_from_the_environment(instance, monkeypatch):
    monkeypatch.setenv("REGISTRY_SESSION_COOKIE_SECURE", "true")
    app = make_app(instance)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    add_user(app, "ivan", "editor")
    cookie = login(app.test_client(), "ivan").headers["Set-Cookie"]
    assert cookie.startswith("__Host-session=") and "Secure" in cookie and "HttpOnly" in cookie


def test_logout_is_a_post_and_ends_the_session(app):
    client = logged_in(app, "judy", "editor")
    assert client.get("/logout").status_code == 405
    page = client.get("/editor").get_data(as_text=True)
    assert 'action="/logout"' in page and "Log out" in page
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/editor")})
    assert response.status_code == 302
    assert client.get("/editor").headers["Location"].startswith("/login")
    assert "Log in" in client.get("/").get_data(as_text=True)


def test_password_role_and_deactivation_end_sessions(app, db):
    admin = logged_in(app, "root", "admin")
    editor_a = logged_in(app, "ken", "editor")
    editor_b = app.test_client()
    assert login(editor_b, "ken").status_code == 302
    ken = editing_db.get_user(db, "ken")

    # a password change ends the other sessions and keeps the current one
    token = csrf_token(editor_a, "/account/password")
    new = "another long password"
    assert editor_a.post("/account/password", data={"csrf_token": token, "current_password": PASSWORD,
                                                    "new_password": new, "confirm_password": new}).status_code == 302
    assert editor_a.get("/editor").status_code == 200
    assert editor_b.get("/editor").status_code == 302

    # a role change by an admin ends the user's sessions
    token = csrf_token(admin, f"/admin/users/{ken['id']}")
    assert admin.post(f"/admin/users/{ken['id']}", data={"csrf_token": token, "role": "admin",
                                                         "active": "1"}).status_code == 302
    assert editor_a.get("/editor").headers["Location"].startswith("/login")

    # deactivation: the cookie stops working at once
    assert login(editor_a, "ken", new).status_code == 302
    token = csrf_token(admin, f"/admin/users/{ken['id']}")
    assert admin.post(f"/admin/users/{ken['id']}", data={"csrf_token": token, "role": "admin"}).status_code == 302
    assert editor_a.get("/editor").headers["Location"].startswith("/login")
    assert editing_db.get_user(db, "ken")["active"] == 0


def test_log_out_everywhere(app):
    one = logged_in(app, "liz", "editor")
    two = app.test_client()
    login(two, "liz")
    assert one.post("/account/sessions", data={"csrf_token": csrf_token(one, "/account")}).status_code == 302
    assert one.get("/editor").status_code == 302 and two.get("/editor").status_code == 302


def test_expired_session_is_refused(instance):
    app = make_app(instance, SESSION_MAX_AGE=-1)
    add_user(app, "mallory", "editor")
    client = app.test_client()
    assert login(client, "mallory").status_code == 302
    assert client.get("/editor").headers["Location"].startswith("/login")


def test_idle_session_is_refused(instance, db):
    app = make_app(instance, SESSION_IDLE=60)
    client = logged_in(app, "mike", "editor")
    assert client.get("/editor").status_code == 200
    db.execute("UPDATE sessions SET last_seen = last_seen - 61")
    assert client.get("/editor").headers["Location"].startswith("/login")


def cookie_data(app, client):
    """What the client's session cookie holds (checked with the app's keys)."""
    return app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)


def test_a_cookie_copied_before_logout_stops_working(app, db):
    copied, token = session_copied_before_logout(app, "sybil")
    thief = app.test_client()
    thief.set_cookie("session", copied)
    opened = thief.get("/editor")
    assert opened.status_code == 302 and opened.headers["Location"].startswith("/login")
    before = _state(db)
    written = thief.post("/editor/projects/new", data={"csrf_token": token, "id": "after-logout", "version": "0",
                                                      "title": "Written after logout", "area": "asgm",
                                                      "kind": "project", "status": "ongoing"})
    # refused: the ended session's CSRF token went with it (400), or the login page; nothing written
    assert written.status_code == 400 or written.headers["Location"].startswith("/login")
    assert _state(db) == before
    assert db.execute("SELECT count(*) FROM sessions WHERE ended IS NULL").fetchone()[0] == 0


def test_sessions_are_random_ids_kept_on_the_server(app, db):
    client = logged_in(app, "trent", "editor")
    data = cookie_data(app, client)
    assert set(data) <= {"sid", "csrf_token", "_flashes"}          # no user id, no guessable version
    sid = data["sid"]
    assert len(base64.urlsafe_b64decode(sid + "=" * (-len(sid) % 4))) >= 16   # at least 128 random bits
    rows = db.execute("SELECT id, user_id, created, last_seen, expires, ended FROM sessions").fetchall()
    assert len(rows) == 1 and rows[0][5] is None and rows[0][4] > rows[0][2]
    assert sid not in repr(rows)                                     # stored as a digest only
    again = app.test_client()
    login(again, "trent")
    assert cookie_data(app, again)["sid"] != sid
    forged = app.session_interface.get_signing_serializer(app).dumps({"sid": secrets.token_urlsafe(32)})
    guesser = app.test_client()
    guesser.set_cookie("session", forged)       # even with the real key, an id that was never issued
    assert guesser.get("/editor").headers["Location"].startswith("/login")


# --- the secret key (finding 1) and its rotation (FT15) -------------------------------------------------

def keyless_app(instance, **extra):
    """The app as `make run` makes it: no SECRET_KEY configured anywhere."""
    config = {"TESTING": True, "DATABASE": str(instance / "registry.db"), "INDEX_DIR": str(instance / "index"),
              "CACHE_DIR": str(instance / "cache"), "SERVER_NAME": None,
              "SECRET_KEY_FILE": str(instance / "secret_key")}
    return create_app(dict(config, **extra))


def signed_with(key, data):
    forger = Flask("forger")
    forger.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(forger).dumps(data)


def test_a_cookie_signed_with_the_old_built_in_key_is_refused(instance, monkeypatch):
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    app = keyless_app(instance)
    admin_id = add_user(app, "root", "admin")
    now = time.time()
    old_key = "dev-only-change-me"                    # the constant key of earlier versions
    for forged in ({"uid": admin_id, "sv": 1, "t0": now, "seen": now}, {"sid": "x" * 43}):
        client = app.test_client()
        client.set_cookie("session", signed_with(old_key, forged))
        response = client.get("/admin/users")
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert app.secret_key != old_key


def _key_of_a_new_app(folder, barrier, results):
    barrier.wait(timeout=60)
    results.put(keyless_app(Path(folder)).secret_key)


def test_the_generated_key_is_private_and_shared(instance, tmp_path, monkeypatch):
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    first, second = keyless_app(instance), keyless_app(instance)
    key_file = instance / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(first.secret_key) >= 43                               # 256 bits, URL-safe base64
    add_user(first, "una", "editor")
    client = first.test_client()
    assert login(client, "una").status_code == 302
    other = second.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    assert other.get("/editor").status_code == 200                   # the second app accepts the first's cookie
    # several processes starting at once on a fresh instance agree on one key
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_key_of_a_new_app, args=(str(fresh), barrier, results)) for _ in range(4)]
    for p in procs:
        p.start()
    keys = {results.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert keys == {(fresh / "secret_key").read_text().strip()}
    # an explicit key wins, and then no file is written
    monkeypatch.setenv("REGISTRY_SECRET_KEY", "k" * 40)
    explicit = tmp_path / "explicit"
    explicit.mkdir()
    assert keyless_app(explicit).secret_key == "k" * 40 and not (explicit / "secret_key").exists()


def test_a_key_file_others_can_read_is_refused(instance, monkeypatch):
    monkeypatch.delenv("REGISTRY_SECRET_KEY", raising=False)
    key_file = instance / "secret_key"
    key_file.write_text(secrets.token_urlsafe(32))
    key_file.chmod(0o644)
    with pytest.raises(RuntimeError, match="chmod 600"):
        keyless_app(instance)
    key_file.chmod(0o600)
    key_file.write_text("short")
    with pytest.raises(RuntimeError, match="too short"):
        keyless_app(instance)


def test_FT15_secret_rotation_keeps_sessions(instance, monkeypatch):
    assert Version(importlib.metadata.version("flask")) >= Version("3.1.1")    # CVE-2025-47278
    old, new = "the old key " + "o" * 32, "the new key " + "n" * 32
    before = make_app(instance, SECRET_KEY=old)
    add_user(before, "vera", "editor")
    client = before.test_client()
    assert login(client, "vera").status_code == 302
    cookie = client.get_cookie("session").value

    monkeypatch.setenv("REGISTRY_SECRET_KEY_FALLBACKS", json.dumps([old]))     # as an operator rotates it
    rotated = make_app(instance, SECRET_KEY=new)
    assert rotated.config["SECRET_KEY_FALLBACKS"] == [old]
    kept = rotated.test_client()
    kept.set_cookie("session", cookie)
    assert kept.get("/editor").status_code == 200                    # the existing session goes on
    kept.get("/editor/projects/new")                                 # a page that writes the session
    resigned = kept.get_cookie("session").value
    assert resigned != cookie
    fresh = rotated.test_client()
    assert login(fresh, "vera").status_code == 302
    for value in (resigned, fresh.get_cookie("session").value):      # new cookies: the new key only
        assert SecureCookieSessionInterface().get_signing_serializer(make_app(instance, SECRET_KEY=new)).loads(value)
        with pytest.raises(BadSignature):
            SecureCookieSessionInterface().get_signing_serializer(before).loads(value)
    monkeypatch.delenv("REGISTRY_SECRET_KEY_FALLBACKS")
    dropped = make_app(instance, SECRET_KEY=new).test_client()       # the old key retired: old cookies end
    dropped.set_cookie("session", cookie)
    assert dropped.get("/editor").headers["Location"].startswith("/login")


# --- users admin --------------------------------------------------------------------------------

def test_admin_creates_users_and_cannot_remove_the_last_admin(app, db):
    admin = logged_in(app, "root", "admin")
    token = csrf_token(admin, "/admin/users")
    page = admin.post("/admin/users", data={"csrf_token": token, "username": "niaj", "role": "editor"})
    assert page.status_code == 200
    secret = re.search(r'<code class="secret">([^<]+)</code>', page.get_data(as_text=True)).group(1)
    response = login(app.test_client(), "niaj", secret)
    assert response.headers["Location"].endswith("/account/password")
    taken = admin.post("/admin/users", data={"csrf_token": csrf_token(admin, "/admin/users"),
                                             "username": "niaj", "role": "editor"})
    assert taken.status_code == 400 and "is taken" in taken.get_data(as_text=True)
    bad = admin.post("/admin/users", data={"csrf_token": csrf_token(admin, "/admin/users"),
                                           "username": "<b>x</b>", "role": "editor"})
    assert bad.status_code == 400 and "<b>x</b>" not in bad.get_data(as_text=True)

    root = editing_db.get_user(db, "root")
    token = csrf_token(admin, f"/admin/users/{root['id']}")
    last = admin.post(f"/admin/users/{root['id']}", data={"csrf_token": token, "role": "editor", "active": "1"})
    assert last.status_code == 400 and "last active admin" in last.get_data(as_text=True)
    assert editing_db.get_user(db, "root")["role"] == "admin"
    rows, _ = editing_db.list_history(db, entity="user")
    assert {r["entity_id"] for r in rows} >= {"niaj", "root"}


# --- routes: roles, CSRF, redirects, headers ----------------------------------------------------------

def test_every_editing_route_declares_its_role(app):
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("auth", "editor") or rule.rule.startswith(EDITING_PREFIXES):
            view = app.view_functions[rule.endpoint]
            assert hasattr(view, "required_role"), f"{rule.endpoint} declares no role"
            found[rule.endpoint] = view.required_role
    assert found == EXPECTED


def test_role_route_matrix(app, db):
    add_user(app, "root", "admin")
    args = _sample_args(db)
    clients = {"anonymous": app.test_client(), "editor": logged_in(app, "ed", "editor"),
               "admin": logged_in(app, "ad", "admin")}
    tokens = {name: csrf_token(c, "/login" if name == "anonymous" else "/account") for name, c in clients.items()}
    rules = [r for r in app.url_map.iter_rules() if EXPECTED.get(r.endpoint)]
    assert {r.endpoint for r in rules} == {endpoint for endpoint, role in EXPECTED.items() if role}
    # POST-only routes that change something are sent last, so they cannot disturb the other checks
    rules.sort(key=lambda r: ("GET" not in r.methods, r.endpoint == "auth.end_sessions"))
    for rule in rules:
        url, needed = _url(rule, args), EXPECTED[rule.endpoint]
        for who, client in clients.items():
            if "GET" in rule.methods:
                response = client.get(url)
            else:
                response = client.post(url, data={"csrf_token": tokens[who]})
            where = f"{who} {rule.endpoint} {url} -> {response.status_code}"
            if who == "anonymous":
                assert response.status_code == 302 and response.headers["Location"].startswith("/login"), where
            elif auth.RANK[who] < auth.RANK[needed]:
                assert response.status_code == 403, where
            else:
                assert response.status_code not in (401, 403) and not (
                    response.status_code == 302 and response.headers["Location"].startswith("/login")), where
    # anonymous POSTs with a valid token to GET+POST routes are refused as well
    for rule in rules:
        if "POST" in rule.methods and "GET" in rule.methods:
            response = clients["anonymous"].post(_url(rule, args), data={"csrf_token": tokens["anonymous"]})
            assert response.status_code == 302 and response.headers["Location"].startswith("/login"), rule.endpoint


def test_no_post_route_accepts_a_request_without_a_valid_token(app, db):
    add_user(app, "root", "admin")
    args = _sample_args(db)
    admin = logged_in(app, "ad", "admin")
    anonymous = app.test_client()
    anonymous.get("/propose")                       # an anonymous session exists, with its own token
    before = _state(db)
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods]
    assert len(posts) >= 15
    for rule in posts:
        url = _url(rule, args)
        for client in (anonymous, admin):
            for data in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf_token(app.test_client())}):
                response = client.post(url, data=dict(data, title="x", area="asgm", version="0", username="x"))
                assert response.status_code == 400, f"{rule.endpoint} {data} -> {response.status_code}"
                assert "did not come from this site" in response.get_data(as_text=True)
    assert _state(db) == before
    assert admin.get("/editor").status_code == 200          # still logged in: nothing was done


BAD_NEXT = ["//evil.example/x", "/\\evil.example", "\\/evil.example", "https://evil.example/", "http:evil.example",
            "javascript:alert(1)", "\t//evil.example", "%09//evil.example", "/\t/evil.example", " //evil.example",
            "\r\n//evil.example", "///evil.example", "data:text/html,x"]


@pytest.mark.parametrize("target", BAD_NEXT)
def test_login_never_redirects_off_site(app, target):
    add_user(app, "olivia", "editor")
    response = login(app.test_client(), "olivia", next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/editor"
    assert auth.safe_next(target) == "/"


def test_login_redirects_to_a_path_on_this_site(app):
    add_user(app, "peggy", "editor")
    client = app.test_client()
    page = client.get("/login?next=%09//evil.example").get_data(as_text=True)
    assert 'name="next" value="/editor"' in page
    assert client.get("/editor/history?entity=project").headers["Location"] == \
        "/login?next=/editor/history?entity%3Dproject"
    response = login(client, "peggy", next_url="/projects/x")
    assert response.headers["Location"] == "/projects/x"


def test_editing_pages_are_not_cached(app):
    client = logged_in(app, "quinn", "admin")
    for url in ("/login", "/editor", "/editor/projects/new", "/admin/users", "/account"):
        assert client.get(url).headers.get("Cache-Control") == "no-store", url


def test_user_admin_page_escapes_and_hashes(app, db):
    add_user(app, "root", "admin")
    uid = editing_db.create_user(db, "rob", generate_password_hash("whatever password"), "editor", "root")
    admin = app.test_client()
    login(admin, "root")
    page = admin.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "rob" in page and "scrypt" not in page
