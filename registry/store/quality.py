"""The data-quality desk's checks (editing/quality.py, /editor/quality): the SQL that finds records with a
likely defect, and the replay of the change history that counts them at past points in time.

Each check reads the registry's tables and returns rows: a project's or an organisation's `id` and its title or
name, with what the check found. `run_checks(db, year)` runs them all. The boundary check needs shapely, which
lives in registry/maps: here `placed_points` only gives the points it tests.

The counts over time replay the history's `after` snapshots (every write through the audited path keeps one per
changed record) into an in-memory copy of the schema, in the order they were written, and run the same checks
on it at the end of each period: one implementation of each check, for now and for the past.
"""
import difflib
import json
import re
import sqlite3
import unicodedata

import sqlite_utils

from ..core.records import ORGANISATION_FIELDS, PROJECT_FIELDS
from . import db as storage

# Two projects that share a country are suspected duplicates when their normalised titles (no accents, case or
# punctuation) reach this difflib ratio. 0.8 flags re-typed titles ("Mercury-free gold processing at Tarkwa" /
# "Mercury free gold processing in Tarkwa"); of the seed with its updates it lists one pair, ICSC's India and
# Indonesia coal project and its Indonesia one (0.807): related records worth comparing. The next pair scores 0.70.
DUPLICATE_RATIO = 0.8

# The checks in the order the desk shows them: name -> (entity of its rows)
CHECKS = {
    "country_points_only": "project",
    "without_funder": "project",
    "without_quote": "project",
    "ongoing_past_end": "project",
    "suspected_duplicates": "project",
    "organisations_without_projects": "organisation",
    "organisations_without_identifier": "organisation",
    "points_outside_country": "project",
}


def _rows(db, sql, params=()):
    return [dict(row) for row in db.query(sql, params)]


def country_points_only(db):
    """Projects that have locations, all of them country points: nowhere more precise is recorded."""
    return _rows(db, """SELECT p.id, p.title, count(l.id) AS locations FROM projects p JOIN locations l
                        ON l.project_id = p.id GROUP BY p.id
                        HAVING sum(l.precision != 'country') = 0 ORDER BY p.title COLLATE NOCASE, p.id""")


def without_funder(db):
    return _rows(db, """SELECT p.id, p.title FROM projects p WHERE NOT EXISTS (SELECT 1 FROM roles r
                        WHERE r.project_id = p.id AND r.role = 'funder') ORDER BY p.title COLLATE NOCASE, p.id""")


def without_quote(db):
    """Projects none of whose citations quotes anything."""
    return _rows(db, """SELECT p.id, p.title FROM projects p WHERE NOT EXISTS (SELECT 1 FROM sources s
                        WHERE s.project_id = p.id AND trim(s.quote) != '') ORDER BY p.title COLLATE NOCASE, p.id""")


def ongoing_past_end(db, year):
    """Projects still `ongoing` whose end year is before `year` (the current one)."""
    return _rows(db, """SELECT p.id, p.title, p.end_year FROM projects p WHERE p.status = 'ongoing'
                        AND p.end_year < ? ORDER BY p.end_year, p.title COLLATE NOCASE, p.id""", [year])


def organisations_without_projects(db):
    return _rows(db, """SELECT o.id, o.name AS title FROM organisations o WHERE NOT EXISTS
                        (SELECT 1 FROM roles r WHERE r.org_id = o.id) ORDER BY o.name COLLATE NOCASE, o.id""")


def organisations_without_identifier(db):
    """Organisations with no IATI organisation identifier (issue 14)."""
    return _rows(db, """SELECT o.id, o.name AS title FROM organisations o WHERE trim(coalesce(o.identifier, '')) = ''
                        ORDER BY o.name COLLATE NOCASE, o.id""")


