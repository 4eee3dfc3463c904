"""The canonical shape of a record, and what changed between two versions of one. Pure: no I/O.

A project or an organisation is exactly what core.validate.clean_project / clean_organisation return
(after exchange.apply.prepare, also reachable as ingest.prepare, has filled in what they imply: a country-level location's point, a citation's
source record id: core/sources.py), and what store.editing.project_record / organisation_record read back:

    project:      id, title, summary, [title_fr, title_es, summary_fr, summary_es,] description, kind, area,
                  other_areas, status, start_year, end_year, evidence, parent, countries, keywords, website,
                  iati_identifier, locations, organisations, sources
    organisation: id, name, acronym, aliases, type, country, website, identifier, leads_areas, evidence

`evidence` maps the fields whose basis is recorded (status, start_year, end_year; an organisation's name,
aliases, acronym, IATI identifier) to {basis: stated, source: N} or {basis: inferred, reason}; each role and each location
carries basis, source and reason itself (issue 18; core/validate.py _support). The French and Spanish
title and summary (issue 13) are keys only when they have a text: a record without them is as before.

Lists whose order carries no meaning are kept in one canonical order (see `canonical_order`): countries
and other_areas sorted, organisations (role entries {org, role}) by role order then org id. Locations,
sources and keywords keep their given order: the first location is the one a list shows, and a source's
place in the list is how editors refer to it.

`diff(before, after)` compares every field of two such records, down to each location's and each source's
keys, and returns FieldChanges with paths such as `title`, `locations[1].lat`, `sources[2].quote`,
`evidence.status`; `locations` / `sources` / `organisations` for items added or removed (a role whose basis
changed is one removed and one added). The import report, the dry run and
the history's `fields` column all come from it.
"""
import json
from dataclasses import dataclass

from .language import translated_field_names
from .validate import canonical_order  # noqa: F401  (defined next to clean_project, which applies it)

# title_fr, title_es, summary_fr, summary_es (core/language.py) are present only when the record has them
TRANSLATIONS = translated_field_names()
PROJECT_FIELDS = ("id", "title", "summary", *TRANSLATIONS, "description", "kind", "area", "other_areas", "status",
                  "start_year", "end_year", "evidence", "parent", "countries", "keywords", "website", "iati_identifier",
                  "locations", "organisations", "sources")
ORGANISATION_FIELDS = ("id", "name", "acronym", "aliases", "type", "country", "website", "identifier", "leads_areas",
                       "evidence")
# Lists of mappings compared item by item (an edited coordinate is `locations[1].lat`, not a new list)
ITEM_LISTS = ("locations", "sources")
# Lists compared as sets of entries: the change names what was added and what removed
SET_LISTS = ("organisations",)
# Mappings compared key by key: `evidence.start_year`
MAPPINGS = ("evidence",)
SHOWN_CHARS = 120   # a value longer than this is shortened in `describe` (and says how much is left out)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: `path` as above, `old` and `new` its values (None: absent). For `locations`,
    `sources` and `organisations` without an index, `old` lists the items removed and `new` those added."""
    path: str
    old: object
    new: object


def diff(before, after):
    """Every difference between two versions of a record (None: the record does not exist)."""
    before, after = before or {}, after or {}
    changes = []
    for key in dict.fromkeys([*before, *after]):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in ITEM_LISTS:
            changes += _item_changes(key, old or [], new or [])
        elif key in SET_LISTS:
            changes += _set_changes(key, old or [], new or [])
        elif key in MAPPINGS:
            changes += [FieldChange(f"{key}.{name}", (old or {}).get(name), (new or {}).get(name))
                        for name in dict.fromkeys([*(old or {}), *(new or {})])
                        if (old or {}).get(name) != (new or {}).get(name)]
        else:
            changes.append(FieldChange(key, old, new))
    return changes


def _item_changes(name, old, new):
    """locations[i].key for the items both lists hold; one `name` change for the items added or removed."""
    changes = []
    for i, (a, b) in enumerate(zip(old, new), 1):   # entries count from 1, as in every path we show
        for key in dict.fromkeys([*(a or {}), *(b or {})]):
            if (a or {}).get(key) != (b or {}).get(key):
                changes.append(FieldChange(f"{name}[{i}].{key}", (a or {}).get(key), (b or {}).get(key)))
    common = min(len(old), len(new))
    if len(old) != len(new):
        changes.append(FieldChange(name, old[common:], new[common:]))
    return changes


def _set_changes(name, old, new):
    removed = [entry for entry in old if entry not in new]
    added = [entry for entry in new if entry not in old]
    return [FieldChange(name, removed, added)] if removed or added else []


def _shown(value):
    if value is None:
        return "(none)"
    text = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    text = str(text) if text is not None else json.dumps(value, ensure_ascii=False)
    if len(text) > SHOWN_CHARS:
        return f"{text[:SHOWN_CHARS]}… ({len(text) - SHOWN_CHARS} more characters)"
    return text


def describe(change, record_id=None):
    """One line for a report: `planetgold-peru: locations[1].lat -9.26 -> -12.5`. For items added to or
    removed from a list: `planetgold-peru: locations removed [...] added [...]`."""
    prefix = f"{record_id}: " if record_id else ""
    if change.path in ITEM_LISTS + SET_LISTS:
        parts = [f"{word} {_shown(items)}" for word, items in (("removed", change.old), ("added", change.new))
                 if items]
        return f"{prefix}{change.path} {' '.join(parts)}"
    return f"{prefix}{change.path} {_shown(change.old)} -> {_shown(change.new)}"
