"""Accounts, roles, sessions, lockout, CSRF and redirects: the real app on a real SQLite file."""
import multiprocessing
import re
import time
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from conftest import PASSWORD, add_user, csrf_token, logged_in, login, make_app
from registry.editing import auth
from registry.store import editing as editing_db
from registry.store import db as storage  # Every editing route and the role it needs (None: public). A new route must be added here on purpose.
EXPECTED = {
    "auth.login": None, "auth.logout": None, "moderation.propose": None,
    "auth.account": "editor", "auth.password": "editor", "auth.end_sessions": "editor",
    "users.users": "admin", "users.user": "admin", "editor.rebuild_index": "admin",
    "editor.index": "editor", "history.history": "editor", "history.change": "editor", "history.revert": "editor",
    "webimport.import_upload": "editor", "webimport.import_confirm": "editor",
    "editor.project_new": "editor", "editor.project_edit": "editor", "editor.project_delete": "admin",
    "editor.organisation_new": "editor", "editor.organisation_edit": "editor", "editor.organisation_delete": "admin",
    "moderation.proposals": "editor", "moderation.proposal": "editor", "moderation.proposal_reject": "editor",
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
    return {"project_id": project, "org_id": org, "proposal_id": proposal, "change_id": change, "user_id": user,
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


# --- lockout ------------------------------------------------------------------------------------

def test_lockout_per_username_in_the_database(app, db):
    add_user(app, "frank", "editor")
    client = app.test_client()
    statuses = []
    for i in range(5):   # from five "different" addresses: the lockout is per username
        client.environ_base = {"REMOTE_ADDR": f"10.0.0.{i}", "HTTP_X_FORWARDED_FOR": f"192.0.2.{i}"}
        statuses.append(login(client, "frank", "not the password").status_code)
    assert statuses == [401, 401, 401, 401, 429]
    right = login(app.test_client(), "frank")
    assert right.status_code == 429 and "Too many failed logins" in right.get_data(as_text=True)
    # the same for a username that does not exist: the answer does not reveal which names exist
    assert [login(app.test_client(), "ghost", "x" * 12).status_code for _ in range(5)][-1] == 429
    # when the lock runs out, the right password works again
    db.execute("UPDATE login_attempts SET locked_until = ? WHERE username = 'frank'", [time.time() - 1])
    assert login(app.test_client(), "frank").status_code == 302
    assert db.execute("SELECT count(*) FROM login_attempts WHERE username = 'frank'").fetchone()[0] == 0


def _worker(folder, username, wrong, barrier, results):
    """Runs in its own process: its own create_app and connections, the same database file."""
    app = make_app(Path(folder))
    client = app.test_client()
    barrier.wait(timeout=60)
    failures = [login(client, username, p).status_code for p in wrong]
    barrier.wait(timeout=60)
    results.put((failures, login(client, username, PASSWORD).status_code))


def test_lockout_holds_across_worker_processes(instance, app):
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
    # six failures at the same time in two processes: counted atomically, locked at the fifth ...
    assert sorted(out[0][0] + out[1][0]) == [401, 401, 401, 401, 429, 429]
    # ... and the right password is refused in both processes while the lock lasts
    assert [out[0][1], out[1][1]] == [429, 429]


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


def test_session_version_ends_old_sessions(app, db):
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
