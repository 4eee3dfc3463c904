"""One readable summary of a project query: the words every view uses to say what a selection is.

`summarise(query, total, org_labels, source_titles)` turns a resolved ProjectQuery (country codes, region
codes, organisation ids) and its number of results into a `Summary`:

- `sentence`: "11 projects funded by GEF in Latin America and the Caribbean" (the list heading, the map
  page, the embed's caption, the newsletter snippet; more than a few countries are counted, not named);
- `full`: the same with every country named and a bbox's coordinates (an image's alt text, page titles);
- `short`: the filters alone, most telling first, joined by " · ": "12 countries of Latin America and
  the Caribbean · funded by GEF" (the PNG's subtitle, under a title that says the count);
- `count`: "11 projects"; `slug`: the sentence without its count, as a file name part
  ("projects-funded-by-gef-in-latin-america-and-the-caribbean", for export file names).

Pure: names come from core.geo and core.regions; organisation labels and source titles are passed in.
"""
import re
import unicodedata
from dataclasses import dataclass

from . import geo
from . import regions as region_table
from .validate import AREAS

# More countries than this are counted ("in 12 countries of ...") rather than named in `sentence`
NAMED_COUNTRIES = 3
SLUG_CHARS = 80
# Region kinds that may stand for a set of countries, smallest first: a list of Andean countries is
# "5 countries of South America", not "of the World"; groups (LDC, SIDS) say nothing about a place.
_ENCLOSING_KINDS = ("intermediate", "subregion", "region")
_ADJECTIVE_STATUSES = ("proposed", "planned", "ongoing", "completed", "postponed")
# A bbox (a box drawn from the map's view): the sentence says where in words a reader of the map understands;
# `full` adds the coordinates (alt text, page titles)
AREA_SHOWN = "in the area shown"


@dataclass(frozen=True)
class Summary:
    total: int
    count: str
    sentence: str
    full: str
    short: str
    slug: str

    def __str__(self):
        return self.sentence


def summarise(query, total, org_labels=None, source_titles=None):
    """The Summary of a resolved ProjectQuery that matched `total` projects. `org_labels`: {id: label}
    of its funders and organisations (ids without a label are shown as they are); `source_titles`:
    {id: title} of its sources."""
    labels, titles = org_labels or {}, source_titles or {}
    noun = _noun(query, total)
    tail = _tail(query, labels, titles)
    where_named = _where(query, collapse=False)
    where_counted = _where(query, collapse=True)
    sentence = _join(noun, tail(where_counted))
    full = _join(noun, tail(where_named, spelled_out=True))
    plural = _noun(query, 2).split(" ", 1)[1]          # a file name says "projects" whatever the count
    return Summary(total=total, count=_count(total), sentence=sentence, full=full,
                   short=" · ".join(_short_parts(query, labels, titles)),
                   slug=slugify(_join(plural, tail(where_counted))))


def _count(total):
    return f"{total:,} project" + ("" if total == 1 else "s") if total else "No projects"


def _noun(query, total):
    """'11 ongoing projects', '1 project', 'No completed projects'."""
    number = f"{total:,}" if total else "No"
    adjectives = [s for s in query.statuses if s in _ADJECTIVE_STATUSES]
    word = "project" if total == 1 else "projects"
    if adjectives and len(adjectives) == len(query.statuses):
        return f"{number} {_or(adjectives)} {word}"
    return f"{number} {word}"


def _tail(query, labels, titles):
    """A function of the place phrase that gives the words after the noun, in reading order."""
    def tail(where, spelled_out=False):
        words = []
        if query.statuses and any(s not in _ADJECTIVE_STATUSES for s in query.statuses):
            words.append(f"with status {_or(query.statuses)}")
        if query.kinds:
            words.append(f"(kind: {_or([_kind(k) for k in query.kinds])})")
        if query.q:
            words.append(f"matching “{query.q}”")
        if query.areas:
            words.append("on " + _or([_area(a, sentence=True) for a in query.areas]))
        if query.funders:
            words.append("funded by " + _or([labels.get(o, o) for o in query.funders]))
        if query.orgs:
            words.append(_involving(query, labels))
        if where:
            words.append("in " + where)
        if getattr(query, "bbox", None) is not None:
            words.append(AREA_SHOWN + (f" ({bbox_words(query.bbox)})" if spelled_out else ""))
        if query.year_from is not None or query.year_to is not None:
            if words:
                words[-1] += ","
            words.append(_years(query))
        if query.sources:
            words.append("citing " + _or([titles.get(s, s) for s in query.sources]))
        return " ".join(words)
    return tail


