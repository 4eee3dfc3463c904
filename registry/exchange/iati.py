"""IATI 2.03 activity files: the export (`activities_xml`) and the schema check (`validate_activities`).

The mapping, and why each codelist value was chosen, is in docs/iati.md. The constants at the top are shared
with the import (exchange/iati_read.py): change a code here and both directions follow. lxml only here and in
iati_read.py. The schema is the project's own copy in geodata/iati/ (no network is ever needed to validate).

Codelists (IATI Standard 2.03, https://iatistandard.org/en/iati-standard/203/codelists/<Name>/):
OrganisationRole, OrganisationType, ActivityStatus, ActivityDateType, DescriptionType, RegionVocabulary,
GeographicExactness, GeographicLocationClass, GeographicVocabulary, SectorVocabulary.
"""
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

from lxml import etree

from ..core import geo
from ..core.language import LANGUAGES, translated_field
from ..core.paths import GEODATA
from ..core.validate import AREAS, Problem

IATI_VERSION = "2.03"
SCHEMA_DIR = GEODATA / "iati"
ACTIVITIES_XSD = SCHEMA_DIR / "iati-activities-schema.xsd"
MIMETYPE = "application/xml"          # the file declares its encoding (UTF-8) itself
DEFAULT_LANG = "en"                   # the activity's language; titles and summaries add fr and es narratives
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SRS_WGS84 = "http://www.opengis.net/def/crs/EPSG/0/4326"   # point/@srsName; pos is "latitude longitude"

# The registry's own attributes (IATI allows attributes of another namespace on its elements): they carry
# what the codelists cannot tell apart, so that an export imports back exactly (a partner and an
# implementer are both 4 Implementing; proposed and planned are both 1 Pipeline). Readers that do not know
# the namespace ignore them.
REGISTRY_NS = "urn:x-mercury-partnership-registry:iati:1"
REGISTRY_PREFIX = "registry"
NSMAP = {REGISTRY_PREFIX: REGISTRY_NS}


def registry_attr(name):
    """The qualified name of one of the registry's attributes: {urn...}role."""
    return f"{{{REGISTRY_NS}}}{name}"


# OrganisationRole. A registry partner is 4 Implementing: it takes part in carrying out the activity;
# 3 Extending means managing the budget and direction on the funder's behalf, which the registry never says.
ROLE_CODES = {"funder": "1", "lead": "2", "implementer": "4", "partner": "4"}
ROLE_OF_CODE = {"1": "funder", "2": "lead", "4": "implementer"}   # registry:role tells a partner apart
# OrganisationType. The registry does not record an NGO's scope; the Partnership's NGOs work across
# borders, so 21 International NGO (an import reads 21-24 as ngo).
ORG_TYPE_CODES = {"government": "10", "igo": "40", "ngo": "21", "industry": "70", "academia": "80", "other": "90"}
# ActivityStatus. `unknown` has no code, and IATI requires one: such a project is left out (see LEFT_OUT).
STATUS_CODES = {"proposed": "1", "planned": "1", "ongoing": "2", "completed": "4", "postponed": "6"}
# ActivityDateType: a start year is an actual start once the activity has started, else a planned one; an
# end year is an actual end only for a completed activity. IATI wants full dates: 1 January, 31 December.
PLANNED_START, ACTUAL_START, PLANNED_END, ACTUAL_END = "1", "2", "3", "4"
STARTED_STATUSES = ("ongoing", "completed")
ENDED_STATUSES = ("completed",)
# DescriptionType: the long description is 1 General; the summary is 4 Other (registry:field="summary").
DESCRIPTION_GENERAL, DESCRIPTION_OTHER = "1", "4"
DESCRIPTION_FIELDS = ("description", "summary")   # in this order: the first present one is General
# RegionVocabulary 2: UN Statistics Division M49 (a region with a numeric code). Custom regions have none.
REGION_VOCABULARY_M49 = "2"
# GeographicExactness: a site is exact, every other precision approximate.
EXACT, APPROXIMATE = "1", "2"
# GeographicLocationClass from the GeoNames feature class of a gazetteer place (A administrative, P
# populated place, S structure; H, L, R, T, U, V other features); a country-level location is the
# country, an administrative region, with the GeoNames feature code PCL (political entity).
CLASS_OF_FEATURE_CLASS = {"A": "1", "P": "2", "S": "3"}
OTHER_FEATURE_CLASS = "4"
COUNTRY_CLASS, COUNTRY_FEATURE = "1", "PCL"
# GeographicVocabulary: A4 ISO 3166-1 alpha-2 (location/administrative), G1 GeoNames (location/location-id)
GEO_VOCABULARY_ISO2, GEO_VOCABULARY_GEONAMES = "A4", "G1"
GEONAMES_PREFIX = "geonames:"         # a gazetteer_id of geodata/gazetteer.csv from GeoNames
# SectorVocabulary 99 (Reporting Organisation): the registry's Partnership area, code = the area's id
SECTOR_VOCABULARY_AREA = "99"

