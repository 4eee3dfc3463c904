"""IATI activity files in (issue 14, "Import"): an `iati-activities` file, version 2.03 -> a readers.Batch of
raw projects, organisations and one source record per publisher, for exchange/apply.py to check and write.

Two steps, in this order:
1. the file against the IATI 2.03 schema (the project's copy in geodata/iati/): every problem with its line
   number, nothing mapped before the file is valid;
2. the mapping (docs/iati.md, "Import"), first as if the registry were empty (`read_iati`), then against the
   stored records (`match_stored`): an activity whose iati-identifier a stored project has updates that
   project (same id, the registry's own area, kind, keywords and other citations kept); organisations are
   matched by identifier (`ref`), then by name, acronym or alias (core fold), else created.

Every project cites the file: one source record per reporting-org (kind `database`, dated by the file's
generated-datetime), quoted by the activity's title, its section the iati-identifier.
"""
import functools
from dataclasses import dataclass, field

from lxml import etree

from ..core import geo, regions
from ..core.language import N_, OTHER_LANGUAGES, translated_field, translated_field_names
from ..core.validate import PRECISIONS, SLUG_RE, Problem, ValidationError, fold, problem
from ..store import db as storage
from ..store import editing as store_editing
from . import iati      # the export side: shared codelists, the schema's path, validate_activities
from .readers import MAX_ROWS, Batch, record_keys

XML_LANG = iati.XML_LANG
TRANSLATED = translated_field_names()   # title_fr, title_es, summary_fr, summary_es (issue 13)
REG = iati.registry_attr     # the registry's own attributes on an export: the exact role, status, precision...

# IATI OrganisationRole -> the registry's role: the inverse of the export's table, and 3 Extending (which the
# export never writes) as partner; registry:role, when present, tells a partner (also 4) apart
ROLES = {**iati.ROLE_OF_CODE, "3": "partner"}
# IATI ActivityStatus -> status (registry:status, when present, tells proposed from planned). 5 Cancelled has
# no registry status: a file saying so is refused with a message
STATUSES = {"1": "planned", "2": "ongoing", "3": "completed", "4": "completed", "6": "postponed"}
# IATI OrganisationType -> organisation type (new organisations only; a matched one keeps its own)
ORG_TYPES = {"10": "government", "11": "government", "15": "government", "40": "igo", "21": "ngo", "22": "ngo",
             "23": "ngo", "24": "ngo", "60": "ngo", "70": "industry", "71": "industry", "72": "industry",
             "73": "industry", "80": "academia", "30": "other", "90": "other"}
# ActivityDateType: 1 planned start, 2 actual start, 3 planned end, 4 actual end (the actual date wins)
START_DATES, END_DATES = ("2", "1"), ("4", "3")
# IATI has no partnership area or kind. DAC 5-digit sectors (vocabulary 1) that name one of the registry's
# areas; any other sector (or none) gives `cross-cutting`, and every imported project is of kind `project`
SECTOR_AREAS = {"14050": "waste", "32261": "coal", "32265": "asgm"}
DEFAULT_AREA, DEFAULT_KIND = "cross-cutting", "project"
# RegionVocabulary 1 (OECD DAC, the default when none is given) codes with a UN M49 equivalent
DAC_REGIONS = {"89": "150", "189": "015", "289": "202", "298": "002", "489": "005", "498": "019",
               "619": "143", "679": "034", "798": "142", "889": "009"}
EXACT, PLACE_CLASSES = "1", ("2", "3")      # GeographicExactness 1 exact; LocationClass 2 populated place, 3 structure
COUNTRY_FEATURES = ("PCL", "PCLI", "PCLD", "PCLF", "PCLS", "PCLIX")   # GeoNames feature codes of a country
REGION_FEATURES = ("CONT", "RGN")                                    # a continent, a region
SRS_4326 = iati.SRS_WGS84


# --- step 1: the schema --------------------------------------------------------------------------------

