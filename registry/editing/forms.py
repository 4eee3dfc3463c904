"""Editor forms <-> records. Pure functions (no Flask, no database): a submitted form (anything with
`.get`, `.getlist` and `.keys`) becomes the raw mapping that validate.clean_project / clean_organisation
take - the same validation as the importer - and each validation Problem is placed next to the field
its path names.

Form field names: the record's own names (title, area, countries...) and numbered rows for lists:
loc-N-name|precision|lat|lon|country|region|coords_source|gazetteer_id|basis|source|reason (region: a region code
or name, for precision region; left empty, the location's name is looked up),
org-N-org|role|basis|source|reason, src-N-document|section|quote (the document: the id of a source record, chosen
from a list); the basis of the status and the years: ev-status|start_year|end_year-basis|source|reason (an
organisation's inferred names and where its IATI identifier is published: ev-name|aliases|acronym|identifier-reason). A source record's form: its own field names
(core/sources.py SOURCE_FIELDS).
Every value's basis (issue 18) is shown and sent back, so that saving a form never loses it.
"""
import re

from ..core import geo
from ..core.language import ENGLISH, N_, translated_field_names
from ..core.sources import REPORT_SOURCE_ID, SOURCE_FIELDS
from ..core.validate import AREAS, EVIDENCE_FIELDS, ORG_EVIDENCE_FIELDS, Problem, canonical_order, fold, split_path

EXTRA_ROWS = 3
LISTS = {  # list name in records -> (form prefix, fields, fields that make a row non-blank)
    "locations": ("loc", ("name", "precision", "lat", "lon", "country", "region", "coords_source", "gazetteer_id",
                          "basis", "source", "reason"), ("name", "lat", "lon", "country", "region")),
    "organisations": ("org", ("org", "role", "basis", "source", "reason"), ("org",)),
    "sources": ("src", ("document", "section", "quote"), ("section", "quote")),
}
PROJECT_TEXT = ("id", "title", "summary", "description", "kind", "area", "status", "start_year", "end_year",
                "parent", "website", "iati_identifier", *translated_field_names())   # title_fr...: issue 13
ORG_TEXT = ("id", "name", "acronym", "type", "website", "identifier")
SUPPORT = ("basis", "source", "reason")
# the form fields of a project's `evidence` (ev-status-basis...) and of an organisation's (ev-name-reason...)
EVIDENCE_CELLS = tuple(f"ev-{name}-{key}" for name in EVIDENCE_FIELDS for key in SUPPORT)
ORG_EVIDENCE_CELLS = tuple(f"ev-{name}-reason" for name in ORG_EVIDENCE_FIELDS)


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


def _country_error(part, words=ENGLISH):
    return words.gettext("'%(value)s' is not a country we know: use an ISO 3166-1 alpha-3 code (e.g. KEN) or the "
                         "English name") % {"value": part[:60]}


def row_numbers(form, prefix):
    found = set()
    for key in form.keys():
        m = re.match(rf"^{prefix}-(\d{{1,5}})-", key)
        if m:
            found.add(int(m.group(1)))
    return sorted(found)   # every row: validation names a list over its limit (core.validate.MAX_ITEMS)


def _rows(form, name):
    prefix, fields, filled = LISTS[name]
    out = []
    for n in row_numbers(form, prefix):
        row = {f: (form.get(f"{prefix}-{n}-{f}") or "").strip() for f in fields}
        # a source row's document is a list whose default is the report: only another choice fills the row
        chosen = name == "sources" and row["document"] not in ("", REPORT_SOURCE_ID)
        if chosen or any(row[f] for f in filled):
            out.append((n, row))
    return out


