"""The interactive map in headless chromium (bytes, time until markers are drawn) and the PNG map."""
import json
import math
import statistics
import time
from collections import Counter
from itertools import product
from urllib.parse import urlencode


from registry.core.validate import AREAS, KINDS, STATUSES

from .servers import get, progress

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# First markers or clusters on screen (Leaflet.markercluster's icons, plain marker icons), then every
# marker added: static/map.js sets data-drawn="1" when the cluster group's chunked loading is done.
FIRST_DRAWN = ".marker-cluster, .leaflet-marker-icon, [data-drawn='1']"
ALL_DRAWN = "[data-drawn='1'], [data-error='1']"
PNG_SELECTIONS = ["", "area=asgm", "status=ongoing", "kind=project", "country=KEN", "area=waste&status=completed"]


def _points(p):
    """Locations the map draws as points: sites, sub-national areas and countries (at the country's
    point); regional and global ones are listed beside the map."""
    return sum(loc["precision"] in ("site", "subnational", "country") for loc in p["locations"])


def map_selections(projects, targets):
    """For each target number of points, the filter (none, an area, a status, a kind or a pair of them)
    whose selection has the number of placeable locations closest to it: [(target, query, points)]."""
    groups = Counter()
    for p in projects:
        groups[(frozenset([p["area"], *p["other_areas"]]), p["status"], p["kind"])] += _points(p)
    singles = [{"area": a} for a in AREAS] + [{"status": s} for s in STATUSES] + [{"kind": k} for k in KINDS]
    pairs = [{**a, **b} for a, b in product(singles, singles) if set(a).isdisjoint(b) and list(a) < list(b)]
    candidates = [{}] + singles + pairs

    def count(c):
        return sum(n for (areas, status, kind), n in groups.items()
                   if ("area" not in c or c["area"] in areas) and c.get("status", status) == status
                   and c.get("kind", kind) == kind)

    counted = [(urlencode(c), count(c)) for c in candidates]
    total = counted[0][1]
    out = []
    for target in targets:
        if target <= total * 1.2:
            query, n = min(counted, key=lambda qn: abs(math.log(max(qn[1], 1) / target)))
            out.append((target, query, n))
    return out


def map_page(browser, base, query, loads=3):
    """Load /map?query `loads` times, each in a fresh browser context (nothing cached by the browser).
    Returns the points in the selection's data, the bytes transferred (the HTML page, that data,
    everything), and seconds from navigation to the data received (the server's share), to the first
    markers or clusters drawn (first load, median of the others) and to every marker added to the map."""
    first, done, data, sizes = [], [], [], {}
    for i in range(loads):
        context = browser.new_context()
        page = context.new_page()
        responses, received = [], []
        page.on("response", lambda r: responses.append(r))
        page.on("requestfinished", lambda r: received.append(time.perf_counter()) if "/map/data" in r.url else None)
        start = time.perf_counter()
        page.goto(f"{base}/map?{query}", wait_until="commit")
        page.wait_for_selector(FIRST_DRAWN, state="attached", timeout=120_000)
        first.append(time.perf_counter() - start)
        page.wait_for_selector(ALL_DRAWN, state="attached", timeout=120_000)
        done.append(time.perf_counter() - start)
        data.append(received[0] - start if received else None)
        if page.query_selector("[data-error='1']"):
            raise RuntimeError(f"/map?{query}: the page says its data could not be loaded")
        if i == 0:
            page.wait_for_load_state("networkidle")
            for r in responses:
                if "/map/data" in r.url and r.status == 200:
                    sizes["points"] = len(json.loads(r.body())["points"])
                n = r.request.sizes()["responseBodySize"]
                kind = "html" if r.request.resource_type == "document" else "data" if "/map/data" in r.url else "other"
                sizes[kind] = sizes.get(kind, 0) + n
                sizes["total"] = sizes.get("total", 0) + n
        context.close()
    return {"html_kb": sizes.get("html", 0) / 1024, "data_kb": sizes.get("data", 0) / 1024,
            "total_kb": sizes["total"] / 1024, "first_s": first[0], "drawn_s": statistics.median(first[1:] or first),
            "all_drawn_s": statistics.median(done[1:] or done), "drawn_points": sizes.get("points"),
            "data_s": statistics.median([d for d in data[1:] or data if d is not None] or [float("nan")])}


def map_rows(base, selections, loads=3):
    from playwright.sync_api import sync_playwright
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for target, query, points in progress(selections, "map"):
                rows.append({"target": target, "selection": query or "(all)", "points": points,
                             **map_page(browser, base, query, loads)})
        finally:
            browser.close()
    return rows


def png(base, selections=PNG_SELECTIONS):
    """/map.png: the first render in the process (imports), cold renders (each selection new), and
    cached repeats of the same selections."""
    def fetch(query):
        seconds, status, body = get(base, f"/map.png?{query}")
        if status != 200 or not body.startswith(b"\x89PNG"):
            raise RuntimeError(f"/map.png?{query} answered {status}, not a PNG")
        return seconds
    first = fetch("area=cement&status=planned")
    cold = [fetch(q) for q in progress(selections, "png (cold)")]
    cached = [fetch(q) for q in selections for _ in range(3)]
    return {"first_s": first, "cold_p50_s": statistics.median(cold), "cold_max_s": max(cold),
            "cached_p50_ms": statistics.median(cached) * 1000, "cached_max_ms": max(cached) * 1000}
