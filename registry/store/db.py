"""Storage: the only module that writes SQL. SQLite (through sqlite-utils) is the source of truth.

Connections are opened per request by the web layer (and per process, after fork), with WAL, a busy timeout,
synchronous=FULL and foreign keys. Every write is one `BEGIN IMMEDIATE` transaction: all or nothing.
"""
import itertools
import json
import os
import sqlite3
import threading
from collections import Counter, OrderedDict
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache

import numpy
import sqlite_utils

from ..core.query import POINT_PRECISIONS, region_scope
from ..core.records import ORGANISATION_FIELDS, PROJECT_FIELDS, canonical_order
from ..core.language import translated_field_names
from ..core.regions import all_regions
from ..core import regions
from ..core.sources import REPORT_SOURCE_ID
from . import sources as source_store

SCHEMA = """
CREATE TABLE IF NOT EXISTS organisations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, acronym TEXT, aliases TEXT NOT NULL DEFAULT '[]',
    type TEXT NOT NULL, country TEXT, website TEXT, leads_areas TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, summary TEXT, description TEXT,
    kind TEXT NOT NULL, area TEXT NOT NULL, status TEXT NOT NULL,
    start_year INTEGER, end_year INTEGER, parent_id TEXT, website TEXT,
    keywords TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS project_areas (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    area TEXT NOT NULL, is_main INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, area)
);
CREATE TABLE IF NOT EXISTS project_countries (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    iso3 TEXT NOT NULL, PRIMARY KEY (project_id, iso3)
);
CREATE TABLE IF NOT EXISTS locations (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL, precision TEXT NOT NULL, lat REAL, lon REAL, country TEXT
);
CREATE TABLE IF NOT EXISTS roles (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE RESTRICT,
    role TEXT NOT NULL, PRIMARY KEY (project_id, org_id, role)
);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    document TEXT, section TEXT, quote TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE INDEX IF NOT EXISTS idx_roles_org ON roles(org_id, role);
CREATE INDEX IF NOT EXISTS idx_countries_iso ON project_countries(iso3);
CREATE INDEX IF NOT EXISTS idx_areas_area ON project_areas(area);
CREATE INDEX IF NOT EXISTS idx_locations_project ON locations(project_id);
CREATE INDEX IF NOT EXISTS idx_sources_project ON sources(project_id);
CREATE INDEX IF NOT EXISTS idx_projects_parent ON projects(parent_id);
CREATE INDEX IF NOT EXISTS idx_projects_facets ON projects(id, status, kind);   -- see FACET_SQL
-- editing (registry/editing/): accounts, sessions, login throttling, rate limits, history, moderation
-- (users.session_version is no longer read: sessions are rows of `sessions` since issue 11)
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, role TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, must_change_password INTEGER NOT NULL DEFAULT 0,
    session_version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL
);
-- store/sessions.py: id is the SHA-256 of the random token the cookie carries; times are epoch seconds
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created REAL NOT NULL, last_seen REAL NOT NULL, expires REAL NOT NULL, ended REAL, end_reason TEXT
);
CREATE INDEX IF NOT EXISTS idx_sessions_user ON sessions(user_id, ended);
-- store/editing.py begin_login_attempt: one row per failed (or not yet checked) login; client is a keyed hash
CREATE TABLE IF NOT EXISTS login_failures (account TEXT NOT NULL, client TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idx_login_failures_pair ON login_failures(account, client, at);
CREATE INDEX IF NOT EXISTS idx_login_failures_client ON login_failures(client, at);
CREATE TABLE IF NOT EXISTS rate_events (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idx_rate_events ON rate_events(key, at);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    entity TEXT NOT NULL, entity_id TEXT NOT NULL, before TEXT, after TEXT, version INTEGER,
    batch TEXT, note TEXT
);
CREATE INDEX IF NOT EXISTS idx_history_entity ON history(entity, entity_id);
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    data TEXT NOT NULL, decided_by TEXT, decided_at TEXT, project_id TEXT, note TEXT
);
"""

SORTS = {
    "title": "p.title COLLATE NOCASE, p.id",
    "start_year": "p.start_year IS NULL, p.start_year, p.title COLLATE NOCASE",
    "-start_year": "p.start_year IS NULL, p.start_year DESC, p.title COLLATE NOCASE",
    "updated": "p.updated_at DESC, p.id",
}


class StorageError(Exception):
    """A write could not be applied (full disk, locked database...). Nothing was stored."""


class StaleReference(StorageError):
    """A written record points at one that another change removed meanwhile (a foreign key failed after
    validation passed). Nothing was stored; validating again names the missing record."""


def connect(path, readonly=False):
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=5, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
    db = sqlite_utils.Database(conn)
    # Our SQLite has INSERT ... ON CONFLICT (3.24+). Say so, or sqlite-utils probes by creating a table, and
    # when that write fails (disk full, busy) it falls back to INSERT OR IGNORE + UPDATE, which silently
    # skips rows that violate NOT NULL: an organisation could be "imported" without being stored.
    db._supports_on_conflict = sqlite3.sqlite_version_info >= (3, 24)
    return db


