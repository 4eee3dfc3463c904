"""Storage for editing: accounts, login throttling, rate limits, change history, the moderation queue, and
`write_changes`, the one audited write of projects and organisations (its only caller is exchange/apply.py,
which validates before and updates the search index after).

Records are read and kept in the canonical shape of core/records.py (what validate.clean_project /
clean_organisation return), so history rows compare with core.records.diff and a revert goes through the
same validation. The registry's tables and their write primitives are in store/db.py (SCHEMA).
"""
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..core.records import ORGANISATION_FIELDS, diff
from . import db as storage
from . import sessions
from . import sources as source_store
from .db import _org_row, now, transaction


class Conflict(Exception):
    """A change that cannot be applied as asked. `reason`: stale (edited since it was loaded), exists,
    missing, in_use (other records point at it), decided (proposal already handled), last_admin,
    cycle (saving would make a project its own ancestor: `detail` is the chain)."""

    def __init__(self, reason, entity, entity_id, detail=None):
        super().__init__(f"{entity} {entity_id}: {reason}")
        self.reason, self.entity, self.entity_id, self.detail = reason, entity, entity_id, detail


def get_user(db, username=None, user_id=None):
    column, value = ("id", user_id) if user_id is not None else ("username", username)
    rows = list(db.query(f"SELECT * FROM users WHERE {column} = ?", [value]))
    return rows[0] if rows else None


def list_users(db):
    return list(db.query("SELECT id, username, role, active, must_change_password, created_at "
                         "FROM users ORDER BY username"))


def _user_public(row):
    return {"username": row["username"], "role": row["role"], "active": bool(row["active"])} if row else None


def create_user(db, username, password_hash, role, actor, must_change_password=True):
    with transaction(db):
        if get_user(db, username):
            raise Conflict("exists", "user", username)
        user_id = db["users"].insert({"username": username, "password_hash": password_hash, "role": role,
                                      "must_change_password": int(must_change_password), "created_at": now()}
                                     ).last_pk
        _log(db, now(), actor, "create", "user", username, None, _user_public(get_user(db, user_id=user_id)))
    return user_id


def update_user(db, user_id, actor, **changes):
    """Change role, active, password_hash or must_change_password. A new password, a role change or a
    deactivation ends every session of that user (in the same transaction)."""
    allowed = {"role", "active", "password_hash", "must_change_password"}
    assert set(changes) <= allowed, set(changes) - allowed
    with transaction(db):
        before = get_user(db, user_id=user_id)
        if before is None:
            raise Conflict("missing", "user", user_id)
        demoted = changes.get("role", before["role"]) != "admin" or not changes.get("active", before["active"])
        if before["role"] == "admin" and before["active"] and demoted and db.execute(
                "SELECT count(*) FROM users WHERE role = 'admin' AND active = 1 AND id != ?",
                [user_id]).fetchone()[0] == 0:
            raise Conflict("last_admin", "user", before["username"])
        db["users"].update(user_id, changes)
        changed = [k for k in ("password_hash", "role", "active") if k in changes and changes[k] != before[k]]
        if changed:
            sessions.end_user_sessions(db, user_id, "account changed: " + ", ".join(changed), time.time())
        after = get_user(db, user_id=user_id)
        action = "password" if "password_hash" in changes else "update"
        _log(db, now(), actor, action, "user", before["username"], _user_public(before), _user_public(after))
    return after


# --- login throttling: by account and client together, plus per client (shared by every worker) ------

@dataclass(frozen=True)
class LoginPolicy:
    """How long a client waits between login attempts. One account from one client: `free_failures`
    failures, then waits of `first_delay` seconds doubling with each further failure, up to `max_delay`.
    One client, any accounts: `client_failures` failures within `client_window` seconds, then it waits
    until the oldest of them is that old. Failures are forgotten after `memory` seconds. An attacker
    therefore slows only their own address; the account's owner logs in from elsewhere at once."""
    free_failures: int = 5
    first_delay: float = 1
    max_delay: float = 15 * 60
    client_failures: int = 20
    client_window: float = 10 * 60
    memory: float = 24 * 3600