def placed_points(db):
    """Every location with a point and a country: (project id, title, the location's number from 1, its name,
    precision, lat, lon, country), for the boundary check (maps/geometry.py). The country is the one the
    location names; a location that names none, in a project of one country, is in that country."""
    return _rows(db, """SELECT * FROM (
                          SELECT l.project_id AS id, p.title, l.name, l.precision, l.lat, l.lon,
                            coalesce(l.country, (SELECT min(c.iso3) FROM project_countries c
                                                 WHERE c.project_id = l.project_id
                                                 HAVING count(*) = 1)) AS country,
                            (SELECT count(*) FROM locations e WHERE e.project_id = l.project_id AND e.id <= l.id)
                              AS number, l.id AS location_row
                          FROM locations l JOIN projects p ON p.id = l.project_id
                          WHERE l.lat IS NOT NULL AND l.lon IS NOT NULL)
                        WHERE country IS NOT NULL ORDER BY title COLLATE NOCASE, id, location_row""")


def normalised_title(title):
    """A title as the duplicate check compares it: no accents, case or punctuation, single spaces."""
    text = unicodedata.normalize("NFKD", title or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^0-9a-z]+", " ", text).strip()


def title_similarity(a, b):
    """difflib's ratio of two normalised titles (1.0: the same)."""
    return difflib.SequenceMatcher(None, normalised_title(b), normalised_title(a)).ratio()   # as the check compares


def suspected_duplicates(db, threshold=DUPLICATE_RATIO):
    """Pairs of projects that share a country and whose titles reach `threshold` (see DUPLICATE_RATIO): the
    first of each pair as `id`/`title`, the other as `other_id`/`other_title`, the shared countries and the
    ratio. Only pairs sharing a country are compared, so the cost grows with the square of the projects per
    country (docs/editing.md, "Data quality", has the figures)."""
    titles = {row[0]: row[1] for row in db.execute("SELECT id, title FROM projects")}
    pairs = db.execute("""SELECT a.project_id, b.project_id, group_concat(a.iso3, ', ')
                          FROM project_countries a JOIN project_countries b
                            ON b.iso3 = a.iso3 AND b.project_id > a.project_id
                          GROUP BY a.project_id, b.project_id ORDER BY a.project_id, b.project_id""")
    normalised = {pid: normalised_title(title) for pid, title in titles.items()}
    found, matcher, first = [], difflib.SequenceMatcher(None), None
    for pid, other, countries in pairs:
        if pid != first:   # difflib caches what it learns of the second sequence: keep it while it is the same
            first = pid
            matcher.set_seq2(normalised[pid])
        matcher.set_seq1(normalised[other])
        # the quick ratios are upper bounds of ratio(): most pairs are ruled out without the full comparison
        if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold:
            ratio = matcher.ratio()
            if ratio >= threshold:
                found.append({"id": pid, "title": titles[pid], "other_id": other, "other_title": titles[other],
                              "countries": countries, "ratio": round(ratio, 3)})
    return sorted(found, key=lambda p: (-p["ratio"], p["id"], p["other_id"]))


def run_checks(db, year):
    """{check name: rows} for every check but the boundary one (which needs placed_points and shapely)."""
    return {
        "country_points_only": country_points_only(db),
        "without_funder": without_funder(db),
        "without_quote": without_quote(db),
        "ongoing_past_end": ongoing_past_end(db, year),
        "suspected_duplicates": suspected_duplicates(db),
        "organisations_without_projects": organisations_without_projects(db),
        "organisations_without_identifier": organisations_without_identifier(db),
    }


# --- the counts over time: replaying the history ------------------------------------------------------

# How history stamps (YYYY-MM-DDTHH:MM:SSZ) are cut into periods: the counts are taken after the last change of
# each period. `write`: every stamp (the rows of one write share theirs).
PERIODS = {"month": 7, "day": 10, "write": 20}
# Defaults a record written before a field existed lacks in its snapshot (issues 12, 14, 18 added fields)
PROJECT_DEFAULTS = {"summary": None, "description": None, "other_areas": [], "start_year": None, "end_year": None,
                    "evidence": {}, "parent": None, "countries": [], "keywords": [], "website": None,
                    "iati_identifier": None, "locations": [], "organisations": [], "sources": []}