def project_from_form(form, resolve_orgs, source_ids=None, words=ENGLISH):
    """-> (raw project, {list name: [form row numbers in order]}, {field: [messages]}).
    `resolve_orgs(texts) -> {text: id or None}` maps organisation ids, names, acronyms and aliases;
    `source_ids`: the ids of the source records a citation may name (None: not checked here); `words`: the
    language of the messages (gettext's interface)."""
    errors = {}
    raw = {k: (form.get(k) or "").strip() for k in PROJECT_TEXT}
    raw["other_areas"] = form.getlist("other_areas")
    raw["keywords"] = split_list(form.get("keywords"))
    raw["countries"], unknown = lookup_countries(form.get("countries"))
    for part in unknown:
        errors.setdefault("countries", []).append(_country_error(part, words))
    rows = {name: [] for name in LISTS}
    raw["locations"], raw["organisations"], raw["sources"] = [], [], []
    for n, loc in _rows(form, "locations"):
        if loc["country"]:
            country = geo.lookup_country(loc["country"])
            if country is None:
                errors.setdefault(f"loc-{n}-country", []).append(_country_error(loc["country"], words))
            loc["country"] = country.iso3 if country else None
        raw["locations"].append({k: (v or None) for k, v in loc.items()})
        rows["locations"].append(n)
    for entry in _organisation_entries(form, resolve_orgs, errors, words):
        raw["organisations"].append({k: entry[k] or None for k in ("org", "role", *SUPPORT)})
        rows["organisations"].append(entry["row"])
    raw["evidence"] = _evidence_from_form(form)
    for n, s in _rows(form, "sources"):
        if source_ids is not None and s["document"] not in source_ids:
            errors.setdefault(f"src-{n}-document", []).append(unknown_source_message(s["document"], words))
        raw["sources"].append({k: (v or None) for k, v in s.items()})
        rows["sources"].append(n)
    return raw, rows, errors


def unknown_source_message(document, words=ENGLISH):
    if not document:
        return words.gettext("choose the source this citation comes from")
    return words.gettext("'%(value)s' is not a source of the registry: choose one from the list, or add it first "
                         "(Editor › New source) and then choose it") % {"value": document[:80]}


def document_choices(sources, current=(), words=ENGLISH):
    """The options of a citation's document: (id, label) of each source record, newest first after the
    report (the default); a current value that is no source record (a proposal's free text, a source
    deleted meanwhile) stays listed, marked, so the form shows what was sent next to its error."""
    ids = {s["id"] for s in sources}
    newest_first = sorted(sources, key=lambda s: s.get("date") or s.get("consulted") or "", reverse=True)
    ordered = sorted(newest_first, key=lambda s: s["id"] != REPORT_SOURCE_ID)
    undated = words.gettext("undated")
    out = [(s["id"], f"{s['id']}: {_short(s['title'])} ({s.get('date') or s.get('consulted') or undated})")
           for s in ordered]
    out += [(value, words.gettext("%(value)s (not a source record: choose one)") % {"value": _short(value)})
            for value in dict.fromkeys(current) if value and value not in ids]
    return out