def _parse(data):
    try:
        return iati.parse_activities(data)
    except etree.XMLSyntaxError as exc:
        # (lxml's own words stay English)
        raise ValidationError([problem(f"line {exc.lineno}", "", N_("the file is not well-formed XML: %(reason)s; "
                                                                    "fix the file's XML"), reason=exc.msg)]) from None


def _checked_tree(data):
    data = data.encode("utf-8") if isinstance(data, str) else data
    tree = _parse(data)
    root = tree.getroot()
    if root.tag != "iati-activities":
        raise ValidationError([problem(f"line {root.sourceline}", "", N_(
            "the root element is <%(tag)s>: an IATI activity file's is <iati-activities> (IATI organisation files "
            "are not read); export the activities as IATI 2.03 activity XML"), tag=str(root.tag))])
    if root.get("version") != "2.03":
        raise ValidationError([problem(f"line {root.sourceline}", "version", N_(
            "is '%(version)s': the registry reads IATI version 2.03 files; convert the file to 2.03 first"),
            version=str(root.get("version")))])
    problems = iati.validate_activities(data)     # the same schema check as the export's tests
    if problems:
        raise ValidationError(problems)
    if len(root) > MAX_ROWS:
        raise ValidationError([problem("", "", N_("the file has %(count)s activities; the maximum is %(limit)s: "
                                                  "split it"), count=len(root), limit=MAX_ROWS)])
    return root


# --- step 2: the activities as they are in the file ------------------------------------------------------

@dataclass
class OrgRef:
    """A participating-org as the file gives it."""
    ref: str | None
    name: str | None
    type: str | None
    where: str
    registry_id: str | None = None     # registry:org of the registry's own export: the id to create it under


@dataclass
class Activity:
    where: str                     # "line 12 (activity XM-DAC-...)"
    identifier: str
    publisher: str                 # the source id of its reporting-org's file record
    publisher_ref: str             # the reporting-org's identifier
    raw: dict                      # the project's fields the file gives
    roles: list = field(default_factory=list)   # (OrgRef, role)


@dataclass
class IatiBatch(Batch):
    """A Batch that still knows the file's activities, to map them again against the stored records."""
    activities: list = ()


