"""What a valid record is. Pure functions: no I/O, no database, no Flask.

Every entry point (seed loader, CLI import, web forms, API) goes through `clean_project` and
`clean_organisation`, which return a normalised record and a list of field-level error messages.
"""
import math
import re
import unicodedata
from dataclasses import dataclass, field

AREAS = {
    "asgm": "Artisanal and small-scale gold mining (ASGM)",
    "chlor-alkali": "Mercury cell chlor-alkali production",
    "air-transport": "Mercury air transport and fate research",
    "products": "Mercury in products",
    "coal": "Mercury releases from coal combustion",
    "waste": "Mercury waste management",
    "supply-storage": "Mercury supply and storage",
    "cement": "Mercury releases from the cement industry",
    "cross-cutting": "Cross-cutting and overarching work",
}
KINDS = (
    "programme", "project", "country-project", "monitoring-network", "monitoring-site", "study",
    "campaign", "guidance", "tool", "event", "research", "capacity-building",
    "national-action-plan", "initiative",
)
STATUSES = ("proposed", "planned", "ongoing", "completed", "postponed", "unknown")
ROLES = ("funder", "lead", "implementer", "partner")
PRECISIONS = ("site", "subnational", "country", "region", "global")
ORG_TYPES = {
    "government": "Government",
    "igo": "Intergovernmental organisation",
    "ngo": "Non-governmental organisation",
    "industry": "Industry / private sector",
    "academia": "Academia / research",
    "other": "Other",
}