def _short(text, limit=40):
    """A title short enough for a select inside a table row."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"



def _organisation_entries(form, resolve_orgs, errors, words=ENGLISH):
    """The organisation rows that name a known organisation, in the order of the validated record
    (canonical_order), so that a Problem's organisations[i] is the i-th entry: [{org, role, basis, source,
    reason, row}]. A role listed twice stays twice: validation keeps one of two equal rows, and names two
    that disagree on the basis (neither is dropped unseen)."""
    org_rows = _rows(form, "organisations")
    ids = resolve_orgs([r["org"] for _, r in org_rows])
    entries = []
    for n, r in org_rows:
        if ids.get(r["org"]) is None:
            errors.setdefault(f"org-{n}-org", []).append(words.gettext(
                "no organisation is called '%(value)s': use its id, name or acronym, or add it first (Editor › New "
                "organisation)") % {"value": r["org"][:60]})
        else:
            entries.append(dict(r, org=ids[r["org"]], row=n))
    return canonical_order({"countries": [], "other_areas": [], "organisations": entries})["organisations"]


def _evidence_from_form(form):
    """{field: {basis, source, reason}} from the ev-* fields that are filled in (validation checks them)."""
    out = {}
    for name in EVIDENCE_FIELDS:
        entry = {key: (form.get(f"ev-{name}-{key}") or "").strip() for key in SUPPORT}
        if any(entry.values()):
            out[name] = {key: value for key, value in entry.items() if value}
    return out


SOURCE_TEXT = tuple(name for name in SOURCE_FIELDS if name != "kind")


def source_from_form(form):
    """-> raw source record (core.sources.clean_source validates it; its problems name these fields)."""
    raw = {k: (form.get(k) or "").strip() or None for k in SOURCE_TEXT}
    raw["kind"] = (form.get("kind") or "").strip() or None
    return raw


def source_values(record):
    return {k: "" if record.get(k) is None else str(record[k]) for k in SOURCE_FIELDS}


def organisation_from_form(form, words=ENGLISH):
    """-> (raw organisation, {field: [messages]})."""
    errors = {}
    raw = {k: (form.get(k) or "").strip() for k in ORG_TEXT}
    raw["aliases"] = split_list(form.get("aliases"))
    raw["leads_areas"] = form.getlist("leads_areas")
    raw["evidence"] = {name: {"basis": "inferred", "reason": reason} for name in ORG_EVIDENCE_FIELDS
                       if (reason := (form.get(f"ev-{name}-reason") or "").strip())}
    raw["country"] = None
    text = (form.get("country") or "").strip()
    if text:
        country = geo.lookup_country(text)
        if country is None:
            errors["country"] = [_country_error(text, words)]
        raw["country"] = country.iso3 if country else None
    return raw, errors


# --- validation problems -> form fields ------------------------------------------------------------

# the fields of each form in page order ("loc", "org", "src": their numbered rows), so that problems on
# fields a form does not show go to its summary, and the summary follows the page
PROJECT_FORM = ("id", "title", "summary", "description", "area", "kind", "status", "start_year", "end_year",
                *EVIDENCE_CELLS, "other_areas", "parent", "website", "iati_identifier", "keywords",
                *translated_field_names(), "countries", "loc",
                "org", "src")
ORG_FORM = ("id", "name", "acronym", "aliases", *(c for c in ORG_EVIDENCE_CELLS if c != "ev-identifier-reason"), "type",
            "country", "website", "identifier", "ev-identifier-reason", "leads_areas")   # the identifier, then its source
SOURCE_FORM = ("id", "title", "publisher", "date", "consulted", "kind", "url", "reference", "language")
# The words of each field's label, in English, marked for the catalogs (issue 13): field_label translates them
LABELS = {"id": N_("Id"), "title": N_("Title"), "summary": N_("Summary"), "description": N_("Description"),
          "area": N_("Main partnership area"), "kind": N_("Kind"), "status": N_("Status"),
          "start_year": N_("Start year"), "end_year": N_("End year"), "other_areas": N_("Other areas it touches"),
          "parent": N_("Part of"), "website": N_("Website"), "keywords": N_("Keywords"), "countries": N_("Countries"),
          "name": N_("Name"), "acronym": N_("Acronym"), "aliases": N_("Other names"), "type": N_("Type"),
          "country": N_("Country"), "leads_areas": N_("Leads or co-leads these partnership areas"),
          "locations": N_("Locations"), "organisations": N_("Organisations"), "sources": N_("Sources"),
          "evidence": N_("Basis"), "publisher": N_("Publisher"), "date": N_("Published"), "consulted": N_("Consulted"),
          "url": N_("Address (URL)"), "reference": N_("Reference"), "language": N_("Language"),
          "identifier": N_("IATI identifier"),
          "iati_identifier": N_("IATI identifier"),
          "title_fr": N_("French title"), "title_es": N_("Spanish title"), "summary_fr": N_("French summary"),
          "summary_es": N_("Spanish summary")}
# the basis of a project's status and years (one msgid per label: "Status basis" is not "Status" + "basis")
LABELS.update({
    "ev-status-basis": N_("Status basis"), "ev-status-source": N_("Status source"),
    "ev-status-reason": N_("Status reason"), "ev-start_year-basis": N_("Start year basis"),
    "ev-start_year-source": N_("Start year source"), "ev-start_year-reason": N_("Start year reason"),
    "ev-end_year-basis": N_("End year basis"), "ev-end_year-source": N_("End year source"),
    "ev-end_year-reason": N_("End year reason"),
    "ev-name-reason": N_("Why the name is inferred"), "ev-aliases-reason": N_("Why the other names are inferred"),
    "ev-acronym-reason": N_("Why the acronym is inferred"),
    "ev-identifier-reason": N_("Where the IATI identifier is published"),   # never in a report: always inferred
})
# a cell of a numbered row: "Location 5 latitude" (as the rows' aria-labels); the cell's word in lower case
ROW_LABELS = {"loc": N_("Location %(number)s %(cell)s"), "org": N_("Organisation %(number)s %(cell)s"),
              "src": N_("Source %(number)s %(cell)s")}
ROW_ONLY_LABELS = {"loc": N_("Location %(number)s"), "org": N_("Organisation %(number)s"),
                   "src": N_("Source %(number)s")}
CELL_LABELS = {"lat": N_("latitude"), "lon": N_("longitude"), "org": "", "coords_source": N_("point from"),
               "name": N_("name"), "precision": N_("precision"), "country": N_("country"), "region": N_("region"),
               "gazetteer_id": N_("gazetteer id"), "basis": N_("basis"), "source": N_("source"),
               "reason": N_("reason"), "role": N_("role"), "document": N_("document"), "section": N_("section"),
               "quote": N_("quote")}
LISTS_BY_PREFIX = {prefix: cells for prefix, cells, _ in LISTS.values()}
ROW_NAME_RE = re.compile(r"^(loc|org|src)-(\d+)-([a-z_]+)$")


def shown(order, mode):
    """The fields a form shows in `mode`: an existing record's id is not editable."""
    return tuple(name for name in order if not (mode == "edit" and name == "id"))