class _Reader:
    """Reads the activities of one valid file, collecting every problem with its line."""

    def __init__(self, root):
        self.lang = root.get(XML_LANG) or "en"
        self.generated = root.get("generated-datetime")
        self.problems = []
        self.publishers = {}       # source id -> source record

    def problem(self, element, field_, message, activity=None):
        where = f"line {element.sourceline}" + (f" (activity {activity})" if activity else "")
        self.problems.append(Problem(where, field_, message))

    def text(self, element, lang, fallback=True):
        """The narrative of `element` in `lang` (a narrative without xml:lang is in the file's language),
        else (`fallback`) its first one; None when it has none. Narratives in other languages are not kept
        (docs/iati.md), but for the French and Spanish title and summary (`translations`)."""
        if element is None:
            return None
        narratives = [(n.get(XML_LANG) or self.lang, (n.text or "").strip()) for n in element.findall("narrative")]
        narratives = [(lang_, text) for lang_, text in narratives if text]
        chosen = [text for lang_, text in narratives if lang_ == lang] or [text for _, text in narratives if fallback]
        return chosen[0] if chosen else None

    def translations(self, element, field_, lang):
        """{title_fr: ..., title_es: ...}: the narratives of `element` in French and Spanish (issue 13), those it
        has, when the activity itself is in another language (its own language's text is `field_`)."""
        if element is None:
            return {}
        out = {}
        for n in element.findall("narrative"):
            text, in_lang = (n.text or "").strip(), n.get(XML_LANG) or self.lang
            if text and in_lang in OTHER_LANGUAGES and in_lang != lang:
                out.setdefault(translated_field(field_, in_lang), text)
        return out

    def activity(self, element):
        identifier = (element.findtext("iati-identifier") or "").strip()
        if not identifier:
            self.problem(element.find("iati-identifier"), "iati-identifier", "is empty: every activity needs its "
                         "IATI identifier (the publisher's organisation identifier, a hyphen, its own code)")
            return None
        lang = element.get(XML_LANG) or self.lang
        where = f"line {element.sourceline} (activity {identifier})"
        title = self.text(element.find("title"), lang)
        raw = {"iati_identifier": identifier, "title": title, **self.translations(element.find("title"), "title", lang),
               **self._descriptions(element, lang),
               "kind": DEFAULT_KIND, **self._areas(element), "status": self._status(element, identifier),
               **self._years(element), "countries": self._countries(element, identifier)}
        raw["locations"] = self._locations(element, lang, raw["countries"], identifier)
        reporting = element.find("reporting-org")
        activity = Activity(where, identifier, self._publisher(reporting, lang), reporting.get("ref").strip(), raw)
        roles = (self._role(e, lang, identifier) for e in element.findall("participating-org"))
        activity.roles = [r for r in roles if r]
        return activity

    def _publisher(self, element, lang):
        """The source record of this reporting-org's file (one per publisher in a file)."""
        ref, name = element.get("ref").strip(), self.text(element, lang) or element.get("ref")
        date = (self.generated or "")[:10]
        source_id = _slug(f"iati-{ref}-{date}")
        self.publishers.setdefault(source_id, {
            "id": source_id, "title": f"IATI activity file of {name}", "publisher": name, "date": date or None,
            "reference": f"IATI 2.03 activity file, reporting-org {ref}, generated {self.generated}",
            "kind": "database"})
        if not date:
            self.problem(element.getparent().getparent(), "generated-datetime", "is missing: the registry dates the "
                         "file's source record by it; add generated-datetime=\"YYYY-MM-DDThh:mm:ssZ\" to "
                         "<iati-activities>")
        return source_id

    def _descriptions(self, element, lang):
        """description: the general descriptions (type 1, or no type), one paragraph each; summary: the one
        the registry's export marks registry:field="summary". Other types (objectives, target groups) are
        not read (docs/iati.md)."""
        out, translations = {"description": [], "summary": []}, {}
        for d in element.findall("description"):
            name = d.get(REG("field"))
            if name == "summary":   # the registry's own: its French and Spanish narratives are summary_fr, _es
                translations.update(self.translations(d, name, lang))
            if name in out or d.get("type") in (None, iati.DESCRIPTION_GENERAL):
                # (a summary with French and Spanish narratives only has no English one)
                out[name if name in out else "description"].append(self.text(d, lang, fallback=name != "summary"))
        return {**{name: "\n\n".join(t for t in texts if t) or None for name, texts in out.items()}, **translations}

    def _areas(self, element):
        found = [_sector_area(s) for s in element.findall("sector")]
        found = [area for area in found if area]
        found = list(dict.fromkeys(found))
        return {"area": found[0] if found else DEFAULT_AREA, "other_areas": found[1:]}

    def _status(self, element, identifier):
        status = element.find("activity-status")
        code = status.get("code")
        if status.get(REG("status")) in iati.STATUS_CODES and iati.STATUS_CODES[status.get(REG("status"))] == code:
            return status.get(REG("status"))
        if code not in STATUSES:
            self.problem(status, "activity-status", f"code '{code}' has no status in the registry (it knows 1 "
                         "Pipeline, 2 Implementation, 3 Finalisation, 4 Closed, 6 Suspended; 5 Cancelled is not "
                         "kept): leave the activity out of the file", identifier)
        return STATUSES.get(code)

    def _years(self, element):
        dates = {d.get("type"): d.get("iso-date")[:4] for d in element.findall("activity-date")}
        start = next((dates[t] for t in START_DATES if t in dates), None)
        end = next((dates[t] for t in END_DATES if t in dates), None)
        return {"start_year": start, "end_year": end}

    def _countries(self, element, identifier):
        out = []
        for c in element.findall("recipient-country"):
            country = _by_iso2().get((c.get("code") or "").upper())
            if country is None:
                self.problem(c, "recipient-country", f"'{c.get('code')}' is not an ISO 3166-1 alpha-2 country code "
                             "the registry knows (e.g. KE for Kenya)", identifier)
            elif country.iso3 not in out:
                out.append(country.iso3)
        return out

    def _regions(self, element, identifier, given=()):
        """Region locations of the recipient-regions that no <location> already is."""
        out = []
        for r in element.findall("recipient-region"):
            vocabulary, code = r.get("vocabulary") or "1", (r.get("code") or "").strip()
            m49 = code.zfill(3) if vocabulary == "2" else DAC_REGIONS.get(code) if vocabulary == "1" else None
            region = regions.get_region(m49) if m49 else None
            if region is None:
                self.problem(r, "recipient-region", f"code '{code}' (vocabulary {vocabulary}) is not a UN M49 "
                             "region the registry knows: use vocabulary 2 (UN M49) with a region code such as "
                             "002 (Africa) or 419 (Latin America and the Caribbean)", identifier)
            elif region.code not in given and _region_location(region) not in out:
                out.append(_region_location(region))
        return out

    def _locations(self, element, lang, countries, identifier):
        places = [self._location(e, lang, countries, identifier) for e in element.findall("location")]
        places = [p for p in places if p]
        places += self._regions(element, identifier, {p.get("region") for p in places})
        if places:
            return places
        if countries:   # no place more precise than the recipient countries: each country is a place
            return [{"name": geo.country_name(c), "precision": "country", "country": c} for c in countries]
        return [{"name": "Global", "precision": "global"}]

    def _location(self, e, lang, countries, identifier):
        name = self.text(e.find("name"), lang)
        if not name:
            self.problem(e, "location", "has no <name> narrative: the registry names every place; add "
                         "<name><narrative>...</narrative></name>", identifier)
            return None
        place = {"name": name, "precision": _precision(e), "coords_source": None}
        country = _administrative_country(e) or (countries[0] if len(countries) == 1 else None)
        if place["precision"] in ("site", "subnational", "country") and country:
            place["country"] = country
        if place["precision"] == "region":
            region = regions.get_region(e.get(REG("region"))) or regions.lookup_region(name)
            if region is None:
                self.problem(e, "location", f"'{name}' is marked as a region (feature-designation), but it is "
                             "not a region the registry knows: give it as a recipient-region (vocabulary 2, UN "
                             "M49) instead", identifier)
                return None
            return _region_location(region, name)
        point = e.find("point")
        if point is not None:
            place.update(self._point(point, identifier))
        return _known_point(e, place)

    def _point(self, point, identifier):
        srs, numbers = point.get("srsName"), (point.findtext("pos") or "").split()
        try:
            lat, lon = (float(v) for v in numbers)
        except ValueError:
            lat = lon = None
        if srs != SRS_4326 or lat is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            self.problem(point, "location", f"the point '{' '.join(numbers)}' ({srs}) is not 'latitude longitude' "
                         f"in {SRS_4326}: give <pos>lat lon</pos> in decimal degrees", identifier)
            return {}
        return {"lat": lat, "lon": lon, "coords_source": "report"}

    def _role(self, e, lang, identifier):
        role = e.get(REG("role")) if iati.ROLE_CODES.get(e.get(REG("role"))) == e.get("role") else None
        role = role or ROLES.get(e.get("role"))
        if role is None:
            self.problem(e, "participating-org", f"role '{e.get('role')}' is not an IATI organisation role (1 "
                         "Funding, 2 Accountable, 3 Extending, 4 Implementing)", identifier)
            return None
        ref = (e.get("ref") or "").strip() or None
        name = self.text(e, lang)
        if not (ref or name):
            self.problem(e, "participating-org", "has neither a ref nor a name: give its organisation identifier "
                         "(ref) or a <narrative> with its name", identifier)
            return None
        return OrgRef(ref, name, e.get("type"), f"line {e.sourceline} (activity {identifier})", e.get(REG("org"))), role