MAX_TITLE = 200
MAX_TEXT = 5000
MAX_SHORT = 300
MAX_LIST = 50
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
ISO3_RE = re.compile(r"^[A-Z]{3}$")
DECIMAL_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
YEAR_RE = re.compile(r"^\d{4}$")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INVISIBLE_RE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, with its path: `where` names the record ("row 3", "feature 2",
    "projects[4]", "project planetgold-peru"; "" for the whole file), `field` the field inside it
    ("locations[1].lat"; "" for the whole record). Forms attach it to their fields by `field`."""
    where: str
    field: str
    message: str

    def __str__(self):
        return ": ".join(part for part in (self.where, self.field, self.message) if part)

    def as_dict(self):
        return {"where": self.where, "field": self.field, "message": self.message}


def _problem(item):
    return item if isinstance(item, Problem) else Problem("", "", str(item))


class ValidationError(Exception):
    """Raised with every problem found (Problems, or plain messages about the whole input); each says
    what is wrong and how to fix it. `problems`: the Problems; `errors`: the same as text."""

    def __init__(self, errors):
        self.problems = [_problem(e) for e in errors]
        super().__init__("; ".join(self.errors))

    @property
    def errors(self):
        return [str(p) for p in self.problems]


@dataclass
class Checker:
    """Collects the Problems of one record; `where` names the record."""
    where: str = ""
    problems: list = field(default_factory=list)

    def __post_init__(self):
        self.where = self.where.rstrip(": ")

    @property
    def errors(self):
        return self.problems

    def error(self, name, message):
        self.problems.append(Problem(self.where, name, message))
        return None

    def text(self, raw, name, *, required=False, max_len=MAX_SHORT):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return self.error(name, "is required") if required else None
        if not isinstance(raw, str):
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw = str(raw)
            else:
                return self.error(name, "must be text")
        if CONTROL_RE.search(raw):
            return self.error(name, "control characters (such as NUL) are not allowed")
        value = INVISIBLE_RE.sub("", unicodedata.normalize("NFC", raw)).strip()
        if len(value) > max_len:
            return self.error(name, f"is {len(value)} characters long; the maximum is {max_len}")
        if required and not value:
            return self.error(name, "is required")
        return value or None

    def choice(self, raw, name, allowed, *, required=True, default=None):
        value = self.text(raw, name)
        if value is None:
            if required and default is None:
                return self.error(name, f"is required (one of: {', '.join(allowed)})")
            return default
        value = value.lower().replace("_", "-").replace(" ", "-")
        if value not in allowed:
            return self.error(name, f"'{value}' is not allowed; use one of: {', '.join(allowed)}")
        return value

    def slug(self, raw, name, *, required=True):
        value = self.text(raw, name, required=required, max_len=100)
        if value is not None and not SLUG_RE.match(value):
            return self.error(name, f"'{value}' is not a valid id: use lower-case letters, digits and hyphens")
        return value

    def year(self, raw, name):
        if raw is None or raw == "":
            return None
        text = str(raw).strip()
        if not YEAR_RE.match(text) or not 1900 <= int(text) <= 2100:
            return self.error(name, f"'{text}' is not a year between 1900 and 2100")
        return int(text)

    def number(self, raw, name, low, high):
        if isinstance(raw, bool):
            return self.error(name, "must be a decimal number")
        if isinstance(raw, (int, float)):
            value = float(raw)
        else:
            text = str(raw).strip() if raw is not None else ""
            if not text:
                return self.error(name, "is required")
            if not DECIMAL_RE.match(text) or not text.isascii():
                return self.error(name, f"'{text[:40]}' is not a decimal number (use digits and a dot, e.g. 12.5)")
            value = float(text)
        if not math.isfinite(value) or not low <= value <= high:
            return self.error(name, f"{raw!s:.40} is out of range; it must be between {low} and {high}")
        return value

    def url(self, raw, name):
        value = self.text(raw, name, max_len=500)
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
            return self.error(name, "only http:// and https:// web addresses are allowed")
        return value

    def strings(self, raw, name, *, max_len=MAX_SHORT):
        if raw is None or raw == "":
            return []
        if isinstance(raw, str):
            raw = [part for part in re.split(r"[;|]", raw)]
        if not isinstance(raw, (list, tuple)):
            return self.error(name, "must be a list") or []
        if len(raw) > MAX_LIST:
            return self.error(name, f"has {len(raw)} entries; the maximum is {MAX_LIST}") or []
        out = []
        for i, item in enumerate(raw):
            value = self.text(item, f"{name}[{i + 1}]", max_len=max_len)
            if value and value not in out:
                out.append(value)
        return out


def clean_organisation(raw, where=""):
    """Return (organisation, errors) for one raw organisation mapping."""
    c = Checker(where)
    if not isinstance(raw, dict):
        return None, [Problem(c.where, "", "an organisation must be a mapping of fields")]
    org = {
        "id": c.slug(raw.get("id"), "id"),
        "name": c.text(raw.get("name"), "name", required=True, max_len=MAX_TITLE),
        "acronym": c.text(raw.get("acronym"), "acronym", max_len=50),
        "aliases": c.strings(raw.get("aliases"), "aliases"),
        "type": c.choice(raw.get("type"), "type", ORG_TYPES, default="other"),
        "country": iso3(c, raw.get("country"), "country"),
        "website": c.url(raw.get("website"), "website"),
        "leads_areas": [c.choice(a, "leads_areas", AREAS) for a in c.strings(raw.get("leads_areas"), "leads_areas")],
    }
    return org, c.errors


def iso3(c, raw, name):
    value = c.text(raw, name, max_len=3)
    if value is None:
        return None
    value = value.upper()
    if not ISO3_RE.match(value):
        return c.error(name, f"'{value}' is not an ISO 3166-1 alpha-3 code (e.g. KEN)")
    return value


def clean_location(c, raw, i):
    name = f"locations[{i}]"
    if not isinstance(raw, dict):
        return c.error(name, "must be a mapping with name, precision, lat, lon")
    loc = {
        "name": c.text(raw.get("name"), f"{name}.name", required=True, max_len=MAX_TITLE),
        "precision": c.choice(raw.get("precision"), f"{name}.precision", PRECISIONS),
        "lat": None,
        "lon": None,
        "country": iso3(c, raw.get("country"), f"{name}.country"),
    }
    has_point = raw.get("lat") not in (None, "") or raw.get("lon") not in (None, "")
    if loc["precision"] in ("site", "subnational") or has_point:
        loc["lat"] = c.number(raw.get("lat"), f"{name}.lat", -90, 90)
        loc["lon"] = c.number(raw.get("lon"), f"{name}.lon", -180, 180)
    return loc


def clean_project(raw, where=""):
    """Return (project, errors) for one raw project mapping (seed, CSV row, JSON, form)."""
    c = Checker(where)
    if not isinstance(raw, dict):
        return None, [Problem(c.where, "", "a project must be a mapping of fields")]
    p = {
        "id": c.slug(raw.get("id"), "id"),
        "title": c.text(raw.get("title"), "title", required=True, max_len=MAX_TITLE),
        "summary": c.text(raw.get("summary"), "summary", max_len=1000),
        "description": c.text(raw.get("description"), "description", max_len=MAX_TEXT),
        "kind": c.choice(raw.get("kind"), "kind", KINDS, default="project"),
        "area": c.choice(raw.get("area"), "area", AREAS),
        "other_areas": [c.choice(a, "other_areas", AREAS) for a in c.strings(raw.get("other_areas"), "other_areas")],
        "status": c.choice(raw.get("status"), "status", STATUSES, default="unknown"),
        "start_year": c.year(raw.get("start_year"), "start_year"),
        "end_year": c.year(raw.get("end_year"), "end_year"),
        "parent": c.slug(raw.get("parent"), "parent", required=False),
        "countries": [iso3(c, x, "countries") for x in c.strings(raw.get("countries"), "countries")],
        "keywords": c.strings(raw.get("keywords"), "keywords", max_len=100),
        "website": c.url(raw.get("website"), "website"),
    }
    if p["start_year"] and p["end_year"] and p["end_year"] < p["start_year"]:
        c.error("end_year", f"{p['end_year']} is before start_year {p['start_year']}")
    if p["parent"] and p["parent"] == p["id"]:
        c.error("parent", "a project cannot be its own parent")
    p["other_areas"] = [a for a in p["other_areas"] if a and a != p["area"]]

    locations = raw.get("locations") or []
    if not isinstance(locations, list):
        c.error("locations", "must be a list")
        locations = []
    p["locations"] = [clean_location(c, loc, i + 1) for i, loc in enumerate(locations[:MAX_LIST])]
    if not p["locations"]:
        c.error("locations", "at least one location is needed (use precision 'global' for worldwide work)")

    roles = raw.get("organisations") or []
    if not isinstance(roles, list):
        c.error("organisations", "must be a list of {org, role}")
        roles = []
    p["organisations"] = []
    for i, r in enumerate(roles[:MAX_LIST]):
        if not isinstance(r, dict):
            c.error(f"organisations[{i + 1}]", "must be a mapping with org and role")
            continue
        entry = {"org": c.slug(r.get("org"), f"organisations[{i + 1}].org"),
                 "role": c.choice(r.get("role"), f"organisations[{i + 1}].role", ROLES)}
        if entry not in p["organisations"]:
            p["organisations"].append(entry)

    sources = raw.get("sources") or []
    if not isinstance(sources, list):
        c.error("sources", "must be a list of {section, quote}")
        sources = []
    p["sources"] = []
    for i, s in enumerate(sources[:MAX_LIST]):
        if not isinstance(s, dict):
            c.error(f"sources[{i + 1}]", "must be a mapping with document, section and quote")
            continue
        p["sources"].append({
            "document": c.text(s.get("document"), f"sources[{i + 1}].document", max_len=MAX_TITLE),
            "section": c.text(s.get("section"), f"sources[{i + 1}].section", max_len=MAX_TITLE),
            "quote": c.text(s.get("quote"), f"sources[{i + 1}].quote", required=True, max_len=MAX_TEXT),
        })
    return p, c.errors


def check_references(projects, organisations, known_projects=(), known_orgs=(), countries=None):
    """Cross-record checks: unique ids, roles point at organisations, parents at projects,
    country codes are real. Returns a list of error messages."""
    errors = []
    org_ids, project_ids = set(known_orgs), set(known_projects)
    for o in organisations:
        if o["id"] in {x for x in org_ids if x not in known_orgs}:
            errors.append(f"organisation {o['id']}: duplicate id")
        org_ids.add(o["id"])
    seen = set()
    for p in projects:
        if p["id"] in seen:
            errors.append(f"project {p['id']}: duplicate id")
        seen.add(p["id"])
    project_ids |= seen
    for p in projects:
        for r in p["organisations"]:
            if r["org"] not in org_ids:
                errors.append(f"project {p['id']}: organisation '{r['org']}' does not exist; "
                              "add it to the organisations first or fix the id")
        if p["parent"] and p["parent"] not in project_ids:
            errors.append(f"project {p['id']}: parent '{p['parent']}' does not exist")
        if countries is not None:
            codes = list(p["countries"]) + [loc["country"] for loc in p["locations"] if loc and loc["country"]]
            for code in codes:
                if code and code not in countries:
                    errors.append(f"project {p['id']}: '{code}' is not a known ISO 3166-1 alpha-3 country code")
    if countries is not None:
        for o in organisations:
            if o["country"] and o["country"] not in countries:
                errors.append(f"organisation {o['id']}: '{o['country']}' is not a known country code")
    return errors


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def _without_marks(match):
    return "".join(ch for ch in match.group() if not unicodedata.combining(ch))


def fold(text):
    """Lower-case, accent-free, punctuation-free form of a name, for lookups."""
    # NFKD splits accents off as combining marks, dropped here; only non-ASCII runs are looked at (the
    # search index folds whole documents: testing every character was most of the time)
    text = _NON_ASCII.sub(_without_marks, unicodedata.normalize("NFKD", text or ""))
    return _NOT_ALNUM.sub(" ", text.lower()).strip()
