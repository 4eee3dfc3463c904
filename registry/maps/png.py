"""PNG maps for e-mail newsletters and previews: geopandas + matplotlib (Agg), no browser, no network.

Countries are shaded by the number of matching projects, located points are drawn on top (the shape
shows the precision), with a title and the registry's attribution. The map fits the selection's extent
(the payload's "bounds": its points and countries, padded, never smaller than MIN_SPAN, the world only for
a worldwide selection) in Equal Earth centred on it (EPSG:8857 for the world), so a Pacific selection across
the antimeridian is drawn whole. Title and subtitle wrap to two lines each, or are shortened between words;
the legend sits under the map, in as many rows as the width needs. `scale=2` doubles the pixels.
Reduced to a 64-colour palette to stay small. Rendered images are cached on disk under
CACHE_DIR/maps, keyed by the selection, the size and the data version, within a number of bytes
(least recently used out first).

geopandas and matplotlib are imported lazily (about 1.5 s), on the first render only.
"""
import hashlib
import io
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..core import geo
from ..core.labels import label
from ..core.language import ENGLISH, N_
from ..core.query import QueryError
from ..core.summary import shortened
from . import files
from .data import BORDER, EMPTY, PALETTE, SEA, class_of, records

ATTRIBUTION = N_("Mercury Partnership Registry · UNEP Global Mercury Partnership")
LEGEND_TITLE = N_("Projects per country · points: located activities")
DEFAULT_WIDTH = 600
WIDTHS = (200, 1200)
HEIGHTS = (150, 1200)
# Bytes of rendered images kept on disk (config PNG_CACHE_BYTES): a 600 px newsletter image is 30-70 KB,
# a 1200 px one up to about 200 KB, so a thousand or more images.
PNG_CACHE_BYTES = 100 * 1024 * 1024
OCEAN = SEA               # the sea and countries without matching projects (EMPTY): data.py, as on the live map
POINT = "#b2182b"
OUTSIDE = "#8c9aa3"      # points of the selected projects outside the selection's places
# a drawn point's precision -> (matplotlib marker, size in points^2); the precisions are those of
# data.DRAWN, the names those of the payload's "precision" column; the legend names them with core/labels
MARKERS = {"site": ("o", 14), "subnational": ("^", 22), "country": ("D", 16)}

_render_lock = threading.Lock()


BUSY = N_("the map image service is busy; please try again in a minute")


class Busy(Exception):
    """Another render is taking too long in this process: try again shortly (the message: BUSY)."""


def default_height(width):
    return round(width * 0.6)


def parse_size(args):
    """(width, height) from request arguments; QueryError with the allowed ranges otherwise."""
    def number(name, bounds, default):
        raw = args.get(name)
        if raw is None or raw.strip() == "":
            return default
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or not bounds[0] <= int(text) <= bounds[1]:
            raise QueryError(N_("'%(name)s' must be a whole number of pixels between %(low)s and %(high)s "
                                "(e.g. %(example)s)"), "invalid_size", name=name, low=bounds[0], high=bounds[1],
                             example=f"{name}={default if default else bounds[0]}")
        return int(text)
    width = number("width", WIDTHS, DEFAULT_WIDTH)
    height = number("height", HEIGHTS, None)
    return width, height if height is not None else max(HEIGHTS[0], min(HEIGHTS[1], default_height(width)))


def parse_scale(args):
    """The pixel density asked for: 1, or 2 for high-density screens (the image has twice the pixels each
    way, everything drawn twice as large, and is shown at the declared width)."""
    raw = (args.get("scale") or "").strip()
    if raw in ("", "1"):
        return 1
    if raw == "2":
        return 2
    raise QueryError(N_("'scale' must be 1 or 2 (scale=2: twice the pixels, for high-density screens)"),
                     "invalid_scale")


# --- projection: Equal Earth centred on the selection ----------------------------------------------

# Central meridians are rounded to this many degrees, so that few projections of the world are kept
CENTRE_STEP = 5
# The smallest part of the world a map shows, in metres of Equal Earth (a single country point is not a
# one-degree map: about the width of Central America)
MIN_SPAN = (2_400_000, 1_600_000)
PAD = 0.06                  # of the extent, on each side
MARGIN_PX = 10              # room for a marker's half at the map's edge, at scale 1


