"""Storage for editing: accounts, login lockout, rate limits, change history and the moderation queue.

Used by registry/auth.py, registry/editor.py and their helpers. History keeps records in the shape that
validate.clean_project / clean_organisation accept, so a revert goes through the same validation.
The registry's own tables and writes are in registry/db.py; the tables of this module are in db.SCHEMA.
"""
import json

from .db import _bump_version, _org_row, _write_organisation, _write_project, get_project, now, transaction


class Conflict(Exception):
    """A change that cannot be applied as asked. `reason`: stale (edited since it was loaded), exists,
    missing, in_use (other records point at it), decided (proposal already handled), last_admin."""

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
    """Change role, active, password_hash or must_change_password. A new password, role or deactivation
    bumps session_version, which ends every session of that user."""
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
        bump = any(k in changes and changes[k] != before[k] for k in ("password_hash", "role", "active"))
        row = dict(changes, session_version=before["session_version"] + (1 if bump else 0))
        db["users"].update(user_id, row)
        after = get_user(db, user_id=user_id)
        action = "password" if "password_hash" in changes else "update"
        _log(db, now(), actor, action, "user", before["username"], _user_public(before), _user_public(after))
    return after


def end_sessions(db, user_id):
    """Log a user out everywhere: every cookie carrying the old session_version stops working."""
    with transaction(db):
        db.execute("UPDATE users SET session_version = session_version + 1 WHERE id = ?", [user_id])


def login_locked_until(db, username, at):
    """The time (epoch seconds) until which logins for `username` are refused, or None."""
    row = db.execute("SELECT locked_until FROM login_attempts WHERE username = ?", [username]).fetchone()
    return row[0] if row and row[0] and row[0] > at else None


def record_login_failure(db, username, at, max_failures, window, lock_seconds):
    """Count a failed login (atomically, shared by every worker process). After `max_failures` within
    `window` seconds the username is locked for `lock_seconds`. Returns locked_until or None."""
    with transaction(db):
        db.execute("DELETE FROM login_attempts WHERE first_failure < ? AND (locked_until IS NULL "
                   "OR locked_until < ?)", [at - max(window, 86400), at])
        row = db.execute("SELECT failures, first_failure, locked_until FROM login_attempts WHERE username = ?",
                         [username]).fetchone()
        if row and row[2] and row[2] > at:
            return row[2]          # locked already (another worker counted the last failure)
        failures, first = (row[0], row[1]) if row and row[1] and row[1] > at - window else (0, at)
        failures += 1
        locked_until = at + lock_seconds if failures >= max_failures else None
        db.execute("INSERT OR REPLACE INTO login_attempts (username, failures, first_failure, locked_until) "
                   "VALUES (?, ?, ?, ?)", [username, 0 if locked_until else failures, first, locked_until])
    return locked_until


def clear_login_failures(db, username):
    with transaction(db):
        db.execute("DELETE FROM login_attempts WHERE username = ?", [username])


def rate_limit_hit(db, key, limit, window, at):
    """Count one event for `key`; False (and nothing counted) when `limit` events happened in `window` s."""
    with transaction(db):
        db.execute("DELETE FROM rate_events WHERE at < ?", [at - window])
        if db.execute("SELECT count(*) FROM rate_events WHERE key = ?", [key]).fetchone()[0] >= limit:
            return False
        db.execute("INSERT INTO rate_events (key, at) VALUES (?, ?)", [key, at])
        return True


def project_record(db, project_id):
    """(record, version) of a project in the shape clean_project accepts, or (None, None)."""
    p = get_project(db, project_id)
    if p is None:
        return None, None
    record = {k: p[k] for k in ("id", "title", "summary", "description", "kind", "area", "other_areas", "status",
                                "start_year", "end_year", "countries", "keywords", "website")}
    record.update(parent=p["parent_id"], locations=[dict(loc) for loc in p["locations"]],
                  organisations=[{"org": o["id"], "role": o["role"]} for o in p["organisations"]],
                  sources=[dict(s) for s in p["sources"]])
    return record, p["version"]