def _sector_area(sector):
    """The Partnership area a sector names: the export's own (vocabulary 99, code = area id), or a DAC code."""
    vocabulary, code = sector.get("vocabulary") or "1", sector.get("code")
    if vocabulary == iati.SECTOR_VOCABULARY_AREA:
        return code if code in iati.AREAS else None
    return SECTOR_AREAS.get(code) if vocabulary == "1" else None


def _administrative_country(e):
    """The ISO alpha-3 of a location's administrative element in vocabulary A4 (ISO 3166-1 alpha-2)."""
    for admin in e.findall("administrative"):
        if admin.get("vocabulary") == iati.GEO_VOCABULARY_ISO2 and (admin.get("code") or "").upper() in _by_iso2():
            return _by_iso2()[admin.get("code").upper()].iso3
    return None


def _known_point(e, place):
    """A point the registry already knows is kept as its own: a GeoNames place of the gazetteer (location-id
    G1) by its id, a country's representative point as the country's (both placed as before an export)."""
    for location_id in e.findall("location-id"):
        place_id = iati.GEONAMES_PREFIX + (location_id.get("code") or "")
        known = geo.gazetteer_place(place_id) if location_id.get("vocabulary") == iati.GEO_VOCABULARY_GEONAMES else None
        if known and (place.get("lat"), place.get("lon")) in ((known.lat, known.lon), (None, None)):
            return {**place, "lat": None, "lon": None, "coords_source": "gazetteer", "gazetteer_id": place_id}
    country = geo.get_country(place.get("country")) if place["precision"] == "country" else None
    if country and (place.get("lat"), place.get("lon")) in ((country.lat, country.lon), (None, None)):
        return {**place, "lat": None, "lon": None, "coords_source": None}
    return place