def place_errors(problems, rows=None, found=None, fields=None, words=ENGLISH):
    """Validation Problems -> {form field name: [messages]}, added to `found`. A Problem's field path
    picks the form field ("locations[2].lat" -> "loc-5-lat" when the record's 2nd location came from
    form row 5: `rows` as project_from_form returns them); a list as a whole goes to its first row.
    What fits no field of the form (`fields`: PROJECT_FORM, ORG_FORM...; None: any) goes under "_form",
    labelled. Plain strings are messages about the whole form. Messages are in the language of `words`
    (Problem.message_in), each a FieldMessage."""
    rows = rows or {}
    out = {k: list(v) for k, v in (found or {}).items()}
    for problem in problems:
        if not isinstance(problem, Problem):
            problem = Problem("", "", str(problem))
        message = field_message(problem, words)
        name = _field_of(problem.field, rows, fields)
        if name is None:
            out.setdefault("_form", []).append(_labelled(problem, message, words))
        else:
            out.setdefault(name, []).append(message)
    return out


class FieldMessage(str):
    """A message shown next to a field. `needs_label`: it names no subject ("is required"), so the form puts the
    field's label in front of it (editor/_fields.html); decided on the English, whatever the language shown."""
    needs_label = False


def field_message(problem, words=ENGLISH):
    """A Problem's message for a form, in the language of `words`, partnership areas named by their labels."""
    if problem.template:
        params = problem.params and {key: readable_areas(words) if value == AREA_CODES else value
                                     for key, value in problem.params.items()}
        text = words.gettext(problem.template) % params if params else words.gettext(problem.template)
    else:
        text = readable(problem.message)
    message = FieldMessage(text)
    message.needs_label = problem.message.startswith(("is ", "must ", "has "))
    return message


AREA_CODES = ", ".join(AREAS)


def readable(message):
    """A message for people: partnership areas named as the form lists them, not by their codes
    (validation, shared with the importer, lists the codes a file must use)."""
    return message.replace(AREA_CODES, "; ".join(AREAS.values()))


def readable_areas(words=ENGLISH):
    """The partnership areas of AREA_CODES named by their labels, in the language of `words`."""
    return "; ".join(words.gettext(label) for label in AREAS.values())


def _field_of(path, rows, fields):
    """A Problem's field path -> the name of the form field showing it, or None."""
    if not path:
        return None
    if path.startswith("evidence."):
        return _evidence_field(path, fields)
    name, index, sub = split_path(path)
    if name in LISTS:
        return _row_field(name, index, sub, rows, fields)
    return name if fields is None or name in fields else None


def _evidence_field(path, fields):
    """"evidence.status.source" -> "ev-status-source"; an entry as a whole goes to its basis (a project's) or
    its reason (an organisation's: only inferred names are marked)."""
    _, name, *sub = path.split(".") + [""]
    for key in (sub[0], "basis", "reason"):
        cell = f"ev-{name}-{key}"
        if key and (fields is None or cell in fields):
            return cell
    return None