# What IATI requires that a project may not have: such a project is left out, and the file says which
# and why in a comment at its end (the CLI and docs/iati.md say so too). Nothing is invented for IATI.
LEFT_OUT = {
    "status": "its status is unknown, and IATI requires an activity-status",
    "dates": "it has no start or end year, and IATI requires an activity-date",
    "organisations": "it names no organisation, and IATI requires a participating-org",
}


class NoActivities(ValueError):
    """Nothing to write: IATI requires at least one activity in a file."""


@dataclass
class ExportSummary:
    """What an export wrote: filled in as the file is written (complete once the last chunk is out)."""
    written: int = 0
    left_out: list = field(default_factory=list)   # [(project id, [reasons])]


def reasons_left_out(p):
    """Why project `p` cannot be an IATI activity without inventing a value ([] when it can)."""
    reasons = []
    if p.get("status") not in STATUS_CODES:
        reasons.append(LEFT_OUT["status"])
    if p.get("start_year") is None and p.get("end_year") is None:
        reasons.append(LEFT_OUT["dates"])
    if not p.get("organisations"):
        reasons.append(LEFT_OUT["organisations"])
    return reasons


def iati_identifier(p, publisher_prefix):
    """The activity's own identifier when it has one, else the publisher's prefix and the registry id."""
    return p.get("iati_identifier") or f"{publisher_prefix}-{p['id']}"


def generated_datetime(now=None):
    """xsd:dateTime in UTC, to the second: 2026-12-06T09:30:00Z."""
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def activities_xml(organisations, projects, reporting_org, publisher_prefix, summary=None, now=None):
    """An iati-activities file (version 2.03) of `projects` (any iterable: store.db.export_stream reads them
    in batches) as chunks of UTF-8 bytes, one activity at a time: memory does not grow with the number of
    projects. `organisations`: those the projects name (a list of records); `reporting_org`: {ref, type,
    name}. Raises NoActivities at once, before any byte, when no project can be an activity (the schema
    requires one). `summary` (an ExportSummary), if given, counts what was written and left out."""
    summary = summary if summary is not None else ExportSummary()
    orgs = {o["id"]: o for o in organisations}
    projects = iter(projects)
    first = _first_exportable(projects, summary)
    if first is None:
        raise NoActivities(_no_activities_message(summary))
    return _chunks(first, projects, orgs, reporting_org, publisher_prefix, summary, now)


def _first_exportable(projects, summary):
    for p in projects:
        reasons = reasons_left_out(p)
        if not reasons:
            return p
        summary.left_out.append((p["id"], reasons))
    return None


def _no_activities_message(summary):
    if not summary.left_out:
        return "no project matches this selection, and an IATI file must hold at least one activity"
    return (f"none of the {len(summary.left_out)} projects of this selection can be an IATI activity "
            f"({summary.left_out[0][0]}: {'; '.join(summary.left_out[0][1])}); an IATI file must hold at least "
            "one: widen the selection, or give the projects a status, a year and an organisation")


