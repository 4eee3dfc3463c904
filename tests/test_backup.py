"""Backups (FT14): an online backup taken while imports write is an intact database at a commit
boundary; a restore verifies the file, replaces the data atomically, and the rebuilt index gives the
same search results as when the backup was taken."""
import sqlite3
import threading
import time

import pytest
from werkzeug.security import generate_password_hash

from registry.store import backup

from registry.search import index as search
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.exchange import ingest
from registry.web.context import index_settings
from conftest import PASSWORD, add_user, csrf_token, login, make_app

pytestmark = pytest.mark.timeout(180)
QUERIES = ["mercury", "gold mining", "Kenya", "retort*", "waste", "batchword"]


def batch_csv(n, size=5):
    rows = [f"bk-{n}-{i},Backup batch {n} project {i},waste,ongoing,KEN,Nairobi|-1.28|36.82|site,batchword"
            for i in range(size)]
    return ("id,title,area,status,countries,locations,keywords\n" + "\n".join(rows) + "\n").encode()


def table_dump(path):
    """Every row of every table but meta (whose data_version moves forward on restore), sorted."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT IN ('meta') AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {t: sorted(conn.execute(f"SELECT * FROM [{t}]").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def records(path):
    """Every project and organisation of the database at `path`, as records (core/records.py)."""
    db = storage.connect(path)
    try:
        return editing_db.all_records(db)
    finally:
        db.conn.close()


def results(client):
    out = {}
    for q in QUERIES:
        body = client.get("/api/projects", query_string={"q": q, "per_page": 100}).get_json()
        out[q] = (body["total"], [r["id"] for r in body["results"]])
    return out


def invoke(app, *args):
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def test_backup_while_imports_write_is_a_consistent_snapshot(instance, tmp_path):
    db_path = str(instance / "registry.db")
    writer_db = storage.connect(db_path)
    start = storage.data_version(writer_db)
    stop, errors, done = threading.Event(), [], [0]

    def keep_importing():
        try:
            while not stop.is_set() and done[0] < 200:
                ingest.import_data(writer_db, batch_csv(done[0]), "csv")
                done[0] += 1
        except Exception as exc:   # reported below
            errors.append(exc)

    thread = threading.Thread(target=keep_importing)
    thread.start()
    copies = []
    try:
        for i in range(5):
            copies.append(backup.backup_database(db_path, tmp_path / f"copy-{i}.db"))
            seen = done[0]
            while done[0] == seen and thread.is_alive():      # let at least one more import commit
                stop.wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=120)
        writer_db.conn.close()
    assert not errors, errors
    versions = []
    for copy in copies:
        info = backup.verify(copy)                               # integrity_check and foreign keys
        conn = sqlite3.connect(copy)
        batches = conn.execute("SELECT count(*) FROM projects WHERE id LIKE 'bk-%'").fetchone()[0]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"   # one self-contained file
        conn.close()
        assert batches == 5 * (info["data_version"] - start)    # whole imports only: a commit boundary
        versions.append(info["data_version"])
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert not list(tmp_path.glob("*.partial"))


def test_restore_brings_back_the_data_and_the_same_search_results(instance, tmp_path):
    app = make_app(instance)
    client = app.test_client()
    db_path = str(instance / "registry.db")
    conn = storage.connect(db_path)
    ingest.import_data(conn, batch_csv(1), "csv")
    search.rebuild(index_settings(app))
    expected_results, expected_records = results(client), records(db_path)

    result = invoke(app, "backup", str(tmp_path / "backups"))
    assert result.exit_code == 0, result.output
    copy = next((tmp_path / "backups").glob("registry-*.db"))

    # Life goes on: more imports, an edit, a deletion.
    ingest.import_data(conn, batch_csv(2), "csv")
    ingest.import_data(conn, batch_csv(1, size=2).replace(b"Backup batch", b"Renamed batch"), "csv")
    with storage.transaction(conn):
        conn.execute("DELETE FROM projects WHERE id = 'bk-1-4'")
    version_before_restore = storage.data_version(conn)
    conn.conn.close()
    search.rebuild(index_settings(app))
    assert results(client) != expected_results

    result = invoke(app, "restore", str(copy), "--yes")
    assert result.exit_code == 0, result.output
    assert "Added 1, changed 2, unchanged" in result.output and "deleted 5 projects" in result.output
    assert records(db_path) == expected_records
    # a change through the audited write path: the records that differed have a restore row each
    conn = storage.connect(db_path)
    restored = {h["entity_id"]: h for h in editing_db.list_history(conn, limit=100)[0] if h["source_kind"] == "restore"}
    conn.conn.close()
    assert sorted(restored) == ["bk-1-0", "bk-1-1", "bk-1-4"] + [f"bk-2-{i}" for i in range(5)]
    assert restored["bk-1-0"]["fields"] == '["title"]' and restored["bk-1-0"]["source"] == str(copy)
    assert restored["bk-2-0"]["after"] is None and restored["bk-1-4"]["before"] is None
    assert backup.verify(db_path)["data_version"] > version_before_restore   # caches cannot serve old pages
    assert search.verify(index_settings(app)) is None
    assert results(client) == expected_results
    assert results(make_app(instance, CHECK_INDEX_ON_START=True).test_client()) == expected_results


def test_restore_is_atomic_for_readers(instance, tmp_path):
    app = make_app(instance)
    db_path = str(instance / "registry.db")
    copy = backup.backup_database(db_path, tmp_path / "small.db")
    conn = storage.connect(db_path)
    for n in range(3):
        ingest.import_data(conn, batch_csv(n), "csv")
    conn.conn.close()
    totals = {backup.verify(copy)["projects"], backup.verify(db_path)["projects"]}
    seen, stop = set(), threading.Event()

    def read():
        client = app.test_client()
        while not stop.is_set():
            seen.add(client.get("/api/projects?per_page=1").get_json()["total"])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        backup.restore_database(copy, db_path)
    finally:
        stop.set()
        reader.join(timeout=60)
    assert seen and seen <= totals                                 # the old registry or the new, never a mix


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not-a-registry", "missing", "corrupt-page"])
def test_restore_refuses_a_bad_file_and_changes_nothing(instance, tmp_path, damage):
    app = make_app(instance)
    db_path = str(instance / "registry.db")
    bad = tmp_path / "bad.db"
    if damage == "garbage":
        bad.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        backup.backup_database(db_path, bad)
        bad.write_bytes(bad.read_bytes()[:8192])
    elif damage == "not-a-registry":
        other = sqlite3.connect(bad)
        other.execute("CREATE TABLE t (x)")
        other.commit()
        other.close()
    elif damage == "corrupt-page":
        backup.backup_database(db_path, bad)
        data = bytearray(bad.read_bytes())
        page = 4096
        data[page * 3: page * 3 + 200] = b"\xff" * 200              # scribble over a b-tree page
        bad.write_bytes(bytes(data))
    before = table_dump(db_path), backup.verify(db_path)
    result = invoke(app, "restore", str(bad), "--yes")
    assert result.exit_code != 0
    assert "nothing was changed" in result.output
    assert (table_dump(db_path), backup.verify(db_path)) == before


def test_backup_keep_prunes_old_copies(instance, tmp_path):
    app = make_app(instance, BACKUP_DIR=str(tmp_path / "kept"))
    for _ in range(3):
        assert invoke(app, "backup").exit_code == 0
    result = invoke(app, "backup", "--keep", "2")
    assert result.exit_code == 0 and "Removed old backup" in result.output
    kept = list((tmp_path / "kept").glob("registry-*.db"))
    assert len(kept) == 2 and all(backup.verify(p)["projects"] > 0 for p in kept)


def test_backup_of_a_missing_database_says_so(tmp_path):
    app = make_app(tmp_path, CHECK_INDEX_ON_START=False, DATABASE=str(tmp_path / "none" / "registry.db"))
    result = invoke(app, "backup", str(tmp_path / "out.db"))
    assert result.exit_code != 0 and "setup" in result.output


# --- restore keeps the live accounts and ends every session (finding 3) -------------------------------

NEW_PASSWORD = "the password chosen after the backup"
PROPOSAL = {"title": "A pilot proposed after a restore", "summary": "Gold without mercury.", "area": "asgm",
            "kind": "project", "status": "ongoing", "countries": "Tanzania", "loc-1-name": "Zanzibar",
            "loc-1-precision": "site", "loc-1-lat": "-6.16", "loc-1-lon": "39.19", "who": "A local NGO",
            "evidence": "Our newsletter, May 2024", "contact_name": "Amina", "contact_email": "amina@example.org"}
PATHS = ["records", "empty"]   # restore through the write path, or the whole file onto an empty registry


def live_state(db_path):
    """What a restore must keep: accounts, login failures, rate-limit counters."""
    conn = sqlite3.connect(db_path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in ("users", "login_failures", "rate_events")}
    finally:
        conn.close()


def empty_the_registry(db_path):
    """The registry's records gone (a new machine with its first accounts): restore copies the whole file."""
    conn = storage.connect(db_path)
    with storage.transaction(conn):
        conn.execute("DELETE FROM projects")
        conn.execute("DELETE FROM organisations")
    conn.conn.close()


