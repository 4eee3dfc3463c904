"""Web imports as jobs outside the request: started by the web import's confirm step, run in a process
of their own, their state (status, stage, progress, heartbeat, the report or the errors) in the `jobs`
table (store/jobs.py), which every worker reads to show the job's page.

Why a process of its own, started per job (`python -m registry.exchange.jobs`), rather than huey's
SqliteHuey or a thread of the web worker: huey needs a consumer process to deploy and supervise, while
the job's state has to be in SQLite anyway for every worker to show it. A thread would be lighter
still, but it would live and die with its gunicorn worker (recycled after max_requests, killed on a
timeout), compete for that worker's GIL with its requests, and leave the worker holding the memory of
the largest import (about 1 GB for 100,000 rows). A process ends when the job does, survives its
worker, and a SIGKILL stops exactly the job. Cost: about a second to start Python and the registry.

    start(...)   the web layer: spawn the process (a new session: a Ctrl-C on the server or a worker's
                 exit does not stop it), record its pid; a thread of the spawner reaps it when it ends
    run(...)     the process: claim the job, wait its turn (one import at a time, a file lock next to the
                 database), then read -> validate -> write (exchange/apply.py: ONE transaction, so a kill
                 leaves all or nothing) -> bring the search index up to date -> succeeded with the report;
                 or failed with the errors. A heartbeat thread stamps the job every HEARTBEAT seconds.
    reap(...)    whoever shows a job: a queued or running job whose process is gone (killed, crashed,
                 the machine restarted) is marked failed: nothing of it was stored unless it got past
                 the write, in which case all of it was.
"""
import argparse
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import filelock

from ..core.paths import ROOT
from ..core.language import ENGLISH
from ..core.validate import Problem, ValidationError
from ..search import index as search
from ..store import db as storage
from ..store import jobs as store_jobs
from ..store.editing import Conflict
from . import apply, ingest

log = logging.getLogger(__name__)

HEARTBEAT = 2              # seconds between two heartbeats of a running job
STALE = 600                # no heartbeat for this long: the job's process hangs (or is on a machine we cannot see)
UNCLAIMED = 120            # seconds a job may wait for its process to start and claim it
PROGRESS_INTERVAL = 0.5    # seconds between two progress writes of the same stage
STAGES = {                 # what the job page says about each stage
    "waiting": "starting (or waiting for another import to finish)",
    "reading": "reading the file",
    "validating": "checking the records",
    "writing": "writing to the database (all records in one transaction)",
    "indexing": "updating the search index",
}


def lock_path(database):
    """The file lock that lets one import job run at a time (next to the database)."""
    return f"{database}.import.lock"


# --- the web layer's side: start, reap ---------------------------------------------------------------

def start(database, index_dir, job_id):
    """Spawn the process that runs the job and record it on the job. Returns its pid. Raises OSError when
    the process cannot be started (the caller marks the job failed)."""
    command = [sys.executable, "-m", "registry.exchange.jobs", "--database", str(database),
               "--index-dir", str(index_dir), job_id]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    # Reap the child when it ends, or it stays a zombie of this worker (and would look alive to reap()).
    threading.Thread(target=proc.wait, name=f"import-job-{job_id[:8]}", daemon=True).start()
    db = storage.connect(database)
    try:
        store_jobs.claim(db, job_id, socket.gethostname(), proc.pid, process_start(proc.pid))
    finally:
        db.conn.close()
    return proc.pid


def process_start(pid):
    """When process `pid` started (clock ticks since boot, from /proc): with the pid it names one process,
    even after the pid is reused. None where /proc is missing or the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(host, pid, pid_start):
    """Is the job's process running? None when it cannot be told (another machine, or no pid yet)."""
    if pid is None or host != socket.gethostname():
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    except OSError:   # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # A zombie has ended; a different start time is another process that got the pid.
    return state[0] not in ("Z", "X") and (pid_start is None or state[19] == pid_start)