def _chunks(first, projects, orgs, reporting_org, publisher_prefix, summary, now):
    yield (f'<?xml version="1.0" encoding="UTF-8"?>\n<iati-activities version="{IATI_VERSION}" '
           f'generated-datetime="{generated_datetime(now)}">\n').encode()
    p = first
    while p is not None:
        yield etree.tostring(activity_element(p, orgs, reporting_org, publisher_prefix), encoding="utf-8") + b"\n"
        summary.written += 1
        p = _first_exportable(projects, summary)
    if summary.left_out:
        yield etree.tostring(_left_out_comment(summary.left_out), encoding="utf-8") + b"\n"
    yield b"</iati-activities>\n"


def _left_out_comment(left_out):
    lines = [f"{len(left_out)} projects of the selection are not in this file (docs/iati.md, 'Left out'):"]
    lines += [f"  {pid}: {'; '.join(reasons)}" for pid, reasons in left_out]
    # "--" may not appear inside an XML comment; ids are slugs and reasons are ours, but be safe
    return etree.Comment(" " + "\n".join(lines).replace("--", "- -") + "\n")


def activity_element(p, orgs, reporting_org, publisher_prefix):
    """One iati-activity, its children in the order the schema requires."""
    a = etree.Element("iati-activity", nsmap=NSMAP)
    a.set(XML_LANG, DEFAULT_LANG)
    etree.SubElement(a, "iati-identifier").text = iati_identifier(p, publisher_prefix)
    a.append(_reporting_org(reporting_org))
    _narratives(etree.SubElement(a, "title"), p, "title")
    _descriptions(a, p)
    for entry in p["organisations"]:
        a.append(_participating_org(entry, orgs[entry["org"]]))
    status = etree.SubElement(a, "activity-status", code=STATUS_CODES[p["status"]])
    status.set(registry_attr("status"), p["status"])
    _activity_dates(a, p)
    for iso3 in p.get("countries") or ():
        etree.SubElement(a, "recipient-country", code=geo.get_country(iso3).iso2)
    for code in dict.fromkeys(loc.get("region") for loc in p["locations"]):
        if code and code.isdigit():
            etree.SubElement(a, "recipient-region", code=code, vocabulary=REGION_VOCABULARY_M49)
    for loc in p["locations"]:
        a.append(_location(loc))
    _narrative(etree.SubElement(a, "sector", vocabulary=SECTOR_VOCABULARY_AREA, code=p["area"]), AREAS[p["area"]])
    return a


def _narrative(parent, text, lang=DEFAULT_LANG):
    n = etree.SubElement(parent, "narrative")
    n.set(XML_LANG, lang)
    n.text = text
    return parent


def _narratives(parent, p, field_):
    """The record's `field_` in English, then its French and Spanish versions (title_fr...), each a narrative
    with its xml:lang (issue 13); a language the record does not have is left out."""
    for lang in LANGUAGES:
        text = p.get(translated_field(field_, lang))
        if text:
            _narrative(parent, text, lang)
    return parent


def _reporting_org(reporting_org):
    el = etree.Element("reporting-org", ref=reporting_org["ref"], type=str(reporting_org["type"]))
    return _narrative(el, reporting_org["name"])


def _descriptions(a, p):
    present = [name for name in DESCRIPTION_FIELDS
               if any(p.get(translated_field(name, lang)) for lang in LANGUAGES)]
    for n, name in enumerate(present):
        d = etree.SubElement(a, "description", type=DESCRIPTION_GENERAL if n == 0 else DESCRIPTION_OTHER)
        d.set(registry_attr("field"), name)
        _narratives(d, p, name)


def _participating_org(entry, org):
    el = etree.Element("participating-org", role=ROLE_CODES[entry["role"]])
    if org.get("identifier"):
        el.set("ref", org["identifier"])
    el.set("type", ORG_TYPE_CODES[org["type"]])
    el.set(registry_attr("role"), entry["role"])
    el.set(registry_attr("org"), org["id"])
    return _narrative(el, org["name"])


def _activity_dates(a, p):
    if p.get("start_year") is not None:
        kind = ACTUAL_START if p["status"] in STARTED_STATUSES else PLANNED_START
        etree.SubElement(a, "activity-date", type=kind, **{"iso-date": f"{p['start_year']:04d}-01-01"})
    if p.get("end_year") is not None:
        kind = ACTUAL_END if p["status"] in ENDED_STATUSES else PLANNED_END
        etree.SubElement(a, "activity-date", type=kind, **{"iso-date": f"{p['end_year']:04d}-12-31"})