@dataclass(frozen=True)
class LoginWait:
    """A login attempt refused for now: retry after `seconds`; `scope` is "account" (this account from
    this client) or "client" (this client, whatever the account)."""
    seconds: float
    scope: str


def login_wait(db, account, client, at, policy):
    """The LoginWait for `client` trying `account` at time `at`, or None when it may try now."""
    n, last = db.execute("SELECT count(*), max(at) FROM login_failures WHERE account = ? AND client = ? "
                         "AND at >= ?", [account, client, at - policy.memory]).fetchone()
    waits = []
    if n >= policy.free_failures:
        delay = min(policy.max_delay, policy.first_delay * 2 ** (n - policy.free_failures))
        waits.append(LoginWait(last + delay - at, "account"))
    oldest_counted = db.execute("SELECT at FROM login_failures WHERE client = ? AND at > ? ORDER BY at DESC "
                                "LIMIT 1 OFFSET ?", [client, at - policy.client_window,
                                                     policy.client_failures - 1]).fetchone()
    if oldest_counted:
        waits.append(LoginWait(oldest_counted[0] + policy.client_window - at, "client"))
    waits = [w for w in waits if w.seconds > 0]
    return max(waits, key=lambda w: w.seconds) if waits else None


def begin_login_attempt(db, account, client, at, policy):
    """Decide, atomically for every worker, whether `client` may try `account` now. Returns the LoginWait
    when not (nothing is counted); else counts the attempt as a failure *before* the password is checked,
    so parallel requests cannot slip past the count, and returns None. A successful login then calls
    forgive_login_failures."""
    with transaction(db):
        db.execute("DELETE FROM login_failures WHERE at < ?", [at - policy.memory])
        wait = login_wait(db, account, client, at, policy)
        if wait is None:
            db.execute("INSERT INTO login_failures (account, client, at) VALUES (?, ?, ?)", [account, client, at])
        return wait


def forgive_login_failures(db, account, client):
    """A successful login: this client's failures for this account no longer count."""
    with transaction(db):
        db.execute("DELETE FROM login_failures WHERE account = ? AND client = ?", [account, client])


def clear_login_failures(db, account):
    """Forget every failure for `account`, from every client (a password reset lifts all waits)."""
    with transaction(db):
        db.execute("DELETE FROM login_failures WHERE account = ?", [account])


def rate_limit_hit(db, key, limit, window, at):
    """Count one event for `key`; False (and nothing counted) when `limit` events happened in `window` s."""
    with transaction(db):
        db.execute("DELETE FROM rate_events WHERE at < ?", [at - window])
        if db.execute("SELECT count(*) FROM rate_events WHERE key = ?", [key]).fetchone()[0] >= limit:
            return False
        db.execute("INSERT INTO rate_events (key, at) VALUES (?, ?)", [key, at])
        return True


IDS = "(SELECT value FROM json_each(?))"


def project_records(db, ids):
    """{id: (record, version)} for those of `ids` that exist, in the canonical shape (core/records.py)."""
    return storage.read_project_records(db, ids)


def organisation_records(db, ids):
    """{id: (record, version)} for those of `ids` that exist, in the shape clean_organisation returns."""
    rows = db.query(f"SELECT * FROM organisations WHERE id IN {IDS}", [json.dumps(list(ids))])
    return {o["id"]: ({k: o[k] for k in ORGANISATION_FIELDS}, o["version"]) for o in map(_org_row, rows)}


def project_record(db, project_id):
    """(record, version) of a project in the shape clean_project returns, or (None, None)."""
    return project_records(db, [project_id]).get(project_id, (None, None))


def organisation_record(db, org_id):
    """(record, version) of an organisation in the shape clean_organisation returns, or (None, None)."""
    return organisation_records(db, [org_id]).get(org_id, (None, None))


def source_record(db, source_id):
    """(record, version) of a source record in the shape clean_source returns, or (None, None)."""
    return source_store.source_records(db, [source_id]).get(source_id, (None, None))


