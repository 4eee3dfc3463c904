"""The one audited write path: every change to projects and organisations goes through `apply_changes`.

Web forms, web imports, CLI imports, the seed loader, reverts, approved proposals and restores all call it:

    raw records --prepare: core.validate + references (to each other and to the database), every problem
      in one pass--> records in the canonical shape (core/records.py)
    --store.editing.write_changes, ONE transaction: check the versions editors loaded, compare each record
      with the stored one (core.records.diff), write only what changed, one history row per changed
      record (actor, source_kind, source, changed field paths), move the data version on-->
    --search.index: the changed projects, the projects of changed organisations and those whose text names
      a changed organisation are reindexed--> a Report naming every changed field.

`dry_run=True` validates and compares the same way and writes nothing. The exchange layer sits above
store and search, so this is where the two meet; the web and CLI callers only say who and from where.
"""
import getpass
import logging
from dataclasses import dataclass, field

from ..core import geo
from ..core import patches
from ..core.language import ENGLISH, N_
from ..core.records import describe
from ..core.sources import clean_source, document_ids, unknown_documents
from ..core.validate import (ValidationError, check_references, clean_organisation, clean_project,
                             problem)
from ..search import index as search
from ..store import backup as store_backup
from ..store import db as storage
from ..store import editing as store_editing
from ..store import sources as source_store
from ..store.editing import Conflict, Origin  # noqa: F401  (callers catch Conflict, build an Origin)

log = logging.getLogger(__name__)
NAME_FIELDS = ("name", "acronym", "aliases")   # an organisation's names: in project texts and synonyms


def cli_actor():
    """The actor of a command-line change: `cli:` and the operating-system user."""
    return f"cli:{getpass.getuser()}"


# --- the report ---------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What a write did (or would do) to one kind of record: ids, and each changed record's FieldChanges."""
    added: list = field(default_factory=list)
    changed: dict = field(default_factory=dict)
    unchanged: list = field(default_factory=list)
    deleted: list = field(default_factory=list)


@dataclass
class Report:
    projects: Outcome = field(default_factory=Outcome)
    orgs: Outcome = field(default_factory=Outcome)
    sources: Outcome = field(default_factory=Outcome)
    version: int | None = None   # the data version after the write (the current one for a dry run)
    dry_run: bool = False

    @property
    def added(self):
        return self.projects.added

    @property
    def changed(self):
        return list(self.projects.changed)

    @property
    def unchanged(self):
        return self.projects.unchanged

    @property
    def deleted(self):
        return self.projects.deleted

    @property
    def organisations(self):
        """Ids of the organisations added or changed."""
        return self.orgs.added + list(self.orgs.changed)

    def lines(self):
        """One line per added or deleted record and per changed field: `planetgold-peru: locations[1].lat
        -9.26 -> -12.5`."""
        out = []
        for entity, outcome in (("source", self.sources), ("organisation", self.orgs), ("project", self.projects)):
            out += [f"{record_id}: new {entity}" for record_id in outcome.added]
            for record_id, changes in outcome.changed.items():
                out += [describe(change, record_id) for change in changes]
            out += [f"{record_id}: {entity} deleted" for record_id in outcome.deleted]
        return out

    def counts(self):
        """The numbers the summary sentence gives (kept with a web import job's report, whose page writes
        the sentence in its reader's language)."""
        p, o, s = self.projects, self.orgs, self.sources
        return {"p_added": len(p.added), "p_changed": len(p.changed), "p_unchanged": len(p.unchanged),
                "p_deleted": len(p.deleted), "o_added": len(o.added), "o_changed": len(o.changed),
                "o_unchanged": len(o.unchanged), "o_deleted": len(o.deleted), "s_added": len(s.added),
                "s_changed": len(s.changed), "s_deleted": len(s.deleted)}

    def summary(self, words=ENGLISH):
        """`Added 1, changed 2, unchanged 40, deleted 0 projects; added 0, changed 1 organisations.`"""
        return summary_sentence(self.counts(), self.dry_run, words)


