"""What a valid record is. Pure functions: no I/O, no database, no Flask.

Every entry point (seed loader, CLI import, web forms, API) goes through `clean_project` and
`clean_organisation`, which return a normalised record and a list of field-level error messages.
"""
import math
import re
import unicodedata
import dataclasses
from dataclasses import dataclass, field

# the shipped gazetteer (committed data, read once), which names the places a location's point may come from,
# and the regions (M49 and custom, geodata/regions.csv) a location of precision `region` names
from . import geo, regions
from .language import ENGLISH, N_   # labels and messages marked for the catalogs, translated where shown
from .language import translated_field_names

AREAS = {
    "asgm": N_("Artisanal and small-scale gold mining (ASGM)"),
    "chlor-alkali": N_("Mercury cell chlor-alkali production"),
    "air-transport": N_("Mercury air transport and fate research"),
    "products": N_("Mercury in products"),
    "coal": N_("Mercury releases from coal combustion"),
    "waste": N_("Mercury waste management"),
    "supply-storage": N_("Mercury supply and storage"),
    "cement": N_("Mercury releases from the cement industry"),
    "cross-cutting": N_("Cross-cutting and overarching work"),
}
KINDS = (
    "programme", "project", "country-project", "monitoring-network", "monitoring-site", "study",
    "campaign", "guidance", "tool", "event", "research", "capacity-building",
    "national-action-plan", "initiative",
)
STATUSES = ("proposed", "planned", "ongoing", "completed", "postponed", "unknown")
ROLES = ("funder", "lead", "implementer", "partner")
PRECISIONS = ("site", "subnational", "country", "region", "global")
# Where a location's coordinates come from (None: it has none): the source's own words; an entry of the
# shipped gazetteer (geodata/gazetteer.csv, named by gazetteer_id); the country's representative point
# (geodata/countries.csv, filled in by the importer for country-level locations); an editor who typed them.
COORDS_SOURCES = ("report", "gazetteer", "country-point", "editor")
# On what a value stands (a location, a role, a project's status and years): `stated`, a source quote of the
# record says it (`source`: that source's number, from 1), or `inferred`, with a one-line `reason` (issue 18)
BASES = ("stated", "inferred")
EVIDENCE_FIELDS = ("status", "start_year", "end_year")   # a project's values whose basis `evidence` records
# an organisation's names the report may not write, and its IATI identifier (never in the report: where it is
# published is the reason)
ORG_EVIDENCE_FIELDS = ("name", "aliases", "acronym", "identifier")
ORG_TYPES = {
    "government": N_("Government"),
    "igo": N_("Intergovernmental organisation"),
    "ngo": N_("Non-governmental organisation"),
    "industry": N_("Industry / private sector"),
    "academia": N_("Academia / research"),
    "other": N_("Other"),
}