RECORDS = {"project": project_record, "organisation": organisation_record, "source": source_record}
BULK_RECORDS = {"project": project_records, "organisation": organisation_records,
                "source": source_store.source_records}
# written in this order (projects cite sources and name organisations); deleted in the reverse order
ENTITIES = ("source", "organisation", "project")


def _log(db, stamp, actor, action, entity, entity_id, before, after, version=None, batch=None, note=None,
         source_kind=None, source=None, fields=None):
    storage.insert_rows(db, "history", [{
        "at": stamp, "actor": actor, "action": action, "entity": entity, "entity_id": entity_id,
        "version": version, "batch": batch, "note": note, "source_kind": source_kind, "source": source,
        "fields": None if fields is None else json.dumps(fields, ensure_ascii=False),
        "before": None if before is None else json.dumps(before, ensure_ascii=False),
        "after": None if after is None else json.dumps(after, ensure_ascii=False)}])


def log_event(db, actor, action, entity, entity_id, note=None):
    """A history row for something that is not a record change (index rebuild, rejected proposal...)."""
    with transaction(db):
        _log(db, now(), actor, action, entity, str(entity_id), None, None, note=note)


# --- the one audited write of records (called only by exchange/apply.py) ------------------------------

SOURCE_KINDS = ("form", "import", "seed", "source", "revert", "proposal", "restore")
# history.action as the editor's history has always shown it; a form says what it did to the record;
# `source`: an update from a later source (geodata/updates/), whose id is the row's `source`
ACTIONS = {"import": "import", "seed": "seed", "source": "update", "revert": "revert", "proposal": "approve",
           "restore": "restore"}


@dataclass(frozen=True)
class Origin:
    """Who and what made a change, as its history rows record it."""
    actor: str                  # the account's username, "cli:<os user>", "seed" or "updates"
    kind: str                   # one of SOURCE_KINDS
    source: str | None = None   # the file name, "revert of change #12", "proposal #3", the backup file; for
                                # kind `source`, the id of the source record the change comes from
    note: str | None = None
    batch: str | None = None    # groups the rows of one web import

    def action(self, change):
        if self.kind != "form":
            return ACTIONS[self.kind]
        return {"added": "create", "changed": "edit", "deleted": "delete"}[change.kind]


@dataclass
class RecordChange:
    """One record a write adds, changes or deletes; `version` is the stored one (0: not stored yet)."""
    entity: str
    id: str
    before: dict | None
    after: dict | None
    version: int
    fields: list = field(default_factory=list)   # core.records.FieldChange, for a changed record

    @property
    def kind(self):
        return "added" if self.before is None else "deleted" if self.after is None else "changed"


@dataclass
class Plan:
    """What a write does: the records that change, and (entity, id) of those given that would not."""
    changes: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)


def check_expected(db, expected):
    """`expected` maps (entity, id) to the version an editor loaded (0: the record must not exist yet);
    any difference raises Conflict: exists, missing or stale."""
    for (entity, entity_id), version in (expected or {}).items():
        current = RECORDS[entity](db, entity_id)[1] or 0
        if current != version:
            reason = "exists" if version == 0 else "missing" if current == 0 else "stale"
            raise Conflict(reason, entity, entity_id, current)


def plan_changes(db, organisations=(), projects=(), delete=(), replace_all=False, sources=()):
    """Compare validated records with the stored ones (core.records.diff: every field counts). `delete`:
    (entity, id) pairs; `replace_all` deletes every stored record the batch does not hold."""
    plan = Plan()
    for entity, records in (("source", sources), ("organisation", organisations), ("project", projects)):
        stored = BULK_RECORDS[entity](db, [r["id"] for r in records])
        for record in records:
            before, version = stored.get(record["id"], (None, 0))
            changes = diff(before, record)
            if changes:
                fields = changes if before is not None else []
                plan.changes.append(RecordChange(entity, record["id"], before, record, version, fields))
            else:
                plan.unchanged.append((entity, record["id"]))
    for entity, ids in _deletions(db, organisations, projects, delete, replace_all, sources).items():
        stored = BULK_RECORDS[entity](db, ids)
        for record_id in ids:
            if record_id not in stored:
                raise Conflict("missing", entity, record_id)
            plan.changes.append(RecordChange(entity, record_id, stored[record_id][0], None, stored[record_id][1]))
    return plan