# Columns added after a table was first created: (table, column) -> its SQL definition. `migrate` adds the
# missing ones to an older database (CREATE TABLE IF NOT EXISTS leaves existing tables as they are).
ADDED_COLUMNS = {
    # history: what kind of source made the change (form, import, seed, revert, proposal, restore), which
    # one (a file name, "revert of #12"...), and the paths of the fields it changed (JSON list)
    ("history", "source_kind"): "TEXT",
    ("history", "source"): "TEXT",
    ("history", "fields"): "TEXT",
    # locations: where the point comes from (report, gazetteer, country-point, editor; NULL without a point),
    # the gazetteer entry it is (geodata/gazetteer.csv), and on what the place stands (stated, or inferred
    # with a one-line reason): core/validate.py clean_location
    ("locations", "coords_source"): "TEXT",
    ("locations", "gazetteer_id"): "TEXT",
    ("locations", "basis"): "TEXT NOT NULL DEFAULT 'stated'",
    ("locations", "reason"): "TEXT",
    # issue 18: on what each value stands. A stated location's or role's `source` is the number (from 1) of
    # the record's source whose quote says so; roles.basis NULL: not recorded. projects.evidence holds the
    # basis of status, start_year and end_year, organisations.evidence that of names the report does not
    # write (JSON objects, {} when none; core/validate.py _evidence)
    ("locations", "source"): "INTEGER",
    ("roles", "basis"): "TEXT",
    ("roles", "source"): "INTEGER",
    ("roles", "reason"): "TEXT",
    ("projects", "evidence"): "TEXT NOT NULL DEFAULT '{}'",
    ("organisations", "evidence"): "TEXT NOT NULL DEFAULT '{}'",
    # issue 14: IATI identifiers, NULL when not known: an organisation's (e.g. XM-DAC-41114) and a project's
    # own activity identifier (core/validate.py iati_identifier)
    ("organisations", "identifier"): "TEXT",
    ("projects", "iati_identifier"): "TEXT",
    # issue 12: the canonical code of the region (core/regions.py) a location of precision `region` is;
    # NULL for other precisions (and for region locations stored before it, until their record is saved again)
    ("locations", "region"): "TEXT",
    # issue 13: a project's title and summary in French and Spanish, NULL when it has none (core/language.py
    # translated_field_names; a fresh database gets them here too, as every column added since the first schema)
    **{("projects", name): "TEXT" for name in translated_field_names()},
    # issue 13: the language a source record is written in (ISO 639-1, NULL when not known: core/sources.py)
    ("documents", "language"): "TEXT",
}


# A location as records hold it (core/validate.py clean_location), in that order
LOCATION_COLUMNS = "name, precision, lat, lon, country, region, coords_source, gazetteer_id, basis, source, reason"


def migrate(db):
    """Bring the database to the current schema: create what is missing, add the newer columns."""
    db.conn.executescript(SCHEMA)
    db.conn.executescript(source_store.SCHEMA)     # before the columns: `documents` gets one of them
    for (table, column), definition in ADDED_COLUMNS.items():
        existing = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in existing:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
    source_store.migrate(db)
    _fill_location_regions(db)


def _fill_location_regions(db):
    """Region locations stored before locations had a region (issue 12) get the region their name is, when
    it is one (read first: a database with nothing to fill is not written)."""
    rows = db.execute("SELECT id, name FROM locations WHERE precision = 'region' AND region IS NULL").fetchall()
    found = [(r.code, row_id) for row_id, name in rows if (r := regions.lookup_region(name)) is not None]
    if found:
        db.conn.executemany("UPDATE locations SET region = ? WHERE id = ?", found)


@contextmanager
def transaction(db):
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (safe after SQLite's own rollback)."""
    conn = db.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield db
        conn.execute("COMMIT")
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and ("full" in str(exc) or "locked" in str(exc)):
            raise StorageError(f"storage problem, nothing was stored: {exc}") from exc
        if isinstance(exc, sqlite3.IntegrityError) and "FOREIGN KEY" in str(exc):
            raise StaleReference("a record of this change points at one that was deleted meanwhile; "
                                 f"nothing was stored ({exc})") from exc
        raise


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- writes: the primitives of store.editing.write_changes, the one audited write (no other caller) ---

def write_organisation(db, o, stamp, version):
    """Insert or update one validated organisation at `version`. Call inside `transaction`."""
    row = dict(o, aliases=json.dumps(o["aliases"]), leads_areas=json.dumps(o["leads_areas"]),
               evidence=json.dumps(o.get("evidence") or {}), updated_at=stamp, version=version)
    _upsert(db, "organisations", row)


def write_project(db, p, stamp, version):
    """Insert or update one validated project at `version`, replacing its rows in the child tables."""
    row = {k: p[k] for k in ("id", "title", "summary", "description", "kind", "area", "status",
                             "start_year", "end_year", "website")}
    row["iati_identifier"] = p.get("iati_identifier")
    row.update({name: p.get(name) for name in translated_field_names()})   # NULL: none (an edit may remove one)
    row.update(parent_id=p["parent"], keywords=json.dumps(p["keywords"]), evidence=json.dumps(p.get("evidence") or {}),
               updated_at=stamp, version=version)
    _upsert(db, "projects", row)
    for table in ("project_areas", "project_countries", "locations", "roles", "sources"):
        db.execute(f"DELETE FROM {table} WHERE project_id = ?", [p["id"]])
    areas = [{"project_id": p["id"], "area": p["area"], "is_main": 1}]
    areas += [{"project_id": p["id"], "area": a, "is_main": 0} for a in p["other_areas"]]
    insert_rows(db, "project_areas", areas)
    insert_rows(db, "project_countries", ({"project_id": p["id"], "iso3": c} for c in p["countries"]))
    insert_rows(db, "locations", (dict(loc, project_id=p["id"]) for loc in p["locations"]))
    insert_rows(db, "roles", ({"project_id": p["id"], "org_id": r["org"], "role": r["role"], "basis": r.get("basis"),
                           "source": r.get("source"), "reason": r.get("reason")} for r in p["organisations"]))
    insert_rows(db, "sources", (dict(s, project_id=p["id"], document=s.get("document") or REPORT_SOURCE_ID)
                            for s in p["sources"]))


RECORD_TABLES = {"project": "projects", "organisation": "organisations", "source": "documents"}


def delete_record(db, entity, record_id):
    """Delete one project (its child rows go with it), organisation or source record."""
    db.execute(f"DELETE FROM {RECORD_TABLES[entity]} WHERE id = ?", [record_id])


def children_of(db, project_ids):
    """Ids of the projects whose parent is one of `project_ids`."""
    return [r[0] for r in db.execute("SELECT id FROM projects WHERE parent_id IN (SELECT value FROM json_each(?))",
                                     [json.dumps(list(project_ids))])]


def parent_cycle(db, project_id):
    """The chain of parents from `project_id` back to itself ([a, b, a]), or None when there is no cycle
    through it. Read inside the write transaction, so that two saves at once cannot close a cycle."""
    rows = db.execute(
        """WITH RECURSIVE up(id, depth) AS (SELECT parent_id, 1 FROM projects WHERE id = ?
               UNION ALL SELECT p.parent_id, up.depth + 1 FROM projects p JOIN up ON p.id = up.id
               WHERE up.id != ? AND up.depth < 1000)
           SELECT id FROM up WHERE id IS NOT NULL""", [project_id, project_id]).fetchall()
    chain = [project_id] + [r[0] for r in rows]
    return chain if chain[-1] == project_id and len(chain) > 1 else None


# Plain statements for the per-project rows: sqlite-utils' insert_all/upsert inspect the table on every
# call, which made them ~80% of a 10,000-project import (bench/, docs/benchmarks.md).
def insert_rows(db, table, rows):
    """INSERT rows (dicts with the same keys) in one executemany."""
    rows = list(rows)
    if rows:
        cols = list(rows[0])
        db.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            [[r[c] for c in cols] for r in rows])