def accounts_after_the_backup(app, db_path):
    """What happens after the backup was taken: a new password, a deactivation, a new account, failed
    logins, proposals counted; and an open session. Returns the logged-in client."""
    conn = storage.connect(db_path)
    try:
        for name, password in (("alice", NEW_PASSWORD), ("bob", PASSWORD)):
            user = editing_db.get_user(conn, name)
            editing_db.update_user(conn, user["id"], "root", password_hash=generate_password_hash(password),
                                   active=int(name == "alice"))
    finally:
        conn.conn.close()
    add_user(app, "carol", "editor")
    attacker = app.test_client()
    attacker.environ_base = {"REMOTE_ADDR": "203.0.113.66"}
    for _ in range(3):
        assert login(attacker, "alice", "a guessed password").status_code == 401
    client = app.test_client()
    assert login(client, "carol").status_code == 302 and client.get("/editor").status_code == 200
    return client


@pytest.mark.parametrize("path", PATHS)
def test_restore_keeps_the_live_accounts_and_ends_every_session(instance, tmp_path, path):
    app = make_app(instance)
    db_path = str(instance / "registry.db")
    add_user(app, "root", "admin")
    add_user(app, "alice", "admin")
    add_user(app, "bob", "editor")
    copy = backup.backup_database(db_path, tmp_path / "before.db")
    client = accounts_after_the_backup(app, db_path)
    conn = storage.connect(db_path)
    assert editing_db.rate_limit_hit(conn, "propose:someone", 10, 3600, time.time())
    conn.conn.close()
    if path == "empty":
        empty_the_registry(db_path)
    kept = live_state(db_path)

    result = invoke(app, "restore", str(copy), "--yes")
    assert result.exit_code == 0, result.output
    assert ("Copied" in result.output) == (path == "empty")
    assert "every session was ended" in result.output
    assert live_state(db_path) == kept
    assert login(app.test_client(), "alice").status_code == 401              # the old password stays old
    assert login(app.test_client(), "alice", NEW_PASSWORD).status_code == 302
    assert login(app.test_client(), "bob").status_code == 401                 # still deactivated
    assert client.get("/editor").headers["Location"].startswith("/login")    # the open session ended
    conn = storage.connect(db_path)
    open_sessions = conn.execute("SELECT count(*) FROM sessions WHERE ended IS NULL").fetchone()[0]
    conn.conn.close()
    assert open_sessions == 1                                                 # alice's login just above
    assert records(db_path) == records(str(copy))