def central_meridian(bounds):
    """The projection's central meridian: 0 for the world, else the middle of the extent (rounded)."""
    if bounds is None:
        return 0
    middle = (bounds["west"] + bounds["east"]) / 2
    centre = round(middle / CENTRE_STEP) * CENTRE_STEP
    return ((centre + 180) % 360) - 180


def _crs(lon_0):
    return f"+proj=eqearth +lon_0={lon_0} +datum=WGS84 +units=m +no_defs"


def _around(lon, lon_0):
    """The longitude moved by 360 degrees into lon_0 ± 180 (drawn on the side of the map it belongs to)."""
    return ((lon - lon_0 + 180) % 360) - 180 + lon_0


@lru_cache(maxsize=8)
def _world(lon_0=0):
    """Country polygons in Equal Earth centred on lon_0, without Antarctica (it would take a fifth of the
    image). Away from Greenwich, each shape is cut at the meridian opposite the centre and the pieces beyond
    it moved by 360 degrees, so that no polygon is smeared across the whole map."""
    import geopandas
    from shapely import affinity
    from shapely.geometry import box
    world = geopandas.read_file(geo.countries_geojson_path())
    world = world[world["iso3"] != "ATA"].set_crs(4326, allow_override=True)
    if lon_0:
        seam, eps = _around(lon_0 + 180, 0), 1e-7
        keep = box(seam + eps, -90, 180, 90) if lon_0 > 0 else box(-180, -90, seam - eps, 90)
        move = box(-180, -90, seam - eps, 90) if lon_0 > 0 else box(seam + eps, -90, 180, 90)
        shift = 360 if lon_0 > 0 else -360
        world = world.copy()
        world["geometry"] = [geometry.intersection(keep).union(
            affinity.translate(geometry.intersection(move), xoff=shift)) for geometry in world.geometry]
        world = world[~world.geometry.is_empty]
    return world.to_crs(_crs(lon_0))


def project(lonlats, lon_0):
    """Equal Earth (x, y) in metres of (lon, lat) pairs, on a map centred on lon_0."""
    transform = _transformer(lon_0)
    return [transform.transform(_around(lon, lon_0), lat) for lon, lat in lonlats]


@lru_cache(maxsize=8)
def _transformer(lon_0):
    from pyproj import Transformer
    return Transformer.from_crs(4326, _crs(lon_0), always_xy=True)


def projected_extent(bounds, lon_0):
    """(xmin, ymin, xmax, ymax) in metres of the extent's outline (its edges, sampled: Equal Earth's
    meridians curve), or of the whole world for None."""
    if bounds is None:
        return tuple(_world(0).total_bounds)
    west, south, east, north = bounds["west"], bounds["south"], bounds["east"], bounds["north"]
    steps = 24
    lons = [west + (east - west) * i / steps for i in range(steps + 1)]
    lats = [south + (north - south) * i / steps for i in range(steps + 1)] + ([0.0] if south < 0 < north else [])
    outline = [(lon, lat) for lon in lons for lat in (south, north)] + [(lon, lat) for lon in (west, east)
                                                                        for lat in lats]
    xs, ys = zip(*project(outline, lon_0))
    return min(xs), min(ys), max(xs), max(ys)


def _limits(extent, box_px, margin_px, world):
    """Axis limits that show `extent` padded (at least MIN_SPAN, unless the world) in a box of box_px
    (width, height) pixels at one scale both ways, with margin_px left free around it."""
    xmin, ymin, xmax, ymax = extent
    dx, dy = (xmax - xmin) * (1 + 2 * PAD), (ymax - ymin) * (1 + 2 * PAD)
    if not world:
        dx, dy = max(dx, MIN_SPAN[0]), max(dy, MIN_SPAN[1])
    per_px = max(dx / max(1, box_px[0] - 2 * margin_px), dy / max(1, box_px[1] - 2 * margin_px))
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    half_w, half_h = box_px[0] * per_px / 2, box_px[1] * per_px / 2
    return (cx - half_w, cx + half_w), (cy - half_h, cy + half_h)