def _upsert(db, table, row):
    """Insert the row, or update the given columns of the row with its id (never a delete: no cascade)."""
    cols = list(row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
    db.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(id) DO UPDATE SET {updates}", [row[c] for c in cols])


def bump_version(db):
    """Move the data version on by one (inside the writing transaction): caches keyed on it expire."""
    return set_version(db, int(get_meta(db, "data_version", "0")) + 1)


def set_version(db, version):
    """Set the data version (inside the writing transaction). Returns it."""
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('data_version', ?)", [str(version)])
    return version


def get_meta(db, key, default=None):
    if "meta" not in db.table_names():
        return default
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db, key, value):
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, str(value)])


def data_version(db):
    return int(get_meta(db, "data_version", "0"))


def data_changed_at(db):
    """When the data last changed (its newest history row) as an aware UTC datetime; None without history:
    what HTTP's Last-Modified of a map says."""
    if "history" not in db.table_names():
        return None
    stamp = db.execute("SELECT max(at) FROM history").fetchone()[0]
    if not stamp:
        return None
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return when.astimezone(timezone.utc) if when.tzinfo else when.replace(tzinfo=timezone.utc)


class VersionReader:
    """(file, data version) of the database at `path`, the version read on a read-only connection kept open
    per thread: the check a response cache makes on every hit (a fraction of opening a connection). A
    database file replaced under it (a new inode) is reopened, and names another file. None when it cannot be
    read (no meta table yet, a missing file)."""

    def __init__(self, path):
        self.path = str(path)
        self.local = threading.local()

    def __call__(self):
        try:   # fetchall: the statement ends, so no read transaction stays open between requests
            (value,), = self._connection().execute("SELECT value FROM meta WHERE key = 'data_version'").fetchall()
            return self.local.inode, int(value)
        except (sqlite3.Error, OSError, ValueError):
            self.local.__dict__.clear()
            return None

    def _connection(self):
        inode = os.stat(self.path).st_ino
        if getattr(self.local, "inode", None) != inode:
            self.local.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            self.local.inode = inode
        return self.local.conn


# --- reads ----------------------------------------------------------------------------------

def existing_ids(db):
    return ({r[0] for r in db.execute("SELECT id FROM projects")},
            {r[0] for r in db.execute("SELECT id FROM organisations")})


def counts(db):
    q = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "projects": q("SELECT count(*) FROM projects"),
        "organisations": q("SELECT count(*) FROM organisations"),
        "countries": q("SELECT count(DISTINCT iso3) FROM project_countries"),
        "locations": q("SELECT count(*) FROM locations"),
        "roles": q("SELECT count(*) FROM roles"),
        "sources": q("SELECT count(*) FROM sources"),
        "documents": q("SELECT count(*) FROM documents"),
    }


def _org_row(row):
    o = dict(row)
    o["aliases"] = json.loads(o["aliases"])
    o["leads_areas"] = json.loads(o["leads_areas"])
    o["evidence"] = json.loads(o.get("evidence") or "{}")
    return o


def get_organisation(db, org_id):
    rows = list(db.query("SELECT * FROM organisations WHERE id = ?", [org_id]))
    if not rows:
        return None
    o = _org_row(rows[0])
    o["projects"] = list(db.query(
        """SELECT r.role, r.basis, r.source, r.reason, p.id, p.title, p.title_fr, p.title_es, p.area, p.status
           FROM roles r JOIN projects p ON p.id = r.project_id
           WHERE r.org_id = ? ORDER BY r.role, p.title""", [org_id]))
    o["countries"] = [r["iso3"] for r in db.query(
        """SELECT DISTINCT c.iso3 FROM roles r JOIN project_countries c ON c.project_id = r.project_id
           WHERE r.org_id = ? ORDER BY c.iso3""", [org_id])]
    return o


