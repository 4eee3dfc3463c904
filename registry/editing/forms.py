"""Editor forms <-> records. Pure functions (no Flask, no database): a submitted form (anything with
`.get`, `.getlist` and `.keys`) becomes the raw mapping that validate.clean_project / clean_organisation
take - the same validation as the importer - and each validation message is placed next to its field.

Form field names: the record's own names (title, area, countries...) and numbered rows for lists:
loc-N-name|precision|lat|lon|country, org-N-org|role, src-N-document|section|quote.
"""
import re

from ..core import geo
from ..core.validate import fold

EXTRA_ROWS = 3
MAX_ROWS = 60
LISTS = {  # list name in records -> (form prefix, fields, fields that make a row non-blank)
    "locations": ("loc", ("name", "precision", "lat", "lon", "country"), ("name", "lat", "lon", "country")),
    "organisations": ("org", ("org", "role"), ("org",)),
    "sources": ("src", ("document", "section", "quote"), ("document", "section", "quote")),
}
PROJECT_TEXT = ("id", "title", "summary", "description", "kind", "area", "status", "start_year", "end_year",
                "parent", "website")
ORG_TEXT = ("id", "name", "acronym", "type", "website")


def split_list(text):
    """Values separated by semicolons or new lines."""
    return [part.strip() for part in re.split(r"[;\n]+", text or "") if part.strip()]


def slugify(text):
    return fold(text or "").replace(" ", "-")[:80].strip("-")


def lookup_countries(text):
    """Country names or codes (separated by ; or new lines; commas too, when each piece is a country)
    -> (ISO3 codes, the parts that are not countries)."""
    codes, unknown = [], []
    for part in split_list(text):
        found = [geo.lookup_country(part)]
        if found[0] is None and "," in part:
            found = [geo.lookup_country(piece) for piece in part.split(",") if piece.strip()]
        if None in found:
            unknown.append(part)
            continue
        codes += [c.iso3 for c in found if c.iso3 not in codes]
    return codes, unknown


def _country_error(part):
    return (f"'{part[:60]}' is not a country we know: use an ISO 3166-1 alpha-3 code (e.g. KEN) "
            "or the English name")


def row_numbers(form, prefix):
    found = set()
    for key in form.keys():
        m = re.match(rf"^{prefix}-(\d{{1,3}})-", key)
        if m:
            found.add(int(m.group(1)))
    return sorted(found)[:MAX_ROWS]


def _rows(form, name):
    prefix, fields, filled = LISTS[name]
    out = []
    for n in row_numbers(form, prefix):
        row = {f: (form.get(f"{prefix}-{n}-{f}") or "").strip() for f in fields}
        if any(row[f] for f in filled):
            out.append((n, row))
    return out


def project_from_form(form, resolve_orgs):
    """-> (raw project, {list name: [form row numbers in order]}, {field: [messages]}).
    `resolve_orgs(texts) -> {text: id or None}` maps organisation ids, names, acronyms and aliases."""
    errors = {}
    raw = {k: (form.get(k) or "").strip() for k in PROJECT_TEXT}
    raw["other_areas"] = form.getlist("other_areas")
    raw["keywords"] = split_list(form.get("keywords"))
    raw["countries"], unknown = lookup_countries(form.get("countries"))
    for part in unknown:
        errors.setdefault("countries", []).append(_country_error(part))
    rows = {name: [] for name in LISTS}
    raw["locations"], raw["organisations"], raw["sources"] = [], [], []
    for n, loc in _rows(form, "locations"):
        if loc["country"]:
            country = geo.lookup_country(loc["country"])
            if country is None:
                errors.setdefault(f"loc-{n}-country", []).append(_country_error(loc["country"]))
            loc["country"] = country.iso3 if country else None
        raw["locations"].append({k: (v or None) for k, v in loc.items()})
        rows["locations"].append(n)
    org_rows = _rows(form, "organisations")
    ids = resolve_orgs([r["org"] for _, r in org_rows])
    for n, r in org_rows:
        if ids.get(r["org"]) is None:
            errors.setdefault(f"org-{n}-org", []).append(
                f"no organisation is called '{r['org'][:60]}': use its id, name or acronym, "
                "or add it first (Editor › New organisation)")
            continue
        raw["organisations"].append({"org": ids[r["org"]], "role": r["role"]})
        rows["organisations"].append(n)
    for n, s in _rows(form, "sources"):
        raw["sources"].append({k: (v or None) for k, v in s.items()})
        rows["sources"].append(n)
    return raw, rows, errors


