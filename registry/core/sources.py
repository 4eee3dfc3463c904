"""Source records: the documents and pages the registry's citations point at (issue 19). Pure: no I/O.

A project's `sources` are its citations ({document, section, quote}); each citation's `document` is the id
of one source record:

    source: id, title, publisher, date, url, reference, kind, consulted, language

`date` is when the source was published (YYYY, YYYY-MM or YYYY-MM-DD), `consulted` when the team read it.
`language` (optional) is the language the source is written in, an ISO 639-1 code ("en", "fr", "es"...):
pages mark its title and quotes with it where it is not the page's (WCAG 3.1.2, language of parts).
A record is "as of" the newest date among the sources it cites (`as_of`).
"""
import datetime
import re

from .language import N_
from .validate import MAX_TITLE, Checker, problem

SOURCE_FIELDS = ("id", "title", "publisher", "date", "url", "reference", "kind", "consulted", "language")
SOURCE_KINDS = ("report", "progress-report", "web-page", "project-page", "meeting-page", "news", "evaluation",
                "database")
# The Partnership's report on December 2020 to February 2022: the seed's source, and the one a citation
# that names no document cites
REPORT_SOURCE_ID = "gmp-report-2020-2022"
# What citations named before sources were records (older exports and databases): that report's title
LEGACY_REPORT_TITLE = ("Report on activities undertaken within the UNEP Global Mercury Partnership "
                       "(December 2020 to February 2022), UNEP/Hg/PAG.12")
# That report as a source record (also geodata/seed/sources.yaml, which the seed loads): what a database
# written before sources were records gets when it is migrated (store/sources.py)
REPORT_SOURCE = {
    "id": REPORT_SOURCE_ID,
    "title": "Report on activities undertaken within the United Nations Environment Programme Global Mercury "
             "Partnership (December 2020 to February 2022)",
    "publisher": "UNEP Global Mercury Partnership Advisory Group, twelfth meeting",
    "date": "2022-03-10", "url": None, "reference": "UNEP/Hg/PAG.12", "kind": "report", "consulted": None,
    "language": "en",
}
# ISO 639-1: the two-letter language codes (a source's `language`)
ISO_639_1 = frozenset("""
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el
    en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it
    iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt
    my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg sh si sk
    sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi
    yo za zh zu""".split())
DATE_RE = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?)?$")


def clean_source(raw, where=""):
    """Return (source record, problems) for one raw source mapping."""
    c = Checker(where)
    if not isinstance(raw, dict):
        return None, [problem(c.where, "", N_("a source must be a mapping of fields: %(fields)s"),
                              fields=", ".join(SOURCE_FIELDS))]
    unknown = sorted(set(map(str, raw)) - set(SOURCE_FIELDS))
    for key in unknown:
        c.error(key, N_("is not a field of a source; the fields are: %(fields)s"), fields=", ".join(SOURCE_FIELDS))
    source = {
        "id": _required(c, raw, "id") and c.slug(raw.get("id"), "id"),
        "title": _required(c, raw, "title") and c.text(raw.get("title"), "title", required=True,
                                                       max_len=MAX_TITLE * 2),
        "publisher": _required(c, raw, "publisher") and c.text(raw.get("publisher"), "publisher", required=True,
                                                               max_len=MAX_TITLE),
        "date": _date(c, raw.get("date"), "date"),
        "url": c.url(raw.get("url"), "url"),
        "reference": c.text(raw.get("reference"), "reference", max_len=MAX_TITLE),
        "kind": c.choice(raw.get("kind"), "kind", SOURCE_KINDS, default="web-page"),
        "consulted": _date(c, raw.get("consulted"), "consulted", day=True),
        "language": _language(c, raw.get("language")),
    }
    # reported with the other problems (one pass), unless the fields concerned already have one
    if not (source["url"] or source["reference"] or _has_problem(c, "url", "reference")):
        c.error("url", N_("a source needs a url or a reference (a document symbol) so that readers can find it"))
    if not (source["date"] or source["consulted"] or _has_problem(c, "date", "consulted")):
        c.error("date", N_("give the date the source was published (YYYY, YYYY-MM or YYYY-MM-DD), or at least "
                           "the date it was consulted"))
    return source, c.problems


# The message when a required field is missing (what to give), marked for the catalogs
REQUIRED_HOW = {
    "id": N_("is required: give the source a short id of lower-case letters, digits and hyphens (e.g. "
             "'gmp-report-2022-2023'); citations name it in 'document'"),
    "title": N_("is required: give the title as the source gives it"),
    "publisher": N_("is required: give who published the source (an organisation, a newspaper, a website)"),
}


def _required(c, raw, name):
    """True when `name` is given; else a problem saying what to give, and None."""
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return c.error(name, REQUIRED_HOW[name])
    return True


def _has_problem(c, *names):
    return any(p.field in names for p in c.problems)


def _date(c, raw, name, day=False):
    value = c.text(raw if not isinstance(raw, int) else str(raw), name, max_len=10)
    if value is None:
        return None
    m = DATE_RE.match(value)
    if not m or (day and not m.group(3)) or not 1900 <= int(m.group(1)) <= 2100 or not _real_day(m):
        if day:
            return c.error(name, N_("'%(value)s' is not a date of the form YYYY-MM-DD (e.g. 2024-01-31)"), value=value)
        return c.error(name, N_("'%(value)s' is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD (e.g. 2024-01-31)"),
                       value=value)
    return value


def _language(c, raw):
    """The source's language as a lower-case ISO 639-1 code ("FR" is kept as "fr"), or None when not given."""
    value = c.text(raw, "language", max_len=20)
    if value is None:
        return None
    if value.lower() not in ISO_639_1:
        return c.error("language", N_("'%(value)s' is not an ISO 639-1 language code: give the two-letter code of "
                                      "the language the source is written in, e.g. en, fr, es or pt"), value=value)
    return value.lower()


def _real_day(m):
    """A full date is a day of the calendar (2024-02-30 is not)."""
    try:
        return not m.group(3) or bool(datetime.date(*map(int, m.groups())))
    except ValueError:
        return False


def source_date(source):
    """The date a record citing `source` is "as of": its publication date, else when it was consulted."""
    return source.get("date") or source.get("consulted")


def document_ids(sources, citations):
    """The citation's document as a source id: a legacy title (older exports) becomes the id of the source
    with that title; an empty document is the report (REPORT_SOURCE_ID). In place; returns citations."""
    by_title = {s["title"]: s["id"] for s in sources if s and s.get("title")}
    by_title.setdefault(LEGACY_REPORT_TITLE, REPORT_SOURCE_ID)
    for citation in citations:
        doc = citation.get("document")
        citation["document"] = by_title.get(doc, doc) if doc else REPORT_SOURCE_ID
    return citations


def unknown_documents(project, where, source_ids):
    """A Problem for each citation of `project` whose document is not a source record's id."""
    return [problem(where, f"sources[{i}].document",
                    N_("'%(document)s' is not a source of the registry: give the id of a source (they are listed "
                       "at /sources and in /api/sources), or add the source to the same file, under 'sources', "
                       "first"), document=s["document"])
            for i, s in enumerate(project.get("sources") or [], 1)
            if s.get("document") and s["document"] not in source_ids]