def get_project(db, project_id):
    rows = list(db.query("SELECT * FROM projects WHERE id = ?", [project_id]))
    if not rows:
        return None
    p = dict(rows[0])
    p["keywords"] = json.loads(p["keywords"])
    p["evidence"] = json.loads(p["evidence"])
    p["other_areas"] = [r["area"] for r in db.query(
        "SELECT area FROM project_areas WHERE project_id = ? AND is_main = 0 ORDER BY area", [project_id])]
    p["countries"] = [r["iso3"] for r in db.query(
        "SELECT iso3 FROM project_countries WHERE project_id = ? ORDER BY iso3", [project_id])]
    p["locations"] = list(db.query(
        f"SELECT {LOCATION_COLUMNS} FROM locations WHERE project_id = ? ORDER BY id", [project_id]))
    p["organisations"] = list(db.query(
        """SELECT o.id, o.name, o.acronym, r.role, r.basis, r.source, r.reason
           FROM roles r JOIN organisations o ON o.id = r.org_id
           WHERE r.project_id = ? ORDER BY CASE r.role WHEN 'lead' THEN 0 WHEN 'funder' THEN 1
           WHEN 'implementer' THEN 2 ELSE 3 END, o.name""", [project_id]))
    p["sources"] = list(db.query(
        "SELECT document, section, quote FROM sources WHERE project_id = ? ORDER BY id", [project_id]))
    p["parent"] = None
    if p["parent_id"]:
        parent = list(db.query("SELECT id, title, title_fr, title_es FROM projects WHERE id = ?", [p["parent_id"]]))
        p["parent"] = parent[0] if parent else None
    p["children"] = list(db.query(
        "SELECT id, title, title_fr, title_es, status FROM projects WHERE parent_id = ? ORDER BY title", [project_id]))
    return p


def project_summaries(db, ids):
    """List rows (id, title, summary and their French and Spanish versions, area, status, kind, years,
    countries, funders) for ids, in that order."""
    if not ids:
        return []
    rows = {r["id"]: r for r in db.query(
        """SELECT p.id, p.title, p.summary, p.title_fr, p.title_es, p.summary_fr, p.summary_es, p.area, p.status,
                  p.kind, p.start_year, p.end_year,
                  (SELECT json_group_array(iso3) FROM project_countries c WHERE c.project_id = p.id) AS countries,
                  (SELECT json_group_array(json_object('id', o.id, 'name', o.name, 'acronym', o.acronym))
                     FROM roles r JOIN organisations o ON o.id = r.org_id
                    WHERE r.project_id = p.id AND r.role = 'funder') AS funders
           FROM projects p WHERE p.id IN (SELECT value FROM json_each(?))""", [json.dumps(list(ids))])}
    out = []
    for i in ids:
        if i in rows:
            r = dict(rows[i])
            r["countries"] = sorted(json.loads(r["countries"]))
            r["funders"] = json.loads(r["funders"])
            out.append(r)
    return out



# --- records in the import shape, read in bulk (exports; the write path compares with them) -------

def export_records(db, ids=None, all_organisations=False):
    """(organisations, projects) as records in the import shape (core/records.py) for the projects with
    these ids, in that order (every project, by id, when None), with the organisations they name, or every
    organisation when `all_organisations`. A constant number of queries, whatever the number of projects."""
    if ids is None:
        ids = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id")]
    by_id = read_project_records(db, ids)
    projects = [by_id[i][0] for i in ids if i in by_id]
    where, params = "", []
    if not all_organisations:
        where = " WHERE id IN (SELECT value FROM json_each(?))"
        params = [json.dumps(sorted({o["org"] for p in projects for o in p["organisations"]}))]
    orgs = db.query(f"SELECT * FROM organisations{where} ORDER BY id", params)
    return [_organisation_record(r) for r in orgs], projects


EXPORT_BATCH = 500   # projects read at a time by export_stream: about 1 MB of records


def export_stream(db, ids=None, all_organisations=False, batch=EXPORT_BATCH, close=False):
    """(organisations, projects) as export_records returns them, but `projects` is an iterator reading the
    records `batch` at a time, so that an export of any size is written in constant memory. Everything is
    read in one read transaction (a snapshot: an edit meanwhile cannot name an organisation the list
    left out); it ends when the iterator is exhausted or closed, or with the connection. `close`: the
    iterator then closes the connection too (a connection of the export's own, which a streamed response
    reads after the request's own connection is closed)."""
    db.execute("BEGIN")
    try:
        if ids is None:
            ids = [r[0] for r in db.execute("SELECT id FROM projects ORDER BY id")]
        where, params = "", []
        if not all_organisations:
            scope = _temp_ids(db, "export_ids", "SELECT value FROM json_each(?)", [json.dumps(list(ids))])
            where = f" WHERE id IN (SELECT org_id FROM roles WHERE project_id IN {scope})"
        orgs = [_organisation_record(r) for r in db.query(f"SELECT * FROM organisations{where} ORDER BY id", params)]
    except BaseException:
        db.execute("ROLLBACK")
        if close:
            db.conn.close()
        raise
    return orgs, _project_batches(db, list(ids), batch, close)


def _project_batches(db, ids, batch, close):
    try:
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            by_id = read_project_records(db, chunk)
            yield from (by_id[i][0] for i in chunk if i in by_id)
    finally:
        if db.conn.in_transaction:
            db.execute("COMMIT")
        if close:
            db.conn.close()


def read_project_records(db, ids):
    """{id: (record, version)} for those of `ids` that exist, each record in the canonical shape of
    core/records.py (what validate.clean_project returns). Seven queries, whatever the number of ids."""
    scope = _temp_ids(db, "record_ids", "SELECT value FROM json_each(?)", [json.dumps(list(ids))])
    out = {r["id"]: (_project_shell(r), r["version"]) for r in db.query(f"SELECT * FROM projects WHERE id IN {scope}")}
    for name, sql in _PROJECT_PARTS.items():
        for r in db.query(sql.format(scope=scope)):
            out[r.pop("project_id")][0][name].append(r["value"] if name in _VALUE_PARTS else r)
    return {i: (canonical_order({k: record[k] for k in PROJECT_FIELDS if k in record}), version)
            for i, (record, version) in out.items()}


