"""Storage of source records (table `documents`; core/sources.py) and what the registry owes to each.

Citations (table `sources`: project_id, document, section, quote) name a source record by id in `document`.
Written only by store.editing.write_changes, like projects and organisations.
"""
import json

from ..core.sources import LEGACY_REPORT_TITLE, REPORT_SOURCE, REPORT_SOURCE_ID, SOURCE_FIELDS

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, publisher TEXT NOT NULL, date TEXT, url TEXT, reference TEXT,
    kind TEXT NOT NULL, consulted TEXT, version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_sources_document ON sources(document, project_id);
"""
# A record's date as of its sources: the newest publication date among those it cites. A page that shows
# no date counts by the day it was consulted only where said so (undated_consulted): that day says when the
# team read it, not how recent what it says is
_DATE = "d.date"

IDS = "(SELECT value FROM json_each(?))"


def migrate(db):
    """Create the table. A new registry starts with its founding source, the 2020-2022 report, which a
    citation that names no document cites. Citations written before sources were records named that
    report by its title (or not at all): they name its id, and its record is added if it is missing."""
    db.conn.executescript(SCHEMA)
    legacy = "document = ? OR document IS NULL OR document = ''"
    # read first: a migration that has nothing to do writes nothing (it runs on every connection's start,
    # also while another process holds the write lock)
    if db.execute(f"SELECT 1 FROM sources WHERE {legacy} LIMIT 1", [LEGACY_REPORT_TITLE]).fetchone():
        db.execute(f"UPDATE sources SET document = ? WHERE {legacy}", [REPORT_SOURCE_ID, LEGACY_REPORT_TITLE])
    if db.execute("SELECT 1 FROM documents WHERE id = ?", [REPORT_SOURCE_ID]).fetchone():
        return
    cited = db.execute("SELECT 1 FROM sources WHERE document = ? LIMIT 1", [REPORT_SOURCE_ID]).fetchone()
    if cited or not db.execute("SELECT 1 FROM documents LIMIT 1").fetchone():
        write_source(db, REPORT_SOURCE, "1970-01-01T00:00:00Z", 1)


def write_source(db, source, stamp, version):
    """Insert or update one validated source record at `version`. Call inside a transaction."""
    row = dict(source, updated_at=stamp, version=version)
    cols = list(row)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "id")
    db.execute(f"INSERT INTO documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
               f"ON CONFLICT(id) DO UPDATE SET {updates}", [row[c] for c in cols])


def delete_source(db, source_id):
    db.execute("DELETE FROM documents WHERE id = ?", [source_id])


def citing_projects(db, source_ids):
    """Ids of the projects that cite any of these sources."""
    return [r[0] for r in db.execute(f"SELECT DISTINCT project_id FROM sources WHERE document IN {IDS} "
                                     "ORDER BY project_id", [json.dumps(list(source_ids))])]


def source_records(db, ids):
    """{id: (record, version)} for those of `ids` that exist, in the shape core.sources.clean_source returns."""
    rows = db.query(f"SELECT * FROM documents WHERE id IN {IDS}", [json.dumps(list(ids))])
    return {r["id"]: ({k: r[k] for k in SOURCE_FIELDS}, r["version"]) for r in rows}


def source_ids(db):
    return {r[0] for r in db.execute("SELECT id FROM documents")}


def all_sources(db):
    """Every source record, oldest first (by date, then id)."""
    return [{k: r[k] for k in SOURCE_FIELDS}
            for r in db.query("SELECT * FROM documents ORDER BY date IS NOT NULL, date, id")]


def export_sources(db, ids=None):
    """The source records an export carries: those the projects with these ids cite (every one when
    `ids` is None: the whole registry), oldest first. Call it on the export's connection right after
    db.export_stream, inside its read transaction, so that it sees the same snapshot as the projects."""
    if ids is None:
        return all_sources(db)
    return [{k: r[k] for k in SOURCE_FIELDS} for r in db.query(
        f"SELECT * FROM documents WHERE id IN (SELECT document FROM sources WHERE project_id IN {IDS}) "
        "ORDER BY date IS NOT NULL, date, id", [json.dumps(list(ids))])]


def list_sources(db, source_id=None):
    """Every source record (or the one with `source_id`) with what it supports: `projects` (citing it),
    `citations`, and the records it `added` and `changed` (history rows of changes applied from it:
    source_kind 'source' and source = its id; the seed's source: the seed's rows). Oldest first."""
    where, params = ("WHERE d.id = ?", [source_id]) if source_id is not None else ("", [])
    rows = db.query(f"""
        SELECT d.*, {_DATE} AS as_of,
               (SELECT count(DISTINCT project_id) FROM sources s WHERE s.document = d.id) AS projects,
               (SELECT count(*) FROM sources s WHERE s.document = d.id) AS citations
        FROM documents d {where} ORDER BY d.date IS NOT NULL, d.date, d.id""", params)
    contributions = _contributions(db)
    return [dict(r, **contributions.get(r["id"], {"added": 0, "changed": 0})) for r in rows]


def _contributions(db):
    """{source id: {"added": n, "changed": n}}: distinct records each source's update added or changed."""
    out = {}
    rows = db.execute("""SELECT CASE WHEN source_kind = 'seed' THEN ? ELSE source END AS src,
                                CASE WHEN before IS NULL THEN 'added' ELSE 'changed' END AS what,
                                count(DISTINCT entity || ':' || entity_id)
                         FROM history WHERE source_kind IN ('source', 'seed') AND after IS NOT NULL
                           AND entity IN ('project', 'organisation') GROUP BY src, what""", [REPORT_SOURCE_ID])
    for source_id, what, n in rows:
        out.setdefault(source_id, {"added": 0, "changed": 0})[what] = n
    return out