def _precision(e):
    """A location's precision: registry:precision of the registry's own export, else from the feature
    designation (a country, a region), exactness and class (docs/iati.md)."""
    if e.get(REG("precision")) in PRECISIONS:
        return e.get(REG("precision"))
    feature = (e.find("feature-designation").get("code") if e.find("feature-designation") is not None else "")
    if feature in COUNTRY_FEATURES:
        return "country"
    if feature in REGION_FEATURES:
        return "region"
    exactness = e.find("exactness").get("code") if e.find("exactness") is not None else None
    klass = e.find("location-class").get("code") if e.find("location-class") is not None else None
    return "site" if exactness == EXACT and klass in PLACE_CLASSES else "subnational"


def _region_location(region, name=None):
    """A region-precision place: named as the file names it, else by the region's M49 name."""
    place = {"name": name or region.name, "precision": "region"}
    if "region" in record_keys()["location"]:     # issue 12's key; without it the name says which region
        place["region"] = region.code
    return place


@functools.cache
def _by_iso2():
    return {c.iso2: c for c in geo.all_countries() if c.iso2}


def _slug(text, limit=100):
    return fold(text).replace(" ", "-")[:limit].strip("-") or "iati"


def read_activities(data):
    """(activities, source records) of an IATI file; ValidationError with every problem, each with its line."""
    root = _checked_tree(data)
    reader = _Reader(root)
    activities = [a for a in map(reader.activity, root.findall("iati-activity")) if a]
    seen = {}
    for a in activities:
        if a.identifier in seen:
            reader.problems.append(Problem(a.where, "iati-identifier", f"'{a.identifier}' is also the identifier "
                                           f"of the activity at {seen[a.identifier]}: each activity once"))
        seen.setdefault(a.identifier, a.where.split(" (")[0])
    if reader.problems:
        raise ValidationError(reader.problems)
    return activities, list(reader.publishers.values())


# --- step 3: activities -> records, against what the registry holds ---------------------------------------