def lost_reason(job, at=None):
    """Why an unfinished job will never finish, or None while it may still."""
    at = time.time() if at is None else at
    alive = process_alive(job["host"], job["pid"], job["pid_start"])
    if alive is False:
        return "its process ended before the job did (it was killed, or the server stopped)"
    if job["pid"] is None and at - job["created"] > UNCLAIMED:
        return f"it did not start within {UNCLAIMED} seconds"
    if job["heartbeat"] is not None and at - job["heartbeat"] > STALE:
        return f"it gave no sign of life for {int(at - job['heartbeat'])} seconds"
    return None


def reap(db):
    """Mark failed every queued or running job whose process is gone. Returns their ids."""
    failed = []
    for job in store_jobs.unfinished(db):
        reason = lost_reason(job)
        if reason and store_jobs.fail_if_unfinished(db, job["id"], [
                f"The import stopped before it finished: {reason}. Nothing of it was stored unless it got "
                "past writing, in which case all of it was (one transaction): the history shows which. "
                "Upload the file again to import it."]):
            log.warning("import job %s marked failed: %s", job["id"], reason)
            failed.append(job["id"])
    return failed


# --- the job's process ---------------------------------------------------------------------------------

class _Heartbeat(threading.Thread):
    """Stamps the job every HEARTBEAT seconds on a connection of its own. While the import's transaction
    holds the write lock a stamp waits (busy timeout) and may fail: the next one comes."""

    def __init__(self, database, job_id):
        super().__init__(name="import-heartbeat", daemon=True)
        self.database, self.job_id, self.stopped = database, job_id, threading.Event()

    def run(self):
        db = storage.connect(self.database)
        try:
            while not self.stopped.wait(HEARTBEAT):
                try:
                    store_jobs.beat(db, self.job_id)
                except storage.StorageError:   # the import's transaction holds the lock: beat again later
                    pass
                except Exception:
                    log.warning("import job %s: heartbeat failed", self.job_id, exc_info=True)
        finally:
            db.conn.close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.join(timeout=10)


class _Progress:
    """The progress callback of apply_changes: writes the stage and counts, at most every
    PROGRESS_INTERVAL seconds within a stage."""

    def __init__(self, db, job_id):
        self.db, self.job_id, self.stage, self.last = db, job_id, None, 0.0

    def __call__(self, stage, done=None, total=None):
        now = time.monotonic()
        if stage == self.stage and now - self.last < PROGRESS_INTERVAL and done != total:
            return
        self.stage, self.last = stage, now
        store_jobs.progress(self.db, self.job_id, stage, done, total)


def run(database, settings, job_id):
    """Run job `job_id` in this process (the body of `python -m registry.exchange.jobs`). Returns its final
    status, or None when the job is unknown or was run already."""
    state = storage.connect(database)
    try:
        store_jobs.ensure_table(state)
        job = store_jobs.get(state, job_id)
        if job is None or job["status"] != "queued":
            log.warning("import job %s: %s", job_id, "unknown" if job is None else f"already {job['status']}")
            return None
        store_jobs.claim(state, job_id, socket.gethostname(), os.getpid(), process_start(os.getpid()))
        with _Heartbeat(database, job_id), filelock.FileLock(lock_path(database)):
            store_jobs.start(state, job_id)
            data = storage.connect(database)
            try:
                return execute(data, state, settings, job)
            finally:
                data.conn.close()
    finally:
        state.conn.close()


