"""One URL query string drives the list, the map, the embed, the PNG and the exports.

`parse_query(args)` turns request arguments into a `ProjectQuery` (pure: no I/O); it raises
`QueryError` with a message that says how to fix the request. `resolve(query, db)` then maps
country names and organisation names to codes and ids. `parse_organisation_query` and
`resolve_organisation_query` do the same for the organisation list.

Repeating a list parameter (country, area...) means OR; a single-valued one (q, page, per_page...)
given twice is an error, since which of the two was meant cannot be guessed.
"""
import difflib
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from . import regions as region_table
from .geo import fold
from .language import N_
from .validate import AREAS, KINDS, ORG_TYPES, ROLES, STATUSES

MAX_Q = 200
MAX_TERMS = 20
MAX_PER_PAGE = 100
MAX_PAGE = 10_000
MAX_VALUES = 50
DEFAULT_PER_PAGE = 20
DEFAULT_FACET_SIZE = 10     # facet values a list shows; `facet_size=max` shows them all
MAX_FACET_SIZE = 1000
SORT_CHOICES = ("relevance", "title", "start_year", "-start_year", "updated")
LIST_PARAMS = ("country", "region", "funder", "org", "role", "area", "status", "kind", "source")
# The precisions of the locations drawn as points on the maps (maps/data.py DRAWN): a bbox keeps the projects
# with one of these inside it, so that "search this area" finds what the map shows there.
POINT_PRECISIONS = ("site", "subnational", "country")
BBOX_FORM = "bbox=minlon,minlat,maxlon,maxlat"   # shown as %(form)s in the messages: the same in every language
BBOX_EXAMPLE = "bbox=-20,-35,55,38"
BBOX_DECIMALS = 4
_PLAIN_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")   # ASCII decimals only: no nan, inf, 1e3, 1_000


@dataclass(frozen=True)
class Bbox:
    """A box of longitudes and latitudes (degrees, rounded to BBOX_DECIMALS). `west > east` means it
    crosses the antimeridian: 170,-25,-170,-10 holds Fiji (178) and Samoa (-172)."""
    west: float
    south: float
    east: float
    north: float

    @property
    def wraps(self):
        return self.west > self.east

    def __str__(self):
        """The canonical URL form: 4 decimals at most, no trailing zeros ("-20,-35,55.5,38")."""
        return ",".join(_short_number(v) for v in (self.west, self.south, self.east, self.north))


def _short_number(value):
    text = f"{value:.{BBOX_DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def with_query(url, query_string):
    """`url` with `query_string` added, whether or not `url` already has a query (url_for may add lang=)."""
    if not query_string:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query_string}"