def test_restore_with_accounts_takes_the_backups_accounts(instance, tmp_path):
    app = make_app(instance)
    db_path = str(instance / "registry.db")
    add_user(app, "root", "admin")
    add_user(app, "alice", "admin")
    add_user(app, "bob", "editor")
    copy = backup.backup_database(db_path, tmp_path / "before.db")
    client = accounts_after_the_backup(app, db_path)
    failures = live_state(db_path)["login_failures"]
    result = invoke(app, "restore", str(copy), "--yes", "--with-accounts")
    assert result.exit_code == 0, result.output
    assert live_state(db_path)["login_failures"] == failures                  # login state stays live
    assert login(app.test_client(), "alice").status_code == 302               # as they were at the backup
    assert login(app.test_client(), "carol").status_code == 401               # created since: gone
    assert client.get("/editor").headers["Location"].startswith("/login")


# --- backups from an older schema are migrated; a foreign file is refused ---------------------------------

# The registry's first schema (commit 993ef59): the record tables only, without the columns added since
# (store/db.py ADDED_COLUMNS), and no accounts, history or proposals.
FIRST_SCHEMA = """
CREATE TABLE organisations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, acronym TEXT, aliases TEXT NOT NULL DEFAULT '[]',
    type TEXT NOT NULL, country TEXT, website TEXT, leads_areas TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL);
CREATE TABLE projects (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, summary TEXT, description TEXT,
    kind TEXT NOT NULL, area TEXT NOT NULL, status TEXT NOT NULL,
    start_year INTEGER, end_year INTEGER, parent_id TEXT, website TEXT,
    keywords TEXT NOT NULL DEFAULT '[]', version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL);
CREATE TABLE project_areas (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    area TEXT NOT NULL, is_main INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (project_id, area));
CREATE TABLE project_countries (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, iso3 TEXT NOT NULL,
    PRIMARY KEY (project_id, iso3));
CREATE TABLE locations (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL, precision TEXT NOT NULL, lat REAL, lon REAL, country TEXT);
CREATE TABLE roles (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE RESTRICT,
    role TEXT NOT NULL, PRIMARY KEY (project_id, org_id, role));
CREATE TABLE sources (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    document TEXT, section TEXT, quote TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""


def first_schema_backup(db_path, dest):
    """A backup as the registry's first version wrote it, holding the records of the database at `db_path`."""
    out, source = sqlite3.connect(dest), sqlite3.connect(db_path)
    try:
        out.executescript(FIRST_SCHEMA)
        for (table,) in out.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            columns = ", ".join(c[1] for c in out.execute(f"PRAGMA table_info({table})"))
            rows = source.execute(f"SELECT {columns} FROM {table}").fetchall()
            out.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(rows[0]))})", rows)
        out.commit()
    finally:
        out.close()
        source.close()
    return dest


