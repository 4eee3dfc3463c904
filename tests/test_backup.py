"""Backups (FT14): an online backup taken while imports write is an intact database at a commit
boundary; a restore verifies the file, replaces the data atomically, and the rebuilt index gives the
same search results as when the backup was taken."""
import sqlite3
import threading

import pytest

from registry.store import backup

from registry.search import index as search
from registry.store import db as storage
from registry.store import editing as editing_db
from registry.exchange import ingest
from registry.web.context import index_settings
from conftest import make_app

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