@dataclass
class Stored:
    """What the registry already has that an IATI file's activities and organisations may be."""
    projects: dict = field(default_factory=dict)      # iati_identifier -> stored project record
    by_id: dict = field(default_factory=dict)         # project id -> its iati_identifier (taken ids)
    org_ids: dict = field(default_factory=dict)       # organisation identifier -> id
    org_names: dict = field(default_factory=dict)     # folded name, acronym or alias -> id
    orgs: dict = field(default_factory=dict)          # id -> stored organisation record (matched ones)
    taken_orgs: set = field(default_factory=set)


def read_iati(data):
    """An IATI 2.03 activity file -> an IatiBatch mapped as if the registry were empty (match_stored maps it
    against a database). Raises ValidationError: schema problems first, then the mapping's, all with lines."""
    activities, sources = read_activities(data)
    return _mapped(activities, sources, Stored())


def match_stored(db, batch):
    """The batch's activities mapped again against the records of `db` (see the module's docstring)."""
    if not isinstance(batch, IatiBatch):
        return batch
    return _mapped(batch.activities, [raw for _, raw in batch.sources], _stored(db, batch.activities))


def _stored(db, activities):
    identifiers = [a.identifier for a in activities]
    project_ids = storage.projects_by_iati_identifier(db, identifiers)
    prefixed = _own_exports(db, activities, project_ids)
    records = store_editing.project_records(db, sorted(set(project_ids.values()) | set(prefixed.values())))
    stored = Stored(projects={i: records[pid][0] for i, pid in {**prefixed, **project_ids}.items() if pid in records})
    project_ids_taken, org_ids_taken = storage.existing_ids(db)
    stored.by_id = {pid: None for pid in project_ids_taken}
    refs = sorted({ref.ref for a in activities for ref, _ in a.roles if ref.ref})
    stored.org_ids = storage.organisations_by_identifier(db, refs)
    names = sorted({ref.name for a in activities for ref, _ in a.roles if ref.name})
    stored.org_names = {fold(n): i for n, i in storage.resolve_organisations(db, names).items() if i}
    matched = set(stored.org_ids.values()) | set(stored.org_names.values())
    stored.orgs = {i: record for i, (record, _) in store_editing.organisation_records(db, sorted(matched)).items()}
    stored.taken_orgs = set(org_ids_taken)
    return stored


def _own_exports(db, activities, found):
    """Activities the registry published itself (its export writes the reporting-org's ref, '-', the project
    id for a project without an identifier of its own): {identifier: that project's id} when the project
    exists and still has no identifier, so importing the registry's own file matches instead of copying."""
    candidates = {a.identifier: a.identifier[len(a.publisher_ref) + 1:] for a in activities
                  if a.identifier not in found and a.identifier.startswith(a.publisher_ref + "-")}
    if not candidates:
        return {}
    records = store_editing.project_records(db, sorted(set(candidates.values())))
    return {i: pid for i, pid in candidates.items() if pid in records and not records[pid][0].get("iati_identifier")}


def _mapped(activities, sources, stored):
    orgs = _Organisations(stored)
    projects, ids, problems = [], {}, orgs.problems
    for a in activities:
        project = _project(a, orgs, stored)
        if project["id"] in ids:
            problems.append(Problem(a.where, "iati-identifier", f"its id '{project['id']}' is also that of the "
                                    f"activity at {ids[project['id']]}: identifiers that differ only in case or "
                                    "punctuation cannot both be imported"))
        ids[project["id"]] = a.where.split(" (")[0]
        projects.append((f"{a.where}: ", project))
    if problems:
        raise ValidationError(problems)
    return IatiBatch(orgs.new_records(), projects, [(f"{s['id']}: ", s) for s in sources], activities=activities)


