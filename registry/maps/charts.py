"""The charts of /stats: a selection's counts (store/stats.py) as tables with labels, and each table drawn
as a bar chart with matplotlib (Agg): SVG for the page, PNG for download.

`charts(counts, words, lang)` -> [Chart]: each holds the table a page shows beside its picture and a CSV repeats
(`columns`, `rows`: every value, nothing cut), what the picture draws (`bars`, `series`: at most MAX_BARS
bars, the rest said in `notes`), and the sentences that say what the table leaves out of the picture;
every word in the language of `words` (gettext's interface, core/language.py), country names in `lang`.
`svg(chart)` is the SVG element to put inline in a page, with <title> and <desc> and role="img";
`png(chart)` the same picture as PNG bytes.

matplotlib is imported lazily and drawing holds a lock: pyplot-free figures, but rcParams are global.
"""
import io
import re
import threading
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape, quoteattr

from ..core import geo
from ..core.labels import labels
from ..core.language import DEFAULT_LANGUAGE, ENGLISH, N_
from ..core.validate import STATUSES

MAX_BARS = 15          # bars a chart draws; its table lists every row
WIDTH_IN = 7.2         # inches at 100 dpi: 720 px, the width of the page's column
BAR_IN = 0.3           # height of one horizontal bar's row
# Okabe-Ito colours (told apart with any colour vision), one per status, in STATUSES order
STATUS_COLOURS = {"proposed": "#CC79A7", "planned": "#56B4E9", "ongoing": "#009E73", "completed": "#0072B2",
                  "postponed": "#E69F00", "unknown": "#999999"}
SERIES_COLOURS = ("#0072B2", "#E69F00")
SINGLE_COLOUR = "#3a86b8"
INK = "#1d2a33"
NO_YEAR = N_("no start year")
# The area-status chart's columns and legend: one word per status (core/labels.py has "Status unknown")
STATUS_COLUMNS = {"proposed": N_("Proposed"), "planned": N_("Planned"), "ongoing": N_("Ongoing"),
                  "completed": N_("Completed"), "postponed": N_("Postponed"), "unknown": N_("Unknown")}

_draw_lock = threading.Lock()


@dataclass(frozen=True)
class Chart:
    name: str            # in URLs: /stats/<name>.png, /stats/<name>.csv
    title: str
    summary: str         # what the picture shows, one sentence (its <desc> begins with it)
    columns: tuple       # the table's and the CSV's header
    rows: tuple          # tuples of cells: str or int
    bars: tuple          # (label, (value per series)) drawn, in order
    series: tuple        # names of the values of each bar (a legend when more than one)
    horizontal: bool = True
    stacked: bool = False
    notes: tuple = ()    # sentences: what the picture leaves out, projects without a value
    value_label: str = ""    # the axis of the values
    colours: tuple = ()      # one per series; by default SERIES_COLOURS or SINGLE_COLOUR
    empty_text: str = "No projects in this selection"        # drawn when there is nothing to draw
    table_note: str = "The numbers are in the table beside the chart."

    @property
    def description(self):
        return " ".join((self.summary, *self.notes, self.table_note))


NAMES = ("area-status", "start-year", "countries", "funders", "organisation-types")


def charts(counts, words=ENGLISH, lang=DEFAULT_LANGUAGE):
    """The five charts of a selection's counts (store.stats.selection_counts), in NAMES order, their words in
    the language of `words` and the countries named in `lang`."""
    common = {"empty_text": words.gettext("No projects in this selection"),
              "table_note": words.gettext("The numbers are in the table beside the chart.")}
    made = [area_status(counts, words), start_years(counts, words), countries(counts, words, lang),
            funders(counts, words), organisation_types(counts, words)]
    return [replace(chart, **common) for chart in made]


def _left_out(rows, words, what):
    """The note for a table longer than its picture; `what` is "countries" or "funders"."""
    if len(rows) <= MAX_BARS:
        return ()
    values = {"shown": MAX_BARS, "total": len(rows)}
    if what == "countries":
        return (words.gettext("The chart shows the %(shown)s countries with the most projects; the table lists "
                              "all %(total)s.") % values,)
    return (words.gettext("The chart shows the %(shown)s funders with the most projects; the table lists "
                          "all %(total)s.") % values,)


def area_status(counts, words=ENGLISH):
    statuses = [s for s in STATUSES if any(row[1] == s for row in counts["area_status"])]
    area_labels = labels("area", words)
    by_area = {}
    for area, status, n in counts["area_status"]:
        by_area.setdefault(area, {})[status] = n
    areas = [a for a in area_labels if a in by_area] + sorted(a for a in by_area if a not in area_labels)
    rows = tuple((area_labels.get(a, a), *(by_area[a].get(s, 0) for s in statuses), sum(by_area[a].values()))
                 for a in areas)
    status_names = tuple(words.gettext(STATUS_COLUMNS[s]) for s in statuses)
    n = counts["projects"]
    return Chart(
        "area-status", words.gettext("Projects by partnership area and status"),
        words.ngettext("Horizontal bars, one per partnership area, each divided by status: %(num)s project, "
                       "each counted once under its main area.",
                       "Horizontal bars, one per partnership area, each divided by status: %(num)s projects, "
                       "each counted once under its main area.", n) % {"num": n},
        (words.gettext("Partnership area"), *status_names, words.gettext("Total")), rows,
        tuple((area_labels.get(a, a).split(" (")[0], tuple(by_area[a].get(s, 0) for s in statuses)) for a in areas),
        status_names, stacked=True, value_label=words.gettext("Projects"),
        colours=tuple(STATUS_COLOURS.get(s, "#777777") for s in statuses))