def execute(db, state, settings, job):
    """Import the job's file through `db` (apply_changes: one transaction), bring the index up to date,
    and record the outcome on the job through `state`. Returns "succeeded" or "failed"."""
    job_id, progress = job["id"], _Progress(state, job["id"])
    report, errors = None, None
    try:
        progress("reading")
        data = Path(job["file"]).read_bytes()
    except FileNotFoundError:
        store_jobs.finish(state, job_id, "failed", errors=[
            "the uploaded file is gone (uploads are kept for a day): nothing was stored; upload it again"])
        return "failed"
    try:
        report = ingest.import_data(db, data, job["format"], actor=job["who"], source=job["filename"],
                                    batch=job_id, note=job["options"].get("note"), index=settings,
                                    progress=progress)
        report = report_summary(report)
        errors = _index_problem(settings, progress)
    except ValidationError as exc:   # the registry changed since the preview
        errors = [error_entry(p) for p in exc.problems]
    except Conflict as exc:
        errors = [f"{exc.entity} '{exc.entity_id}' changed while importing ({exc.reason}): nothing was stored; "
                  "upload the file again"]
    except storage.StaleReference:
        errors = ["the registry changed while importing (an organisation the file uses was deleted): nothing "
                  "was stored; upload the file again"]
    except storage.StorageError as exc:
        errors = [("the server's storage is full" if "full" in str(exc) else "the database was busy with another "
                   "change") + ", so nothing was stored; try again later or tell the administrators"]
    except Exception as exc:   # a bug: say so on the job's page, with the details in the server's log
        log.exception("import job %s failed", job_id)
        errors = [f"the import failed with an internal error ({type(exc).__name__}); nothing was stored unless "
                  "the history shows it. Please tell the administrators."]
    status = "failed" if errors else "succeeded"
    store_jobs.finish(state, job_id, status, report=report, errors=errors)
    Path(job["file"]).unlink(missing_ok=True)   # the upload is used up, whatever the outcome
    return status


def _index_problem(settings, progress):
    """After the commit: make sure the index holds the import before the job says it succeeded (the update
    apply_changes made can fail or be overtaken). None when it does, else the error to show."""
    try:
        reason = search.verify(settings)
        if reason is None:
            return None
        progress("indexing", None, None)
        log.warning("search index %s after an import: building a new generation", reason)
        search.rebuild(settings)   # from the database, which holds the import: up to date when it returns
        return None
    except Exception as exc:
        log.exception("search index not brought up to date after an import")
        reason = f"{type(exc).__name__}: {exc}"
    return [f"The records were stored (see the report), but the search index could not be brought up to date "
            f"({reason}): searches miss them until it is rebuilt. Ask an administrator to rebuild it (Dashboard, "
            "or `flask --app registry reindex`)."]


def error_entry(problem):
    """A problem as the job keeps it: its English text, and for a translatable one (a template) what it
    takes to write it again in a reader's language (error_text); a plain string when it has no template."""
    if not isinstance(problem, Problem):
        return str(problem)
    if not problem.template:
        return problem.describe()
    params = {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)   # kept as JSON
              for k, v in (problem.params or {}).items()}
    return dict(problem.as_dict(), text=problem.describe(), template=problem.template, params=params or None)


def error_text(entry, words=ENGLISH):
    """One of a job's errors in the language of `words` (English: the text the job wrote)."""
    if not isinstance(entry, dict):
        return str(entry)
    if words is ENGLISH or not entry.get("template"):
        return entry["text"]
    problem = Problem(entry["where"], entry["field"], entry["message"], entry["template"], entry.get("params"))
    return problem.describe(words)


def summary_text(report, words=ENGLISH):
    """A job's report's one-line summary in the language of `words` (reports kept before the counts were:
    English)."""
    if not report.get("counts"):
        return report["summary"]
    return apply.summary_sentence(report["counts"], report["dry_run"], words)


def report_summary(report):
    """A Report as JSON: the job keeps it, and the preview and job pages show it the same way."""
    return {"summary": report.summary(), "counts": report.counts(), "dry_run": report.dry_run,
            "version": report.version,
            "projects": _outcome(report.projects), "organisations": _outcome(report.orgs),
            "sources": _outcome(report.sources), "lines": report.lines()}


def _outcome(outcome):
    return {"added": list(outcome.added), "changed": list(outcome.changed), "unchanged": len(outcome.unchanged),
            "deleted": list(outcome.deleted)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m registry.exchange.jobs", description="Run one web import job.")
    parser.add_argument("--database", required=True)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"import job {args.job_id[:8]}: %(levelname)s %(message)s")
    status = run(args.database, search.Settings(index_dir=args.index_dir, database=args.database), args.job_id)
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
