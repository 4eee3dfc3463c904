"""Reads for the public change log: what changed in which record, when, from which kind of source.

History rows are written by the audited write path (store/editing.py); this module only reads them.
Public callers get no account names: `actor`, `source` and `note` are read only when the caller asks
for them (`for_editor=True`), so a public page cannot show them by mistake. Only changes to projects and
organisations are listed: the rows about accounts, proposals and the index are for the editor history.

Rows written before the history had `source_kind` and `fields` (NULL there) are shown sensibly: the
kind of source is inferred from the action (only the web wrote history then), and the changed fields are
computed from the row's before and after with core.records.diff.
"""
import json
from dataclasses import dataclass

from ..core.records import diff
from .editing import SOURCE_KINDS  # noqa: F401  (the kinds the write path records; callers validate with it)


ENTITIES = ("project", "organisation")
ACTIONS = ("added", "changed", "deleted", "reverted", "restored")   # what a change did, in public words

# The kind of source of a row; older rows (source_kind NULL) were written by the web only, so the action
# tells the kind: an import, a revert, an approved proposal, or else a form.
KIND_SQL = ("COALESCE(h.source_kind, CASE h.action WHEN 'import' THEN 'import' WHEN 'revert' THEN 'revert' "
            "WHEN 'approve' THEN 'proposal' ELSE 'form' END)")
TITLE_SQL = ("CASE h.entity WHEN 'project' THEN (SELECT title FROM projects WHERE id = h.entity_id) "
             "ELSE (SELECT name FROM organisations WHERE id = h.entity_id) END")
# The record's title when it no longer exists (deleted): from the row's own after, else before.
OLD_TITLE_SQL = ("COALESCE(json_extract(h.after, '$.title'), json_extract(h.after, '$.name'), "
                 "json_extract(h.before, '$.title'), json_extract(h.before, '$.name'))")
EDITOR_COLUMNS = ", h.actor, h.source, h.note"


@dataclass(frozen=True)
class ChangeFilter:
    """Which changes to list: all of them, or those of one entity kind, one record id, one source kind,
    or those made on or after `since` (an ISO date, YYYY-MM-DD)."""
    entity: str | None = None
    entity_id: str | None = None
    source_kind: str | None = None
    since: str | None = None
    source_record: str | None = None    # the changes applied from this source record (issue 19)


def _where(f):
    clauses, params = ["h.entity IN ('project', 'organisation')"], []
    for sql, value in (("h.entity = ?", f.entity), ("h.entity_id = ?", f.entity_id),
                       (f"{KIND_SQL} = ?", f.source_kind), ("h.at >= ?", f.since),
                       ("h.source_kind = 'source' AND h.source = ?", f.source_record)):
        if value is not None:
            clauses.append(sql)
            params.append(value)
    return " WHERE " + " AND ".join(clauses), params


def _select(for_editor):
    return (f"SELECT h.id, h.at, h.action, h.entity, h.entity_id, h.fields, {KIND_SQL} AS source_kind, "
            f"{TITLE_SQL} AS current_title, {OLD_TITLE_SQL} AS old_title, "
            "h.before IS NULL AS was_added, h.after IS NULL AS was_deleted, "
            # before and after are parsed only for older rows, whose changed fields are computed
            "CASE WHEN h.fields IS NULL THEN h.before END AS old_before, "
            "CASE WHEN h.fields IS NULL THEN h.after END AS old_after"
            + (EDITOR_COLUMNS if for_editor else "") + " FROM history h")


def recent_changes(db, filters=ChangeFilter(), limit=20, offset=0, for_editor=False):
    """Changes to projects and organisations, newest first: (rows, total). See `_change` for a row's keys."""
    where, params = _where(filters)
    total = db.execute(f"SELECT count(*) FROM history h{where}", params).fetchone()[0]
    rows = db.query(f"{_select(for_editor)}{where} ORDER BY h.id DESC LIMIT ? OFFSET ?",
                    params + [limit, offset])
    return [_change(r) for r in rows], total


def last_change(db, entity, entity_id, for_editor=False):
    """The newest change of one record, or None when the history has none."""
    rows, _ = recent_changes(db, ChangeFilter(entity=entity, entity_id=entity_id), limit=1,
                             for_editor=for_editor)
    return rows[0] if rows else None


def action_of(action, source_kind, added, deleted):
    """The public name of what a change did: reverted, restored, added, deleted or changed."""
    if source_kind == "revert" or action == "revert":
        return "reverted"
    if source_kind == "restore":
        return "restored"
    return "added" if added else "deleted" if deleted else "changed"


def _fields(row):
    """The changed field paths: as recorded, or computed from before/after for older rows. An added or
    deleted record has no changed fields of its own (the action says it all)."""
    if row["fields"] is not None:
        return json.loads(row["fields"])
    if row["old_before"] is None or row["old_after"] is None:
        return []
    return [change.path for change in diff(json.loads(row["old_before"]), json.loads(row["old_after"]))]


def _change(row):
    """id, at, entity, entity_id, title, exists (the record is still there), action, source_kind, fields;
    for editors also actor, source and note."""
    out = {"id": row["id"], "at": row["at"], "entity": row["entity"], "entity_id": row["entity_id"],
           "title": row["current_title"] or row["old_title"] or row["entity_id"],
           "exists": row["current_title"] is not None,
           "action": action_of(row["action"], row["source_kind"], row["was_added"], row["was_deleted"]),
           "source_kind": row["source_kind"], "fields": _fields(row)}
    for key in ("actor", "source", "note"):
        if key in row.keys():
            out[key] = row[key]
    return out


def last_project_changes(db, ids, limit):
    """The newest change of each of these projects, newest first, at most `limit` (the Atom feed of a
    selection, web/feeds.py). Newest means the highest history id: ids grow in the order changes were
    written, while `at` has whole seconds only (a seed or an update file writes many rows in one second).
    A project the history has no row for (a database older than the history) is not left out: such projects
    come last, with `at` their `updated_at`, action "unrecorded" and no change id."""
    wanted = json.dumps(list(ids))
    rows = db.query(f"""{_select(False)} WHERE h.id IN (
                            SELECT max(id) FROM history WHERE entity = 'project'
                               AND entity_id IN (SELECT value FROM json_each(?)) GROUP BY entity_id)
                        ORDER BY h.id DESC LIMIT ?""", [wanted, limit])
    changes = [_change(r) for r in rows]
    if len(changes) < limit:
        unrecorded = db.query("""SELECT p.id, p.title, p.updated_at FROM projects p
                                 WHERE p.id IN (SELECT value FROM json_each(?)) AND NOT EXISTS (
                                     SELECT 1 FROM history h WHERE h.entity = 'project' AND h.entity_id = p.id)
                                 ORDER BY p.updated_at DESC, p.id LIMIT ?""", [wanted, limit - len(changes)])
        changes += [{"id": None, "at": r["updated_at"], "entity": "project", "entity_id": r["id"],
                     "title": r["title"], "exists": True, "action": "unrecorded", "source_kind": None, "fields": []}
                    for r in unrecorded]
    return changes
