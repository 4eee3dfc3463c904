"""The fixed query set, as registry query strings, and its translation for the peer (Datasette).

Every filter is translated to the same semantics on the peer: a country, area or funder filter
matches any of the project's values (JSON array columns), years use the registry's rule.
Single-valued filters only, because Datasette has no OR between two `arraycontains` filters.
Every search text appears once (the registry caches results by text), so each query is new to the process.
"""
from urllib.parse import parse_qsl, urlencode

QUERIES = [
    # one word
    "q=mercury", "q=gold", "q=amalgam", "q=cement", "q=coal", "q=lamps", "q=thermometers", "q=retorts",
    "q=cyanide", "q=monitoring", "q=webinar", "q=inventory", "q=storage", "q=cosmetics", "q=emissions",
    "q=Indonesia", "q=UNITAR",
    # two or three words
    "q=artisanal+gold", "q=mercury+waste", "q=small-scale+gold+mining", "q=chlor-alkali+plants",
    "q=dental+amalgam", "q=skin-lightening+creams", "q=national+action+plan", "q=air+monitoring+network",
    "q=coal+combustion", "q=mercury-free+processing", "q=awareness+raising", "q=health+risks+miners",
    "q=supply+trade", "q=waste+management+guidance",
    # phrases
    "q=%22Minamata+Convention%22", "q=%22small-scale+gold+mining%22", "q=%22mercury-added+products%22",
    "q=%22best+available+techniques%22", "q=%22Global+Mercury+Partnership%22",
    # words and filters
    "q=gold+miners&country=GHA", "q=miners&country=KEN&area=asgm", "q=training&area=asgm&status=ongoing",
    "q=mining&country=IDN", "q=waste&area=waste", "q=atmospheric+mercury&kind=monitoring-network",
    "q=phase-out&status=completed", "q=planetGOLD&funder=gef", "q=mining+communities&country=COL", "q=awareness&kind=campaign",
    "q=mercury+emissions&year_from=2018", "q=power+plants&area=coal&status=ongoing", "q=products&area=products&kind=study",
    # typos
    "q=mercuy", "q=artisnal+gold", "q=amalgm", "q=cemnt", "q=minamta+convention", "q=chlor-alkalli",
    # filters only (browsing with facets)
    "area=asgm", "country=KEN&status=ongoing", "funder=usdos&area=asgm",
]
WARMUP = ["q=partnership", "q=convention&area=products", "status=planned", "q=batteries"]

ARRAY_COLUMNS = {"country": "countries", "area": "areas", "funder": "funders"}
PEER_FACETS = [("_facet_array", "countries"), ("_facet_array", "areas"), ("_facet_array", "funders"),
               ("_facet", "status"), ("_facet", "kind")]
PEER_COLUMNS = ["title", "summary", "countries", "area", "status", "kind", "start_year", "end_year", "funders"]


def ours_path(query):
    # every facet value, as the peer's facet size of 300 gives: both answers carry the same work
    return "/api/projects?" + "&".join(filter(None, [query, "facet_size=max"]))


def peer_path(query, database="peer"):
    """The Datasette table JSON URL doing the same work: full-text search, filters, five facets,
    the total, and a first page of 20 rows with the columns the registry's API returns."""
    params = []
    for name, value in parse_qsl(query):
        if name == "q":
            params.append(("_search", value))
        elif name in ARRAY_COLUMNS:
            params.append((f"{ARRAY_COLUMNS[name]}__arraycontains", value))
        elif name in ("status", "kind"):
            params.append((name, value))
        elif name == "year_from":
            params.append(("_where", f"coalesce(end_year, start_year) >= {int(value)}"))
        else:
            raise ValueError(f"no peer translation for '{name}'")
    params += PEER_FACETS + [("_col", c) for c in PEER_COLUMNS] + [("_size", "20")]
    return f"/{database}/projects.json?" + urlencode(params)