# The import's one-line summary: one whole sentence for each tense, with and without source records
SUMMARIES = {
    (False, False): N_("Added %(p_added)s, changed %(p_changed)s, unchanged %(p_unchanged)s, deleted %(p_deleted)s "
                       "projects; added %(o_added)s, changed %(o_changed)s, unchanged %(o_unchanged)s, deleted "
                       "%(o_deleted)s organisations."),
    (False, True): N_("Added %(p_added)s, changed %(p_changed)s, unchanged %(p_unchanged)s, deleted %(p_deleted)s "
                      "projects; added %(o_added)s, changed %(o_changed)s, unchanged %(o_unchanged)s, deleted "
                      "%(o_deleted)s organisations; added %(s_added)s, changed %(s_changed)s sources."),
    (True, False): N_("Would add %(p_added)s, would change %(p_changed)s, unchanged %(p_unchanged)s, would delete "
                      "%(p_deleted)s projects; would add %(o_added)s, would change %(o_changed)s, unchanged "
                      "%(o_unchanged)s, would delete %(o_deleted)s organisations."),
    (True, True): N_("Would add %(p_added)s, would change %(p_changed)s, unchanged %(p_unchanged)s, would delete "
                     "%(p_deleted)s projects; would add %(o_added)s, would change %(o_changed)s, unchanged "
                     "%(o_unchanged)s, would delete %(o_deleted)s organisations; would add %(s_added)s, would "
                     "change %(s_changed)s sources."),
}


def summary_sentence(counts, dry_run, words=ENGLISH):
    """The summary of a Report's `counts()` in the language of `words` (gettext's interface)."""
    with_sources = bool(counts["s_added"] or counts["s_changed"] or counts["s_deleted"])
    return words.gettext(SUMMARIES[bool(dry_run), with_sources]) % counts


def _report(plan, version, dry_run):
    report = Report(version=version, dry_run=dry_run)
    outcomes = {"project": report.projects, "organisation": report.orgs, "source": report.sources}
    for change in plan.changes:
        outcome = outcomes[change.entity]
        if change.kind == "changed":
            outcome.changed[change.id] = change.fields
        else:
            getattr(outcome, change.kind).append(change.id)
    for entity, record_id in plan.unchanged:
        outcomes[entity].unchanged.append(record_id)
    return report


# --- validation of a whole batch: every problem in one pass --------------------------------------------

def _fill_locations(p):
    """Country-level locations get the country's representative point."""
    for loc in p["locations"]:
        if loc is None or loc["lat"] is not None or loc["precision"] not in ("country",):
            continue
        country = (geo.get_country(loc["country"]) if loc["country"] else None) or geo.lookup_country(loc["name"])
        if country is None and len(p["countries"]) == 1:
            country = geo.get_country(p["countries"][0])
        if country is not None:
            loc["country"] = country.iso3
            loc["lat"], loc["lon"], loc["coords_source"] = country.lat, country.lon, "country-point"


def _quote_problems(where, p, report_text):
    return [problem(where.rstrip(": "), f"sources[{i}].quote",
                    N_("this quote is not found in the report: %(quote)s; copy it exactly from the report"),
                    quote=repr(s["quote"][:80]))
            for i, s in enumerate(p["sources"], 1) if s["quote"] and s["quote"] not in report_text]


def clean_sources(raw_sources):
    """(source records, problems) of a batch's (where, raw) source pairs, ids unique in the batch."""
    errors, sources = [], []
    for where, raw in raw_sources:
        source, problems = clean_source(raw, where)
        errors += problems
        sources.append(source)
    return sources, errors + _unique_sources(sources)