def in_bounds(lon, lat, bounds):
    """Whether a point lies in the extent (across the antimeridian too); everything does for None."""
    if bounds is None:
        return True
    if not bounds["south"] <= lat <= bounds["north"]:
        return False
    return any(bounds["west"] <= lon + shift <= bounds["east"] for shift in (-360, 0, 360))


# --- drawing ---------------------------------------------------------------------------------------

@dataclass
class Layout:
    """Where things were drawn, in pixels of the image (origin top left): what the tests check."""
    width: int
    height: int
    map_box: tuple          # (left, top, right, bottom) of the map
    xlim: tuple
    ylim: tuple
    lon_0: float
    texts: list = field(default_factory=list)        # (text, (left, top, right, bottom)) of each line
    legend_box: tuple | None = None
    legend_texts: list = field(default_factory=list)  # the legend's title (if any) and its entries
    title_lines: list = field(default_factory=list)
    subtitle_lines: list = field(default_factory=list)

    def to_pixels(self, lon, lat):
        """The pixel (column, row) of a longitude and latitude on this map."""
        (x, y), = project([(lon, lat)], self.lon_0)
        left, top, right, bottom = self.map_box
        return (left + (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0]) * (right - left),
                bottom - (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0]) * (bottom - top))


def render_png(data, title, subtitle, width, height, scale=1, alternatives=(), words=ENGLISH):
    """PNG bytes, exactly (width x height) x scale pixels, of `data` (the payload of maps.data.map_data: its
    country counts, choropleth breaks, points and bounds, read by field name). The header is the first of
    (title, subtitle), then `alternatives`, that fits in two lines each; the last is shortened to fit.
    The legend and the credit are written with `words` (gettext's interface: the title's language)."""
    return render(data, title, subtitle, width, height, scale, alternatives, words)[0]


def legend_words(words=ENGLISH):
    """What the image writes besides its title: {"title": the legend's title, "markers": {precision: label},
    "credit": the attribution}, in the language of `words`."""
    return {"title": words.gettext(LEGEND_TITLE), "credit": words.gettext(ATTRIBUTION),
            "markers": {precision: label("precision", precision, words) for precision in MARKERS}}