def parse_bbox(text):
    """'minlon,minlat,maxlon,maxlat' -> Bbox; QueryError showing the expected form when malformed."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4 or not all(_PLAIN_NUMBER.fullmatch(p) for p in parts):
        raise QueryError(N_("'bbox' must be four numbers separated by commas: %(form)s, e.g. %(example)s"),
                         "invalid_bbox", form=BBOX_FORM, example=BBOX_EXAMPLE)
    west, south, east, north = (round(float(p), BBOX_DECIMALS) for p in parts)
    if not all(-180 <= lon <= 180 for lon in (west, east)):
        raise QueryError(N_("the longitudes of 'bbox' must be between -180 and 180: %(form)s, e.g. %(example)s"),
                         "invalid_bbox", form=BBOX_FORM, example=BBOX_EXAMPLE)
    if not all(-90 <= lat <= 90 for lat in (south, north)):
        raise QueryError(N_("the latitudes of 'bbox' must be between -90 and 90: %(form)s, e.g. %(example)s"),
                         "invalid_bbox", form=BBOX_FORM, example=BBOX_EXAMPLE)
    if south > north:
        raise QueryError(N_("the south latitude of 'bbox' (minlat, the second number) is north of its north "
                            "latitude (maxlat, the fourth); swap them: %(form)s, e.g. %(example)s (a minlon "
                            "greater than maxlon is fine: the box then crosses the antimeridian)"),
                         "invalid_bbox", form=BBOX_FORM, example=BBOX_EXAMPLE)
    return Bbox(west, south, east, north)


class QueryError(ValueError):
    """A request that cannot be answered as written: `code` for programs, `message` (English) for people.

    `template` is the message as a gettext msgid with named placeholders (marked with N_ where raised) and
    `params` its values, so the web layer can say it in the request's language:
    `words.gettext(err.template) % err.params` (web/errors.py). Without params the template is the message
    itself (older callers pass a finished English sentence)."""

    def __init__(self, message, code="invalid_parameter", **params):
        self.template, self.params = message, params
        self.message, self.code = (message % params if params else message), code
        super().__init__(self.message)

    def translated(self, words):
        """The message in the language of `words` (gettext's interface)."""
        template = words.gettext(self.template)
        return template % self.params if self.params else template


class _Links:
    """URL parameters of a query (shared by ProjectQuery and OrganisationQuery), in a stable order and
    without defaults, so equal queries give equal URLs. LISTS: (parameter, attribute) of the repeatable
    filters, which are also the facets a value can be toggled in."""
    LISTS = ()

    def _middle_params(self):
        return []

    def params(self, **changes):
        f = replace(self, **changes) if changes else self
        pairs = [("q", f.q)] if f.q else []
        for name, attr in self.LISTS:
            pairs += [(name, v) for v in getattr(f, attr)]
        pairs += f._middle_params()
        if f.page != 1:
            pairs.append(("page", f.page))
        if f.per_page != DEFAULT_PER_PAGE:
            pairs.append(("per_page", f.per_page))
        if f.facet_size != DEFAULT_FACET_SIZE:
            pairs.append(("facet_size", "max" if f.facet_size is None else f.facet_size))
        return pairs

    def url_query(self, **changes):
        # commas stay readable (bbox=-20,-35,55,38); parsers read "," and "%2C" alike
        return urlencode(self.params(**changes), safe=",")

    def toggled(self, facet, value):
        """The query string with a facet value added, or removed if it is already selected (page reset)."""
        attr = dict(self.LISTS)[facet]
        current = getattr(self, attr)
        new = tuple(v for v in current if v != value) if value in current else current + (value,)
        return self.url_query(**{attr: new, "page": 1})

    def toggler(self, facet):
        """`toggled` for one facet as a function of the value, the rest of the query encoded once: a facet
        shown whole (facet_size=max) has hundreds of values, each with its link, on every request."""
        attr = dict(self.LISTS)[facet]
        current = getattr(self, attr)
        pairs = self.params(**{attr: (), "page": 1})
        split = (1 if self.q else 0) + sum(len(getattr(self, a)) for _, a in self.LISTS[:self._list_index(attr)])
        before, after = urlencode(pairs[:split], safe=","), urlencode(pairs[split:], safe=",")

        def toggle(value):
            new = tuple(v for v in current if v != value) if value in current else current + (value,)
            return "&".join(part for part in (before, urlencode([(facet, v) for v in new], safe=","), after) if part)
        return toggle

    def _list_index(self, attr):
        return [a for _, a in self.LISTS].index(attr)


@dataclass(frozen=True)
class ProjectQuery(_Links):
    q: str = ""
    countries: tuple = ()
    funders: tuple = ()
    orgs: tuple = ()
    roles: tuple = ()
    areas: tuple = ()
    statuses: tuple = ()
    kinds: tuple = ()
    year_from: int | None = None
    year_to: int | None = None
    sort: str = ""
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    facet_size: int | None = DEFAULT_FACET_SIZE    # None: every value
    unresolved: dict = field(default_factory=dict, compare=False)
    sources: tuple = ()     # ids of source records: the projects that cite one of them
    regions: tuple = ()     # region codes (core/regions.py): the projects in one of them (region_scope)
    bbox: Bbox | None = None    # the projects with a point (POINT_PRECISIONS) inside this box

    LISTS = (("country", "countries"), ("region", "regions"), ("funder", "funders"), ("org", "orgs"), ("role", "roles"),
             ("area", "areas"), ("status", "statuses"), ("kind", "kinds"), ("source", "sources"))

    @property
    def has_filters(self):
        return bool(self.countries or self.regions or self.funders or self.orgs or self.areas or self.statuses
                    or self.kinds or self.sources or self.year_from is not None or self.year_to is not None
                    or self.bbox is not None)

    @property
    def effective_sort(self):
        return self.sort or ("relevance" if self.q else "title")

    def _middle_params(self):
        pairs = [] if self.bbox is None else [("bbox", str(self.bbox))]
        if self.year_from is not None:
            pairs.append(("year_from", self.year_from))
        if self.year_to is not None:
            pairs.append(("year_to", self.year_to))
        return pairs + ([("sort", self.sort)] if self.sort else [])

    def filter_params(self):
        """Only the selection (no paging, sort or facet size): what the map, PNG and exports need."""
        return urlencode(self.params(page=1, per_page=DEFAULT_PER_PAGE, sort="", facet_size=DEFAULT_FACET_SIZE),
                         safe=",")


@dataclass(frozen=True)
class OrganisationQuery(_Links):
    """What the organisation list shows: a search, types and (head office) countries, a page."""
    q: str = ""
    types: tuple = ()
    countries: tuple = ()
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    facet_size: int | None = DEFAULT_FACET_SIZE

    LISTS = (("type", "types"), ("country", "countries"))

    @property
    def has_filters(self):
        return bool(self.types or self.countries)


def _first(args, name):
    """The one value of a single-valued parameter (None when absent); given twice is an error."""
    values = args.getlist(name) if hasattr(args, "getlist") else ([args[name]] if name in args else [])
    if len(values) > 1:
        raise QueryError(N_("'%(name)s' is given %(count)s times; give it once (only filters such as "
                            "country or area may be repeated)"), name=name, count=len(values))
    return values[0] if values else None


def _values(args, name):
    values = args.getlist(name) if hasattr(args, "getlist") else ([args[name]] if name in args else [])
    out = []
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
                if len(out) > MAX_VALUES:   # checked while collecting: `in out` is quadratic
                    raise QueryError(N_("too many values for '%(name)s' (more than %(max)s); "
                                        "the maximum is %(max)s"), name=name, max=MAX_VALUES)
    for v in out:
        if len(v) > MAX_Q or "\x00" in v:
            raise QueryError(N_("a value of '%(name)s' is too long or contains control characters"), name=name)
    return out


def _int(args, name, low, high, default=None):
    raw = _first(args, name)
    if raw is None or str(raw).strip() == "":
        return default
    text = str(raw).strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise QueryError(N_("'%(name)s' must be a whole number between %(low)s and %(high)s"),
                         name=name, low=low, high=high)
    value = int(text)
    if not low <= value <= high:
        raise QueryError(N_("'%(name)s' must be between %(low)s and %(high)s"), name=name, low=low, high=high)
    return value


def _choices(args, name, allowed):
    values = [v.lower() for v in _values(args, name)]
    for v in values:
        if v not in allowed:
            raise QueryError(N_("unknown %(name)s '%(value)s'; use one of: %(allowed)s"),
                             name=name, value=v[:40], allowed=", ".join(allowed))
    return tuple(values)


def _facet_size(args):
    raw = _first(args, "facet_size")
    if raw == "max":
        return None
    try:
        return _int(args, "facet_size", 1, MAX_FACET_SIZE, DEFAULT_FACET_SIZE)
    except QueryError:
        raise QueryError(N_("'facet_size' must be a whole number from 1 to %(max)s, or max (every value)"),
                         max=MAX_FACET_SIZE) from None


def check_text_query(q):
    """Length and term limits, checked before any parsing."""
    if q is None:
        return ""
    if "\x00" in q or any(0xD800 <= ord(ch) <= 0xDFFF for ch in q):
        raise QueryError(N_("the search text contains characters that are not allowed (NUL or broken unicode)"),
                         "invalid_query")
    q = " ".join(q.split())
    if len(q) > MAX_Q:
        raise QueryError(N_("the search text is too long (%(length)s characters; the maximum is %(max)s)"),
                         "query_too_long", length=len(q), max=MAX_Q)
    if len(q.split()) > MAX_TERMS:
        raise QueryError(N_("the search has too many words (%(count)s; the maximum is %(max)s)"),
                         "too_many_terms", count=len(q.split()), max=MAX_TERMS)
    return q


def parse_query(args, default_per_page=DEFAULT_PER_PAGE):
    """Request arguments -> ProjectQuery. Repeating a parameter means OR; commas also separate values."""
    q = check_text_query(_first(args, "q"))
    year_from = _int(args, "year_from", 1900, 2100)
    year_to = _int(args, "year_to", 1900, 2100)
    if year_from is not None and year_to is not None and year_to < year_from:
        raise QueryError(N_("'year_to' is before 'year_from'; swap them"))
    sort = (_first(args, "sort") or "").strip()
    if sort and sort not in SORT_CHOICES:
        raise QueryError(N_("unknown sort '%(value)s'; use one of: %(allowed)s"), "unknown_sort",
                         value=sort[:40], allowed=", ".join(SORT_CHOICES))
    bbox = _first(args, "bbox")
    return ProjectQuery(
        q=q,
        countries=tuple(_values(args, "country")),
        regions=tuple(_values(args, "region")),
        funders=tuple(_values(args, "funder")),
        orgs=tuple(_values(args, "org")),
        roles=_choices(args, "role", ROLES),
        areas=_choices(args, "area", tuple(AREAS)),
        statuses=_choices(args, "status", STATUSES),
        kinds=_choices(args, "kind", KINDS),
        sources=tuple(v.lower() for v in _values(args, "source")),
        year_from=year_from,
        year_to=year_to,
        bbox=parse_bbox(bbox) if bbox is not None and str(bbox).strip() else None,
        sort=sort,
        page=_int(args, "page", 1, MAX_PAGE, 1),
        per_page=_int(args, "per_page", 1, MAX_PER_PAGE, default_per_page),
        facet_size=_facet_size(args),
    )


def parse_paging(args, default_per_page=DEFAULT_PER_PAGE):
    """(page, per_page) of a list that has no other parameters, validated as everywhere else."""
    return _int(args, "page", 1, MAX_PAGE, 1), _int(args, "per_page", 1, MAX_PER_PAGE, default_per_page)


def parse_organisation_query(args):
    """Request arguments -> OrganisationQuery, validated as parse_query validates a project query."""
    return OrganisationQuery(
        q=check_text_query(_first(args, "q")),
        types=_choices(args, "type", tuple(ORG_TYPES)),
        countries=tuple(_values(args, "country")),
        page=_int(args, "page", 1, MAX_PAGE, 1),
        per_page=_int(args, "per_page", 1, MAX_PER_PAGE, DEFAULT_PER_PAGE),
        facet_size=_facet_size(args),
    )


def _country_codes(texts, lookup_country):
    """ISO3 codes of country names or codes, without repeats; QueryError for one that is not known."""
    codes = []
    for text in texts:
        c = lookup_country(text)
        if c is None:
            raise QueryError(N_("unknown country '%(value)s': use an ISO code or a name in English, French or "
                                "Spanish, e.g. KEN or Kenya"), "unknown_country", value=text[:60])
        codes.append(c.iso3)
    return tuple(dict.fromkeys(codes))


def _region_codes(texts):
    """Region codes of region codes or names (any of the three languages), without repeats; QueryError
    for one that is not known, naming a near name when there is one."""
    codes = []
    for text in texts:
        region = region_table.lookup_region(text)
        if region is None:
            raise _unknown_region(text)
        codes.append(region.code)
    return tuple(dict.fromkeys(codes))


def _unknown_region(text):
    """The QueryError of a region name or code that is not known, naming a near name when there is one
    (one whole sentence per case, so that each language can word it)."""
    near = _near_region(text)
    if near:
        return QueryError(N_("unknown region '%(value)s': use an M49 code or a region name in English, French or "
                             "Spanish, e.g. 419 or Latin America and the Caribbean (see /regions); did you mean "
                             "%(near)s?"), "unknown_region", value=text[:60], near=near)
    return QueryError(N_("unknown region '%(value)s': use an M49 code or a region name in English, French or "
                         "Spanish, e.g. 419 or Latin America and the Caribbean (see /regions)"),
                      "unknown_region", value=text[:60])


def _near_region(text):
    """The region name closest to a mistyped one (any language), or None."""
    names = {fold(name): name for r in region_table.all_regions() for name in r.names.values()}
    names.update((fold(alias), alias) for alias in region_table.ALIASES if len(alias) > 4)   # not LAC, LDC...
    close = difflib.get_close_matches(fold(text), list(names), n=1, cutoff=0.75)
    return names[close[0]] if close else None


def region_scope(codes):
    """What a filter on these regions keeps: (the member countries of any of them, the region codes a
    region-precision location may carry to be in one of them). A location's region is in R when it is R
    or when its members are all members of R (South America 005 is within 419; the custom amazon-basin is
    within 005 and 419); a region with no members is only within itself."""
    wanted = [region_table.get_region(code) for code in codes]
    countries = frozenset().union(*(r.members for r in wanted))
    inner = {r.code for r in wanted}
    for candidate in region_table.all_regions():
        if candidate.members and any(candidate.members <= r.members for r in wanted):
            inner.add(candidate.code)
    return countries, tuple(sorted(inner))


def resolve_organisation_query(query, lookup_country):
    return replace(query, countries=_country_codes(query.countries, lookup_country))


def resolve(query, lookup_country, resolve_orgs, source_ids=None):
    """Map country names/codes to ISO3 and organisation names/acronyms to ids.

    `lookup_country(text) -> Country | None`; `resolve_orgs(texts) -> {text: id | None}`; `source_ids()`:
    the ids of the source records (read only when the query names a source).
    Unknown values raise QueryError naming the value and what would work instead."""
    if query.sources and source_ids is not None:
        known = source_ids()
        for source in query.sources:
            if source not in known:
                raise QueryError(N_("unknown source '%(value)s': use the id of a source (see /sources or "
                                    "/api/sources)"), "unknown_source", value=source[:60])
    countries = _country_codes(query.countries, lookup_country)
    regions = _region_codes(query.regions)
    orgs = resolve_orgs(list(query.funders + query.orgs))
    for text in query.funders + query.orgs:
        if orgs.get(text) is None:
            raise QueryError(N_("unknown organisation '%(value)s': use its id, name, acronym or an alias "
                                "(see /organisations)"), "unknown_organisation", value=text[:60])
    dedupe = lambda xs: tuple(dict.fromkeys(xs))  # noqa: E731
    return replace(query, countries=countries, regions=regions, funders=dedupe(orgs[t] for t in query.funders),
                   orgs=dedupe(orgs[t] for t in query.orgs))