def _location(loc):
    """A location: location-id (GeoNames), name, administrative (its country), point, exactness,
    location-class and feature-designation where known, in the schema's order."""
    el = etree.Element("location")
    el.set(registry_attr("precision"), loc["precision"])
    if loc.get("region"):
        el.set(registry_attr("region"), loc["region"])
    place = geo.gazetteer_place(loc.get("gazetteer_id")) if loc.get("gazetteer_id") else None
    if (loc.get("gazetteer_id") or "").startswith(GEONAMES_PREFIX):
        etree.SubElement(el, "location-id", vocabulary=GEO_VOCABULARY_GEONAMES,
                         code=loc["gazetteer_id"][len(GEONAMES_PREFIX):])
    _narrative(etree.SubElement(el, "name"), loc["name"])
    country = geo.get_country(loc.get("country")) if loc.get("country") else None
    if country:
        etree.SubElement(el, "administrative", vocabulary=GEO_VOCABULARY_ISO2, code=country.iso2)
    if loc.get("lat") is not None and loc.get("lon") is not None:
        point = etree.SubElement(el, "point", srsName=SRS_WGS84)
        etree.SubElement(point, "pos").text = f"{loc['lat']} {loc['lon']}"
    etree.SubElement(el, "exactness", code=EXACT if loc["precision"] == "site" else APPROXIMATE)
    location_class, feature = _class_and_feature(loc, place)
    if location_class:
        etree.SubElement(el, "location-class", code=location_class)
    if feature:
        etree.SubElement(el, "feature-designation", code=feature)
    return el


def _class_and_feature(loc, place):
    """(GeographicLocationClass, GeoNames feature code) where the registry knows them, else (None, None)."""
    if loc["precision"] == "country":
        return COUNTRY_CLASS, COUNTRY_FEATURE
    feature = place.kind if place else None
    if feature and _feature_class(feature):
        return CLASS_OF_FEATURE_CLASS.get(_feature_class(feature), OTHER_FEATURE_CLASS), feature
    return None, None


def _feature_class(feature_code):
    """The GeoNames feature class of a feature code (https://www.geonames.org/export/codes.html) for the
    families the gazetteer holds (PPL*: P, populated places; ADM*, PCL*: A); None for another code, which
    then gets no class rather than a guess."""
    if feature_code.startswith("PPL"):
        return "P"
    if feature_code.startswith(("ADM", "PCL")):
        return "A"
    return None


# --- validation against the schema --------------------------------------------------------------------------

_SCHEMA_LOCK = threading.Lock()   # one validation at a time per process: an XMLSchema is not shared safely
_PARSER_OPTIONS = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False}


@lru_cache(maxsize=1)
def activities_schema():
    """The IATI 2.03 activity schema (geodata/iati/), read once per process."""
    return etree.XMLSchema(etree.parse(str(ACTIVITIES_XSD)))


def parse_activities(data):
    """The document in `data` (bytes), parsed safely (no entities, no DTD, no network). Raises
    etree.XMLSyntaxError."""
    return etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS)).getroottree()


def validate_activities(data):
    """Every way the bytes `data` are not a valid IATI 2.03 activity file, as Problems with their line
    ("line 12"), the element's path and the schema's message; [] when valid."""
    try:
        tree = parse_activities(data)
    except etree.XMLSyntaxError as exc:
        return [Problem(f"line {exc.lineno}", "", f"not well-formed XML: {exc.msg}; fix the file's XML")]
    if tree.getroot().tag != "iati-activities":
        return [Problem("line 1", "", f"the root element is '{tree.getroot().tag}', not 'iati-activities': "
                                      "this is not an IATI activity file")]
    schema = activities_schema()
    with _SCHEMA_LOCK:
        schema.validate(tree)
        errors = list(schema.error_log)
    return [Problem(f"line {e.line}", e.path or "", e.message) for e in errors]