def _project(a, orgs, stored):
    raw = {k: (list(v) if isinstance(v, list) else v) for k, v in a.raw.items()}
    raw["locations"] = [dict(place) for place in raw["locations"]]
    raw["organisations"] = [{"org": orgs.id_of(ref), "role": role} for ref, role in a.roles]
    citation = {"document": a.publisher, "section": a.identifier, "quote": raw["title"]}
    before = stored.projects.get(a.identifier)
    if before is None:
        raw["id"] = _free_id(_slug(a.identifier), stored.by_id, a.identifier)
        raw["sources"] = [citation]
    else:   # the registry's own classification and other citations stay; the file's citation is replaced
        raw.update({k: before[k] for k in ("id", "kind", "area", "other_areas", "summary", "keywords", "website",
                                           "parent")})
        # the summary's translations stay with it; a French or Spanish title the file does not give stays too
        raw = {k: v for k, v in raw.items() if not k.startswith("summary_")}
        raw.update({k: v for k, v in before.items() if k in TRANSLATED and not raw.get(k)})
        raw["sources"] = _cited(before["sources"], citation)
    number = raw["sources"].index(citation) + 1
    _stated_by(raw, number)
    return raw


def _cited(citations, citation):
    """The stored citations with the file's in place of an earlier IATI file's citation of the activity."""
    out = [dict(c) for c in citations]
    for i, c in enumerate(out):
        if c.get("section") == citation["section"] and (c.get("document") or "").startswith("iati-"):
            out[i] = citation
            return out
    return out + [citation]


def _stated_by(raw, number):
    """Status, years, roles and places from the file stand on its citation (issue 18's basis)."""
    raw["evidence"] = {f: {"basis": "stated", "source": number} for f in ("status", "start_year", "end_year")
                       if raw.get(f) not in (None, "unknown")}
    for item in raw["organisations"] + raw["locations"]:
        item.update(basis="stated", source=number)


def _free_id(wanted, taken, identifier):
    """`wanted`, or `wanted-2`, `-3`... when a stored project of another activity (or none) has that id."""
    candidate, n = wanted, 1
    while candidate in taken and taken[candidate] != identifier:
        n += 1
        candidate = f"{wanted[:96]}-{n}"
    taken[candidate] = identifier
    return candidate


class _Organisations:
    """The organisations an IATI file names: matched to stored ones, or new (each once per file)."""

    def __init__(self, stored):
        self.stored = stored
        self.by_ref, self.by_name, self.new, self.filled, self.problems = {}, {}, {}, {}, []

    def id_of(self, ref):
        found = (self.stored.org_ids.get(ref.ref) if ref.ref else None) or self.by_ref.get(ref.ref)
        found = found or (self.stored.org_names.get(fold(ref.name)) if ref.name else None)
        found = found or (self.by_name.get(fold(ref.name)) if ref.name else None)
        if found is None:
            found = self._create(ref)
            if found is None:
                return None
        elif found in self.stored.orgs and ref.ref and not self.stored.orgs[found].get("identifier"):
            # matched by name: the file tells the registry the organisation's identifier
            self.filled.setdefault(found, dict(self.stored.orgs[found], identifier=ref.ref))
        if ref.ref:
            self.by_ref.setdefault(ref.ref, found)
        if ref.name:
            self.by_name.setdefault(fold(ref.name), found)
        return found

    def _create(self, ref):
        name = ref.name or ref.ref
        if not ref.name:
            self.problems.append(Problem(ref.where, "participating-org", f"'{ref.ref}' is not an organisation "
                                         "identifier of the registry, and the file gives no name to create it by: "
                                         "add a <narrative> with the organisation's name"))
            return None
        org_id, n = _slug(name), 1
        while org_id in self.stored.taken_orgs or org_id in self.new:
            n += 1
            org_id = f"{_slug(name, 96)}-{n}"
        if ref.registry_id and SLUG_RE.match(ref.registry_id) and ref.registry_id not in self.stored.taken_orgs \
                and ref.registry_id not in self.new:
            org_id = ref.registry_id      # the registry's own export: the organisation comes back under its id
        self.new[org_id] = (ref.where, {"id": org_id, "name": name, "identifier": ref.ref,
                                        "type": ORG_TYPES.get(ref.type or "", "other")})
        return org_id

    def new_records(self):
        return ([(f"{where}: ", raw) for where, raw in self.new.values()]
                + [(f"organisation {i}: ", raw) for i, raw in self.filled.items()])
