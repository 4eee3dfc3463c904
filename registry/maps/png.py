"""PNG maps for e-mail newsletters and previews: geopandas + matplotlib (Agg), no browser, no network.

Countries are shaded by the number of matching projects, located points are drawn on top (the shape
shows the precision), with a title and the registry's attribution. Equal Earth (EPSG:8857) projection,
reduced to a 64-colour palette to stay small. Rendered images are cached on disk under
CACHE_DIR/maps, keyed by the selection, the size and the data version, within a number of bytes
(least recently used out first).

geopandas and matplotlib are imported lazily (about 1.5 s), on the first render only.
"""
import hashlib
import io
import os
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from ..core import geo
from ..core.query import QueryError
from .data import PALETTE, class_of, records

ATTRIBUTION = "Mercury Partnership Registry · UNEP Global Mercury Partnership"
DEFAULT_WIDTH = 600
WIDTHS = (200, 1200)
HEIGHTS = (150, 1200)
# Bytes of rendered images kept on disk (config PNG_CACHE_BYTES): a 600 px newsletter image is 30-70 KB,
# a 1200 px one up to about 200 KB, so a thousand or more images.
PNG_CACHE_BYTES = 100 * 1024 * 1024
EMPTY = "#eceff1"        # countries without matching projects
OCEAN = "#ffffff"
POINT = "#b2182b"
# a drawn point's precision -> (matplotlib marker, size in points^2, label); the precisions are those of
# data.DRAWN, the names those of the payload's "precision" column
MARKERS = {"site": ("o", 14, "exact site"), "subnational": ("^", 22, "sub-national area"),
           "country": ("D", 16, "country")}

_render_lock = threading.Lock()


class Busy(Exception):
    """Another render is taking too long in this process: try again shortly."""


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
            raise QueryError(f"'{name}' must be a whole number of pixels between {bounds[0]} and {bounds[1]} "
                             f"(e.g. {name}={default if default else bounds[0]})", "invalid_size")
        return int(text)
    width = number("width", WIDTHS, DEFAULT_WIDTH)
    height = number("height", HEIGHTS, None)
    return width, height if height is not None else max(HEIGHTS[0], min(HEIGHTS[1], default_height(width)))


@lru_cache(maxsize=1)
def _world():
    """Country polygons in Equal Earth, without Antarctica (it would take a fifth of the image)."""
    import geopandas
    world = geopandas.read_file(geo.countries_geojson_path())
    world = world[world["iso3"] != "ATA"].set_crs(4326, allow_override=True)
    return world.to_crs(8857)


def _project_points(points):
    """Equal Earth (x, y) of point records (dicts with lat and lon)."""
    import geopandas
    from shapely.geometry import Point
    series = geopandas.GeoSeries([Point(p["lon"], p["lat"]) for p in points], crs=4326).to_crs(8857)
    return [(p.x, p.y) for p in series]


def render_png(data, title, subtitle, width, height):
    """PNG bytes, exactly width x height pixels, of `data` (the payload of maps.data.map_data: its country
    counts, choropleth breaks and points, read by field name)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    scale = max(0.45, min(1.6, width / DEFAULT_WIDTH))
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(fig)
    header, footer = 0.11 if subtitle else 0.075, 0.12
    ax = fig.add_axes((0.01, footer, 0.98, 1 - header - footer))
    counts = {c["iso3"]: c["projects"] for c in records(data, "countries")}
    _draw_countries(ax, counts, data["breaks"], scale)
    _draw_points(ax, records(data, "points"), scale)
    _draw_texts(fig, title, subtitle, width, scale)
    _draw_legend(fig, data["breaks"], scale)
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=dpi, facecolor="white")
    return _reduced(raw.getvalue())


def _draw_countries(ax, counts, breaks, scale):
    """The world, each country in the colour of its class of matching projects."""
    world = _world()
    ax.set_axis_off()
    ax.set_facecolor(OCEAN)
    classes = [class_of(counts.get(c, 0), breaks) for c in world["iso3"]]
    colours = [EMPTY if k is None else PALETTE[k] for k in classes]
    world.plot(ax=ax, color=colours, edgecolor="#9aa7b0", linewidth=0.25 * scale)
    xmin, ymin, xmax, ymax = world.total_bounds
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect("equal", adjustable="box", anchor="C")


def _draw_points(ax, points, scale):
    """Point records (lat, lon, precision), one marker shape per precision."""
    drawn = _project_points(points) if points else []
    for precision, (marker, size, _) in MARKERS.items():
        xy = [xy for xy, point in zip(drawn, points) if point["precision"] == precision]
        if xy:
            xs, ys = zip(*xy)
            ax.scatter(xs, ys, s=size * scale, marker=marker, c=POINT, edgecolors="white",
                       linewidths=0.5 * scale, zorder=3)


def _draw_texts(fig, title, subtitle, width, scale):
    text = dict(parse_math=False, color="#1d2a33")  # never let '$' in a search start mathtext
    fig.text(0.5, 1 - 0.045, _fit(title, width, 8.5 * scale), ha="center", va="center", fontsize=11 * scale,
             weight="bold", **text)
    if subtitle:
        fig.text(0.5, 1 - 0.095, _fit(subtitle, width, 6.5 * scale), ha="center", va="center",
                 fontsize=8 * scale, **text)
    fig.text(0.5, 0.015, ATTRIBUTION, ha="center", va="bottom", fontsize=6.5 * scale, color="#5b6b75",
             parse_math=False)


def _draw_legend(fig, breaks, scale):
    """The choropleth's classes, then the marker shapes, in one row under the map."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    handles = [Patch(facecolor=PALETTE[i], edgecolor="#9aa7b0", linewidth=0.3,
                     label=f"{low}+" if i == len(breaks) - 1 else (
                         f"{low}" if breaks[i + 1] - 1 == low else f"{low}–{breaks[i + 1] - 1}"))
               for i, low in enumerate(breaks)]
    handles += [Line2D([], [], marker=m, linestyle="", markersize=(s ** 0.5) * 0.9, markerfacecolor=POINT,
                       markeredgecolor="white", label=lbl) for m, s, lbl in MARKERS.values()]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.045), ncol=len(handles),
               fontsize=6.5 * scale, frameon=False, handlelength=1.0, handletextpad=0.3, columnspacing=0.9,
               title="Projects per country · points: located activities" if breaks else None,
               title_fontsize=6.5 * scale)


