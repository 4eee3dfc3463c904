"""Backups of the SQLite database, the registry's only truth (the search index is rebuilt from it).

Used by `flask backup` and `flask restore` (registry/cli.py).

A backup is one consistent snapshot taken through SQLite's backup API (a read transaction, so writers
carry on in WAL mode), never a file copy. A restore first checks the file (`verify`: intact, and a
registry's tables and columns), copies it into memory and brings it to the current schema (`load_copy`:
an older backup lacks newer columns and tables). Then:

- into a registry that holds records, the backup's records are applied as one replace-all change through
  the audited write path (exchange/apply.py `restore_records`): a history row per record that differs;
  history and proposals stay;
- onto a missing or empty registry (a new machine), `replace_database` makes every RESTORED table
  (records, history, proposals) the backup's in one write transaction and records one history row.

Either way the live state stays as it is (LIVE_TABLES: accounts, login failures, rate limits, jobs:
an old backup must not bring back a deactivated account or an old password), accounts are taken from the
backup only when asked (`with_accounts`), and every session ends. Every reader sees the old or the new
registry, never a mix. Replacing the file on disk instead would be unsafe while a `-wal` file exists.
"""
import os
import sqlite3
import time
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from . import db as storage
from . import sessions

# The registry's data, restored from a backup; parents before the rows that point at them.
RESTORED_TABLES = ("organisations", "projects", "project_areas", "project_countries", "locations", "roles",
                   "documents", "sources", "history", "proposals")
# This machine's state, kept by a restore: accounts (unless with_accounts), sessions (all ended), login
# failures and rate-limit counters (login_attempts: before issue 11), meta (data_version moves forward),
# import jobs (store/jobs.py). A table in neither list is kept too; tests/test_backup.py asks for a choice.
LIVE_TABLES = ("users", "sessions", "login_failures", "login_attempts", "rate_events", "meta", "jobs")
ACCOUNT_TABLES = ("users",)
# A backup must hold these (every version of the registry had them), each with its first columns.
REQUIRED_TABLES = ("organisations", "projects", "project_areas", "project_countries", "locations", "roles",
                   "sources", "meta")
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
            raise BackupError(f"{path} is not a registry backup: it is not an SQLite database (a backup is the "
                              "file `flask backup` writes, registry-<time>.db)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{path} is damaged (integrity check: {'; '.join(problems[:5])})")
        if conn.execute("PRAGMA foreign_key_check").fetchall():
            raise BackupError(f"{path} has rows that point at missing records (foreign key check failed)")
        _check_tables(path, conn)
        count = lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
        version = conn.execute("SELECT value FROM meta WHERE key = 'data_version'").fetchone()
        return {"projects": count("projects"), "organisations": count("organisations"),
                "data_version": int(version[0]) if version else 0}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as an SQLite database: {exc}") from None
    finally:
        conn.close()


@cache
def _first_columns():
    """{table: columns} of the current schema, without the columns added since a table was first made."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(storage.SCHEMA)
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} - {c for (table, c) in
                                                                               storage.ADDED_COLUMNS if table == t}
                for t in tables}
    finally:
        conn.close()


def _check_tables(path, conn):
    """A registry backup holds the record tables, and every table the registry knows has its first
    columns (another application's file with tables of the same names does not)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise BackupError(f"{path} is not a registry backup (missing tables: {', '.join(missing)})")
    for table, expected in _first_columns().items():
        if table in tables:
            lacking = expected - {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            if lacking:
                raise BackupError(f"{path} is not a registry backup (its table {table} lacks the columns "
                                  f"{', '.join(sorted(lacking))})")


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


def restore_database(backup_path, db_path, actor="restore", with_accounts=False):
    """Make the data of the database at `db_path` that of the verified backup (see replace_database)."""
    if Path(db_path).exists() and Path(backup_path).resolve() == Path(db_path).resolve():
        raise BackupError("the backup file is the live database itself; choose a backup file")
    copy = load_copy(backup_path)
    live = storage.connect(db_path)
    try:
        storage.migrate(live)
        return replace_database(copy, live, actor, str(backup_path), with_accounts)
    finally:
        live.conn.close()
        copy.conn.close()


def replace_database(copy, live, actor, source, with_accounts=False):
    """In ONE write transaction: every RESTORED table of `live` becomes that of `copy` (a migrated backup,
    see load_copy), the accounts too when `with_accounts`; the live state stays; every session ends; one
    history row records the restore; the data version moves forward (never back), so caches keyed on it
    cannot serve old pages. Returns the backup's counts of projects and organisations."""
    tables = RESTORED_TABLES + (ACCOUNT_TABLES if with_accounts else ())
    if with_accounts:
        check_accounts(copy)
    with storage.transaction(live):
        version = max(storage.data_version(live), storage.data_version(copy)) + 1
        for table in reversed(tables):
            live.execute(f"DELETE FROM {table}")
        for table in tables:
            _copy_rows(copy, live, table)
        _after_restore(live, actor, source, version, with_accounts,
                       "the registry's data, history and proposals were replaced by this backup")
    counts = storage.counts(copy)
    return {"projects": counts["projects"], "organisations": counts["organisations"]}


def end_sessions_after_restore(copy, live, actor, source, with_accounts=False):
    """The end of a restore through the write path (whose history rows record the records restored): every
    session ends and, when `with_accounts`, the backup's accounts replace the live ones, recorded by a
    history row; in one transaction."""
    if not with_accounts:
        sessions.end_all_sessions(live, "restore", time.time())
        return
    check_accounts(copy)
    with storage.transaction(live):
        for table in ACCOUNT_TABLES:
            live.execute(f"DELETE FROM {table}")
            _copy_rows(copy, live, table)
        _after_restore(live, actor, source, storage.data_version(live), with_accounts,
                       "the records were restored from this backup through the write path")


def check_accounts(copy):
    """Accounts can be restored only from a backup that has an active admin (else nobody could log in)."""
    if not copy.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active = 1").fetchone()[0]:
        raise BackupError("the backup holds no active admin account, so its accounts cannot replace the live "
                          "ones; restore without --with-accounts; nothing was changed")


def _copy_rows(copy, live, table):
    """Every row of `table` from `copy` into `live` (the columns both have; both are migrated)."""
    columns = [r[1] for r in live.execute(f"PRAGMA table_info({table})")]
    columns = [c for c in columns if c in {r[1] for r in copy.execute(f"PRAGMA table_info({table})")}]
    names = ", ".join(columns)
    live.conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})",
                          copy.conn.execute(f"SELECT {names} FROM {table}"))


def _after_restore(live, actor, source, version, with_accounts, what):
    ended = sessions.end_all_sessions(live, "restore", time.time())
    accounts = "the accounts were taken from the backup" if with_accounts else "the live accounts were kept"
    storage.set_version(live, version)
    storage.insert_rows(live, "history", [{
        "at": storage.now(), "actor": actor, "action": "restore", "entity": "registry",
        "entity_id": Path(source).name, "source_kind": "restore", "source": source,
        "note": f"{what}; {accounts}; {ended} open session(s) ended"}])


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