_PROJECT_PARTS = {   # a project's lists; locations and sources in their given order
    "other_areas": "SELECT project_id, area AS value FROM project_areas WHERE is_main = 0 AND project_id IN {scope}",
    "countries": "SELECT project_id, iso3 AS value FROM project_countries WHERE project_id IN {scope}",
    "locations": f"SELECT project_id, {LOCATION_COLUMNS} FROM locations WHERE project_id IN {{scope}} ORDER BY id",
    "organisations": "SELECT project_id, org_id AS org, role, basis, source, reason FROM roles WHERE project_id IN {scope}",
    "sources": "SELECT project_id, document, section, quote FROM sources WHERE project_id IN {scope} ORDER BY id",
}
_VALUE_PARTS = ("other_areas", "countries")


def _project_shell(row):
    p = {k: row[k] for k in ("id", "title", "summary", "description", "kind", "area", "status", "start_year",
                             "end_year", "website", "iati_identifier")}
    p.update({name: row[name] for name in translated_field_names() if row[name] is not None})   # absent: none
    return dict(p, parent=row["parent_id"], keywords=json.loads(row["keywords"]), evidence=json.loads(row["evidence"]),
                other_areas=[], countries=[],
                locations=[], organisations=[], sources=[])


def _organisation_record(row):
    o = _org_row(row)
    return {k: o[k] for k in ORGANISATION_FIELDS}


def resolve_organisations(db, texts):
    """Map each text (id, name, acronym or alias) to an organisation id; unknown texts to None."""
    from ..core.validate import fold
    if not texts:   # every query resolves its (usually absent) funder/org filters: skip the table scan
        return {}
    index = _per_state(db, "organisation names", _organisation_names)
    return {t: index.get(fold(t)) for t in texts}


def _organisation_names(db):
    """{folded id, name, acronym or alias: organisation id} (the first organisation to claim a text)."""
    from ..core.validate import fold
    index = {}
    for r in db.query("SELECT id, name, acronym, aliases FROM organisations"):
        for key in [r["id"], r["name"], r["acronym"], *json.loads(r["aliases"])]:
            if key:
                index.setdefault(fold(key), r["id"])
    return index


def projects_by_iati_identifier(db, identifiers):
    """{IATI activity identifier: project id} for the stored projects that have one of `identifiers`
    (exchange/iati_read.py: an updated activity file updates its projects)."""
    rows = db.query("SELECT id, iati_identifier FROM projects WHERE iati_identifier IN "
                    "(SELECT value FROM json_each(?))", [json.dumps(list(identifiers))])
    return {r["iati_identifier"]: r["id"] for r in rows}


def organisations_by_identifier(db, identifiers):
    """{IATI organisation identifier: organisation id} for the stored organisations that have one of them."""
    rows = db.query("SELECT id, identifier FROM organisations WHERE identifier IN (SELECT value FROM json_each(?))",
                    [json.dumps(list(identifiers))])
    return {r["identifier"]: r["id"] for r in rows}


# --- filtered listing and facets -------------------------------------------------------------

FACETS = ("country", "region", "funder", "area", "status", "kind", "source")


def _id_table(db, ids):
    """The TEMP table `search_ids` holding `ids` (a search's hits), loaded once per connection and id list:
    the filter and facet queries of a request share it instead of each parsing a JSON list of ~10k ids."""
    ids = list(ids)
    if getattr(db, "_search_ids", None) != ids:
        _temp_ids(db, "search_ids", "SELECT value FROM json_each(?)", [json.dumps(ids)])
        db._search_ids = None if db.conn.in_transaction else ids   # (a rollback would empty the table)
    return "temp.search_ids"


def _temp_ids(db, name, select, params):
    """(Re)fill the TEMP table `name` (one id column, indexed) with the ids `select` returns."""
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id TEXT PRIMARY KEY) WITHOUT ROWID")
    db.execute(f"DELETE FROM temp.{name}")
    db.execute(f"INSERT OR IGNORE INTO temp.{name} {select}", params)
    return f"temp.{name}"


def _where(f, skip=None, within=None):
    """SQL WHERE clause and parameters for a resolved ProjectQuery `f`; `skip` leaves out one facet;
    `within` names a table of the ids to keep (see _id_table)."""
    clauses, params = [], []

    def add(sql, values):
        clauses.append(sql)
        params.append(json.dumps(list(values)))

    if within is not None:
        clauses.append(f"p.id IN {within}")
    if f.countries and skip != "country":
        add("p.id IN (SELECT project_id FROM project_countries WHERE iso3 IN (SELECT value FROM json_each(?)))",
            f.countries)
    if getattr(f, "regions", ()) and skip != "region":
        countries, inner = region_scope(f.regions)
        clauses.append("(p.id IN (SELECT project_id FROM project_countries WHERE iso3 IN (SELECT value FROM json_each(?)))"
                       " OR p.id IN (SELECT project_id FROM locations WHERE precision = 'region' AND region IN "
                       "(SELECT value FROM json_each(?))))")
        params += [json.dumps(sorted(countries)), json.dumps(list(inner))]
    if f.funders and skip != "funder":
        add("p.id IN (SELECT project_id FROM roles WHERE role = 'funder' AND org_id IN "
            "(SELECT value FROM json_each(?)))", f.funders)
    if f.orgs:
        role_sql = " AND role IN (SELECT value FROM json_each(?))" if f.roles else ""
        clauses.append("p.id IN (SELECT project_id FROM roles WHERE org_id IN (SELECT value FROM json_each(?))"
                       + role_sql + ")")
        params.append(json.dumps(list(f.orgs)))
        if f.roles:
            params.append(json.dumps(list(f.roles)))
    if f.areas and skip != "area":
        add("p.id IN (SELECT project_id FROM project_areas WHERE area IN (SELECT value FROM json_each(?)))",
            f.areas)
    if getattr(f, "sources", None) and skip != "source":
        add("p.id IN (SELECT project_id FROM sources WHERE document IN (SELECT value FROM json_each(?)))",
            f.sources)
    if f.statuses and skip != "status":
        add("p.status IN (SELECT value FROM json_each(?))", f.statuses)
    if f.kinds and skip != "kind":
        add("p.kind IN (SELECT value FROM json_each(?))", f.kinds)
    if f.year_from is not None:
        clauses.append("COALESCE(p.end_year, p.start_year) >= ?")
        params.append(f.year_from)
    if f.year_to is not None:
        clauses.append("COALESCE(p.start_year, p.end_year) <= ?")
        params.append(f.year_to)
    if getattr(f, "bbox", None) is not None:
        _add_bbox(f.bbox, clauses, params)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _add_bbox(box, clauses, params):
    """The projects with a point (a location of POINT_PRECISIONS with coordinates) inside `box`; a box whose
    west is east of its east crosses the antimeridian: its longitudes are those east of west OR west of east."""
    lon = "(l.lon >= ? OR l.lon <= ?)" if box.wraps else "l.lon BETWEEN ? AND ?"
    clauses.append("p.id IN (SELECT l.project_id FROM locations l WHERE l.precision IN "
                   f"(SELECT value FROM json_each(?)) AND l.lat BETWEEN ? AND ? AND {lon})")
    params += [json.dumps(list(POINT_PRECISIONS)), box.south, box.north, box.west, box.east]