def _reduced(png):
    """The PNG reduced to a 64-colour palette: about a third of the size, fine for maps."""
    from PIL import Image
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fit(text, width, font_px):
    """Shorten text so that it fits on one line of the image (a rough average glyph width)."""
    limit = max(20, int(width / (font_px * 0.62)))
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def cached_png(cache_dir, key, render, timeout=30, max_bytes=PNG_CACHE_BYTES):
    """Bytes of the PNG for `key` (a string naming selection, size and data version), rendering it
    with `render()` on a miss. Returns (bytes, path). Raises Busy if this process is still rendering
    another image after `timeout` seconds. The images kept under `cache_dir`/maps stay within `max_bytes`:
    the least recently used go first (see _trim)."""
    folder = Path(cache_dir) / "maps"
    path = folder / (hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + ".png")
    body = _read_and_touch(path)
    if body is not None:
        return body, path
    if not _render_lock.acquire(timeout=timeout):
        raise Busy("the map image service is busy; please try again in a minute")
    try:
        body = _read_and_touch(path)      # rendered by the request we waited for
        if body is not None:
            return body, path
        data = render()
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        _mark_used(path)
        _trim(folder, max_bytes, keep=path)
        return data, path
    finally:
        _render_lock.release()


# Last use is the file's modification time: a hit sets it to now (one utime call, no shared index to
# write), so the newsletter's image, read by every reader of the newsletter, stays while a cycle of other
# sizes and selections passes through. Files rather than diskcache: with its least-recently-used policy
# every hit is a write transaction in one SQLite file shared by all workers; here a hit is a read and a
# utime, and only a render (rare, one at a time per process) lists the folder to trim it.
def _read_and_touch(path):
    """The cached image's bytes, marked as used now; None when it is not there (or was just trimmed by
    another process)."""
    try:
        body = path.read_bytes()
        _mark_used(path)
    except FileNotFoundError:
        return None
    return body


def _mark_used(path):
    # the precise clock, not the file system's coarse one: uses milliseconds apart keep their order
    now = time.time_ns()
    os.utime(path, ns=(now, now))


STALE_TMP = 3600   # seconds after which a *.tmp file is a leftover of a killed render


def _trim(folder, max_bytes, keep):
    """Keep the cache within `max_bytes`: delete the least recently used images (never `keep`, just
    written) until the rest fits; remove leftovers of killed renders."""
    now, files = time.time(), []
    for entry in os.scandir(folder):
        try:
            st = entry.stat()
        except FileNotFoundError:
            continue
        if entry.name.endswith(".tmp"):
            if now - st.st_mtime > STALE_TMP:
                Path(entry.path).unlink(missing_ok=True)
            continue
        files.append((st.st_mtime_ns, st.st_size, entry.path))
    total = sum(size for _, size, _ in files)
    for _, size, name in sorted(files):
        if total <= max_bytes:
            break
        if name != str(keep):
            Path(name).unlink(missing_ok=True)
            total -= size