@pytest.mark.parametrize("path", PATHS)
def test_restore_migrates_a_backup_of_the_first_schema(instance, tmp_path, path):
    app = make_app(instance)
    db_path = str(instance / "registry.db")
    old = first_schema_backup(db_path, tmp_path / "first.db")
    expected = records(db_path)
    add_user(app, "root", "admin")
    if path == "empty":
        empty_the_registry(db_path)
    result = invoke(app, "restore", str(old), "--yes")
    assert result.exit_code == 0, result.output
    orgs, projects = records(db_path)
    assert [o["id"] for o in orgs] == [o["id"] for o in expected[0]]
    assert [p["id"] for p in projects] == [p["id"] for p in expected[1]]
    # the registry works as before: log in, edit, read the history, take a proposal, search
    client = app.test_client()
    assert login(client, "root").status_code == 302
    for page in ("/editor", "/editor/history", "/editor/proposals", f"/editor/projects/{projects[0]['id']}/edit"):
        assert client.get(page).status_code == 200, page
    public = app.test_client()
    proposal = dict(PROPOSAL, csrf_token=csrf_token(public, "/propose"))
    assert "Thank you" in public.post("/propose", data=proposal).get_data(as_text=True)
    assert client.get("/api/projects?q=mercury").status_code == 200
    conn = storage.connect(db_path)
    assert {"coords_source", "basis"} <= {c[1] for c in conn.execute("PRAGMA table_info(locations)")}
    assert conn.execute("SELECT count(*) FROM history WHERE source_kind = 'restore'").fetchone()[0] >= 1
    conn.conn.close()


def foreign_registry_lookalike(path):
    """An SQLite file with tables named like the registry's, but another application's columns."""
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE projects (pk INTEGER PRIMARY KEY, name TEXT); "
                       "CREATE TABLE organisations (pk INTEGER PRIMARY KEY, label TEXT); "
                       "CREATE TABLE meta (k TEXT, v TEXT); INSERT INTO projects (name) VALUES ('x');")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ["lookalike", "json-export"])
def test_restore_refuses_a_file_that_is_not_a_registry_backup(instance, tmp_path, path, kind):
    app = make_app(instance)
    db_path = str(instance / "registry.db")
    add_user(app, "root", "admin")
    if path == "empty":
        empty_the_registry(db_path)
    bad = tmp_path / "bad.db"
    if kind == "lookalike":
        foreign_registry_lookalike(bad)
    else:
        assert invoke(app, "export", "--format", "json", "-o", str(bad)).exit_code == 0
    before = table_dump(db_path), backup.verify(db_path)
    result = invoke(app, "restore", str(bad), "--yes")
    assert result.exit_code != 0 and "nothing was changed" in result.output
    assert "not a registry backup" in result.output or "not an SQLite database" in result.output
    assert "Traceback" not in result.output
    assert (table_dump(db_path), backup.verify(db_path)) == before


def test_every_table_is_either_restored_or_kept_live(db):
    """A new table must be classified on purpose: the registry's data (restored from a backup) or live
    state (accounts, sessions, counters: kept as they are)."""
    storage.migrate(db)
    tables = set(db.table_names())
    assert tables <= set(backup.RESTORED_TABLES) | set(backup.LIVE_TABLES), \
        tables - set(backup.RESTORED_TABLES) - set(backup.LIVE_TABLES)
    assert not set(backup.RESTORED_TABLES) & set(backup.LIVE_TABLES)