def filter_ids(db, f, ids=None, sort="title"):
    """All project ids matching the filters (restricted to `ids` when given), in `sort` order."""
    where, params = _where(f, within=None if ids is None else _id_table(db, ids))
    order = SORTS.get(sort, SORTS["title"])
    return [r[0] for r in db.execute(f"SELECT p.id FROM projects p{where} ORDER BY {order}", params)]


FACET_SQL = {   # {scope}: a table (or subquery) of the project ids counted
    "country": "SELECT iso3, count(*) FROM project_countries WHERE project_id IN {scope} GROUP BY iso3",
    # the places of each project (its countries, and '#' + the region of each region-precision location):
    # _region_counts turns them into regions, each project counted once in each (a join with the
    # membership table and count(DISTINCT) took 150 ms at 10k projects; this, 40)
    "region": "SELECT project_id, iso3 FROM project_countries WHERE project_id IN {scope} UNION ALL "
              "SELECT project_id, '#' || region FROM locations WHERE precision = 'region' AND region IS NOT NULL "
              "AND project_id IN {scope}",
    "funder": "SELECT org_id, count(DISTINCT project_id) FROM roles "
              "WHERE role = 'funder' AND project_id IN {scope} GROUP BY org_id",
    "area": "SELECT area, count(*) FROM project_areas WHERE project_id IN {scope} GROUP BY area",
    # status and kind sit after the long description: joined (not IN), SQLite reads them from the small
    # idx_projects_facets (3 ms for 10k hits instead of 10); {join} is empty when every project counts
    "status": "SELECT p.status, count(*) FROM projects p{join} GROUP BY p.status",
    "kind": "SELECT p.kind, count(*) FROM projects p{join} GROUP BY p.kind",
    # the source records the projects cite (citations.document; idx_sources_document)
    "source": "SELECT document, count(DISTINCT project_id) FROM sources WHERE project_id IN {scope} GROUP BY document",
}
FACET_FILTERS = {"country": "countries", "region": "regions", "funder": "funders", "area": "areas", "status": "statuses", "kind": "kinds",
                 "source": "sources"}


def facet_counts(db, f, ids=None):
    """Counts per facet value; each facet reflects every other active filter (not its own).

    Counted in memory over each project's facet values (_FacetTable, read once per database state): the
    facets whose own filter is off share one set of projects (every filter and the search), a facet whose
    filter is on gets its own (the other filters). The same counts as one SQL query per facet
    (tests/test_search_equivalence.py), without reading the rows of every hit again on each request."""
    table = _facet_table(db)
    hits = None if ids is None else table.mask(ids)
    own = [name for name in FACETS if getattr(f, FACET_FILTERS[name])]
    groups = [(None, [name for name in FACETS if name not in own])] + [(name, [name]) for name in own]
    out = {}
    for skip, names in groups:
        if names:
            scope = _facet_scope(db, table, f, skip, hits)
            out.update((name, table.count(name, scope)) for name in names)
    return {name: out[name] for name in FACETS}


def _facet_scope(db, table, f, skip, hits):
    """The mask of the projects a facet group counts: the search's hits (None: all) that pass the filters
    but `skip`'s (the filters as SQL, as filter_ids applies them)."""
    where, params = _where(f, skip=skip)
    if not where:
        return hits
    passing = table.mask(r[0] for r in db.execute("SELECT p.id FROM projects p" + where, params))
    return passing if hits is None else passing & hits


# Each project's facet values, as (project id, value) pairs: counted over a set of projects, they give what
# FACET_SQL counts (count(*) where a project may repeat a value, count(DISTINCT) where it may not).
FACET_PAIRS_SQL = {
    "country": "SELECT project_id, iso3 FROM project_countries",
    "region": None,   # from FACET_SQL["region"]'s places of every project (_region_pairs)
    "funder": "SELECT DISTINCT project_id, org_id FROM roles WHERE role = 'funder'",
    "area": "SELECT project_id, area FROM project_areas",
    "status": "SELECT id, status FROM projects",
    "kind": "SELECT id, kind FROM projects",
    "source": "SELECT DISTINCT project_id, document FROM sources",
}
HELD_STATES = 8   # (database, what) pairs whose derived data a process keeps (tests open many databases)
_held = OrderedDict()   # (database path, what) -> (state, data)


