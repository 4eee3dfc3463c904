"""From one URL query to results: parse -> resolve -> (search) -> filter -> facets -> page.

Used by the list page, the JSON API, the maps, the PNG and the exports, so they always agree.

Facets (as Datasette shapes them): each facet is {"values": [...], "value_count", "truncated"}; each value
is {"value", "label", "count", "selected"}. Selected values come first and are always shown (with a
count of 0 when nothing else matches them, so they can still be removed); then the most frequent values
up to the query's facet_size (None: all). `truncated` says whether values were left out. The web layer
adds the links (toggle_url, show_all_url) from the query: no Flask here.
"""
from collections import Counter
from dataclasses import dataclass, field

from ..store import db as storage
from ..store import sources as source_store
from ..core import geo
from ..core import regions as region_table
from . import index as search
from ..core.query import parse_organisation_query, parse_query, resolve, resolve_organisation_query
from ..core.validate import AREAS, ORG_TYPES


@dataclass
class Results:
    query: object
    ids: list                       # every matching project id, in display order
    page_rows: list                 # summaries of the current page
    facets: dict                    # name -> {"values", "value_count", "truncated"} (see above)
    scores: dict = field(default_factory=dict)
    snippets: dict = field(default_factory=dict)
    suggestion: str | None = None

    @property
    def total(self):
        return len(self.ids)

    @property
    def pages(self):
        return max(1, -(-self.total // self.query.per_page))


@dataclass
class OrganisationResults:
    query: object
    total: int
    page_rows: list
    facets: dict

    @property
    def pages(self):
        return max(1, -(-self.total // self.query.per_page))


def query_from_args(db, args, default_per_page=20):
    return resolve(parse_query(args, default_per_page), geo.lookup_country,
                   lambda texts: storage.resolve_organisations(db, texts), lambda: source_store.source_ids(db))


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
        if query.effective_sort == "relevance":
            ids = funded_first(db, query.q, ids)
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


MAX_NAME_WORDS = 6   # the longest organisation name looked up among a search's words


def funded_first(db, q, ids):
    """Relevance order, except that the projects funded by an organisation the search names ("GEF Latin
    America") come first: a name in the text of a project the organisation does not fund (a project that
    merely mentions the GEF) must not outrank one it funds. Stable: each group keeps its order."""
    words = q.split()
    phrases = {" ".join(words[i:j]) for i in range(len(words))
               for j in range(i + 1, min(len(words), i + MAX_NAME_WORDS) + 1)}
    named = {org for org in storage.resolve_organisations(db, sorted(phrases)).values() if org}
    if not named:
        return ids
    funded = set(storage.funded_by(db, named))
    return sorted(ids, key=lambda pid: pid not in funded)


PROJECT_FACET_FILTERS = {"country": "countries", "region": "regions", "funder": "funders", "area": "areas", "status": "statuses",
                         "kind": "kinds", "source": "sources"}


def label_facets(db, query, counts):
    """Facet counts ({name: [(value, count)]}) -> facets with labels, selection and truncation."""
    selected = {name: getattr(query, attr) for name, attr in PROJECT_FACET_FILTERS.items()}
    org_names = storage.org_labels(db, [v for v, _ in counts["funder"]] + list(selected["funder"]))
    source_names = source_store.source_titles(db, [v for v, _ in counts["source"]] + list(selected["source"]))
    labels = {
        "country": geo.country_name,
        "region": region_name,
        "funder": lambda v: org_names.get(v, v),
        "area": lambda v: AREAS.get(v, v),
        "status": lambda v: v.capitalize(),
        "kind": lambda v: v.replace("-", " ").capitalize(),
        "source": lambda v: source_names.get(v, v),
    }
    return {name: facet(values, selected[name], labels[name], query.facet_size)
            for name, values in counts.items()}


def facet(counts, selected, label, size):
    """One facet: `counts` [(value, count)] most frequent first; `selected` values; show `size` (None: all)."""
    counted = dict(counts)
    chosen = sorted(selected, key=lambda v: -counted.get(v, 0))   # stable: ties keep the query's order
    top = [v for v, _ in counts[:size]] if size is not None else [v for v, _ in counts]
    shown = chosen + [v for v in top if v not in selected]
    value_count = len(counted) + sum(1 for v in selected if v not in counted)
    return {"values": [{"value": v, "label": label(v), "count": counted.get(v, 0), "selected": v in selected}
                       for v in shown],
            "value_count": value_count, "truncated": len(shown) < value_count}


def find_organisations(db, index, args):
    """Organisations matching q (name, acronym, alias, type, country), with type/country facets.

    Like the project facets, each facet counts the organisations that pass every other filter (not its
    own), so a value selected in it can be widened with another one."""
    query = resolve_organisation_query(parse_organisation_query(args), geo.lookup_country)
    ids = search.search_organisations(index, query.q) if query.q else None
    rows = storage.list_organisations(db, ids=ids)
    if ids is not None:
        rank = {oid: i for i, oid in enumerate(ids)}
        rows.sort(key=lambda r: rank.get(r["id"], 0))
    wanted = {"type": query.types, "country": query.countries}
    matching = [r for r in rows if _passes(r, wanted)]
    facets = {name: facet(_count(r[name] for r in rows if _passes(r, wanted, skip=name)), wanted[name],
                          label, query.facet_size)
              for name, label in (("type", lambda v: ORG_TYPES.get(v, v)), ("country", geo.country_name))}
    return OrganisationResults(query, len(matching), page_of(matching, query.page, query.per_page), facets)


def _passes(row, wanted, skip=None):
    """Whether an organisation row has one of the wanted values of every filter (but `skip`)."""
    return all(not values or row[name] in values for name, values in wanted.items() if name != skip)


def _count(values):
    """[(value, count)] most frequent first (ties by value), blanks left out."""
    return sorted(Counter(v for v in values if v).items(), key=lambda x: (-x[1], x[0]))


def list_countries(db, order="name"):
    """Every country with projects: [{"iso3", "name", "projects"}] by English name (or by "iso3")."""
    rows = [{"iso3": c, "name": geo.country_name(c), "projects": n}
            for c, n in storage.country_project_counts(db).items()]
    return sorted(rows, key=lambda r: (r[order], r["iso3"]))


def region_name(code):
    """The English name of a region code (the code itself when unknown)."""
    region = region_table.get_region(code)
    return region.name if region else code


# How /regions groups the regions: (heading, kinds); M49's intermediate regions go under their sub-region
REGION_GROUPS = (("Regions", ("region",)), ("Groups of countries", ("group",)), ("Other regions", ("custom",)))


def list_regions(db):
    """Every region with its project count, as /regions and /api/regions show them: [{"code", "kind",
    "name", "names", "parent", "projects", "members"}], World first, then by kind and code."""
    counts = storage.region_project_counts(db)
    return [{"code": r.code, "kind": r.kind, "name": r.name, "names": dict(r.names), "parent": r.parent,
             "projects": counts.get(r.code, 0) if r.kind != "world" else storage.counts(db)["projects"],
             "members": sorted(r.members)} for r in region_table.all_regions()]


def region_tree(rows):
    """/regions' groups: [(heading, [(region row, [child rows, each with its "children"])])]. M49's regions
    hold their sub-regions, which hold their intermediate regions; groups and custom regions are flat."""
    by_parent = {}
    for row in rows:
        by_parent.setdefault(row["parent"], []).append(row)

    def with_children(row):
        return dict(row, children=[with_children(child) for child in by_parent.get(row["code"], [])
                                   if child["kind"] in ("subregion", "intermediate")])
    return [(heading, [with_children(row) for row in rows if row["kind"] in kinds]) for heading, kinds in REGION_GROUPS]


def countries_by_region(rows):
    """The countries page's groups: [(M49 region, [(sub-region, [country rows])])] by name; the countries
    in no M49 region (Taiwan) last, under (None, [(None, rows)])."""
    groups = {}
    for row in rows:
        levels = {r.kind: r for r in region_table.regions_of_country(row["iso3"])}
        groups.setdefault(levels.get("region"), {}).setdefault(levels.get("subregion"), []).append(row)
    by_name = lambda item: (item[0] is None, item[0].name if item[0] else "")   # noqa: E731
    return [(region, sorted(subs.items(), key=by_name)) for region, subs in sorted(groups.items(), key=by_name)]


def page_of(rows, page, per_page):
    """The rows of one page (1-based)."""
    return rows[(page - 1) * per_page: page * per_page]


def projects_by_role(projects):
    """An organisation's projects ({"role", ...} rows) grouped by its role in them, in their order."""
    by_role = {}
    for row in projects:
        by_role.setdefault(row["role"], []).append(row)
    return by_role
