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
from ..core.records import DEFAULT_DOCUMENT, describe
from ..core.validate import Problem, ValidationError, check_references, clean_organisation, clean_project
from ..search import index as search
from ..store import backup as store_backup
from ..store import db as storage
from ..store import editing as store_editing
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
        for entity, outcome in (("organisation", self.orgs), ("project", self.projects)):
            out += [f"{record_id}: new {entity}" for record_id in outcome.added]
            for record_id, changes in outcome.changed.items():
                out += [describe(change, record_id) for change in changes]
            out += [f"{record_id}: {entity} deleted" for record_id in outcome.deleted]
        return out

    def summary(self):
        """`Added 1, changed 2, unchanged 40, deleted 0 projects; added 0, changed 1 organisations.`"""
        verbs = ("would add", "would change") if self.dry_run else ("added", "changed")
        p, o = self.projects, self.orgs
        text = (f"{verbs[0]} {len(p.added)}, {verbs[1]} {len(p.changed)}, unchanged {len(p.unchanged)}, "
                f"{'would delete' if self.dry_run else 'deleted'} {len(p.deleted)} projects; "
                f"{verbs[0]} {len(o.added)}, {verbs[1]} {len(o.changed)}, unchanged {len(o.unchanged)}, "
                f"{'would delete' if self.dry_run else 'deleted'} {len(o.deleted)} organisations")
        return text[0].upper() + text[1:] + "."


def _report(plan, version, dry_run):
    report = Report(version=version, dry_run=dry_run)
    outcomes = {"project": report.projects, "organisation": report.orgs}
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


def _fill_sources(p):
    """A source that names no document quotes the report: say so, as storage does (else the record would
    differ from its stored self and every import would report it changed)."""
    for s in p["sources"]:
        s["document"] = s["document"] or DEFAULT_DOCUMENT


def _quote_problems(where, p, report_text):
    return [Problem(where.rstrip(": "), f"sources[{i}].quote",
                    f"this quote is not found in the report: {s['quote'][:80]!r}; copy it exactly from the report")
            for i, s in enumerate(p["sources"], 1) if s["quote"] and s["quote"] not in report_text]


def prepare(raw_orgs, raw_projects, known_projects=(), known_orgs=(), report_text=None, progress=None,
            parents=None):
    """Validate a batch of (where, raw) pairs: each record, then references to each other and to the known
    ids, in one pass so a file's every problem is reported together. Returns (organisations, projects)
    in the canonical shape; raises ValidationError with every problem. `progress(stage, done, total)`, when
    given, hears how many records were validated (every PROGRESS_EVERY, and at the end). `parents`: reads
    stored parent links (stored_parents(db)), so that no cycle of parents is made with stored projects."""
    errors, orgs, projects = [], [], []
    total = len(raw_orgs) + len(raw_projects)
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
            _fill_sources(p)
            errors += _quote_problems(where, p, report_text) if report_text is not None else []
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
                  dry_run=False, index=None, report_text=None, proposal_id=None, progress=None):
    """Validate, compare, write what changed with its history in one transaction, update the index.

    organisations, projects: raw records or (where, raw) pairs. delete: (entity, id) pairs. expected:
    {(entity, id): version loaded} (0: must not exist yet), else Conflict. replace_all: the batch is the
    whole registry (seed, restore): stored records it lacks are deleted. index: search Settings (None:
    the index is left alone; its next check finds it stale). report_text: sources must quote it (seed).
    proposal_id: the proposal this change approves, decided in the same transaction. progress: called as
    progress(stage, done, total) with the stages validating, writing and indexing (web import jobs).
    Returns a Report; raises ValidationError, Conflict or storage.StorageError (nothing stored)."""
    known = ((), ()) if replace_all else storage.existing_ids(db)
    orgs, records = prepare(_pairs(organisations), _pairs(projects), *known, report_text=report_text,
                            progress=progress, parents=None if replace_all else stored_parents(db))
    if dry_run:
        plan = store_editing.preview_changes(db, orgs, records, delete, replace_all, expected)
        return _report(plan, storage.data_version(db), dry_run=True)
    if progress is not None:
        progress("writing", None, None)
    plan, version = store_editing.write_changes(db, origin, orgs, records, delete, replace_all, expected,
                                                proposal_id)
    if index is not None:
        if progress is not None:
            progress("indexing", None, None)
        update_index(index, plan.changes, rebuild=replace_all)
    return _report(plan, version, dry_run=False)


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
    report = apply_changes(db, origin, organisations=orgs, projects=projects, replace_all=True, index=index)
    store_backup.end_sessions_after_restore(backup_db, db, origin.actor, origin.source, with_accounts)
    return report


def check_restorable(backup_db):
    """Validate the records of `backup_db` as restoring them would (raises ValidationError): a backup whose
    records are not valid today is refused before anything changes, also when the whole file is restored."""
    orgs, projects = store_editing.all_records(backup_db)
    prepare(_pairs(orgs), _pairs(projects))