class _FacetTable:
    """Each project's facet values in numpy arrays: per facet, the project (a row number) and the value
    (a code into `values`) of every pair. Counting over a mask of projects is one bincount per facet."""

    def __init__(self, pairs):
        self.rows = {}                                   # project id -> row number
        for rows in pairs.values():
            for project_id, _ in rows:
                self.rows.setdefault(project_id, len(self.rows))
        self.facets = {name: self._encode(rows) for name, rows in pairs.items()}

    def _encode(self, rows):
        codes, values = {}, []
        for _, value in rows:
            if value not in codes:
                codes[value] = len(values)
                values.append(value)
        projects = numpy.fromiter((self.rows[p] for p, _ in rows), dtype=numpy.int64, count=len(rows))
        coded = numpy.fromiter((codes[v] for _, v in rows), dtype=numpy.int64, count=len(rows))
        return projects, coded, values

    def mask(self, ids):
        """A boolean array over the rows: the projects among `ids` (ids with no facet values count nowhere)."""
        out = numpy.zeros(len(self.rows) + 1, dtype=bool)
        out[numpy.fromiter(map(self.rows.get, ids, itertools.repeat(len(self.rows))), dtype=numpy.int64)] = True
        out[-1] = False
        return out

    def count(self, name, scope):
        """[(value, count)] most frequent first (ties by value) over the projects of `scope` (None: all)."""
        projects, coded, values = self.facets[name]
        chosen = coded if scope is None else coded[scope[projects]]
        counts = numpy.bincount(chosen, minlength=len(values))
        return sorted(((values[c], int(counts[c])) for c in numpy.flatnonzero(counts)),
                      key=lambda x: (-x[1], str(x[0])))


def _facet_table(db):
    return _per_state(db, "facets", lambda db: _FacetTable(_facet_pairs(db)))


def _per_state(db, what, build):
    """`build(db)`, kept per process for the database's current state and read again when a write changed
    it: the state is the data version (every write moves it on, as the other caches keyed on it expect) and
    the database file's size and time. (Not the WAL file's: opening and closing connections touch it.)
    Never held from inside a transaction, whose writes may yet be rolled back."""
    path = db.conn.execute("PRAGMA database_list").fetchone()[2]
    state = (data_version(db), _file_state(path)) if path and not db.conn.in_transaction else None
    held = _held.get((path, what))
    if held is not None and held[0] == state and state is not None:
        return held[1]
    data = build(db)
    if state is not None:
        _held[(path, what)] = (state, data)
        _held.move_to_end((path, what))
        while len(_held) > HELD_STATES:
            _held.popitem(last=False)
    return data