MAX_TITLE = 200
MAX_TEXT = 5000
MAX_SHORT = 300
MAX_SUMMARY = 1000   # a project's summary, in each of its languages
MAX_LIST = 50   # entries of a list of words (keywords, countries, aliases, areas); more is an error
# entries of a project's lists of mappings; more is an error naming the record, the list and the limit
MAX_ITEMS = {"locations": 1000, "organisations": 200, "sources": 200}
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
    ("locations[1].lat", "countries[2]"; list entries count from 1; "" for the whole record), `message`
    what is wrong and how to fix it, readable on its own. Forms attach it to their fields by `field`.

    `message` is English (exports, the API and the CLI show it as it is). A message the web forms may show in
    French or Spanish (issue 13) also keeps its N_-marked `template` and `params`: `message_in(words)` is
    `words.gettext(template) % params`, which is `message` in English."""
    where: str
    field: str
    message: str
    template: str = dataclasses.field(default="", compare=False)
    params: dict = dataclasses.field(default=None, compare=False, hash=False)

    def message_in(self, words=ENGLISH):
        """The message in the language of `words` (gettext's interface); English when it has no template."""
        if not self.template:
            return self.message
        text = words.gettext(self.template)
        return text % self.params if self.params else text

    def __str__(self):
        return ": ".join(part for part in (self.where, self.field, self.message) if part)

    def as_dict(self):
        return {"where": self.where, "field": self.field, "message": self.message}

    def describe(self, words=ENGLISH):
        """For people reading a report: "row 12, column countries (entry 2): ...", "projects[4], field
        title: ...", "title: ..." (no record named), or the message alone (the whole file); in the language of
        `words` (the web import's preview), English by default."""
        message, where = self.message_in(words), _where_in(self.where, words)
        if not self.field:
            return words.gettext("%(where)s: %(message)s") % {"where": where, "message": message} if where else message
        if not where:
            return words.gettext("%(field)s: %(message)s") % {"field": self.field, "message": message}
        if self.where.startswith("row "):
            return (words.gettext("%(where)s, %(column)s: %(message)s")
                    % {"where": where, "column": _csv_column(self.field, words), "message": message})
        return (words.gettext("%(where)s, field %(field)s: %(message)s")
                % {"where": where, "field": self.field, "message": message})


PATH_RE = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?(?:\.([a-z_]+))?$")
# record fields that CSV files spread over other columns (see exchange/readers.py)
CSV_COLUMNS_OF = {"organisations": "funders/leads/implementers/partners"}
# lists that canonical_order sorts: an entry's number need not be its place in the cell (the message
# quotes the value instead)
SORTED_LISTS = ("countries", "other_areas", "organisations")


def split_path(path):
    """"locations[3].lat" -> ("locations", 3, "lat"); "title" -> ("title", None, None); a path of
    another shape -> (path, None, None)."""
    m = PATH_RE.match(path or "")
    if not m:
        return path, None, None
    return m.group(1), int(m.group(2)) if m.group(2) else None, m.group(3)


_WHERE_RE = re.compile(r"^(row|line) (\d+)$")


def _where_in(where, words):
    """"row 12" / "line 3" in the language of `words`; other places (ids, JSON paths) as they are."""
    m = _WHERE_RE.match(where or "")
    if not m:
        return where
    template = N_("row %(number)s") if m.group(1) == "row" else N_("line %(number)s")
    return words.gettext(template) % {"number": m.group(2)}


def _csv_column(path, words=ENGLISH):
    if path.startswith("evidence."):            # evidence.status.source: an entry of the evidence column
        return _column("evidence", ", ".join(path.split(".")[1:]), words)
    name, index, sub = split_path(path)
    if f"{name}.{sub}" in CSV_COLUMNS_OF:
        return _column(CSV_COLUMNS_OF[f"{name}.{sub}"], "", words)
    if name in SORTED_LISTS:
        return _column(CSV_COLUMNS_OF.get(name, name), "", words)
    return _column(name, ", ".join(str(part) for part in (index, sub) if part is not None), words)


def _column(name, entry, words):
    if entry:
        return words.gettext("column %(name)s (entry %(entry)s)") % {"name": name, "entry": entry}
    return words.gettext("column %(name)s") % {"name": name}


def _problem(item):
    return item if isinstance(item, Problem) else Problem("", "", str(item))


def problem(where, name, template, /, **params):   # positional: a template may have a %(name)s
    """A Problem whose message is an N_-marked `template` with named `params` (translatable; see Problem)."""
    return Problem(where, name, template % params if params else template, template, params or None)


class ValidationError(Exception):
    """Raised with every problem found (Problems, or plain messages about the whole input); each says
    what is wrong and how to fix it. `problems`: the Problems; `errors`: the same as text."""

    def __init__(self, errors):
        self.problems = [_problem(e) for e in errors]
        super().__init__("; ".join(self.errors))

    @property
    def errors(self):
        return [str(p) for p in self.problems]


def _shortened(text, keep=40):
    """A value quoted in a message: whole when short, else its start and how long it is."""
    return text if len(text) <= keep else f"{text[:keep]}… ({len(text)} characters)"


def as_float(number):
    """An int or float as a float; an integer too large for a float (400 digits) is infinite: out of range."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


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

    def error(self, name, message, /, **params):   # positional: a template may have a %(name)s
        """Records a Problem; `message` is an N_-marked template when `params` fill its %(name)s places."""
        self.problems.append(problem(self.where, name, message, **params))
        return None

    def text(self, raw, name, *, required=False, max_len=MAX_SHORT):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return self.error(name, N_("is required")) if required else None
        if not isinstance(raw, str):
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                raw = str(raw)
            else:
                return self.error(name, N_("must be text"))
        if CONTROL_RE.search(raw):
            return self.error(name, N_("contains control characters (such as NUL), which are not allowed: remove them"))
        # invisible characters go first: removing one between a letter and its accent after NFC would leave
        # a text that NFC changes again, so a stored value would differ from itself on its next import
        value = unicodedata.normalize("NFC", INVISIBLE_RE.sub("", raw)).strip()
        if len(value) > max_len:
            return self.error(name, N_("is %(length)d characters long; the maximum is %(limit)d: shorten it"),
                              length=len(value), limit=max_len)
        if required and not value:
            return self.error(name, N_("is required"))
        return value or None

    def choice(self, raw, name, allowed, *, required=True, default=None):
        value = self.text(raw, name)
        if value is None:
            if required and default is None:
                return self.error(name, N_("is required: choose one of: %(allowed)s"), allowed=", ".join(allowed))
            return default
        value = value.lower().replace("_", "-").replace(" ", "-")
        if value not in allowed:
            return self.error(name, N_("'%(value)s' is not allowed; use one of: %(allowed)s"), value=value,
                              allowed=", ".join(allowed))
        return value

    def slug(self, raw, name, *, required=True):
        value = self.text(raw, name, required=required, max_len=100)
        if value is not None and not SLUG_RE.match(value):
            return self.error(name, N_("'%(value)s' is not a valid id: use lower-case letters, digits and hyphens"),
                              value=value)
        return value

    def year(self, raw, name):
        if raw is None or raw == "":
            return None
        text = str(raw).strip()
        if not YEAR_RE.match(text) or not 1900 <= int(text) <= 2100:
            return self.error(name, N_("'%(value)s' is not a year between 1900 and 2100"), value=_shortened(text))
        return int(text)

    def number(self, raw, name, low, high):
        if isinstance(raw, bool):
            return self.error(name, N_("must be a decimal number"))
        if isinstance(raw, (int, float)):
            value = as_float(raw)
        else:
            text = str(raw).strip() if raw is not None else ""
            if not text:
                return self.error(name, N_("is required"))
            if not DECIMAL_RE.match(text) or not text.isascii():
                return self.error(name, N_("'%(value)s' is not a decimal number (use digits and a dot, e.g. 12.5)"),
                                  value=_shortened(text))
            value = float(text)
        if not math.isfinite(value) or not low <= value <= high:
            return self.error(name, N_("%(value)s is out of range; it must be between %(low)s and %(high)s"),
                              value=_shortened(str(raw)), low=low, high=high)
        return value

    def url(self, raw, name):
        value = self.text(raw, name, max_len=500)
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
            return self.error(name, N_("only http:// and https:// web addresses are allowed"))
        return value

    def strings(self, raw, name, *, max_len=MAX_SHORT):
        if raw is None or raw == "":
            return []
        if isinstance(raw, str):
            raw = [part for part in re.split(r"[;|]", raw)]
        if not isinstance(raw, (list, tuple)):
            return self.error(name, N_("must be a list")) or []
        if len(raw) > MAX_LIST:
            return self.error(name, N_("has %(count)d entries; the maximum is %(limit)d"), count=len(raw),
                              limit=MAX_LIST) or []
        out = []
        for i, item in enumerate(raw):
            value = self.text(item, f"{name}[{i + 1}]", max_len=max_len)
            if value and value not in out:
                out.append(value)
        return out

    def choices(self, raw, name, allowed):
        """A list of values from `allowed`; each wrong entry is reported at its own path (name[i])."""
        values = [self.choice(v, f"{name}[{i}]", allowed) for i, v in enumerate(self.strings(raw, name), 1)]
        return [v for v in values if v]


def clean_organisation(raw, where=""):
    """Return (organisation, errors) for one raw organisation mapping."""
    c = Checker(where)
    if not isinstance(raw, dict):
        return None, [problem(c.where, "", N_("an organisation must be a mapping of fields"))]
    org = {
        "id": c.slug(raw.get("id"), "id"),
        "name": c.text(raw.get("name"), "name", required=True, max_len=MAX_TITLE),
        "acronym": c.text(raw.get("acronym"), "acronym", max_len=50),
        "aliases": c.strings(raw.get("aliases"), "aliases"),
        "type": c.choice(raw.get("type"), "type", ORG_TYPES, default="other"),
        "country": iso3(c, raw.get("country"), "country"),
        "website": c.url(raw.get("website"), "website"),
        "identifier": iati_identifier(c, raw.get("identifier"), "identifier", ORG_IDENTIFIER_EXAMPLE),
        "leads_areas": c.choices(raw.get("leads_areas"), "leads_areas", AREAS),
    }
    org["evidence"] = _evidence(c, raw.get("evidence"), ORG_EVIDENCE_FIELDS, lambda key: bool(org.get(key)),
                                _org_evidence_entry)
    return org, c.errors


# IATI identifiers (an organisation's, e.g. XM-DAC-41114; an activity's, its publisher's plus its own code, e.g.
# XM-DAC-41114-00012345) are checked loosely: IATI leaves their form to registration agencies and publishers,
# but a space, or a character that web addresses and IATI's tools read as a separator (IATI's identifier guidance
# asks publishers to leave out '/', '&', '|' and '?'), would break the links and lookups readers build on them
MAX_IATI_IDENTIFIER = 150
IATI_FORBIDDEN = "/&|?"
ORG_IDENTIFIER_EXAMPLE = "XM-DAC-41114 (UNDP) or GB-CHC-1234567"
ACTIVITY_IDENTIFIER_EXAMPLE = "XM-DAC-41114-00012345: the publisher's organisation identifier, a hyphen, its own code"


def iati_identifier(c, raw, name, example):
    """An IATI identifier as given (case kept: identifiers are matched exactly), or None when absent."""
    value = c.text(raw, name, max_len=MAX_IATI_IDENTIFIER)
    if value is None:
        return None
    if re.search(r"\s", value):
        return c.error(name, N_("'%(value)s' contains a space: an IATI identifier is one word, e.g. %(example)s; "
                                "remove the spaces (use hyphens)"), value=_shortened(value), example=example)
    bad = sorted({ch for ch in value if ch in IATI_FORBIDDEN})
    if bad:
        return c.error(name, N_("'%(value)s' contains %(characters)s, which an IATI identifier may not hold (web "
                                "addresses read them as separators); use hyphens instead, e.g. %(example)s"),
                       value=_shortened(value), characters=" and ".join(repr(ch) for ch in bad), example=example)
    return value


def iso3(c, raw, name):
    value = c.text(raw, name, max_len=3)
    if value is None:
        return None
    value = value.upper()
    if not ISO3_RE.match(value):
        return c.error(name, N_("'%(value)s' is not an ISO 3166-1 alpha-3 code (e.g. KEN)"), value=value)
    return value


def clean_location(c, raw, i, n_sources=0):
    """One location; `n_sources`: how many sources its record has (a stated place's `source` is one of them)."""
    name = f"locations[{i}]"
    if not isinstance(raw, dict):
        return c.error(name, N_("must be a mapping with name, precision, lat, lon"))
    loc = {
        "name": c.text(raw.get("name"), f"{name}.name", required=True, max_len=MAX_TITLE),
        "precision": c.choice(raw.get("precision"), f"{name}.precision", PRECISIONS),
        "lat": None,
        "lon": None,
        "country": iso3(c, raw.get("country"), f"{name}.country"),
    }
    loc["region"] = _region(c, raw.get("region"), name, loc)
    # a site or area that neither a source nor the gazetteer places is kept without a point (listed as "not
    # placed on the map"), never given an invented one
    if raw.get("lat") not in (None, "") or raw.get("lon") not in (None, ""):
        loc["lat"] = c.number(raw.get("lat"), f"{name}.lat", -90, 90)
        loc["lon"] = c.number(raw.get("lon"), f"{name}.lon", -180, 180)
    loc.update(_coords_source(c, raw, name, loc))
    # stated unless said otherwise; a stated place may leave out its source (older files, forms), the seed may not
    loc.update(_support(c, raw, name, n_sources, "locations", default="stated"))
    return loc


# a few regions a message offers as examples (each checked against geodata/regions.csv when shown)
REGION_EXAMPLES = ("002", "419", "142", "150", "amazon-basin")


def _region(c, raw, name, loc):
    """The canonical code of the region a location of precision 'region' is (core/regions.py): the given
    code or name in any spelling lookup_region resolves, else the location's own name when it is one (forms
    and imports may give only the name). Other precisions have no region."""
    known_problems = len(c.problems)
    value = c.text(raw, f"{name}.region", max_len=MAX_TITLE)
    precision = loc["precision"]
    if value is not None and precision not in (None, "region"):
        return c.error(f"{name}.region", N_("is only for precision 'region' (this location's is '%(precision)s'): "
                                            "remove it, or set the precision to 'region'"), precision=precision)
    if precision != "region" or len(c.problems) > known_problems:   # not a region, or unreadable text
        return None
    region = regions.lookup_region(value or loc["name"])
    if region is not None:
        return region.code
    if value is not None:
        return c.error(f"{name}.region", N_("'%(value)s' is not a region the registry knows: give a region code or "
                                            "name from /regions (%(examples)s)"), value=_shortened(value),
                       examples=_region_examples())
    if loc["name"]:
        return c.error(f"{name}.region", N_("is required for precision 'region', and the name '%(name)s' is not one "
                                            "the registry knows: give a region code or name from /regions "
                                            "(%(examples)s), or choose another precision"),
                       name=_shortened(loc["name"]), examples=_region_examples())
    return c.error(f"{name}.region", N_("is required for precision 'region': give a region code or name from "
                                        "/regions (%(examples)s), or choose another precision"),
                   examples=_region_examples())


def _region_examples():
    found = [regions.get_region(code) for code in REGION_EXAMPLES]
    return "e.g. " + ", ".join(f"{r.code} {r.name}" for r in found if r)


def _coords_source(c, raw, name, loc):
    """coords_source and gazetteer_id of a location (see COORDS_SOURCES). Coordinates that arrive without a
    source are an editor's; a gazetteer entry gives its point when the location has none."""
    place_id = c.text(raw.get("gazetteer_id"), f"{name}.gazetteer_id", max_len=100)
    default = "gazetteer" if place_id else ("editor" if loc["lat"] is not None else None)
    source = c.choice(raw.get("coords_source"), f"{name}.coords_source", COORDS_SOURCES, required=False,
                      default=default)
    if place_id or source == "gazetteer":
        return {"coords_source": source, "gazetteer_id": _gazetteer_point(c, name, place_id, source, loc)}
    if loc["lat"] is None and source not in (None, "country-point"):
        c.error(f"{name}.coords_source", N_("'%(value)s' needs lat and lon: give the coordinates, or leave "
                                            "coords_source empty for a place that is not placed on the map"),
                value=source)
    elif loc["lat"] is None and source == "country-point" and loc["precision"] != "country":
        c.error(f"{name}.coords_source", N_("'country-point' is filled in only for precision 'country': give "
                                            "lat and lon, or leave coords_source empty"))
    return {"coords_source": source, "gazetteer_id": None}


def _gazetteer_point(c, name, place_id, source, loc):
    """The checked gazetteer id (None after an error); fills the location's point from the entry."""
    if source not in (None, "gazetteer"):     # None: a wrong coords_source, already reported
        return c.error(f"{name}.gazetteer_id", N_("is only for coords_source 'gazetteer' (this one says "
                                                  "'%(source)s'): remove it, or set coords_source to 'gazetteer'"),
                       source=source)
    if not place_id:
        return c.error(f"{name}.gazetteer_id", N_("is required when coords_source is 'gazetteer': name an entry of "
                                                  "geodata/gazetteer.csv (e.g. geonames:2294768)"))
    place = geo.gazetteer_place(place_id)
    if place is None:
        return c.error(f"{name}.gazetteer_id", N_("'%(value)s' is not in the registry's gazetteer (geodata/"
                                                  "gazetteer.csv): use one of its ids, or give the coordinates "
                                                  "with coords_source 'editor'"), value=place_id)
    loc["country"] = loc["country"] or place.country
    if loc["lat"] is None:
        loc["lat"], loc["lon"] = place.lat, place.lon
    elif (loc["lat"], loc["lon"]) != (place.lat, place.lon):
        return c.error(f"{name}.lat", N_("%(lat)s, %(lon)s is not the point of gazetteer entry %(id)s (%(place)s: "
                                         "%(place_lat)s, %(place_lon)s): remove lat and lon to use the entry's "
                                         "point, or remove gazetteer_id and set coords_source to 'editor'"),
                       lat=loc["lat"], lon=loc["lon"], id=place_id, place=place.name, place_lat=place.lat,
                       place_lon=place.lon)
    return place_id


# one whole message for each kind of value (`what` of _support), so that French and Spanish can agree with it
ONLY_FOR_STATED = {
    "locations": N_("is only for stated locations: remove it, or set basis to 'stated' (and remove the reason)"),
    "roles": N_("is only for stated roles: remove it, or set basis to 'stated' (and remove the reason)"),
    "values": N_("is only for stated values: remove it, or set basis to 'stated' (and remove the reason)"),
}
ONLY_FOR_INFERRED = {
    "locations": N_("is only for inferred locations: remove it, or set basis to 'inferred'"),
    "roles": N_("is only for inferred roles: remove it, or set basis to 'inferred'"),
    "values": N_("is only for inferred values: remove it, or set basis to 'inferred'"),
}


def _support(c, raw, name, n_sources, what, default=None):
    """basis, source and reason of one value (`what`: locations, roles, values; for messages): stated, with the
    number of the source whose quote says so, or inferred, with a one-line reason. With `default` None a value
    may leave all three out (None: not recorded, as forms and imports may); with 'stated' (locations) the
    basis is stated unless said otherwise, and its source may stay unnamed (older files)."""
    given = raw.get("basis") not in (None, "")
    basis = c.choice(raw.get("basis"), f"{name}.basis", BASES, required=False, default=default)
    source = _source_number(c, raw.get("source"), f"{name}.source", n_sources)
    reason = c.text(raw.get("reason"), f"{name}.reason", max_len=MAX_SHORT)
    if given and basis is None:             # a wrong basis, already reported
        return {"basis": None, "source": source, "reason": reason}
    if basis is None and (source is not None or reason):
        c.error(f"{name}.basis", N_("is required with a source or a reason: 'stated' (with the number of the "
                                    "source that says so) or 'inferred' (with a one-line reason)"))
    elif basis == "inferred":
        if not reason:
            c.error(f"{name}.reason", N_("is required when basis is 'inferred': say in one line why it is "
                                         "inferred (e.g. 'programme launch year', 'area lead of the Waste "
                                         "Management area')"))
        elif "\n" in reason:
            c.error(f"{name}.reason", N_("must be one line: remove the line breaks"))
        if source is not None:
            c.error(f"{name}.source", ONLY_FOR_STATED[what])
    elif basis == "stated":
        if reason:
            c.error(f"{name}.reason", ONLY_FOR_INFERRED[what])
        if source is None and default is None and raw.get("source") in (None, ""):
            c.error(f"{name}.source", N_("is required when basis is 'stated': give the number of the source (1 "
                                         "for the first) whose quote says so, or set basis to 'inferred' with a "
                                         "reason"))
    return {"basis": basis, "source": source, "reason": reason}


SOURCE_NUMBER_RE = re.compile(r"^\s*\d{1,6}\s*$")


def _source_number(c, raw, name, n_sources):
    """The number of one of the record's sources (from 1), or None when absent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and SOURCE_NUMBER_RE.match(raw))):
        return c.error(name, N_("'%(value)s' is not a source number: give the number of the source (1 for the "
                                "first) whose quote says so"), value=_shortened(str(raw)))
    number = int(raw)
    if not 1 <= number <= n_sources:
        if not n_sources:
            return c.error(name, N_("there is no source %(number)d: this record has no sources; add the source "
                                    "whose quote says so, or set basis to 'inferred' with a reason"), number=number)
        if n_sources == 1:
            return c.error(name, N_("there is no source %(number)d: this record has 1 source; give 1"), number=number)
        return c.error(name, N_("there is no source %(number)d: this record has %(count)d sources; give the number "
                                "(1 to %(count)d) of the one whose quote says so"), number=number, count=n_sources)
    return number


def _evidence(c, raw, fields, has_value, entry):
    """A record's `evidence`: {field: its support} for those of `fields` that have a value (`has_value(field)`),
    each checked by `entry(c, raw entry, path)`, in `fields` order; {} when absent (not recorded)."""
    if raw is None:
        return {}
    shape = "{basis: stated, source: N} or {basis: inferred, reason: ...}"
    if not isinstance(raw, dict):
        c.error("evidence", N_("must be a mapping from %(fields)s to %(shape)s"), fields=", ".join(fields),
                shape=shape)
        return {}
    out = {}
    for key, value in raw.items():
        name = f"evidence.{key}"
        if key not in fields:
            c.error(name, N_("'%(value)s' is not a field whose basis is recorded; evidence records the basis of: "
                             "%(fields)s"), value=_shortened(str(key)), fields=", ".join(fields))
        elif not has_value(key):
            if not any(p.field == key for p in c.problems):     # (a wrong value is reported already)
                if key == "status":
                    c.error(name, N_("%(field)s is unknown, so there is nothing to support: remove this entry, or "
                                     "give %(field)s a value"), field=key)
                else:
                    c.error(name, N_("%(field)s has no value, so there is nothing to support: remove this entry, or "
                                     "give %(field)s a value"), field=key)
        elif not isinstance(value, dict):
            c.error(name, N_("must be %(shape)s"), shape=shape)
        elif set(value) - {"basis", "source", "reason"}:
            c.error(name, N_("has %(keys)s: the keys of an evidence entry are basis, and source (stated) or reason "
                             "(inferred)"), keys=", ".join(sorted(map(str, set(value) - {"basis", "source", "reason"}))))
        else:
            out[key] = entry(c, value, name)
    return {key: out[key] for key in fields if out.get(key)}


def _project_evidence_entry(c, raw, name, n_sources):
    if raw.get("basis") in (None, ""):
        return c.error(f"{name}.basis", N_("is required: 'stated' (with the number of the source that says so) or "
                                           "'inferred' (with a one-line reason)"))
    return _compact(_support(c, raw, name, n_sources, "values"))


def _org_evidence_entry(c, raw, name):
    """An organisation has no sources: only names the report does not write are marked, as inferred."""
    if str(raw.get("basis") or "").strip().lower() != "inferred":
        return c.error(f"{name}.basis", N_("must be 'inferred' (with a one-line reason): an organisation has no "
                                           "sources to point at, so a name the report writes needs no entry; "
                                           "remove it"))
    return _compact(_support(c, raw, name, 0, "values"))


def _compact(support):
    """An evidence entry as stored: {basis, source} when stated, {basis, reason} when inferred."""
    if support["basis"] is None:
        return None
    key = "source" if support["basis"] == "stated" else "reason"
    return {"basis": support["basis"], key: support[key]}


# the message of each list field that is not a list, whole (a translation may need to change its words)
LIST_OF = {"locations": N_("must be a list of locations"), "organisations": N_("must be a list of {org, role}"),
           "sources": N_("must be a list of {section, quote}")}


def list_of(c, raw, name, what):   # (what: the entries, as LIST_OF[name] says)
    """A list field of a record: [] when absent (None); any other value that is not a list is an error
    (never read as an empty list, which would drop what it held)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.error(name, LIST_OF[name])
        return []
    return raw


def check_count(c, items, name):
    """An error, never a silent cut, when a project lists more `name` entries than MAX_ITEMS allows."""
    if len(items) > MAX_ITEMS[name]:
        c.error(name, N_("has %(count)d entries; the maximum is %(limit)d: split the project into several (e.g. "
                         "one per country, with `parent`)"), count=len(items), limit=MAX_ITEMS[name])


def _translations(c, raw):
    """The French and Spanish versions of the title and summary (title_fr, summary_es...: issue 13), cleaned
    as their English fields are and with the same limits; a blank one is absent, not empty."""
    out = {}
    for name in translated_field_names():
        value = c.text(raw.get(name), name, max_len=MAX_TITLE if name.startswith("title_") else MAX_SUMMARY)
        if value:
            out[name] = value
    return out


def clean_project(raw, where=""):
    """Return (project, errors) for one raw project mapping (seed, CSV row, JSON, form)."""
    c = Checker(where)
    if not isinstance(raw, dict):
        return None, [problem(c.where, "", N_("a project must be a mapping of fields"))]
    p = {
        "id": c.slug(raw.get("id"), "id"),
        "title": c.text(raw.get("title"), "title", required=True, max_len=MAX_TITLE),
        "summary": c.text(raw.get("summary"), "summary", max_len=MAX_SUMMARY),
        **_translations(c, raw),
        "description": c.text(raw.get("description"), "description", max_len=MAX_TEXT),
        "kind": c.choice(raw.get("kind"), "kind", KINDS, default="project"),
        "area": c.choice(raw.get("area"), "area", AREAS),
        "other_areas": c.choices(raw.get("other_areas"), "other_areas", AREAS),
        "status": c.choice(raw.get("status"), "status", STATUSES, default="unknown"),
        "start_year": c.year(raw.get("start_year"), "start_year"),
        "end_year": c.year(raw.get("end_year"), "end_year"),
        "parent": c.slug(raw.get("parent"), "parent", required=False),
        "countries": [iso3(c, x, f"countries[{i}]")
                      for i, x in enumerate(c.strings(raw.get("countries"), "countries"), 1)],
        "keywords": c.strings(raw.get("keywords"), "keywords", max_len=100),
        "website": c.url(raw.get("website"), "website"),
        "iati_identifier": iati_identifier(c, raw.get("iati_identifier"), "iati_identifier",
                                           ACTIVITY_IDENTIFIER_EXAMPLE),
    }
    if p["start_year"] and p["end_year"] and p["end_year"] < p["start_year"]:
        c.error("end_year", N_("%(end)d is before the start year %(start)d: correct either year"), end=p["end_year"],
                start=p["start_year"])
    if p["parent"] and p["parent"] == p["id"]:
        c.error("parent", N_("a project cannot be its own parent"))
    p["other_areas"] = [a for a in p["other_areas"] if a and a != p["area"]]

    n_sources = len(raw["sources"]) if isinstance(raw.get("sources"), list) else 0
    p["evidence"] = _evidence(c, raw.get("evidence"), EVIDENCE_FIELDS,
                              lambda key: p.get(key) not in (None, "unknown"),
                              lambda c_, entry, name: _project_evidence_entry(c_, entry, name, n_sources))
    locations = list_of(c, raw.get("locations"), "locations", "locations")
    check_count(c, locations, "locations")
    p["locations"] = [clean_location(c, loc, i + 1, n_sources) for i, loc in enumerate(locations)]
    if not p["locations"]:
        c.error("locations", N_("at least one location is needed (use precision 'global' for worldwide work)"))

    roles = list_of(c, raw.get("organisations"), "organisations", "{org, role}")
    check_count(c, roles, "organisations")
    p["organisations"] = _roles(c, roles, n_sources)

    sources = list_of(c, raw.get("sources"), "sources", "{section, quote}")
    p["sources"] = []
    check_count(c, sources, "sources")
    for i, s in enumerate(sources):
        if not isinstance(s, dict):
            c.error(f"sources[{i + 1}]", N_("must be a mapping with document, section and quote"))
            continue
        p["sources"].append({
            "document": c.text(s.get("document"), f"sources[{i + 1}].document", max_len=MAX_TITLE),
            "section": c.text(s.get("section"), f"sources[{i + 1}].section", max_len=MAX_TITLE),
            "quote": c.text(s.get("quote"), f"sources[{i + 1}].quote", required=True, max_len=MAX_TEXT),
        })
    return canonical_order(p), c.errors


def _roles(c, roles, n_sources):
    """A project's roles: {org, role, basis, source, reason}, each (org, role) once; the same role listed
    twice with a different basis is an error (which one holds?)."""
    out = {}
    for i, r in enumerate(roles, 1):
        if not isinstance(r, dict):
            c.error(f"organisations[{i}]", N_("must be a mapping with org and role"))
            continue
        entry = {"org": c.slug(r.get("org"), f"organisations[{i}].org"),
                 "role": c.choice(r.get("role"), f"organisations[{i}].role", ROLES)}
        entry.update(_support(c, r, f"organisations[{i}]", n_sources, "roles"))
        key = (entry["org"], entry["role"])
        if key in out and out[key] != entry:
            c.error(f"organisations[{i}]", N_("'%(org)s' is listed as %(role)s twice, with a different basis: list "
                                              "each role of an organisation once"), org=entry["org"], role=entry["role"])
        out.setdefault(key, entry)
    return list(out.values())


def canonical_order(project):
    """Put the lists of a project whose order means nothing in one order (in place; returns the project):
    countries and other_areas sorted, organisations by role (ROLES order) then org id, so a file that
    lists them differently is unchanged (core/records.py). Entries left None by an error sort first."""
    project["countries"] = sorted(project["countries"], key=lambda c: c or "")
    project["other_areas"] = sorted(project["other_areas"], key=lambda a: a or "")
    project["organisations"] = sorted(
        project["organisations"],
        key=lambda e: (ROLES.index(e["role"]) if e["role"] in ROLES else len(ROLES), e["org"] or ""))
    return project


def check_references(projects, organisations, known_projects=(), known_orgs=(), countries=None, *,
                     project_where=(), org_where=(), stored_parents=None):
    """Cross-record checks: unique ids, roles point at organisations, parents at projects without making a
    cycle, country codes are real. Returns a list of Problems. `project_where` / `org_where`: the records'
    labels ("row 3", "projects[2]") in the same order; a record without one is named "project <id>" /
    "organisation <id>". `stored_parents`: {id: parent id} of stored projects above the batch's (see
    parent_cycles). Records left None or partly None by clean_* errors are skipped where they are
    incomplete. Entries are counted in the normalised record (countries and organisations sorted by
    canonical_order)."""
    project_labels = _labels("project", projects, project_where)
    org_labels = _labels("organisation", organisations, org_where)
    org_ids, problems = _check_unique("organisation", organisations, org_labels)
    project_ids, more = _check_unique("project", projects, project_labels)
    org_ids |= set(known_orgs)
    project_ids |= set(known_projects)
    problems += more
    for p, where in zip(projects, project_labels):
        if p is not None:
            problems += _project_references(p, where, org_ids, project_ids, countries)
    for o, where in zip(organisations, org_labels):
        if o is not None and countries is not None and o.get("country") and o["country"] not in countries:
            problems.append(_unknown_country(where, "country", o["country"]))
    return problems + parent_cycles(projects, project_labels, stored_parents or {})


def parent_cycles(projects, labels, stored_parents):
    """A Problem for each cycle of parents the batch would make (A -> B -> A: then neither could be deleted,
    each being the other's part), on the batch's first project in it. The batch's parent links override
    the stored ones (`stored_parents`: {id: parent id}, those above the batch's projects suffice)."""
    links = dict(stored_parents)
    links.update({p["id"]: p.get("parent") for p in projects if p and p.get("id")})
    problems, reported = [], set()
    for p, where in zip(projects, labels):
        if not p or not p.get("id") or not p.get("parent") or p["parent"] == p["id"]:   # itself: clean_project
            continue
        chain = [p["id"]]
        while links.get(chain[-1]) and links[chain[-1]] not in chain:
            chain.append(links[chain[-1]])
        if links.get(chain[-1]) != p["id"] or frozenset(chain) in reported:
            continue    # no cycle, or one above this project that its own members report
        reported.add(frozenset(chain))
        problems.append(problem(where, "parent", N_("'%(parent)s' would make a cycle of parents: %(cycle)s; a "
                                                    "project cannot be a part of its own parts: choose another "
                                                    "parent, or leave it empty"),
                                parent=p["parent"], cycle=" -> ".join(chain + [p["id"]])))
    return problems


def _labels(kind, records, given):
    given = list(given)
    return [(given[i].rstrip(": ") if i < len(given) and given[i] else "")
            or f"{kind} {(r or {}).get('id') or i + 1}" for i, r in enumerate(records)]


def _check_unique(kind, records, labels):
    """-> (ids of the batch, a Problem for each id already used earlier in the batch)."""
    seen, problems = set(), []
    for r, where in zip(records, labels):
        rid = (r or {}).get("id")
        if rid and rid in seen:
            template = (N_("duplicate id: '%(id)s' is already the id of an earlier project in this file; give each "
                           "project its own id") if kind == "project" else
                        N_("duplicate id: '%(id)s' is already the id of an earlier organisation in this file; give "
                           "each organisation its own id"))
            problems.append(problem(where, "id", template, id=rid))
        if rid:
            seen.add(rid)
    return seen, problems


def _unknown_country(where, name, code):
    return problem(where, name, N_("'%(code)s' is not a known ISO 3166-1 alpha-3 country code: use a code such as "
                                   "KEN (Kenya)"), code=code)


def _unknown_org(where, name, role):
    """The role's organisation does not exist; the role (funder, lead...) is named when there is one."""
    if not role.get("role"):
        return problem(where, name, N_("organisation '%(org)s' does not exist: add it to the organisations first, or "
                                       "fix the id"), org=role["org"])
    return problem(where, name, N_("organisation '%(org)s' does not exist (named as %(role)s): add it to the "
                                   "organisations first, or fix the id"), org=role["org"], role=role["role"])


def _project_references(p, where, org_ids, project_ids, countries):
    problems = []
    for i, r in enumerate(p.get("organisations") or [], 1):
        if r.get("org") and r["org"] not in org_ids:
            problems.append(_unknown_org(where, f"organisations[{i}].org", r))
    if p.get("parent") and p["parent"] not in project_ids:
        problems.append(problem(where, "parent", N_("parent '%(parent)s' does not exist: use the id of a project in "
                                                    "the registry or in this file, or leave it empty"),
                                parent=p["parent"]))
    if countries is None:
        return problems
    for i, code in enumerate(p.get("countries") or [], 1):
        if code and code not in countries:
            problems.append(_unknown_country(where, f"countries[{i}]", code))
    for i, loc in enumerate(p.get("locations") or [], 1):
        if loc and loc.get("country") and loc["country"] not in countries:
            problems.append(_unknown_country(where, f"locations[{i}].country", loc["country"]))
    return problems


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