def render(data, title, subtitle, width, height, scale=1, alternatives=(), words=ENGLISH):
    """(PNG bytes, Layout) of render_png."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100 * scale
    size = max(0.45, min(1.6, width / DEFAULT_WIDTH))        # text and markers follow the width
    fig = Figure(figsize=(width / 100, height / 100), dpi=dpi, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()
    px_w, px_h = width * scale, height * scale
    layout = Layout(px_w, px_h, None, None, None, 0)
    margin = round(6 * scale * size) + 2
    top = _draw_header(fig, renderer, [(title, subtitle), *alternatives], size, margin, layout)
    bottom = _draw_footer(fig, renderer, data["breaks"], size, margin, layout, legend_words(words))
    _draw_map(fig, data, size, scale, (margin, top + margin // 2, px_w - margin, bottom - margin // 2), layout)
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi, facecolor="white")
    return _reduced(raw.getvalue()), layout


TEXT = dict(parse_math=False, color="#1d2a33")  # never let '$' in a search start mathtext
TITLE_PT, SUBTITLE_PT, SMALL_PT = 11, 8, 6.5


def _draw_header(fig, renderer, candidates, size, margin, layout):
    """The title and subtitle lines, each wrapped to at most two lines of the image's width; returns the
    pixel row under them."""
    usable = layout.width - 2 * margin
    title_font = dict(size=TITLE_PT * size, weight="bold")
    sub_font = dict(size=SUBTITLE_PT * size)
    chosen = None
    for title, subtitle in candidates:
        t = _wrap(renderer, fig, title, title_font, usable, 2)
        s = _wrap(renderer, fig, subtitle, sub_font, usable, 2) if subtitle else []
        if t is not None and s is not None:
            chosen = t, s
            break
    if chosen is None:             # the last candidate, shortened between words to what fits
        title, subtitle = candidates[-1]
        chosen = (_shortened_lines(renderer, fig, title, title_font, usable, 2),
                  _shortened_lines(renderer, fig, subtitle, sub_font, usable, 1) if subtitle else [])
    layout.title_lines, layout.subtitle_lines = chosen
    row = margin
    for lines, font in ((chosen[0], title_font), (chosen[1], sub_font)):
        for line in lines:
            row = _text_line(fig, renderer, line, font, row, layout) + round(0.15 * font["size"])
    return row


def _text_line(fig, renderer, line, font, row, layout, colour=None):
    """One centred line whose top is at pixel `row`; returns the row under it."""
    text = fig.text(0.5, 1 - row / layout.height, line, ha="center", va="top", fontsize=font["size"],
                    weight=font.get("weight", "normal"), **dict(TEXT, color=colour or TEXT["color"]))
    box = text.get_window_extent(renderer)
    layout.texts.append((line, (box.x0, layout.height - box.y1, box.x1, layout.height - box.y0)))
    return layout.height - box.y0


def _measure(renderer, fig, text, font):
    from matplotlib.font_manager import FontProperties
    props = FontProperties(size=font["size"], weight=font.get("weight", "normal"))
    width, _, _ = renderer.get_text_width_height_descent(text, props, ismath=False)
    return width


def _wrap(renderer, fig, text, font, usable, max_lines):
    """The text as at most max_lines lines, broken between words, each within `usable` pixels; None when
    it does not fit."""
    lines = []
    for word in text.split():
        if lines and _measure(renderer, fig, f"{lines[-1]} {word}", font) <= usable:
            lines[-1] += f" {word}"
        elif _measure(renderer, fig, word, font) <= usable:
            lines.append(word)
        else:
            return None
        if len(lines) > max_lines:
            return None
    return lines


def _shortened_lines(renderer, fig, text, font, usable, max_lines):
    """The longest beginning of the text, cut between words and ended with '…', that fits in max_lines."""
    words = text.split()
    for n in range(len(words) - 1, 0, -1):
        lines = _wrap(renderer, fig, " ".join(words[:n]).rstrip(" ·,;:") + "…", font, usable, max_lines)
        if lines is not None:
            return lines
    return [shortened(text, max(1, int(usable / (font["size"] * 0.7))))]   # one word longer than a line


def _draw_footer(fig, renderer, breaks, size, margin, layout, text):
    """The attribution at the bottom and the legend above it, in as many rows as the width needs (under
    the map: it never covers a point). `text`: legend_words(). Returns the pixel row above them."""
    font = dict(size=SMALL_PT * size)
    attribution = fig.text(0.5, margin / layout.height, text["credit"], ha="center", va="bottom",
                           fontsize=font["size"], color="#5b6b75", parse_math=False)
    box = attribution.get_window_extent(renderer)
    layout.texts.append((text["credit"], (box.x0, layout.height - box.y1, box.x1, layout.height - box.y0)))
    legend = _draw_legend(fig, renderer, breaks, size, (box.y1 + margin / 2) / layout.height,
                          layout.width - 2 * margin, text)
    layout.legend_texts = [text["title"]] * bool(breaks) + [t.get_text() for t in legend.get_texts()]
    lbox = legend.get_window_extent(renderer)
    layout.legend_box = (lbox.x0, layout.height - lbox.y1, lbox.x1, layout.height - lbox.y0)
    return layout.height - lbox.y1


def _draw_legend(fig, renderer, breaks, size, bottom, usable, text):
    """The choropleth's classes, then the marker shapes, in rows under the map: as many columns as fit."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Patch(facecolor=PALETTE[i], edgecolor=BORDER, linewidth=0.3,
                     label=f"{low}+" if i == len(breaks) - 1 else (
                         f"{low}" if breaks[i + 1] - 1 == low else f"{low}–{breaks[i + 1] - 1}"))
               for i, low in enumerate(breaks)]
    handles += [Line2D([], [], marker=m, linestyle="", markersize=(s ** 0.5) * 0.9 * size ** 0.5,
                       markerfacecolor=POINT, markeredgecolor="white", label=text["markers"][precision])
                for precision, (m, s) in MARKERS.items()]
    for ncol in range(len(handles), 0, -1):
        legend = fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, bottom), ncol=ncol,
                            fontsize=SMALL_PT * size, frameon=False, handlelength=1.0, handletextpad=0.3,
                            columnspacing=0.9, borderpad=0.1,
                            title=text["title"] if breaks else None,
                            title_fontsize=SMALL_PT * size)
        if legend.get_window_extent(renderer).width <= usable or ncol == 1:
            return legend
        legend.remove()


