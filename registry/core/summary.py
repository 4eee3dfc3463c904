"""One readable summary of a project query: the words every view uses to say what a selection is.

`summarise(query, total, org_labels, source_titles, words=ENGLISH, lang="en")` turns a resolved
ProjectQuery (country codes, region codes, organisation ids) and its number of results into a `Summary`,
written in the language of `words` (gettext's interface, core/language.py) whose code is `lang`:

- `sentence`: "11 projects funded by GEF in Latin America and the Caribbean" (the list heading, the map
  page, the embed's caption, the newsletter snippet; more than a few countries are counted, not named);
- `full`: the same with every country named and a bbox's coordinates (an image's alt text, page titles);
- `short`: the filters alone, most telling first, joined by " · ": "12 countries of Latin America and
  the Caribbean · funded by GEF" (the PNG's subtitle, under a title that says the count);
- `count`: "11 projects"; `slug`: the sentence without its count, as a file name part
  ("projects-funded-by-gef-in-latin-america-and-the-caribbean", for export file names), always from the
  English words (ASCII file names that do not change with the reader's language).

How it is translated (issue 13): a selection has up to ten optional filters, so no single message can hold
every sentence. Each filter is one whole phrase with placeholders ("funded by %(funders)s"), put one after
the other behind the count. The French and Spanish phrases are chosen so that any sequence of them reads
right without grammar between them: "3 projets (statut : en cours) financés par GEF — Pérou"; phrases that
agree with the projects use ngettext with the number of projects.

Pure: names come from core.geo (country_name) and core.regions (name_in), vocabulary labels from
core.labels; organisation labels and source titles are passed in.
"""
import re
import unicodedata
from dataclasses import dataclass

from . import geo
from . import regions as region_table
from .labels import label
from .language import DEFAULT_LANGUAGE, ENGLISH, N_

# More countries than this are counted ("in 12 countries of ...") rather than named in `sentence`
NAMED_COUNTRIES = 3
SLUG_CHARS = 80
# Region kinds that may stand for a set of countries, smallest first: a list of Andean countries is
# "5 countries of South America", not "of the World"; groups (LDC, SIDS) say nothing about a place.
_ENCLOSING_KINDS = ("intermediate", "subregion", "region")
_ADJECTIVE_STATUSES = ("proposed", "planned", "ongoing", "completed", "postponed")
# How a status reads inside the sentence ("11 ongoing projects", "with status unknown"): not the labels
# of core/labels ("Status unknown"), which stand alone.
STATUS_WORDS = {"proposed": N_("proposed"), "planned": N_("planned"), "ongoing": N_("ongoing"),
                "completed": N_("completed"), "postponed": N_("postponed"), "unknown": N_("unknown")}
# A bbox (a box drawn from the map's view): the sentence says where in words a reader of the map understands;
# `full` adds the coordinates (alt text, page titles)
AREA_SHOWN = N_("in the area shown")
# What groups thousands in each language (CLDR, as Babel writes them: 12,345 / 12 345 / 12.345)
_GROUPING = {"en": ",", "fr": "\u202f", "es": "."}


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


def summarise(query, total, org_labels=None, source_titles=None, words=ENGLISH, lang=DEFAULT_LANGUAGE):
    """The Summary of a resolved ProjectQuery that matched `total` projects, in the language of `words`
    (code `lang`). `org_labels`: {id: label} of its funders and organisations (ids without a label are shown
    as they are); `source_titles`: {id: title} of its sources."""
    labels, titles = org_labels or {}, source_titles or {}
    text = _Words(words, lang, total)
    tail = _tail(query, labels, titles, text)
    sentence = _join(_noun(query, total, text), tail(_where(query, True, text)))
    full = _join(_noun(query, total, text), tail(_where(query, False, text), spelled_out=True))
    return Summary(total=total, count=text.count(total), sentence=sentence, full=full,
                   short=" · ".join(_short_parts(query, labels, titles, text)),
                   slug=_slug(query, labels, titles))