ORGANISATION_DEFAULTS = {"acronym": None, "aliases": [], "country": None, "website": None, "identifier": None,
                         "leads_areas": [], "evidence": {}}
LOCATION_KEYS = tuple(k.strip() for k in storage.LOCATION_COLUMNS.split(","))
CHILD_TABLES = ("project_areas", "project_countries", "locations", "roles", "sources")


def memory_registry():
    """An empty registry in memory, with the real schema (foreign keys off: snapshots come in history order,
    and a project may name an organisation written later in the same write)."""
    db = sqlite_utils.Database(sqlite3.connect(":memory:", check_same_thread=False))
    storage.migrate(db)
    return db


def _project_snapshot(after):
    """A project's `after` snapshot as storage.write_project takes it: every field and every key of its
    locations, citations and roles present (rows of one table are written with one set of columns)."""
    p = {**PROJECT_DEFAULTS, **{k: v for k, v in after.items() if k in PROJECT_FIELDS and v is not None}}
    p["locations"] = [dict({k: loc.get(k) for k in LOCATION_KEYS}, basis=loc.get("basis") or "stated")
                      for loc in p["locations"]]
    p["sources"] = [{k: s.get(k) for k in ("document", "section")} | {"quote": s.get("quote") or ""}
                    for s in p["sources"]]
    p["organisations"] = [{k: r.get(k) for k in ("org", "role", "basis", "source", "reason")}
                          for r in p["organisations"]]
    return p


def _organisation_snapshot(after):
    return {**ORGANISATION_DEFAULTS, **{k: v for k, v in after.items() if k in ORGANISATION_FIELDS and v is not None}}


def _replay_row(memory, entity, entity_id, after):
    """Make the in-memory registry's record what this history row left it (None: deleted)."""
    if entity == "project":
        for table in CHILD_TABLES:    # foreign keys are off: no cascade
            memory.execute(f"DELETE FROM {table} WHERE project_id = ?", [entity_id])
    storage.delete_record(memory, entity, entity_id)
    if after is not None:
        if entity == "project":
            storage.write_project(memory, _project_snapshot(after), "", 0)
        else:
            storage.write_organisation(memory, _organisation_snapshot(after), "", 0)


def history_periods(db, period):
    """The periods (stamp prefixes) in which projects or organisations changed, oldest first."""
    width = PERIODS[period]
    return [row[0] for row in db.execute(
        "SELECT DISTINCT substr(at, 1, ?) FROM history WHERE entity IN ('project', 'organisation') "
        "AND (before IS NOT NULL OR after IS NOT NULL) ORDER BY 1", [width])]


def replay(db, period, measure, last=12):
    """Replay every record change of the history, oldest first, and call measure(memory registry, period) after
    the last change of each of the `last` newest periods. Returns (period, what measure returned) pairs, oldest
    first, and the number of history rows whose snapshot could not be replayed (none in a registry whose
    history was written by the audited path; counted, never skipped silently)."""
    width = PERIODS[period]
    wanted = set(history_periods(db, period)[-last:]) if last > 0 else set()
    memory, results, unreadable, current = memory_registry(), [], 0, None
    rows = db.execute("SELECT at, entity, entity_id, after FROM history WHERE entity IN ('project', 'organisation') "
                      "AND (before IS NOT NULL OR after IS NOT NULL) ORDER BY id")
    try:
        for at, entity, entity_id, after in rows:
            if current is not None and at[:width] != current and current in wanted:
                results.append((current, measure(memory, current)))
            current = at[:width]
            try:
                _replay_row(memory, entity, entity_id, json.loads(after) if after else None)
            except (KeyError, TypeError, ValueError, sqlite3.Error):
                unreadable += 1
        if current is not None and current in wanted:
            results.append((current, measure(memory, current)))
    finally:
        memory.conn.close()
    return results, unreadable