def start_years(counts, words=ENGLISH):
    years = [(y, n) for y, n in counts["start_years"] if y is not None]
    without = sum(n for y, n in counts["start_years"] if y is None)
    rows = tuple(years) + (((words.gettext(NO_YEAR), without),) if without else ())
    if years:
        summary = words.gettext("Columns, one per year from %(first)s to %(last)s: the projects that started that "
                                "year.") % {"first": years[0][0], "last": years[-1][0]}
    else:
        summary = words.gettext("Columns, one per year: the projects that started that year.")
    projects = words.gettext("Projects")
    return Chart(
        "start-year", words.gettext("Projects by start year"), summary,
        (words.gettext("Start year"), projects), rows,
        tuple((str(y), (n,)) for y, n in _every_year(years)), (projects,), horizontal=False,
        value_label=projects,
        notes=(words.ngettext("%(num)s project has no start year recorded and is not drawn.",
                              "%(num)s projects have no start year recorded and are not drawn.",
                              without) % {"num": without},) if without else ())


def _every_year(years):
    """(year, projects) for every year from the first to the last, 0 where none started: a timeline."""
    if not years:
        return []
    counted = dict(years)
    return [(y, counted.get(y, 0)) for y in range(years[0][0], years[-1][0] + 1)]


def countries(counts, words=ENGLISH, lang=DEFAULT_LANGUAGE):
    rows = tuple((geo.country_name(iso3, lang), iso3, n) for iso3, n in counts["countries"])
    without = counts["without_country"]
    projects = words.gettext("Projects")
    return Chart(
        "countries", words.gettext("Projects by country"),
        words.ngettext("Horizontal bars, one per country: the projects working in it (%(num)s country; a "
                       "project in several countries counts in each).",
                       "Horizontal bars, one per country: the projects working in it (%(num)s countries; a "
                       "project in several countries counts in each).", len(rows)) % {"num": len(rows)},
        (words.gettext("Country"), words.gettext("ISO code"), projects), rows,
        tuple((name, (n,)) for name, _, n in rows[:MAX_BARS]), (projects,), value_label=projects,
        notes=_left_out(rows, words, "countries") + ((
            words.ngettext("%(num)s project names no country (regional or global work).",
                           "%(num)s projects name no country (regional or global work).", without)
            % {"num": without},) if without else ()))


def funders(counts, words=ENGLISH):
    rows = tuple((acronym or name, oid, n, c) for oid, name, acronym, n, c in counts["funders"])
    without = counts["without_funder"]
    projects, countries_ = words.gettext("Projects"), words.gettext("Countries")
    return Chart(
        "funders", words.gettext("Funders by number of projects and of countries"),
        words.ngettext("Pairs of horizontal bars, one pair per funder (%(num)s funder): the projects it funds and "
                       "the countries those projects work in.",
                       "Pairs of horizontal bars, one pair per funder (%(num)s funders): the projects it funds and "
                       "the countries those projects work in.", len(rows)) % {"num": len(rows)},
        (words.gettext("Funder"), words.gettext("Organisation id"), projects, countries_), rows,
        tuple((label, (n, c)) for label, _, n, c in rows[:MAX_BARS]), (projects, countries_),
        value_label=words.gettext("Number"),
        notes=_left_out(rows, words, "funders") + ((
            words.ngettext("%(num)s project has no funder recorded.", "%(num)s projects have no funder recorded.",
                           without) % {"num": without},) if without else ()))


def organisation_types(counts, words=ENGLISH):
    type_labels = labels("org_type", words)
    rows = tuple((type_labels.get(t, t), n) for t, n in counts["org_types"])
    n = counts["organisations"]
    organisations = words.gettext("Organisations")
    return Chart(
        "organisation-types", words.gettext("Organisations by type"),
        words.ngettext("Horizontal bars, one per type of organisation: the %(num)s organisation taking part in "
                       "these projects in any role (funder, lead, implementer, partner), each counted once.",
                       "Horizontal bars, one per type of organisation: the %(num)s organisations taking part in "
                       "these projects in any role (funder, lead, implementer, partner), each counted once.",
                       n) % {"num": n},
        (words.gettext("Type"), organisations), rows, tuple((label, (n,)) for label, n in rows), (organisations,),
        value_label=organisations)


# --- drawing -----------------------------------------------------------------------------------------