def _draw_map(fig, data, size, scale, box_px, layout):
    """The countries shaded by their matching projects and the points, fitted to the data's bounds in the
    pixel box (left, top, right, bottom)."""
    left, top, right, bottom = box_px
    ax = fig.add_axes((left / layout.width, 1 - bottom / layout.height, (right - left) / layout.width,
                       (bottom - top) / layout.height))
    bounds = data.get("bounds")
    lon_0 = central_meridian(bounds)
    xlim, ylim = _limits(projected_extent(bounds, lon_0), (right - left, bottom - top),
                         MARGIN_PX * scale * size, bounds is None)
    layout.map_box, layout.xlim, layout.ylim, layout.lon_0 = box_px, xlim, ylim, lon_0
    counts = {c["iso3"]: c["projects"] for c in records(data, "countries")}
    _draw_countries(ax, _world(lon_0), counts, data["breaks"], size)
    _draw_points(ax, records(data, "points"), bounds, lon_0, size)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def _draw_countries(ax, world, counts, breaks, size):
    """The world, each country in the colour of its class of matching projects."""
    ax.set_axis_off()
    ax.set_facecolor(OCEAN)
    classes = [class_of(counts.get(c, 0), breaks) for c in world["iso3"]]
    colours = [EMPTY if k is None else PALETTE[k] for k in classes]
    world.plot(ax=ax, color=colours, edgecolor=BORDER, linewidth=0.25 * size)
    ax.set_aspect("auto")          # the limits keep one scale both ways (see _limits)


def _draw_points(ax, points, bounds, lon_0, size):
    """Point records (lat, lon, precision), one marker shape per precision; the selection's own in red,
    those of its projects outside the selection's places (a shared project's other countries) in grey."""
    drawn = project([(p["lon"], p["lat"]) for p in points], lon_0) if points else []
    for precision, (marker, area) in MARKERS.items():
        for inside, colour, order in ((False, OUTSIDE, 3), (True, POINT, 4)):
            xy = [xy for xy, p in zip(drawn, points)
                  if p["precision"] == precision and in_bounds(p["lon"], p["lat"], bounds) == inside]
            if xy:
                xs, ys = zip(*xy)
                ax.scatter(xs, ys, s=area * size, marker=marker, c=colour, edgecolors="white",
                           linewidths=0.5 * size, zorder=order)


def _reduced(png):
    """The PNG reduced to a 64-colour palette: about a third of the size, fine for maps."""
    from PIL import Image
    # fast octree rather than median cut: median cut merged the few pixels of small red markers into a
    # brown shared with the grey land (tests/test_png_extent.py); octree keeps them red, and is smaller
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def cached_png(cache_dir, key, render, timeout=30, max_bytes=PNG_CACHE_BYTES):
    """Bytes of the PNG for `key` (a string naming selection, size and data version), rendering it
    with `render()` on a miss. Returns (bytes, path). Raises Busy if this process is still rendering
    another image after `timeout` seconds. The images kept under `cache_dir`/maps stay within `max_bytes`:
    the least recently used go first (maps/files.py)."""
    folder = Path(cache_dir) / "maps"
    path = folder / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".png")
    body = files.read_and_touch(path)
    if body is not None:
        return body, path
    if not _render_lock.acquire(timeout=timeout):
        raise Busy(BUSY)
    try:
        body = files.read_and_touch(path)      # rendered by the request we waited for
        if body is not None:
            return body, path
        data = render()
        files.write_whole(path, data)
        files.trim(folder, max_bytes, keep=path)
        return data, path
    finally:
        _render_lock.release()