def prepare(raw_orgs, raw_projects, known_projects=(), known_orgs=(), report_text=None, progress=None,
            parents=None, sources=(), known_sources=None, errors=()):
    """Validate a batch of (where, raw) pairs: each record, then references to each other and to the known
    ids, in one pass so a file's every problem is reported together. Returns (organisations, projects)
    in the canonical shape; raises ValidationError with every problem. `progress(stage, done, total)`, when
    given, hears how many records were validated (every PROGRESS_EVERY, and at the end). `parents`: reads
    stored parent links (stored_parents(db)), so that no cycle of parents is made with stored projects.
    `sources`: the batch's source records (clean_sources), `known_sources` the stored ones: a citation's
    document is one of them (None: not checked; a legacy title still becomes its id). `errors`: problems
    found before (the batch's sources', its changes'), reported with the records'."""
    errors, orgs, projects = list(errors), [], []
    total = len(raw_orgs) + len(raw_projects)
    every_source = [s for s in sources if s] + list(known_sources or ())
    for where, raw in raw_orgs:
        o, errs = clean_organisation(raw, where)
        errors += errs
        orgs.append(o)
        _validated(progress, len(orgs), total)
    for where, raw in raw_projects:
        _validated(progress, len(orgs) + len(projects), total)
        p, errs = clean_project(raw, where)
        errors += errs
        if p is not None and not errs:
            _fill_locations(p)
            document_ids(every_source, p["sources"])
            errors += _quote_problems(where, p, report_text) if report_text is not None else []
            if known_sources is not None:
                errors += unknown_documents(p, where.rstrip(": ") or f"project {p['id']}",
                                            {s["id"] for s in every_source})
        projects.append(p)
    countries = {c.iso3 for c in geo.all_countries()}
    errors += check_references(projects, orgs, known_projects, known_orgs, countries,
                               project_where=[w for w, _ in raw_projects], org_where=[w for w, _ in raw_orgs],
                               stored_parents=_ancestors(projects, parents) if parents else None)
    if progress is not None:
        progress("validating", total, total)
    if errors:
        raise ValidationError(errors)
    return orgs, projects


def _unique_sources(sources):
    seen, problems = set(), []
    for i, s in enumerate(sources, 1):
        if s and s["id"] in seen:
            problems.append(problem(f"sources[{i}]", "id", N_("duplicate id: '%(id)s' is already the id of an "
                                                              "earlier source in this file; give each its own id"),
                                    id=s["id"]))
        seen.add((s or {}).get("id"))
    return problems


PROGRESS_EVERY = 500   # records validated between two progress reports


def _validated(progress, done, total):
    if progress is not None and done % PROGRESS_EVERY == 0:
        progress("validating", done, total)


def stored_parents(db):
    """A reader of stored parent links for `prepare`: ids -> {id: parent id} of the stored projects among them."""
    return lambda ids: {pid: record["parent"] for pid, (record, _) in store_editing.project_records(db, ids).items()}


def _ancestors(projects, parents):
    """{id: parent id} of the stored projects above the batch's projects, up to the top (or a loop): what
    core.validate.parent_cycles needs to see a cycle the batch would close. One read per level."""
    batch = {p["id"] for p in projects if p and p.get("id")}
    links, asked = {}, set()
    todo = {p["parent"] for p in projects if p and p.get("parent")} - batch
    while todo:
        asked |= todo
        found = parents(sorted(todo))
        links.update(found)
        todo = {parent for parent in found.values() if parent} - asked - batch
    return links


def _pairs(items):
    """Records as (where, raw) pairs: readers give pairs (row numbers); forms and reverts give records."""
    return [item if isinstance(item, tuple) else ("", item) for item in items]


# --- the write path -------------------------------------------------------------------------------------