def svg(chart):
    """The chart as an inline <svg> element: role="img", labelled by its <title> and described by its
    <desc> (ids chart-<name>-title, -desc), text kept as text, scaled to its container by CSS."""
    raw = _save(chart, "svg").decode("utf-8")
    body = _own_ids(raw[raw.index("<svg"):], f"chart-{chart.name}-")
    ids = f"chart-{chart.name}-title chart-{chart.name}-desc"
    head_end = body.index(">") + 1
    head = body[:head_end].replace("<svg", f"<svg role=\"img\" aria-labelledby={quoteattr(ids)} "
                                           f"class=\"chart\"", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)   # the viewBox keeps the proportions
    labels = (f"<title id=\"chart-{chart.name}-title\">{escape(chart.title)}</title>"
              f"<desc id=\"chart-{chart.name}-desc\">{escape(chart.description)}</desc>")
    return head + labels + body[head_end:]


def _own_ids(body, prefix):
    """The SVG with every element id (matplotlib's figure_1, patch_1...: the same in every chart) and every
    reference to one (url(#...), href="#...") prefixed: ids must be unique in the page that holds the charts,
    or a chart's clip path could be another's."""
    body = re.sub(r'\sid="([^"]+)"', lambda m: f' id="{prefix}{m.group(1)}"', body)
    body = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", body)
    return re.sub(r'(href)="#([^"]+)"', lambda m: f'{m.group(1)}="#{prefix}{m.group(2)}"', body)


def png(chart):
    """The chart as PNG bytes (720 px wide)."""
    return _save(chart, "png")


def _save(chart, fmt):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    with _draw_lock, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": chart.name,
                                            "text.parse_math": False, "font.size": 9, "text.color": INK,
                                            "axes.edgecolor": "#9aa7b0", "xtick.color": INK,
                                            "ytick.color": INK}):
        fig = Figure(figsize=_size(chart), dpi=100, facecolor="white", layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        if chart.bars:
            _draw(ax, chart)
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, chart.empty_text, ha="center", va="center", transform=ax.transAxes)
        fig.suptitle(chart.title, x=0.01, ha="left", fontsize=11, weight="bold")
        out = io.BytesIO()
        fig.savefig(out, format=fmt, bbox_inches="tight", pad_inches=0.1, facecolor="white",
                    metadata={"Date": None} if fmt == "svg" else None)
    return out.getvalue()


def _size(chart):
    if not chart.horizontal or not chart.bars:
        return WIDTH_IN, 3.0
    rows = len(chart.bars) * (len(chart.series) if not chart.stacked else 1)
    per_bar = BAR_IN if chart.stacked or len(chart.series) == 1 else BAR_IN * 0.75
    return WIDTH_IN, 1.0 + per_bar * max(3, rows) + (0.3 if len(chart.series) > 1 else 0)


def _colours(chart):
    if chart.colours:
        return list(chart.colours)
    return list(SERIES_COLOURS[:len(chart.series)]) if len(chart.series) > 1 else [SINGLE_COLOUR]


def _draw(ax, chart):
    labels = [label for label, _ in chart.bars]
    positions = list(range(len(labels)))
    colours = _colours(chart)
    n_series = len(chart.series)
    thickness = 0.8 if chart.stacked or n_series == 1 else 0.8 / n_series
    offsets = [0] * len(labels)
    for k, name in enumerate(chart.series):
        values = [vals[k] for _, vals in chart.bars]
        if chart.stacked:
            where = positions
        else:
            where = [p - 0.4 + thickness * (k + 0.5) for p in positions]
        if chart.horizontal:
            bars = ax.barh(where, values, height=thickness, left=offsets if chart.stacked else None,
                           color=colours[k], label=name)
        else:
            bars = ax.bar(where, values, width=thickness, color=colours[k], label=name)
        if not chart.stacked:
            ax.bar_label(bars, labels=[str(v) if v else "" for v in values], padding=2, fontsize=8)
        if chart.stacked:
            offsets = [o + v for o, v in zip(offsets, values)]
    if chart.stacked:
        for p, total in zip(positions, offsets):
            ax.text(total, p, f" {total}", va="center", fontsize=8)
    _axes(ax, chart, positions, labels)


def _axes(ax, chart, positions, labels):
    from matplotlib.ticker import MaxNLocator
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    value_axis = ax.xaxis if chart.horizontal else ax.yaxis
    value_axis.set_major_locator(MaxNLocator(integer=True))
    if chart.horizontal:
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()                 # the largest (the first) on top
        ax.margins(x=0.08)
        ax.set_xlabel(chart.value_label)
    else:
        step = max(1, len(labels) // 20)  # at most about 20 year labels
        ax.set_xticks(positions[::step], labels[::step], rotation=90 if len(labels) > 12 else 0)
        ax.set_ylabel(chart.value_label)
        ax.margins(y=0.1)
    if len(chart.series) > 1:
        # above the bars, in one row: inside the axes it would cover the longest ones
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False, fontsize=8, ncols=min(len(chart.series), 3),
                  borderaxespad=0.2, handlelength=1.2)