def _deletions(db, organisations, projects, delete, replace_all, sources=()):
    out = {"project": [], "organisation": [], "source": []}
    for entity, record_id in delete:
        out[entity].append(record_id)
    if replace_all:
        stored_projects, stored_orgs = storage.existing_ids(db)
        out["project"] += sorted(stored_projects - {p["id"] for p in projects})
        out["organisation"] += sorted(stored_orgs - {o["id"] for o in organisations})
        out["source"] += sorted(source_store.source_ids(db) - {s["id"] for s in sources})
    return {entity: list(dict.fromkeys(ids)) for entity, ids in out.items() if ids}


@contextmanager
def snapshot(db):
    """A read transaction: the reads inside see one state of the database (a dry run's comparison)."""
    db.conn.execute("BEGIN")
    try:
        yield db
    finally:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")


def preview_changes(db, organisations=(), projects=(), delete=(), replace_all=False, expected=None, sources=()):
    """What write_changes would do, writing nothing."""
    with snapshot(db):
        check_expected(db, expected)
        return plan_changes(db, organisations, projects, delete, replace_all, sources)


def write_changes(db, origin, organisations=(), projects=(), delete=(), replace_all=False, expected=None,
                  proposal_id=None, sources=()):
    """THE write of records. In ONE transaction: check the expected versions, compare each record with the
    stored one, write only what changed, one history row per changed record (before, after, version,
    actor, source_kind, source, fields), decide the proposal, move the data version on. Returns
    (Plan, data version). Records must be validated: exchange.apply, its only caller, does that first."""
    with transaction(db):
        check_expected(db, expected)
        plan = plan_changes(db, organisations, projects, delete, replace_all, sources)
        stamp = now()
        _write_plan(db, plan, stamp)
        _refuse_parent_cycles(db, plan)
        for change in plan.changes:
            version = change.version + 1 if change.after is not None else None
            _log(db, stamp, origin.actor, origin.action(change), change.entity, change.id, change.before,
                 change.after, version, origin.batch, origin.note, origin.kind, origin.source,
                 [c.path for c in change.fields])
        if proposal_id is not None:
            _approve(db, proposal_id, origin.actor, stamp, projects)
        if plan.changes or proposal_id is not None:
            return plan, storage.bump_version(db)
        return plan, storage.data_version(db)


WRITERS = {"source": source_store.write_source, "organisation": storage.write_organisation,
           "project": storage.write_project}


def _write_plan(db, plan, stamp):
    """Sources and organisations first (citations and roles point at them), then projects; deletions last,
    refused while other records still point at what they delete."""
    writes = [c for c in plan.changes if c.after is not None]
    for c in sorted(writes, key=lambda c: ENTITIES.index(c.entity)):
        WRITERS[c.entity](db, c.after, stamp, c.version + 1)
    gone = {entity: [c.id for c in plan.changes if c.after is None and c.entity == entity] for entity in ENTITIES}
    for project_id in gone["project"]:
        storage.delete_record(db, "project", project_id)
    for project_id in gone["project"]:   # after all of them: a parent may go with its parts
        if storage.children_of(db, [project_id]):
            raise Conflict("in_use", "project", project_id, storage.children_of(db, [project_id]))
    for org_id in gone["organisation"]:   # checked first: the database would refuse it without saying who
        if storage.projects_of_organisations(db, [org_id]):
            raise Conflict("in_use", "organisation", org_id, storage.projects_of_organisations(db, [org_id]))
        storage.delete_record(db, "organisation", org_id)
    for source_id in gone["source"]:
        if source_store.citing_projects(db, [source_id]):
            raise Conflict("in_use", "source", source_id, source_store.citing_projects(db, [source_id]))
        storage.delete_record(db, "source", source_id)