def _file_state(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def _facet_pairs(db):
    """{facet: [(project id, value)]} of every project."""
    pairs = {name: db.execute(sql).fetchall() for name, sql in FACET_PAIRS_SQL.items() if sql}
    pairs["region"] = _region_pairs(db.execute(FACET_SQL["region"].format(scope="(SELECT id FROM projects)")))
    return {name: pairs[name] for name in FACETS}


def _region_pairs(places):
    """(project id, region) pairs from (project id, place) rows: each project once in each of its regions
    (_region_counts' rule)."""
    by_project = {}
    for project_id, place in places:
        by_project.setdefault(project_id, set()).add(place)
    return [(project_id, region) for project_id, places_of_one in by_project.items()
            for region in sorted(_regions_of_places(frozenset(places_of_one)))]


def _region_counts(places):
    """{region code: distinct projects} from (project id, place) rows: a place is a country's ISO3 or '#'
    and a location's region code. Every region but the World; a project once in each of its regions."""
    by_project = {}
    for project_id, place in places:
        by_project.setdefault(project_id, set()).add(place)
    counts = Counter()
    for places_of_one in by_project.values():
        counts.update(_regions_of_places(frozenset(places_of_one)))
    return counts


@lru_cache(maxsize=4096)
def _regions_of_places(places):
    """The regions (not the World) a project with these places is in (core/query.py region_scope's rule)."""
    member_of, within = _region_lookup()
    found = set()
    for place in places:
        found.update(within.get(place[1:], ()) if place.startswith("#") else member_of.get(place, ()))
    return found


@lru_cache(maxsize=1)
def _region_lookup():
    """({iso3: region codes it is a member of}, {location region code: region codes it is within})."""
    member_of, within = {}, {}
    for r in all_regions():
        if r.kind == "world":
            continue
        for iso3 in r.members:
            member_of.setdefault(iso3, []).append(r.code)
        for inner in region_scope([r.code])[1]:
            within.setdefault(inner, []).append(r.code)
    return member_of, within


def region_project_counts(db):
    """{region code: number of projects in it} for every region with projects (not the World)."""
    return dict(_region_counts(db.execute(FACET_SQL["region"].format(scope="(SELECT id FROM projects)"))))


def org_labels(db, ids):
    rows = db.execute("SELECT id, name, acronym FROM organisations WHERE id IN (SELECT value FROM json_each(?))",
                      [json.dumps(list(ids))]).fetchall()
    return {i: (a or n) for i, n, a in rows}


def list_organisations(db, ids=None, org_type=None, country=None):
    where, params = [], []
    if ids is not None:
        where.append("o.id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(ids)))
    if org_type:
        where.append("o.type IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(org_type)))
    if country:
        where.append("o.country IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(country)))
    sql = ("SELECT o.*, (SELECT count(DISTINCT project_id) FROM roles r WHERE r.org_id = o.id) AS project_count "
           "FROM organisations o" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY o.name COLLATE NOCASE")
    return [_org_row(r) for r in db.query(sql, params)]


def country_project_counts(db, f=None, ids=None):
    from ..core.query import ProjectQuery
    where, params = _where(f or ProjectQuery(), within=None if ids is None else _id_table(db, ids))
    return dict(db.execute(
        f"SELECT c.iso3, count(*) FROM project_countries c WHERE c.project_id IN (SELECT p.id FROM projects p{where}) "
        "GROUP BY c.iso3", params).fetchall())


# --- the home page's figures and the lists of the browse pages: one query each ----------------

_ORGANISATIONS_WITH_COUNTS = ("SELECT o.*, (SELECT count(DISTINCT project_id) FROM roles r WHERE r.org_id = o.id) "
                              "AS project_count FROM organisations o")


def overview(db, top_countries=24, top_organisations=18):
    """What the home page shows: the totals, projects per partnership area (main or other), and the
    countries and organisations with the most projects (ties by code and name)."""
    return {
        "counts": counts(db),
        "areas": dict(db.execute("SELECT area, count(*) FROM project_areas GROUP BY area").fetchall()),
        "top_countries": db.execute("SELECT iso3, count(*) AS n FROM project_countries GROUP BY iso3 "
                                    "ORDER BY n DESC, iso3 LIMIT ?", [top_countries]).fetchall(),
        "top_organisations": [_org_row(r) for r in db.query(
            f"{_ORGANISATIONS_WITH_COUNTS} ORDER BY project_count DESC, o.name COLLATE NOCASE LIMIT ?",
            [top_organisations])],
    }


def organisations_leading_area(db, area):
    """The organisations that lead a partnership area (their `leads_areas`), by name."""
    return [_org_row(r) for r in db.query(
        f"{_ORGANISATIONS_WITH_COUNTS} WHERE EXISTS (SELECT 1 FROM json_each(o.leads_areas) WHERE value = ?) "
        "ORDER BY o.name COLLATE NOCASE", [area])]


def locations_for(db, project_ids):
    """Every location of the given projects (with its region code, for precision 'region'), with the project's
    title (and its French and Spanish versions), area, status."""
    return list(db.query(
        """SELECT l.project_id, l.name, l.precision, l.lat, l.lon, l.country, l.region, l.coords_source,
                  l.gazetteer_id, l.basis, l.reason, p.title, p.title_fr, p.title_es, p.area, p.status
           FROM locations l JOIN projects p ON p.id = l.project_id
           WHERE l.project_id IN (SELECT value FROM json_each(?)) ORDER BY l.id""", [json.dumps(list(project_ids))]))


def index_documents(db, ids=None):
    """Rows for the search index: one dict per project with every searchable text."""
    where, params = "", []
    if ids is not None:
        where, params = " WHERE p.id IN (SELECT value FROM json_each(?))", [json.dumps(list(ids))]
    projects = list(db.query(f"SELECT * FROM projects p{where}", params))
    by_id = {p["id"]: dict(p, keywords=json.loads(p["keywords"]), countries=[], areas=[], locations=[],
                           location_regions=[], orgs=[], sources=[]) for p in projects}
    sel = f" WHERE project_id IN (SELECT id FROM projects p{where})"
    for r in db.query("SELECT project_id, iso3 FROM project_countries" + sel, params):
        by_id[r["project_id"]]["countries"].append(r["iso3"])
    for r in db.query("SELECT project_id, area FROM project_areas" + sel, params):
        by_id[r["project_id"]]["areas"].append(r["area"])
    for r in db.query("SELECT project_id, name, region FROM locations" + sel, params):
        by_id[r["project_id"]]["locations"].append(r["name"])
        if r["region"]:     # a region-precision location: its region's names are indexed (core/searchdocs.py)
            by_id[r["project_id"]]["location_regions"].append(r["region"])
    for r in db.query("SELECT project_id, quote FROM sources" + sel, params):
        by_id[r["project_id"]]["sources"].append(r["quote"])
    for r in db.query("SELECT r.project_id, r.role, o.id, o.name, o.acronym, o.aliases, o.version FROM roles r "
                      "JOIN organisations o ON o.id = r.org_id" + sel.replace("project_id", "r.project_id"), params):
        by_id[r["project_id"]]["orgs"].append({"id": r["id"], "role": r["role"], "name": r["name"],
                                               "acronym": r["acronym"], "aliases": json.loads(r["aliases"]),
                                               "version": r["version"]})
    return list(by_id.values())


# --- search index support (used by registry/search.py) ----------------------------------------

def funded_by(db, org_ids):
    """Ids of the projects that any of these organisations funds."""
    return [r[0] for r in db.execute("SELECT DISTINCT project_id FROM roles WHERE role = 'funder' AND org_id IN "
                                     "(SELECT value FROM json_each(?))", [json.dumps(list(org_ids))])]


def projects_of_organisations(db, org_ids):
    """Ids of the projects in which any of these organisations has a role (their index text names it)."""
    return [r[0] for r in db.execute(
        "SELECT DISTINCT project_id FROM roles WHERE org_id IN (SELECT value FROM json_each(?))",
        [json.dumps(list(org_ids))])]


def project_stamp(version, updated_at, org_versions):
    """The freshness stamp of a project's index document: its own version and those of its organisations,
    whose names, acronyms and aliases are part of its indexed text: "3:2024-05-01T10:00:00Z|agc@2,gef@5".
    `org_versions`: (organisation id, version) pairs (repeats allowed: one per role)."""
    orgs = ",".join(f"{org_id}@{v}" for org_id, v in sorted(set(org_versions)))
    return f"{version}:{updated_at}|{orgs}"


def index_stamps(db):
    """{"projects": {id: project_stamp}, "organisations": {id: "version:updated_at"}}: what the index must
    reflect. A project's stamp moves when one of its organisations changes, so an index that missed an
    organisation's new acronym is found stale."""
    org_versions = dict(db.execute("SELECT id, version FROM organisations").fetchall())
    roles = {}
    for project_id, org_id in db.execute("SELECT project_id, org_id FROM roles"):
        roles.setdefault(project_id, []).append((org_id, org_versions[org_id]))
    projects = {pid: project_stamp(version, updated_at, roles.get(pid, ()))
                for pid, version, updated_at in db.execute("SELECT id, version, updated_at FROM projects")}
    organisations = dict(db.execute("SELECT id, version || ':' || updated_at FROM organisations").fetchall())
    return {"projects": projects, "organisations": organisations}