def _row_field(name, index, sub, rows, fields):
    prefix, cells, _ = LISTS[name]
    numbers = rows.get(name) or []
    if fields is not None and prefix not in fields:
        return None
    if index is None:                       # the list as a whole: shown at its first row
        return f"{prefix}-{numbers[0] if numbers else 1}-{cells[0]}"
    if not 0 < index <= len(numbers) or (sub or cells[0]) not in cells:
        return None
    return f"{prefix}-{numbers[index - 1]}-{sub or cells[0]}"


def _labelled(problem, message, words=ENGLISH):
    """A message about a field the form does not show, with the field's name: "Locations (entry 2, lat): ..."."""
    if not problem.field:
        return message
    name, index, sub = split_path(problem.field)
    label = words.gettext(LABELS[name]) if name in LABELS else name.replace("_", " ").capitalize()
    if index is None:
        return words.gettext("%(label)s: %(message)s") % {"label": label, "message": message}
    if sub:
        return (words.gettext("%(label)s (entry %(number)s, %(part)s): %(message)s")
                % {"label": label, "number": index, "part": sub, "message": message})
    return (words.gettext("%(label)s (entry %(number)s): %(message)s")
            % {"label": label, "number": index, "message": message})


def field_label(name, labels=None, words=ENGLISH):
    """A form field name -> the words its label shows ("loc-5-lat" -> "Location 5 latitude"), in the language
    of `words`. `labels`: a form's own labels (English, marked for the catalogs), before LABELS."""
    if labels and name in labels:
        return words.gettext(labels[name])
    m = ROW_NAME_RE.match(name)
    if m:
        prefix, number, cell = m.groups()
        if cell in CELL_LABELS and not CELL_LABELS[cell]:
            return words.gettext(ROW_ONLY_LABELS[prefix]) % {"number": number}
        cell = words.gettext(CELL_LABELS[cell]) if cell in CELL_LABELS else cell.replace("_", " ")
        return words.gettext(ROW_LABELS[prefix]) % {"number": number, "cell": cell}
    return words.gettext(LABELS[name]) if name in LABELS else name.replace("_", " ").capitalize()


def error_summary(errors, order=(), labels=None, words=ENGLISH):
    """{form field name: [messages]} -> the form's error summary in page order: a list of
    {"field": the name to link to (None for "_form"), "label", "message"}, labels in the language of `words`."""
    return [{"field": None if name == "_form" else name,
             "label": "" if name == "_form" else field_label(name, labels, words), "message": message}
            for name in sorted(errors, key=lambda name: _page_position(name, order)) for message in errors[name]]



def _page_position(name, order):
    """Where a field sits on the page: form-level first, then by `order`, row number and column."""
    m = ROW_NAME_RE.match(name)
    if not m:
        return (name != "_form", order.index(name) if name in order else len(order), 0, 0)
    prefix, number, cell = m.group(1), int(m.group(2)), m.group(3)
    cells = LISTS_BY_PREFIX[prefix]
    return (True, order.index(prefix) if prefix in order else len(order), number,
            cells.index(cell) if cell in cells else len(cells))


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
    for name, entry in (record.get("evidence") or {}).items():
        values.update({f"ev-{name}-{key}": str(entry[key]) for key in SUPPORT if entry.get(key) is not None})
    return values, counts


def organisation_values(record):
    values = {k: "" if record.get(k) is None else str(record[k]) for k in ORG_TEXT}
    values.update(country=record.get("country") or "", aliases="; ".join(record.get("aliases") or []),
                  leads_areas=list(record.get("leads_areas") or []))
    values.update({f"ev-{name}-reason": entry.get("reason") or "" for name, entry in (record.get("evidence") or {}).items()})
    return values


def submitted_values(form, lists=("other_areas", "leads_areas")):
    """A submitted form -> (form values to show again, {prefix: number of rows to show})."""
    values = {k: form.get(k) for k in form.keys()}
    for name in lists:
        values[name] = form.getlist(name)
    counts = {prefix: max(row_numbers(form, prefix), default=0) or EXTRA_ROWS for prefix, _, _ in LISTS.values()}
    return values, counts