def _slug(query, labels, titles):
    """The English sentence without its count ("projects-funded-by-gef-in-peru"): a file name says
    "projects" whatever the count and whatever the reader's language."""
    english = _Words(ENGLISH, DEFAULT_LANGUAGE, 2)
    return slugify(_join("projects", _tail(query, labels, titles, english)(_where(query, True, english))))


class _Words:
    """gettext for one summary: the translations, the language's numbers, and the number of projects that
    phrases agree with (0 agrees as 1: "No project funded by ..." in French and Spanish)."""

    def __init__(self, words, lang, total):
        # phrases that agree with the projects (financé / financés) use ngettext with `agree`
        self.words, self.lang, self.agree = words, lang, total if total > 1 else 1

    def gettext(self, message, **values):
        return self.words.gettext(message) % values if values else self.words.gettext(message)

    def ngettext(self, singular, plural, n, **values):
        text = self.words.ngettext(singular, plural, n)
        return text % values if values else text

    def number(self, n):
        return f"{n:,}".replace(",", _GROUPING.get(self.lang, ","))

    def count(self, total):
        if not total:
            return self.gettext("No projects")
        return self.ngettext("%(num)s project", "%(num)s projects", total, num=self.number(total))

    def either(self, items):
        """'A, B or C' ('A, B ou C', 'A, B o C')."""
        items = [str(i) for i in items if i]
        if len(items) < 2:
            return "".join(items)
        return self.gettext("%(items)s or %(last)s", items=", ".join(items[:-1]), last=items[-1])

    def status(self, key):
        return self.gettext(STATUS_WORDS[key]) if key in STATUS_WORDS else key

    def kind(self, key):
        """'monitoring network': the kind's label, its first letter lowered (unless an acronym starts it)."""
        text = label("kind", key, self.words)
        if text == key:
            return key.replace("-", " ")
        return text[0].lower() + text[1:] if text[1:2].islower() else text

    def role(self, key):
        text = label("role", key, self.words)
        return text[0].lower() + text[1:] if text[1:2].islower() else text

    def area(self, key, sentence):
        """'ASGM' for a label with an acronym; otherwise the label ('mercury in products' inside a sentence)."""
        text = label("area", key, self.words)
        acronym = re.search(r"\(([A-Z]{2,})\)$", text)
        if acronym:
            return acronym.group(1)
        return text[0].lower() + text[1:] if sentence and text[1:2].islower() else text


def _noun(query, total, text):
    """'11 ongoing projects', '1 project', 'No completed projects'."""
    adjectives = [s for s in query.statuses if s in _ADJECTIVE_STATUSES]
    if not (adjectives and len(adjectives) == len(query.statuses)):
        return text.count(total)
    statuses = text.either([text.status(s) for s in adjectives])
    if not total:
        return text.gettext("No %(statuses)s projects", statuses=statuses)
    return text.ngettext("%(num)s %(statuses)s project", "%(num)s %(statuses)s projects", total,
                         num=text.number(total), statuses=statuses)


def _tail(query, labels, titles, text):
    """A function of the place phrase that gives the words after the noun, in reading order."""
    def tail(where, spelled_out=False):
        words = []
        if query.statuses and any(s not in _ADJECTIVE_STATUSES for s in query.statuses):
            words.append(text.gettext("with status %(statuses)s",
                                      statuses=text.either([text.status(s) for s in query.statuses])))
        if query.kinds:
            words.append(text.gettext("(kind: %(kinds)s)", kinds=text.either([text.kind(k) for k in query.kinds])))
        if query.q:
            words.append(_matching(query, text))
        if query.areas:
            words.append(text.gettext("on %(areas)s",
                                      areas=text.either([text.area(a, sentence=True) for a in query.areas])))
        if query.funders:
            words.append(_funded_by(query, labels, text))
        if query.orgs:
            words.append(_involving(query, labels, text))
        if where:
            words.append(text.gettext("in %(place)s", place=where))
        if getattr(query, "bbox", None) is not None:
            shown = text.gettext(AREA_SHOWN)
            words.append(f"{shown} ({bbox_words(query.bbox)})" if spelled_out else shown)
        if query.year_from is not None or query.year_to is not None:
            if words:
                words[-1] += ","
            words.append(_years(query, text))
        if query.sources:
            words.append(_citing(query, titles, text))
        return " ".join(words)
    return tail


