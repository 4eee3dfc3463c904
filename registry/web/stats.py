"""/stats: the statistics of a selection, in pictures and numbers. It takes the list's query string
(`/stats?funder=GEF&region=002`: "the GEF in Africa"), so it counts exactly the projects the list shows.

Five charts (registry/maps/charts.py), each an SVG drawn on the server and put inline in the page with its
table beside it, and downloadable: `/stats/<chart>.png?<query>` (the picture), `/stats/<chart>.csv?<query>`
(the table's numbers, cells guarded against spreadsheet formulas as the exports are).

The counts (store/stats.py, a few ms) and the drawings (0.1-0.5 s each) are kept per process by
(database, data version, selection, language): the popular selections are drawn once per change of the data
and language (the charts' titles, axes, legends and tables are in the request's language).
"""
import csv
import hashlib
import io
import threading

from cachetools import LRUCache
from flask import Blueprint, Response, current_app, render_template, request

from ..exchange.cells import guard
from ..maps import charts as chart_drawing
from ..search.finder import find_projects, query_from_args
from ..store import db as storage
from ..store import stats as stats_store
from . import language
from .context import get_db, index_settings, selection_summary

bp = Blueprint("stats", __name__)

CHART_NAMES = "any(" + ", ".join(f"'{name}'" for name in chart_drawing.NAMES) + ")"
CACHED_SELECTIONS = 64    # selections whose charts each process keeps (about 150 KB of SVG each)
CACHED_PNGS = 128         # PNG downloads kept per process (20-50 KB each)


class _Cache:
    """A small thread-safe LRU (cachetools caches are not thread-safe)."""

    def __init__(self, size):
        self.items, self.lock = LRUCache(maxsize=size), threading.Lock()

    def get(self, key, make):
        with self.lock:
            found = self.items.get(key)
        if found is None:
            found = make()
            with self.lock:
                self.items[key] = found
        return found


def _caches():
    app = current_app._get_current_object()
    return app.extensions.setdefault("stats_caches", {"charts": _Cache(CACHED_SELECTIONS),
                                                      "svg": _Cache(CACHED_SELECTIONS * len(chart_drawing.NAMES)),
                                                      "png": _Cache(CACHED_PNGS)})


class Selection:
    """The request's selection, its charts (cached) and what the page says of it."""

    def __init__(self):
        db = get_db()
        self.query = query_from_args(db, request.args)
        self.filters = self.query.filter_params()
        self.lang = language.current_language()
        self.key = (current_app.config["DATABASE"], storage.data_version(db), self.filters, self.lang)
        self.db = db
        self.charts, self.total = _caches()["charts"].get(self.key, self._count)

    def _count(self):
        ids = None
        if self.filters or self.query.q or self.query.has_filters:
            ids = find_projects(self.db, index_settings(), self.query, with_page=False, with_facets=False).ids
        counts = stats_store.selection_counts(self.db, ids)
        return tuple(chart_drawing.charts(counts, language.words(), self.lang)), counts["projects"]

    def chart(self, name):
        return next(c for c in self.charts if c.name == name)

    def svg(self, chart):
        return _caches()["svg"].get(self.key + (chart.name,), lambda: chart_drawing.svg(chart))

    def png(self, chart):
        return _caches()["png"].get(self.key + (chart.name,), lambda: chart_drawing.png(chart))

    def summary(self):
        return selection_summary(self.db, self.query, self.total)

    def file_name(self, chart, ext):
        return f"mercury-registry-{chart.name}-{self.summary().slug}.{ext}"

    def etag(self, *parts):
        return '"' + hashlib.sha256(repr(self.key + parts).encode("utf-8")).hexdigest()[:24] + '"'


@bp.route("/stats")
def stats_page():
    selection = Selection()
    return render_template("stats.html", q=selection.query, filters=selection.filters, summary=selection.summary(),
                           charts=[(chart, selection.svg(chart)) for chart in selection.charts])


@bp.route(f"/stats/<{CHART_NAMES}:name>.png")
def chart_png(name):
    selection = Selection()
    chart = selection.chart(name)
    return Response(selection.png(chart), mimetype="image/png", headers={
        "Content-Disposition": f"inline; filename={selection.file_name(chart, 'png')}",
        "Cache-Control": "public, max-age=600", "ETag": selection.etag(name, "png")})


@bp.route(f"/stats/<{CHART_NAMES}:name>.csv")
def chart_csv(name):
    selection = Selection()
    chart = selection.chart(name)
    return Response(table_csv(chart), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={selection.file_name(chart, 'csv')}",
        "Cache-Control": "public, max-age=600"})


def table_csv(chart):
    """The chart's table as CSV (UTF-8, a header row): every row, text cells guarded against formulas."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([guard(c) for c in chart.columns])
    writer.writerows([guard(c) if isinstance(c, str) else c for c in row] for row in chart.rows)
    return out.getvalue()