def organisation_from_form(form):
    """-> (raw organisation, {field: [messages]})."""
    errors = {}
    raw = {k: (form.get(k) or "").strip() for k in ORG_TEXT}
    raw["aliases"] = split_list(form.get("aliases"))
    raw["leads_areas"] = form.getlist("leads_areas")
    raw["country"] = None
    text = (form.get("country") or "").strip()
    if text:
        country = geo.lookup_country(text)
        if country is None:
            errors["country"] = [_country_error(text)]
        raw["country"] = country.iso3 if country else None
    return raw, errors


def place_errors(messages, rows=None, raw=None, found=None):
    """Validation messages ("title: is required", "locations[2].lat: ...", "project x: organisation 'y'
    does not exist") -> {form field name: [messages]}, added to `found`; what fits no field goes under
    "_form"."""
    rows, raw = rows or {name: [] for name in LISTS}, raw or {}
    out = {k: list(v) for k, v in (found or {}).items()}
    for message in messages:
        key, text = _field_of(str(message), rows, raw)
        out.setdefault(key, []).append(text)
    return out


def _field_of(message, rows, raw):
    m = re.match(r"^(locations|organisations|sources)\[(\d+)\](?:\.(\w+))?: (.*)$", message, re.S)
    if m:
        name, i, sub, text = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        numbers = rows.get(name, [])
        n = numbers[i - 1] if 0 < i <= len(numbers) else None
        if n is None:
            return name, text
        return (f"{LISTS[name][0]}-{n}-{sub}" if sub else f"{LISTS[name][0]}-{n}-{LISTS[name][1][0]}"), text
    m = re.match(r"^([a-z_]+)(?:\[\d+\])?: (.*)$", message, re.S)
    if m:
        return m.group(1), m.group(2)
    m = re.match(r"^(?:project|organisation) [^:]*: (.*)$", message, re.S)
    text = m.group(1) if m else message
    quoted = re.search(r"'([^']*)'", text)
    value = quoted.group(1) if quoted else None
    if text.startswith("organisation '"):
        for n, r in zip(rows.get("organisations", []), raw.get("organisations", [])):
            if r.get("org") == value:
                return f"org-{n}-org", text
        return "organisations", text
    if text.startswith("parent '"):
        return "parent", text
    if "country code" in text:
        if value in (raw.get("countries") or []):
            return "countries", text
        for n, loc in zip(rows.get("locations", []), raw.get("locations", [])):
            if loc.get("country") == value:
                return f"loc-{n}-country", text
        return "country", text
    if "duplicate id" in text:
        return "id", text
    return "_form", text


def project_values(record):
    """A stored project record -> (form values, {prefix: number of rows to show})."""
    values = {k: "" if record.get(k) is None else str(record[k]) for k in PROJECT_TEXT}
    values.update(parent=record.get("parent") or "", countries="; ".join(record.get("countries") or []),
                  keywords="; ".join(record.get("keywords") or []), other_areas=list(record.get("other_areas") or []))
    counts = {}
    for name, (prefix, fields, _) in LISTS.items():
        items = record.get(name) or []
        for n, item in enumerate(items, 1):
            for f in fields:
                values[f"{prefix}-{n}-{f}"] = "" if item.get(f) is None else str(item[f])
        counts[prefix] = len(items) + EXTRA_ROWS
    return values, counts


def organisation_values(record):
    values = {k: "" if record.get(k) is None else str(record[k]) for k in ORG_TEXT}
    values.update(country=record.get("country") or "", aliases="; ".join(record.get("aliases") or []),
                  leads_areas=list(record.get("leads_areas") or []))
    return values


def submitted_values(form, lists=("other_areas", "leads_areas")):
    """A submitted form -> (form values to show again, {prefix: number of rows to show})."""
    values = {k: form.get(k) for k in form.keys()}
    for name in lists:
        values[name] = form.getlist(name)
    counts = {prefix: max(row_numbers(form, prefix), default=0) or EXTRA_ROWS for prefix, _, _ in LISTS.values()}
    return values, counts