def get_source(db, source_id):
    """One source record with its citations (project id and title, section, quote), or None."""
    rows = list(db.query(f"SELECT d.*, {_DATE} AS as_of FROM documents d WHERE d.id = ?", [source_id]))
    if not rows:
        return None
    source = dict(rows[0])
    source["citations"] = list(db.query(
        """SELECT s.project_id, p.title, s.section, s.quote FROM sources s JOIN projects p ON p.id = s.project_id
           WHERE s.document = ? ORDER BY p.title COLLATE NOCASE, s.id""", [source_id]))
    return source


def as_of(db, project_ids):
    """{project id: the newest date among the sources it cites} for the given projects."""
    return dict(db.execute(
        f"""SELECT s.project_id, max({_DATE}) FROM sources s JOIN documents d ON d.id = s.document
            WHERE s.project_id IN {IDS} GROUP BY s.project_id""", [json.dumps(list(project_ids))]).fetchall())


def organisation_as_of(db, org_id):
    """The newest date among the sources of the projects in which the organisation has a role."""
    row = db.execute(f"""SELECT max({_DATE}) FROM roles r JOIN sources s ON s.project_id = r.project_id
                         JOIN documents d ON d.id = s.document WHERE r.org_id = ?""", [org_id]).fetchone()
    return row[0] if row else None


def source_titles(db, ids):
    """{id: title} of those of `ids` that are source records (labels of the source filter)."""
    return dict(db.execute(f"SELECT id, title FROM documents WHERE id IN {IDS}", [json.dumps(list(ids))]).fetchall())


def source_summaries(db, ids):
    """{id: {"id", "title", "as_of", "consulted", "language"}} of those of `ids` that are source records: how
    a change or a citation names its source."""
    return {r["id"]: dict(r) for r in db.query(
        f"SELECT d.id, d.title, {_DATE} AS as_of, d.consulted, d.language FROM documents d WHERE d.id IN {IDS}",
        [json.dumps(list(ids))])}


def registry_as_of(db):
    """The newest date among all source records: the registry as a whole is as of then (None: no sources)."""
    return db.execute(f"SELECT max({_DATE}) FROM documents d").fetchone()[0]


def sources_of_changes(db, change_ids):
    """{history id: source summary (see source_summaries)} for those of `change_ids` applied from a source."""
    rows = db.execute(f"SELECT id, source FROM history WHERE source_kind = 'source' AND id IN {IDS}",
                      [json.dumps(list(change_ids))]).fetchall()
    summaries = source_summaries(db, {source for _, source in rows})
    return {change_id: summaries[source] for change_id, source in rows if source in summaries}


def fields_changed_by(db, entity, ids, source_ids):
    """{record id: the fields (top-level names; `evidence.status` counts as `status`) that changes from
    these sources made to these records}: what an older source's update must leave as a newer one set it."""
    out = {}
    rows = db.execute(f"""SELECT entity_id, fields FROM history WHERE source_kind = 'source' AND entity = ?
                          AND entity_id IN {IDS} AND source IN {IDS} AND fields IS NOT NULL""",
                      [entity, json.dumps(list(ids)), json.dumps(list(source_ids))])
    for record_id, fields in rows:
        out.setdefault(record_id, set()).update(_top_field(path) for path in json.loads(fields))
    return out


def _top_field(path):
    if path.startswith("evidence."):
        return path.split(".")[1]
    return path.split("[")[0].split(".")[0]


def undated_consulted(db, project_ids):
    """{project id: (how many undated sources it cites, the last day one of them was consulted)}."""
    rows = db.execute(f"""SELECT s.project_id, count(DISTINCT d.id), max(d.consulted) FROM sources s
                          JOIN documents d ON d.id = s.document WHERE d.date IS NULL AND s.project_id IN {IDS}
                          GROUP BY s.project_id""", [json.dumps(list(project_ids))])
    return {pid: (n, consulted) for pid, n, consulted in rows}
