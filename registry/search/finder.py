"""From one URL query to results: parse -> resolve -> (search) -> filter -> facets -> page.

Used by the list page, the JSON API, the maps, the PNG and the exports, so they always agree.
"""
from dataclasses import dataclass, field

from ..store import db as storage
from ..core import geo
from . import index as search
from ..core.query import parse_query, resolve
from ..core.validate import AREAS, ORG_TYPES


@dataclass
class Results:
    query: object
    ids: list                       # every matching project id, in display order
    page_rows: list                 # summaries of the current page
    facets: dict                    # name -> [{"value", "label", "count", "selected"}]
    scores: dict = field(default_factory=dict)
    snippets: dict = field(default_factory=dict)
    suggestion: str | None = None

    @property
    def total(self):
        return len(self.ids)

    @property
    def pages(self):
        return max(1, -(-self.total // self.query.per_page))


def query_from_args(db, args, default_per_page=20):
    return resolve(parse_query(args, default_per_page), geo.lookup_country,
                   lambda texts: storage.resolve_organisations(db, texts))


def find_projects(db, index, query, with_page=True, with_facets=True):
    """`index`: the search index's Settings (search.index.Settings)."""
    hits = None
    if query.q:
        hits = search.search_projects(index, query.q)
        if query.effective_sort != "relevance":
            ids = storage.filter_ids(db, query, ids=hits.ids, sort=query.effective_sort)
        elif query.has_filters:
            rank = {pid: i for i, pid in enumerate(hits.ids)}
            ids = sorted(storage.filter_ids(db, query, ids=hits.ids), key=rank.__getitem__)
        else:
            ids = list(hits.ids)   # already best first
    else:
        ids = storage.filter_ids(db, query, sort=query.effective_sort)
    facets = label_facets(db, query, storage.facet_counts(db, query, ids=hits.ids if hits else None)) \
        if with_facets else {}
    page_ids = ids[(query.page - 1) * query.per_page: query.page * query.per_page] if with_page else []
    rows = storage.project_summaries(db, page_ids)
    snippets = search.snippets(index, db, query.q, page_ids) if (query.q and page_ids) else {}
    return Results(query=query, ids=ids, page_rows=rows, facets=facets,
                   scores=hits.scores if hits else {}, snippets=snippets,
                   suggestion=hits.suggestion if hits else None)   # set when a word is unknown to the index


def label_facets(db, query, counts):
    org_names = storage.org_labels(db, [v for v, _ in counts["funder"]])
    labels = {
        "country": geo.country_name,
        "funder": lambda v: org_names.get(v, v),
        "area": lambda v: AREAS.get(v, v),
        "status": lambda v: v.capitalize(),
        "kind": lambda v: v.replace("-", " ").capitalize(),
    }
    selected = {"country": query.countries, "funder": query.funders, "area": query.areas,
                "status": query.statuses, "kind": query.kinds}
    return {name: [{"value": v, "label": labels[name](v), "count": n, "selected": v in selected[name]}
                   for v, n in values] for name, values in counts.items()}


def find_organisations(db, index, args):
    """Organisations matching q (name, acronym, alias, type, country), with type/country facets."""
    query = parse_query(args)
    types = [t for t in args.getlist("type") if t in ORG_TYPES] if hasattr(args, "getlist") else []
    countries = [c.iso3 for c in (geo.lookup_country(x) for x in query.countries) if c]
    ids = search.search_organisations(index, query.q) if query.q else None
    rows = storage.list_organisations(db, ids=ids, org_type=types or None, country=countries or None)
    if ids is not None:
        rank = {oid: i for i, oid in enumerate(ids)}
        rows.sort(key=lambda r: rank.get(r["id"], 0))
    facets = {"type": _count(rows, "type", lambda v: ORG_TYPES.get(v, v)),
              "country": _count(rows, "country", geo.country_name)}
    start = (query.page - 1) * query.per_page
    return query, rows, rows[start:start + query.per_page], facets


def _count(rows, key, label):
    counts = {}
    for r in rows:
        if r.get(key):
            counts[r[key]] = counts.get(r[key], 0) + 1
    return [{"value": v, "label": label(v), "count": n}
            for v, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