def organisation_record(db, org_id):
    """(record, version) of an organisation in the shape clean_organisation accepts, or (None, None)."""
    rows = list(db.query("SELECT * FROM organisations WHERE id = ?", [org_id]))
    if not rows:
        return None, None
    o = _org_row(rows[0])
    return {k: o[k] for k in ("id", "name", "acronym", "aliases", "type", "country", "website",
                              "leads_areas")}, o["version"]


RECORDS = {"project": project_record, "organisation": organisation_record}


def _log(db, stamp, actor, action, entity, entity_id, before, after, version=None, batch=None, note=None):
    db["history"].insert({"at": stamp, "actor": actor, "action": action, "entity": entity,
                          "entity_id": entity_id, "version": version, "batch": batch, "note": note,
                          "before": None if before is None else json.dumps(before, ensure_ascii=False),
                          "after": None if after is None else json.dumps(after, ensure_ascii=False)})


def log_event(db, actor, action, entity, entity_id, note=None):
    """A history row for something that is not a record change (index rebuild, rejected proposal...)."""
    with transaction(db):
        _log(db, now(), actor, action, entity, str(entity_id), None, None, note=note)


def save_change(db, actor, action, *, projects=(), organisations=(), delete_projects=(),
                delete_organisations=(), expected=None, batch=None, note=None, proposal_id=None):
    """Apply validated records and deletions in ONE transaction that also writes one history row per
    record (before and after). `expected` maps (entity, id) to the version the editor loaded (0: the
    record must not exist yet); any difference raises Conflict("stale"). Returns the data version."""
    stamp = now()
    with transaction(db):
        for (entity, entity_id), version in (expected or {}).items():
            current = RECORDS[entity](db, entity_id)[1] or 0
            if current != version:
                reason = "exists" if version == 0 else "missing" if current == 0 else "stale"
                raise Conflict(reason, entity, entity_id, current)
        done = []
        for o in organisations:
            done.append(("organisation", o["id"], organisation_record(db, o["id"])[0]))
            _write_organisation(db, o, stamp)
        for p in projects:
            done.append(("project", p["id"], project_record(db, p["id"])[0]))
            _write_project(db, p, stamp)
        for pid in delete_projects:
            before = project_record(db, pid)[0]
            if before is None:
                raise Conflict("missing", "project", pid)
            children = [r[0] for r in db.execute("SELECT id FROM projects WHERE parent_id = ?", [pid])]
            if children:
                raise Conflict("in_use", "project", pid, children)
            db.execute("DELETE FROM projects WHERE id = ?", [pid])
            done.append(("project", pid, before))
        for oid in delete_organisations:
            before = organisation_record(db, oid)[0]
            if before is None:
                raise Conflict("missing", "organisation", oid)
            used = [r[0] for r in db.execute("SELECT DISTINCT project_id FROM roles WHERE org_id = ?", [oid])]
            if used:
                raise Conflict("in_use", "organisation", oid, used)
            db.execute("DELETE FROM organisations WHERE id = ?", [oid])
            done.append(("organisation", oid, before))
        for entity, entity_id, before in done:
            after, version = RECORDS[entity](db, entity_id)
            _log(db, stamp, actor, action, entity, entity_id, before, after, version, batch, note)
        if proposal_id is not None:
            decided = db.execute("UPDATE proposals SET status = 'approved', decided_by = ?, decided_at = ?, "
                                 "project_id = ? WHERE id = ? AND status = 'pending'",
                                 [actor, stamp, projects[0]["id"] if projects else None, proposal_id])
            if decided.rowcount != 1:
                raise Conflict("decided", "proposal", proposal_id)
        return _bump_version(db)


def _history_row(row):
    h = dict(row)
    h["before"] = json.loads(h["before"]) if h["before"] else None
    h["after"] = json.loads(h["after"]) if h["after"] else None
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