def apply_changes(db, origin, *, organisations=(), projects=(), delete=(), expected=None, replace_all=False,
                  dry_run=False, index=None, report_text=None, proposal_id=None, progress=None, sources=(),
                  changes=(), newer_sources=()):
    """Validate, compare, write what changed with its history in one transaction, update the index.

    organisations, projects, sources: raw records or (where, raw) pairs. changes: changes to stored
    records (core/patches.py), as (where, raw) pairs or raw. delete: (entity, id) pairs. expected:
    {(entity, id): version loaded} (0: must not exist yet), else Conflict. replace_all: the batch is the
    whole registry (seed, restore): stored records it lacks are deleted. index: search Settings (None:
    the index is left alone; its next check finds it stale). report_text: sources must quote it (seed).
    proposal_id: the proposal this change approves, decided in the same transaction. progress: called as
    progress(stage, done, total) with the stages validating, writing and indexing (web import jobs).
    newer_sources: ids of sources newer than this batch's (an update from a source, exchange/updates.py):
    what changes from them set is kept as they set it, in changes and in full records alike.
    Returns a Report; raises ValidationError, Conflict or storage.StorageError (nothing stored)."""
    known = ((), ()) if replace_all else storage.existing_ids(db)
    source_records, errors = clean_sources(_pairs(sources))
    newer = _newer_fields(db, newer_sources)
    changed_orgs, changed_projects, more = resolve_changes(db, _pairs(changes), organisations, projects, newer)
    organisations, projects = (_keep_newer(db, _pairs(items), entity, newer)
                               for entity, items in (("organisation", organisations), ("project", projects)))
    orgs, records = prepare(_pairs(organisations) + changed_orgs, _pairs(projects) + changed_projects, *known,
                            report_text=report_text, progress=progress,
                            parents=None if replace_all else stored_parents(db), sources=source_records,
                            known_sources=[] if replace_all else source_store.all_sources(db), errors=errors + more)
    if dry_run:
        plan = store_editing.preview_changes(db, orgs, records, delete, replace_all, expected, source_records)
        return _report(plan, storage.data_version(db), dry_run=True)
    if progress is not None:
        progress("writing", None, None)
    plan, version = store_editing.write_changes(db, origin, orgs, records, delete, replace_all, expected,
                                                proposal_id, source_records)
    if index is not None:
        if progress is not None:
            progress("indexing", None, None)
        update_index(index, plan.changes, rebuild=replace_all)
    return _report(plan, version, dry_run=False)


def _newer_fields(db, newer_sources):
    """A reader (entity, ids) -> {id: fields changes from `newer_sources` set}; None without such sources."""
    if not newer_sources:
        return None
    return lambda entity, ids: source_store.fields_changed_by(db, entity, ids, newer_sources)


def _keep_newer(db, pairs, entity, newer):
    """Full records of an update that already exist: the fields a newer source set stay as stored."""
    if newer is None:
        return pairs
    ids = [raw["id"] for _, raw in pairs if isinstance(raw, dict) and isinstance(raw.get("id"), str)]
    kept = newer(entity, ids)
    stored = store_editing.BULK_RECORDS[entity](db, list(kept)) if kept else {}
    return [(where, _merged(raw, stored[raw["id"]][0], kept[raw["id"]])
             if isinstance(raw, dict) and raw.get("id") in stored else raw) for where, raw in pairs]


def _merged(raw, stored, fields):
    out = dict(raw, **{f: stored[f] for f in fields if f in stored and f != "evidence"})
    evidence = dict(raw.get("evidence") or {}) if isinstance(raw.get("evidence"), dict) else raw.get("evidence")
    if isinstance(evidence, dict):
        for f in fields:
            evidence.pop(f, None)
            if f in (stored.get("evidence") or {}):
                evidence[f] = stored["evidence"][f]
        out["evidence"] = evidence
    return out


# one whole message per kind of record (French and Spanish nouns have genders)
GIVEN_AND_CHANGED = {
    "project": N_("this file gives project '%(id)s' in full and changes it too: give one of the two"),
    "organisation": N_("this file gives organisation '%(id)s' in full and changes it too: give one of the two"),
}
NOT_STORED = {
    "project": N_("project '%(id)s' does not exist: a change names a record of the registry; give a new project in "
                  "full"),
    "organisation": N_("organisation '%(id)s' does not exist: a change names a record of the registry; give a new "
                       "organisation in full"),
}


