"""Backups of the SQLite database, the registry's only truth (the search index is rebuilt from it).

Used by `flask backup` and `flask restore` (registry/cli.py).

Both directions go through SQLite's backup API, never through file copies: a backup is one consistent
snapshot (a read transaction, so writers carry on in WAL mode). A restore into a registry that holds
records reads the backup's records (`load_copy`) and applies them as one replace-all change through the
audited write path (exchange/apply.py): one transaction, a history row per record that differs, accounts
and history kept. A restore onto a missing or empty registry (a new machine) copies the whole file
(`restore_database`: accounts, history and proposals too) in one write transaction and records one
history row. Either way every reader sees the old or the new registry, never a mix. Replacing the file
on disk instead would be unsafe while a `-wal` file of the old database exists.
"""
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from . import db as storage

REQUIRED_TABLES = ("projects", "organisations", "meta")
SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(Exception):
    """The backup or restore could not be done; the message says why and what to do."""


def verify(path):
    """Check that `path` is an intact registry database. Returns its counts; raises BackupError."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file")
    with path.open("rb") as f:
        if f.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not an SQLite database")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path} is damaged (integrity check: {'; '.join(problems[:5])})")
        if conn.execute("PRAGMA foreign_key_check").fetchall():
            raise BackupError(f"{path} has rows that point at missing records (foreign key check failed)")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise BackupError(f"{path} is not a registry database (missing tables: {', '.join(missing)})")
        count = lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
        version = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return {"projects": count("projects"), "organisations": count("organisations"),
                "data_version": int(version[0]) if version else 0}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as an SQLite database: {exc}") from None
    finally:
        conn.close()


def backup_database(db_path, dest):
    """Copy the live database at `db_path` to the file `dest` (written aside, verified, then renamed)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    if not Path(db_path).is_file():
        raise BackupError(f"there is no database at {db_path}")
    source = sqlite3.connect(db_path, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)                     # all pages in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
    except sqlite3.Error as exc:
        raise BackupError(f"the database could not be copied ({exc})") from None
    finally:
        target.close()
        source.close()
    _fsync(partial)
    verify(partial)
    os.replace(partial, dest)
    _fsync(dest.parent)
    return dest


def holds_registry(db_path):
    """True when the database at `db_path` holds any project or organisation (restore through the write
    path); False when it is missing or empty (restore the whole file)."""
    if not Path(db_path).is_file():
        return False
    db = storage.connect(db_path)
    try:
        return "projects" in db.table_names() and any(storage.existing_ids(db))
    finally:
        db.conn.close()


def load_copy(backup_path):
    """The verified backup copied into memory and brought to the current schema (an older backup lacks
    newer columns): a connection to read its records from. The caller closes it."""
    verify(backup_path)
    copy = storage.connect(":memory:")
    source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    try:
        source.backup(copy.conn)
    finally:
        source.close()
    storage.migrate(copy)
    return copy


def restore_database(backup_path, db_path, actor="restore"):
    """Replace the whole live database (accounts, history, proposals too) with the verified backup, in one
    write transaction, then record the restore in its history. The data version moves forward (never
    back), so caches keyed on it cannot serve old pages."""
    info = verify(backup_path)
    if Path(db_path).exists() and Path(backup_path).resolve() == Path(db_path).resolve():
        raise BackupError("the backup file is the live database itself; choose a backup file")
    live = storage.connect(db_path)
    before = storage.data_version(live)
    source = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    try:
        source.backup(live.conn)
    except sqlite3.OperationalError as exc:
        raise BackupError(f"the database could not be replaced ({exc}); nothing was changed") from None
    finally:
        source.close()
    try:
        _record_restore(live, backup_path, actor, max(before, info["data_version"]) + 1)
    finally:
        live.conn.close()
    return info


def _record_restore(live, backup_path, actor, version):
    storage.migrate(live)   # an older backup's history lacks the newer columns
    with storage.transaction(live):
        storage.set_version(live, version)
        storage.insert_rows(live, "history", [{
            "at": storage.now(), "actor": actor, "action": "restore", "entity": "registry",
            "entity_id": Path(backup_path).name, "source_kind": "restore", "source": str(backup_path),
            "note": "the whole database was replaced by this backup (accounts and history included)"}])


def prune(folder, keep):
    """Delete all but the newest `keep` registry-*.db backups in `folder`. Returns the deleted paths."""
    backups = sorted(Path(folder).glob("registry-*.db"), key=lambda p: p.stat().st_mtime, reverse=True)
    old = backups[keep:] if keep > 0 else []
    for path in old:
        path.unlink()
    return old


def default_name(folder):
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path, n = Path(folder) / f"registry-{stamp}.db", 1
    while path.exists():
        path, n = Path(folder) / f"registry-{stamp}-{n}.db", n + 1
    return path


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
