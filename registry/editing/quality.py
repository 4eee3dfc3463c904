"""The data-quality desk, /editor/quality (editors): records with a likely defect, each linked to its edit form,
with each check's count now and at past points in time, replayed from the change history.

The checks' SQL and the replay are in store/quality.py, the boundary check in maps/geometry.py; this module
runs them on the live registry and on each replayed state alike, so a count in the past means what it means now.
"""
import threading
from datetime import datetime, timezone

from cachetools import LRUCache
from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from ..maps import geometry
from ..store import db as storage
from ..store import quality as quality_db
from ..web.context import get_db
from ..web.errors import error_response
from .auth import requires
from ..core.language import N_

bp = Blueprint("quality", __name__)

# name -> (heading, what it finds and why it matters), marked for the catalogs; the order of store.quality.CHECKS.
# %(ratio)s and %(degrees)s: the thresholds (labels() fills them in)
LABELS = {
    "country_points_only": (N_("Only country points"),
                            N_("Projects whose every location is a country's point: where in the country is not "
                               "recorded.")),
    "without_funder": (N_("No funder"), N_("Projects with no organisation in the funder role.")),
    "without_quote": (N_("No source quote"), N_("Projects none of whose citations quotes its source.")),
    "ongoing_past_end": (N_("“Ongoing” past its end year"),
                         N_("Projects marked ongoing whose end year is before this year: finished, or extended?")),
    "suspected_duplicates": (N_("Suspected duplicates"),
                             N_("Projects sharing a country whose titles are alike (difflib ratio of the titles "
                                "without accents, case or punctuation at least %(ratio)s).")),
    "organisations_without_projects": (N_("Organisations without projects"),
                                       N_("Organisations no project names in any role.")),
    "organisations_without_identifier": (N_("Organisations without an identifier"),
                                         N_("Organisations with no IATI organisation identifier (e.g. XM-DAC-41114).")),
    "points_outside_country": (N_("Points outside their country"),
                               N_("Locations whose point lies more than %(degrees)s° outside the 110m boundary of "
                                  "the country the location names.")),
}
# each period as the page names it ("the count after the last change of each day with changes"), and its link
PERIOD_NAMES = {"day": (N_("day with changes"), N_("day")), "month": (N_("month with changes"), N_("month")),
                "write": (N_("write"), N_("write"))}


def labels():
    """LABELS in the request's language."""
    values = {"ratio": quality_db.DUPLICATE_RATIO, "degrees": geometry.TOLERANCE_DEGREES}
    return {name: (_(heading), _(text) % values if "%(" in text else _(text))
            for name, (heading, text) in LABELS.items()}
POINTS = 12   # past points shown: the replay reads the whole history, the checks run at these only
# The replay's results per (database, data version, period): any write moves the data version on, so an entry
# is never stale; a few hundred bytes each
_replays, _replays_lock = LRUCache(maxsize=32), threading.Lock()


def find_defects(db, year):
    """({check: rows}, points not checked for want of a polygon) on the registry `db` (live or replayed)."""
    found = quality_db.run_checks(db, year)
    found["points_outside_country"], unchecked = geometry.check_points(quality_db.placed_points(db))
    return {name: found[name] for name in quality_db.CHECKS}, unchecked


def counts_over_time(db, period, points=POINTS):
    """([(period, {check: count})], unreadable history rows): each check's count after the last change of
    each of the `points` newest periods, the year of the period deciding what "past its end year" means."""
    def measure(memory, stamp):
        found, _ = find_defects(memory, int(stamp[:4]))
        return {name: len(rows) for name, rows in found.items()}
    return quality_db.replay(db, period, measure, last=points)


def cached_counts_over_time(db, period):
    key = (current_app.config["DATABASE"], storage.data_version(db), period)
    with _replays_lock:
        if key in _replays:
            return _replays[key]
    result = counts_over_time(db, period)
    with _replays_lock:
        _replays[key] = result
    return result


def sparkline(values, width=80, height=18):
    """An SVG polyline's points for a small chart of `values` (the table beside it carries the numbers)."""
    if len(values) < 2:
        return None
    top = max(values) or 1
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values))


@bp.get("/editor/quality")
@requires("editor")
def quality():
    period = request.args.get("period", "day")
    if period not in quality_db.PERIODS:
        return error_response(400, "bad_period", _("period '%(value)s' is not known: use one of %(periods)s (e.g. "
                                                   "/editor/quality?period=month)", value=period[:40],
                                                   periods=", ".join(quality_db.PERIODS)))
    db = get_db()
    found, unchecked = find_defects(db, datetime.now(timezone.utc).year)
    history, unreadable = cached_counts_over_time(db, period)
    lines = {name: sparkline([counts[name] for _, counts in history]) for name in quality_db.CHECKS}
    return render_template("editor/quality.html", found=found, unchecked=unchecked, labels=labels(),
                           entities=quality_db.CHECKS, history=history, unreadable=unreadable, lines=lines,
                           period=period, periods={k: (_(a), _(b)) for k, (a, b) in PERIOD_NAMES.items()},
                           points=POINTS)
