"""Background jobs (web imports): their state in the registry's database, where every worker process
sees it and where it outlives the request that started the job and the process that runs it.

A job: its id (the upload's token, so the history rows it writes name it as their batch), kind
(`import`), the file it reads, the client's file name (only shown) and format, who started it, options
(JSON: what the history rows record), status `queued` -> `running` -> `succeeded` | `failed`, the stage
it is at (waiting, reading, validating, writing, indexing) with progress `done` of `total`, the report
(JSON) or the errors (JSON list), when it was created, started and finished, and the process running
it (host, pid, the process's start time: a pid can be reused) with its heartbeat (Unix time).

Finding jobs whose process died is the runner's business (exchange/jobs.py `reap`): `fail_if_unfinished`
marks one failed only while it is still unfinished, so a runner that just finished keeps its result.
"""
import json
import time

from .db import now, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, file TEXT NOT NULL, filename TEXT, format TEXT,
    who TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'queued', stage TEXT, done INTEGER, total INTEGER,
    report TEXT, errors TEXT,
    created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT,
    host TEXT, pid INTEGER, pid_start TEXT, heartbeat REAL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_jobs_who ON jobs(who, created);
"""
UNFINISHED = ("queued", "running")


def ensure_table(db):
    """Create the table when missing (once per connection: every job function calls this first)."""
    if not getattr(db, "_jobs_table", False):
        db.conn.executescript(SCHEMA)
        db._jobs_table = True


def create(db, job_id, kind, file, who, filename=None, fmt=None, options=None):
    """A new queued job. Returns False (and changes nothing) when a job with this id exists already:
    a second click on "Import now" finds the first one's job."""
    ensure_table(db)
    with transaction(db):
        if db.execute("SELECT 1 FROM jobs WHERE id = ?", [job_id]).fetchone():
            return False
        db.execute("INSERT INTO jobs (id, kind, file, filename, format, who, options, status, stage, created_at, "
                   "created) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 'waiting', ?, ?)",
                   [job_id, kind, file, filename, fmt, who, json.dumps(options or {}), now(), time.time()])
    return True


def _job(row):
    job = dict(row)
    job["options"] = json.loads(job["options"] or "{}")
    for key in ("report", "errors"):
        job[key] = json.loads(job[key]) if job[key] is not None else None
    job["finished"] = job["status"] not in UNFINISHED
    return job


def get(db, job_id):
    ensure_table(db)
    rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
    return _job(rows[0]) if rows else None


def recent(db, who=None, limit=10):
    """The latest jobs (of one user), newest first, without their reports (they can be large)."""
    ensure_table(db)
    where, params = ("WHERE who = ?", [who]) if who is not None else ("", [])
    rows = db.query("SELECT id, kind, filename, format, who, status, stage, done, total, created_at, started_at, "
                    f"finished_at FROM jobs {where} ORDER BY created DESC LIMIT ?", params + [limit])
    return [dict(r, finished=r["status"] not in UNFINISHED) for r in rows]


def unfinished(db):
    """Every queued or running job, with what it takes to tell whether its process still lives."""
    ensure_table(db)
    return list(db.query("SELECT id, status, host, pid, pid_start, heartbeat, created FROM jobs "
                         "WHERE status IN ('queued', 'running')"))


def _update(db, job_id, sets, params, only_if=None):
    """Set columns of one job (`only_if`: an extra condition); returns how many rows changed (0 or 1)."""
    condition = f" AND {only_if}" if only_if else ""
    with transaction(db):
        return db.execute(f"UPDATE jobs SET {sets} WHERE id = ?{condition}", [*params, job_id]).rowcount


def claim(db, job_id, host, pid, pid_start):
    """The process that runs the job (recorded by the starter right after spawning it, and by the
    process itself). Only a queued job can be claimed: returns False for one that ran already."""
    return _update(db, job_id, "host = ?, pid = ?, pid_start = ?, heartbeat = ?", [host, pid, pid_start, time.time()],
                   only_if="status = 'queued'") == 1


def start(db, job_id):
    _update(db, job_id, "status = 'running', started_at = ?, heartbeat = ?", [now(), time.time()])


def progress(db, job_id, stage, done=None, total=None):
    _update(db, job_id, "stage = ?, done = ?, total = ?, heartbeat = ?", [stage, done, total, time.time()])


def beat(db, job_id):
    _update(db, job_id, "heartbeat = ?", [time.time()])


def finish(db, job_id, status, report=None, errors=None):
    """The job's end, as its runner saw it (this wins over a reaper's guess)."""
    assert status in ("succeeded", "failed"), status
    _update(db, job_id, "status = ?, finished_at = ?, report = ?, errors = ?, heartbeat = ?",
            [status, now(), None if report is None else json.dumps(report),
             None if errors is None else json.dumps(errors), time.time()])


def fail_if_unfinished(db, job_id, errors):
    """Mark a job failed that no process will finish. Returns False when it finished meanwhile."""
    return _update(db, job_id, "status = 'failed', finished_at = ?, errors = ?", [now(), json.dumps(errors)],
                   only_if="status IN ('queued', 'running')") == 1