def _refuse_parent_cycles(db, plan):
    """Validation refuses cycles against the stored parents; this check, inside the transaction, also
    catches the one two simultaneous saves (A -> B and B -> A) would close."""
    for c in plan.changes:
        moved = c.entity == "project" and c.after is not None and c.after.get("parent")
        if moved and (c.before or {}).get("parent") != c.after["parent"]:
            chain = storage.parent_cycle(db, c.id)
            if chain:
                raise Conflict("cycle", "project", c.id, chain)


def _approve(db, proposal_id, actor, stamp, projects):
    decided = db.execute("UPDATE proposals SET status = 'approved', decided_by = ?, decided_at = ?, "
                         "project_id = ? WHERE id = ? AND status = 'pending'",
                         [actor, stamp, projects[0]["id"] if projects else None, proposal_id])
    if decided.rowcount != 1:
        raise Conflict("decided", "proposal", proposal_id)


def _history_row(row):
    h = dict(row)
    h["before"] = json.loads(h["before"]) if h["before"] else None
    h["after"] = json.loads(h["after"]) if h["after"] else None
    h["changed_fields"] = json.loads(h["fields"]) if h.get("fields") else []
    return h


def list_history(db, entity=None, entity_id=None, limit=50, offset=0):
    """Newest first, optionally for one record. Returns (rows, total)."""
    where, params = [], []
    if entity:
        where.append("entity = ?")
        params.append(entity)
    if entity_id:
        where.append("entity_id = ?")
        params.append(entity_id)
    sql_where = (" WHERE " + " AND ".join(where)) if where else ""
    total = db.execute(f"SELECT count(*) FROM history{sql_where}", params).fetchone()[0]
    rows = db.query(f"SELECT * FROM history{sql_where} ORDER BY id DESC LIMIT ? OFFSET ?", params + [limit, offset])
    return [_history_row(r) for r in rows], total


def get_history(db, change_id):
    rows = list(db.query("SELECT * FROM history WHERE id = ?", [change_id]))
    return _history_row(rows[0]) if rows else None


def add_proposal(db, data):
    with transaction(db):
        return db["proposals"].insert({"created_at": now(), "status": "pending",
                                       "data": json.dumps(data, ensure_ascii=False)}).last_pk


def _proposal_row(row):
    return dict(row, data=json.loads(row["data"]))


def list_proposals(db, status="pending", limit=200):
    return [_proposal_row(r) for r in db.query(
        "SELECT * FROM proposals WHERE status = ? ORDER BY id DESC LIMIT ?", [status, limit])]


def count_proposals(db, status="pending"):
    return db.execute("SELECT count(*) FROM proposals WHERE status = ?", [status]).fetchone()[0]


def get_proposal(db, proposal_id):
    rows = list(db.query("SELECT * FROM proposals WHERE id = ?", [proposal_id]))
    return _proposal_row(rows[0]) if rows else None


def reject_proposal(db, proposal_id, actor, note=None):
    stamp = now()
    with transaction(db):
        done = db.execute("UPDATE proposals SET status = 'rejected', decided_by = ?, decided_at = ?, note = ? "
                          "WHERE id = ? AND status = 'pending'", [actor, stamp, note, proposal_id])
        if done.rowcount != 1:
            raise Conflict("decided", "proposal", proposal_id)
        _log(db, stamp, actor, "reject", "proposal", str(proposal_id), {"status": "pending"},
             {"status": "rejected"}, note=note)


def all_records(db):
    """Every organisation and every project, as records in the canonical shape (e.g. of a backup to restore)."""
    project_ids, org_ids = storage.existing_ids(db)
    orgs = organisation_records(db, sorted(org_ids))
    projects = project_records(db, sorted(project_ids))
    return [orgs[i][0] for i in sorted(orgs)], [projects[i][0] for i in sorted(projects)]


def all_sources(db):
    """Every source record in the canonical shape (a backup to restore, an export)."""
    return source_store.all_sources(db)
