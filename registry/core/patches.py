"""Changes to existing records, as a later source states them (geodata/updates/README.md). Pure: no I/O.

A change names one record and says what to `set` (fields replaced), `add` (items added to lists) and
`remove` (items taken out):

    {"project": "planetgold-bolivia", "set": {"status": "ongoing", "evidence": {"status": {...}}},
     "add": {"sources": [...], "organisations": [...]}, "remove": {"organisations": [{"org": .., "role": ..}]}}

`apply_change(record, change)` returns the whole record after the change (raw: core.validate checks it
next). Inside a change, `"source": N` counts the change's own added sources; they are renumbered to their
place in the record. A citation the record already has is not added again, an added role replaces the same
(org, role), an added location the one with the same name: applying a change twice changes nothing.
"""
import copy

from .language import translated_field_names
from .validate import EVIDENCE_FIELDS, ORG_EVIDENCE_FIELDS, Problem

SETTABLE = {
    "project": ("title", "summary", *translated_field_names(), "description", "kind", "area", "status", "start_year",
                "end_year", "website", "parent", "iati_identifier", "evidence"),
    "organisation": ("name", "acronym", "type", "country", "website", "identifier", "evidence"),
}
ADDABLE = {
    "project": ("sources", "organisations", "locations", "countries", "other_areas", "keywords"),
    "organisation": ("aliases", "leads_areas"),
}
REMOVABLE = {
    "project": ("organisations", "locations", "countries", "other_areas", "keywords"),
    "organisation": ("aliases", "leads_areas"),
}
CHANGE_KEYS = ("project", "organisation", "set", "add", "remove")
PAST = {"set": "set", "add": "added", "remove": "removed"}   # "cannot be added on a project"


def target(change):
    """(entity, id) a change names, or (None, None) when it names neither or both."""
    if not isinstance(change, dict):
        return None, None
    named = [(entity, change.get(entity)) for entity in ("project", "organisation") if change.get(entity)]
    return named[0] if len(named) == 1 and isinstance(named[0][1], str) else (None, None)


def check_change(change, where):
    """Problems with the shape of one change (what it may set, add and remove)."""
    if not isinstance(change, dict):
        return [Problem(where, "", "a change must be a mapping: {\"project\": id, \"set\": {...}, \"add\": {...}}")]
    entity, _ = target(change)
    problems = [Problem(where, key, f"is not part of a change; use: {', '.join(CHANGE_KEYS)}")
                for key in change if key not in CHANGE_KEYS]
    if entity is None:
        return problems + [Problem(where, "", "a change names one record: \"project\": id or \"organisation\": id")]
    for part, allowed in (("set", SETTABLE), ("add", ADDABLE), ("remove", REMOVABLE)):
        value = change.get(part) or {}
        if not isinstance(value, dict):
            problems.append(Problem(where, part, "must be a mapping of field names"))
            continue
        problems += [Problem(where, f"{part}.{key}", f"cannot be {PAST[part]} on {'an' if entity[0] == 'o' else 'a'} "
                             f"{entity}; the fields are: {', '.join(allowed[entity])}")
                     for key in value if key not in allowed[entity]]
        problems += [Problem(where, f"{part}.{key}", "must be a list") for key, items in value.items()
                     if part != "set" and key in allowed[entity] and not isinstance(items, list)]
    return problems


def apply_change(record, change, where="", keep=frozenset()):
    """(the record after `change`, problems): a new dict, `record` is left as it is. The change must pass
    check_change; the problems name a `source: N` that is not one of the change's own added sources.
    `keep`: fields a newer source has set since, left as they are (the newer source wins; its citations
    are still added, so applying an older change again changes nothing)."""
    entity, _ = target(change)
    out = copy.deepcopy(record)
    numbers = _add_sources(out, change.get("add") or {}) if entity == "project" else {}
    unknown = []
    values = {k: v for k, v in (change.get("set") or {}).items() if k not in keep}
    if isinstance(values.get("evidence"), dict):
        values["evidence"] = {k: v for k, v in values["evidence"].items() if k not in keep}
    _set(out, _renumbered(values, numbers, unknown), entity)
    for key, items in (change.get("add") or {}).items():
        if key != "sources" and key not in keep:
            out[key] = _added(key, out.get(key) or [], _renumbered(items, numbers, unknown))
    for key, items in (change.get("remove") or {}).items():
        if key not in keep:
            out[key] = [item for item in out.get(key) or [] if not any(_same(key, item, gone) for gone in items)]
    problems = [Problem(where, "source", f"there is no source {n} in this change: a change's `source: N` counts "
                                         f"the sources it adds (add.sources has {len(numbers)})")
                for n in dict.fromkeys(unknown)]
    return out, problems


def _add_sources(record, add):
    """Append the added citations the record lacks; {number in the change: number in the record}."""
    citations = record.setdefault("sources", [])
    numbers = {}
    for i, citation in enumerate(add.get("sources") or [], 1):
        found = next((n for n, c in enumerate(citations, 1) if _same_citation(c, citation)), None)
        if found is None:
            citations.append(dict(citation))
            found = len(citations)
        numbers[i] = found
    return numbers


def _same_citation(a, b):
    return isinstance(b, dict) and a.get("quote") == b.get("quote") and a.get("document") == b.get("document")


def _set(record, values, entity):
    evidence = dict(record.get("evidence") or {})
    for key, value in values.items():
        if key != "evidence":
            record[key] = value
            evidence.pop(key, None)    # its basis is the new source's (below), or none
    given = values.get("evidence")
    evidence.update(given if isinstance(given, dict) else {})
    fields = EVIDENCE_FIELDS if entity == "project" else ORG_EVIDENCE_FIELDS
    record["evidence"] = {k: v for k, v in evidence.items() if k not in fields or record.get(k) not in (None, [])}


def _renumbered(value, numbers, unknown):
    """`source: N` (a number of the change's own citations) -> the citation's number in the record; the
    numbers that are not the change's go to `unknown`."""
    if isinstance(value, list):
        return [_renumbered(v, numbers, unknown) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _renumbered(v, numbers, unknown) for k, v in value.items()}
    number = value.get("source")
    if isinstance(number, int) and not isinstance(number, bool):
        if number not in numbers:
            unknown.append(number)
        out["source"] = numbers.get(number, number)
    return out


def _added(key, current, items):
    kept = [item for item in current if not any(_same(key, item, new) for new in items)]
    return kept + [item for i, item in enumerate(items) if not any(_same(key, item, x) for x in items[:i])]


def _same(key, item, other):
    """Whether `other` names the same entry of list `key` as `item`: a role by org and role, a location by
    name, a word by itself."""
    if key == "organisations":
        return isinstance(other, dict) and (item.get("org"), item.get("role")) == (other.get("org"), other.get("role"))
    if key == "locations":
        return isinstance(other, dict) and item.get("name") == other.get("name")
    return item == other