def resolve_changes(db, changes, organisations=(), projects=(), newer=None):
    """Changes to stored records -> ((where, record after the change) pairs of organisations, of projects,
    problems). Several changes to one record apply one after the other. A record the batch also gives in
    full, or one that is not stored, is a problem (a change names a record of the registry). `newer`: see
    _newer_fields (the fields a newer source set are left as they are)."""
    given = {(entity, (raw or {}).get("id")) for entity, items in (("organisation", organisations),
                                                                    ("project", projects))
             for _, raw in _pairs(items) if isinstance(raw, dict) and isinstance(raw.get("id"), str)}
    problems, after, where_of = [], {}, {}
    for where, change in changes:
        where = where.rstrip(": ") or "change"
        shape = patches.check_change(change, where)
        entity, record_id = patches.target(change)
        if not shape and (entity, record_id) in given:
            shape = [problem(where, entity, GIVEN_AND_CHANGED[entity], id=record_id)]
        problems += shape
        if not shape:
            after.setdefault((entity, record_id), None)
            where_of[(entity, record_id)] = where_of.get((entity, record_id), []) + [(where, change)]
    stored = _stored_records(db, after)
    kept = {(entity, i): fields for entity in ("organisation", "project")
            for i, fields in (newer(entity, [i for e, i in after if e == entity]) if newer else {}).items()}
    orgs, projects_out = [], []
    for (entity, record_id), items in where_of.items():
        record = stored.get((entity, record_id))
        if record is None:
            problems.append(problem(items[0][0], entity, NOT_STORED[entity], id=record_id))
            continue
        for where, change in items:
            record, more = patches.apply_change(record, change, where, kept.get((entity, record_id), frozenset()))
            problems += more
        (orgs if entity == "organisation" else projects_out).append((items[0][0], record))
    return orgs, projects_out, problems


def _stored_records(db, keys):
    out = {}
    for entity in ("organisation", "project"):
        ids = [record_id for e, record_id in keys if e == entity]
        if ids:
            found = store_editing.BULK_RECORDS[entity](db, ids)
            out.update({(entity, i): record for i, (record, _) in found.items()})
    return out


def update_index(index, changes, rebuild=False):
    """After the commit: reindex the changed projects, the changed organisations with their projects, and
    the documents that name a changed organisation (its names feed every document's synonyms). A batch
    that replaces the whole registry builds a new generation instead. Never raises: on failure the
    change stands and the index's next check (start-up, `flask setup`, `flask reindex`) rebuilds it."""
    if not changes:
        return
    if rebuild:
        try:
            search.rebuild(index, wait=search.WAIT_UPDATE)
        except Exception:
            log.exception("search index rebuild after %d changes failed; the next check rebuilds it", len(changes))
        return
    orgs = [c for c in changes if c.entity == "organisation"]
    search.update_projects(index, [c.id for c in changes if c.entity == "project"],
                           organisations=[c.id for c in orgs], names=_names(orgs))


def _names(org_changes):
    """Every name, before and after, of the organisations whose names changed (or that came or went)."""
    names = set()
    for c in org_changes:
        if c.kind == "changed" and not any(f.path in NAME_FIELDS for f in c.fields):
            continue
        for record in filter(None, (c.before, c.after)):
            names |= {record["name"], record["acronym"], *record["aliases"]} - {None, ""}
    return sorted(names)


def restore_records(db, backup_db, origin, index=None, with_accounts=False):
    """Make the registry's projects and organisations those of `backup_db` (a connection to a verified,
    migrated backup: store.backup.load_copy) as one replace-all change through the write path: every
    record that differs gets a history row with source_kind restore; proposals and the history itself
    stay as they are. Then every session ends and, with `with_accounts`, the backup's accounts replace
    the live ones; login failures and rate limits stay live."""
    if with_accounts:
        store_backup.check_accounts(backup_db)     # before anything changes
    orgs, projects = store_editing.all_records(backup_db)
    report = apply_changes(db, origin, organisations=orgs, projects=projects, replace_all=True, index=index,
                           sources=store_editing.all_sources(backup_db))
    store_backup.end_sessions_after_restore(backup_db, db, origin.actor, origin.source, with_accounts)
    return report


def check_restorable(backup_db):
    """Validate the records of `backup_db` as restoring them would (raises ValidationError): a backup whose
    records are not valid today is refused before anything changes, also when the whole file is restored."""
    orgs, projects = store_editing.all_records(backup_db)
    sources, errors = clean_sources(_pairs(store_editing.all_sources(backup_db)))
    prepare(_pairs(orgs), _pairs(projects), sources=sources, known_sources=[], errors=errors)