def _short_parts(query, labels, titles):
    """The filters as short phrases, the place first: what a subtitle under the count shows."""
    parts = [_where(query, collapse=True)]
    if getattr(query, "bbox", None) is not None:
        parts.append(AREA_SHOWN[0].upper() + AREA_SHOWN[1:])
    if query.funders:
        parts.append("funded by " + _or([labels.get(o, o) for o in query.funders]))
    if query.orgs:
        parts.append(_involving(query, labels))
    if query.areas:
        parts.append(", ".join(_area(a, sentence=False) for a in query.areas))
    if query.statuses:
        parts.append(_or(query.statuses).capitalize())
    if query.kinds:
        parts.append(_or([_kind(k) for k in query.kinds]).capitalize())
    if query.q:
        parts.append(f"matching “{query.q}”")
    if query.year_from is not None or query.year_to is not None:
        parts.append(_years(query).capitalize())
    if query.sources:
        parts.append("citing " + _or([titles.get(s, s) for s in query.sources]))
    return [p for p in parts if p]


def _where(query, collapse):
    """'Latin America and the Caribbean', 'Brazil, Peru or Colombia', '12 countries of Latin America and the
    Caribbean' (collapse: more than NAMED_COUNTRIES countries are counted), or ''."""
    regions = [region_table.get_region(code) for code in getattr(query, "regions", ())]
    region_names = [r.name if r else code for r, code in zip(regions, getattr(query, "regions", ()))]
    countries = list(query.countries)
    if collapse and len(countries) > NAMED_COUNTRIES:
        enclosing = enclosing_region(countries)
        counted = f"{len(countries)} countries" + (f" of {enclosing.name}" if enclosing else "")
        return _or(region_names + [counted])
    return _or(region_names + [geo.country_name(c) for c in countries])


def bbox_words(box):
    """'20°W–55°E, 35°S–38°N': a bbox as a reader says it (west to east, south to north)."""
    def degrees(value, positive, negative):
        text = f"{abs(value):.4f}".rstrip("0").rstrip(".")
        return f"{text}°{positive if value >= 0 else negative}" if value else "0°"
    return (f"{degrees(box.west, 'E', 'W')}–{degrees(box.east, 'E', 'W')}, "
            f"{degrees(box.south, 'N', 'S')}–{degrees(box.north, 'N', 'S')}")


def enclosing_region(countries):
    """The smallest M49 region, sub-region or intermediate region that holds all these ISO3 codes, or None."""
    wanted = set(countries)
    found = [r for r in region_table.all_regions() if r.kind in _ENCLOSING_KINDS and wanted <= r.members]
    return min(found, key=lambda r: len(r.members)) if found else None


def _involving(query, labels):
    names = _or([labels.get(o, o) for o in query.orgs])
    return f"with {names} as {_or(query.roles)}" if query.roles else f"involving {names}"


def _years(query):
    if query.year_from is not None and query.year_to is not None:
        return (f"active in {query.year_from}" if query.year_from == query.year_to
                else f"active {query.year_from}–{query.year_to}")
    if query.year_from is not None:
        return f"active from {query.year_from}"
    return f"active until {query.year_to}"


def _area(key, sentence):
    """'ASGM' for a label with an acronym; otherwise the label ('mercury in products' inside a sentence)."""
    label = AREAS.get(key, key)
    acronym = re.search(r"\(([A-Z]{2,})\)$", label)
    if acronym:
        return acronym.group(1)
    return label[0].lower() + label[1:] if sentence else label


def _kind(key):
    return key.replace("-", " ")


def _or(items):
    items = [str(i) for i in items if i]
    if len(items) <= 2:
        return " or ".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _join(*parts):
    return " ".join(p for p in parts if p)


def slugify(text, limit=SLUG_CHARS):
    """ASCII lower-case words joined by '-', at most `limit` characters, cut between words."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug


def shortened(text, limit):
    """`text` if it has at most `limit` characters, else its first whole words that fit, then '…'
    (never a cut word, never a cut at the start)."""
    if len(text) <= limit:
        return text
    cut = text[:max(1, limit - 1)]
    if " " in cut and not text[len(cut)].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ·,;:") + "…"