def _short_parts(query, labels, titles, text):
    """The filters as short phrases, the place first: what a subtitle under the count shows."""
    parts = [_where(query, True, text)]
    if getattr(query, "bbox", None) is not None:
        parts.append(_capital(text.gettext(AREA_SHOWN)))
    if query.funders:
        parts.append(_funded_by(query, labels, text))
    if query.orgs:
        parts.append(_involving(query, labels, text))
    if query.areas:
        parts.append(", ".join(text.area(a, sentence=False) for a in query.areas))
    if query.statuses:
        parts.append(_capital(text.either([text.status(s) for s in query.statuses])))
    if query.kinds:
        parts.append(_capital(text.either([text.kind(k) for k in query.kinds])))
    if query.q:
        parts.append(_matching(query, text))
    if query.year_from is not None or query.year_to is not None:
        parts.append(_capital(_years(query, text)))
    if query.sources:
        parts.append(_citing(query, titles, text))
    return [p for p in parts if p]


def _where(query, collapse, text):
    """'Latin America and the Caribbean', 'Brazil, Peru or Colombia', '12 countries of Latin America and the
    Caribbean' (collapse: more than NAMED_COUNTRIES countries are counted), or ''."""
    codes = getattr(query, "regions", ())
    regions = [region_table.get_region(code) for code in codes]
    region_names = [r.name_in(text.lang) if r else code for r, code in zip(regions, codes)]
    countries = list(query.countries)
    if collapse and len(countries) > NAMED_COUNTRIES:
        enclosing = enclosing_region(countries)
        n = len(countries)
        counted = (text.ngettext("%(num)s country of %(region)s", "%(num)s countries of %(region)s", n,
                                 num=text.number(n), region=enclosing.name_in(text.lang)) if enclosing
                   else text.ngettext("%(num)s country", "%(num)s countries", n, num=text.number(n)))
        return text.either(region_names + [counted])
    return text.either(region_names + [geo.country_name(c, text.lang) for c in countries])


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


def _funded_by(query, labels, text):
    return text.ngettext("funded by %(funders)s", "funded by %(funders)s", text.agree,
                         funders=text.either([labels.get(o, o) for o in query.funders]))


def _involving(query, labels, text):
    names = text.either([labels.get(o, o) for o in query.orgs])
    if query.roles:
        return text.gettext("with %(orgs)s as %(roles)s", orgs=names,
                            roles=text.either([text.role(r) for r in query.roles]))
    return text.gettext("involving %(orgs)s", orgs=names)


def _matching(query, text):
    return text.ngettext("matching “%(q)s”", "matching “%(q)s”", text.agree, q=query.q)


def _citing(query, titles, text):
    return text.ngettext("citing %(sources)s", "citing %(sources)s", text.agree,
                         sources=text.either([titles.get(s, s) for s in query.sources]))


def _years(query, text):
    start, end = query.year_from, query.year_to
    if start is not None and end is not None:
        if start == end:
            return text.ngettext("active in %(year)s", "active in %(year)s", text.agree, year=start)
        return text.ngettext("active %(start)s–%(end)s", "active %(start)s–%(end)s", text.agree,
                             start=start, end=end)
    if start is not None:
        return text.ngettext("active from %(year)s", "active from %(year)s", text.agree, year=start)
    return text.ngettext("active until %(year)s", "active until %(year)s", text.agree, year=end)


def _capital(text):
    return text[:1].upper() + text[1:]


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
