"""What the maps draw, as plain data (no folium, no matplotlib): shared by the interactive maps,
the PNG, the newsletter snippet and the HTML download, so they always show the same selection.

`map_data(db, ids)` is the compact JSON the browser draws from:

    total      number of matching projects
    projects   [[id, title, area, status, [iso3...], [funder index...]], ...]   (in list order)
    orgs       funder labels, referenced by index from projects
    points     [[lat, lon, project index, precision code, location name], ...]
               precision code: 0 site, 1 sub-national area, 2 country (a country's representative point)
    unplaced   [[project index, location name, precision], ...]: regional and global locations (and any
               location without a point), listed beside the map instead of drawn
    countries  {iso3: [name, matching projects]}: popups and the choropleth
    breaks     lower bounds of the choropleth classes (see `class_breaks`)
"""
import math
from urllib.parse import urlencode

from ..store import db as storage
from ..core import geo
from ..core.validate import AREAS

PRECISION_CODES = {"site": 0, "subnational": 1, "country": 2}
PRECISION_LABELS = {"site": "Exact site", "subnational": "Sub-national area", "country": "Country",
                    "region": "Region", "global": "Global"}
# Choropleth: light to dark, one colour per class (shared by static/map.js and the PNG).
PALETTE = ("#d8ecf3", "#a9d3e6", "#6fb0d2", "#3a86b8", "#1b5a8e")
# Marker colours per partnership area (stronger versions of the list page's tags).
AREA_COLOURS = {
    "asgm": "#d49a00", "chlor-alkali": "#2b83ba", "air-transport": "#2e9e4f", "products": "#d7301f",
    "coal": "#4d4d4d", "waste": "#8856a7", "supply-storage": "#e6550d", "cement": "#8c6d31",
    "cross-cutting": "#14857a",
}


def class_breaks(top):
    """Lower bounds of at most len(PALETTE) classes covering 1..top, spaced geometrically on round
    numbers: 3 -> [1, 2, 3]; 40 -> [1, 2, 5, 10, 20]; 1000 -> [1, 5, 20, 100, 300]."""
    if top <= 0:
        return []
    if top <= len(PALETTE):
        return list(range(1, top + 1))
    nice = [m * 10 ** e for e in range(7) for m in (1, 2, 3, 5)]
    steps = len(PALETTE)
    wanted = [top ** (k / steps) for k in range(steps)]
    return sorted({min(nice, key=lambda n: abs(math.log(n / w))) for w in wanted})


def class_of(count, breaks):
    """Index of the class of `count` in `breaks`, or None for zero."""
    found = None
    for i, low in enumerate(breaks):
        if count >= low:
            found = i
    return found


def map_data(db, ids):
    """The compact drawing data for these project ids (see the module docstring)."""
    ids = list(ids)
    summaries = storage.project_summaries(db, ids)
    index = {row["id"]: i for i, row in enumerate(summaries)}
    orgs, org_index, projects, counts = [], {}, [], {}
    for row in summaries:
        funders = []
        for f in row["funders"]:
            label = f["acronym"] or f["name"]
            if label not in org_index:
                org_index[label] = len(orgs)
                orgs.append(label)
            funders.append(org_index[label])
        for c in row["countries"]:
            counts[c] = counts.get(c, 0) + 1
        projects.append([row["id"], row["title"], row["area"], row["status"], row["countries"], funders])
    points, unplaced = [], []
    for loc in storage.locations_for(db, ids):
        i = index.get(loc["project_id"])
        if i is None:
            continue
        code = PRECISION_CODES.get(loc["precision"])
        if code is not None and loc["lat"] is not None and loc["lon"] is not None:
            points.append([round(loc["lat"], 5), round(loc["lon"], 5), i, code, loc["name"]])
        else:
            unplaced.append([i, loc["name"], loc["precision"]])
    return {
        "total": len(projects), "projects": projects, "orgs": orgs, "points": points, "unplaced": unplaced,
        "countries": {c: [geo.country_name(c), n] for c, n in sorted(counts.items())},
        "breaks": class_breaks(max(counts.values(), default=0)),
    }


def describe(db, query):
    """A short human description of the selection, e.g. 'ASGM · Kenya, Ghana · funded by GEF'."""
    parts = []
    if query.q:
        parts.append(f"matching “{query.q}”")
    if query.areas:
        parts.append(", ".join(AREAS.get(a, a).split(" (")[0] for a in query.areas))
    if query.countries:
        parts.append(", ".join(geo.country_name(c) for c in query.countries))
    labels = storage.org_labels(db, query.funders + query.orgs)
    if query.funders:
        parts.append("funded by " + ", ".join(labels.get(o, o) for o in query.funders))
    if query.orgs:
        roles = " or ".join(query.roles) if query.roles else "any role"
        parts.append(f"with {', '.join(labels.get(o, o) for o in query.orgs)} ({roles})")
    if query.statuses:
        parts.append(", ".join(query.statuses))
    if query.kinds:
        parts.append(", ".join(k.replace("-", " ") for k in query.kinds))
    if query.year_from is not None or query.year_to is not None:
        parts.append(f"{query.year_from or '…'}–{query.year_to or '…'}")
    return " · ".join(parts)


def cache_key(query):
    """The selection as a stable string: the same projects give the same key whatever the order."""
    return urlencode(sorted(query.params(page=1, per_page=20, sort="")))
