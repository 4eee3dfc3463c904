"""The map routes: /map, /embed/map, small maps on record pages, the data they draw (/map/data.json), the
PNG (/map.png), the newsletter snippet and a self-contained HTML download.

How a map is made: registry/maps/shell.py (folium) builds the shell and hands it to static/map.js with a
JSON configuration (built here: it holds URLs). map.js loads the country boundaries (the offline base layer) and the selection's compact
data, then draws clusters of canvas circle markers, a choropleth of projects per country, one overlay per
partnership area, a legend, and popups built with textContent.

Every map takes the list's query string and goes through `finder`, so it shows exactly the list's selection.
Every map speaks the request's language (issue 13): map.js gets its words in the configuration
(`map_strings`), and whatever is cached with words in it (the payload, the PNG) is keyed on the language.
"""
import base64
import gzip
import hashlib
import json
import threading
from functools import lru_cache

from cachetools import LRUCache

from flask import Blueprint, Response, current_app, render_template, request, send_file, url_for
from flask_babel import gettext as _
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from ..core import geo
from ..core.labels import labels as vocabulary
from ..core.summary import STATUS_WORDS
from ..core import regions as region_table
from ..core.paths import STATIC
from ..maps import data as mapdata
from ..maps import png as staticmap
from ..maps import shell as mapshell
from ..store import db as storage
from ..store import sources as source_store
from .errors import ApiError
from ..search.finder import find_projects, query_from_args
from ..core.query import ProjectQuery, with_query
from . import httpcache, limits
from .security import embeddable
from .context import get_db, index_settings, selection_summary
from .language import current_language, language_is_chosen, words

bp = Blueprint("maps", __name__)


NEWSLETTER_ITEMS = 10


def shell(config, inline=False):
    """The map's HTML (see maps.shell); its assets are the vendored files under static/."""
    assets = ([], []) if inline else ([(f, url_for("static", filename=f)) for f in mapshell.SCRIPTS],
                                      [(f, url_for("static", filename=f)) for f in mapshell.STYLES])
    return mapshell.shell(config, *assets)


# Ids of the page elements beside a map that static/map.js fills (summary line, regional and global list,
# legend); a page passes those it has.
BESIDE = {"summaryId": "map-summary", "listId": "map-unplaced", "legendId": "map-legend", "locatedId": "map-located"}


def map_strings():
    """Every word static/map.js writes, in the request's language (docs/maps.md, "strings"). "%(name)s"
    marks a value map.js puts in; a plural is {"one", "other"} (map.js picks one with Intl.PluralRules)."""
    t = words()

    def ngettext(singular, plural):     # named so that pybabel extracts both forms of each plural below
        return {"one": t.ngettext(singular, plural, 1), "other": t.ngettext(singular, plural, 2)}
    return {
        "mapLabel": t.gettext("Map of the projects"),
        "details": t.gettext("Details"),
        "where": t.gettext("Where"), "coordinates": t.gettext("Coordinates"),
        "fundedBy": t.gettext("Funded by"), "countries": t.gettext("Countries"), "status": t.gettext("Status"),
        "placeAt": t.gettext("%(place)s (%(precision)s)"),
        "viewProject": t.gettext("View the project →"),
        "showInList": t.gettext("Show them in the list →"),
        "matchingProjects": ngettext("%(num)s matching project", "%(num)s matching projects"),
        "projects": ngettext("%(num)s project", "%(num)s projects"),
        "countryProjects": t.gettext("%(country)s: %(projects)s"),
        "places": ngettext("%(num)s place", "%(num)s places"),
        "placesOf": t.gettext("%(places)s of %(projects)s"),
        "clusterNear": t.gettext("%(what)s near %(country)s: zoom in"),
        "cluster": t.gettext("%(what)s: zoom in"),
        "legend": t.gettext("Legend"),
        "legendChoropleth": t.gettext("Projects per country"),
        "legendLocated": t.gettext("Located activities"),
        "legendAreas": t.gettext("Partnership area (shape and colour)"),
        "legendNote": t.gettext("Numbers are clusters of nearby points: zoom in, click them, or Tab to them and "
                                "press Enter. Switch layers with the control at the top right."),
        "legendNoteLocated": t.gettext("Every located project is also listed beside the map."),
        "layersLabel": t.gettext("Layers: base map and partnership areas"),
        "baseShaded": t.gettext("Countries shaded by number of projects"),
        "basePlain": t.gettext("Countries only"),
        "attribution": t.gettext("Boundaries: Natural Earth · Mercury Partnership Registry"),
        "noProjects": t.gettext("No projects match these filters."),
        "summaryLocations": ngettext("%(num)s location on the map", "%(num)s locations on the map"),
        "summaryListed": ngettext("%(num)s regional or global project listed",
                                "%(num)s regional or global projects listed"),
        "noneHere": t.gettext("None in this selection."),
        "more": t.gettext("… and %(num)s more:"),
        "seeList": t.gettext("see the list"),
        "otherPlaces": t.gettext("Other places"),
        "showOnMap": t.gettext("Show on the map"),
        "showOnMapLabel": t.gettext("Show on the map: %(title)s"),
        "searchArea": t.gettext("Search this area"),
        "searchAreaTitle": t.gettext("Show only the projects with a place inside the area on the screen"),
        "loadFailed": t.gettext("The map data could not be loaded: %(error)s"),
        "tilesUnavailable": t.gettext("Online map tiles are unavailable (the tile server cannot be reached): "
                                      "showing the offline country map."),
    }


def _project_url(external):
    """(prefix, suffix) of a project page's URL around its id: map.js writes prefix + id + suffix, so that
    the suffix keeps the language (?lang=fr) while one is chosen."""
    prefix = url_for("views.project", project_id="x", _external=external, lang=None)[:-1]
    whole = url_for("views.project", project_id="x", _external=external)
    return prefix, whole[len(prefix) + 1:] if whole.startswith(prefix + "x") else ""


def _config(mode, query=None, data=None, external=False, inline_countries=False, beside=()):
    """The configuration static/map.js reads: one contract, documented key by key in docs/maps.md
    ("Configuration"; tests/test_maps.py checks that every key a page sends is documented there).
    `beside` names the keys of BESIDE whose elements the page has."""
    filters = query.filter_params() if query is not None else ""
    t = words()
    prefix, suffix = _project_url(external)
    config = {
        "mode": mode,
        "lang": current_language(),
        # map.js appends a project id to projectUrl, then projectSuffix (the language: "?lang=fr", or "")
        "projectUrl": prefix,
        "projectSuffix": suffix,
        "listUrl": with_query(url_for("views.projects", _external=external), filters),
        "areas": {key: {"label": label, "colour": mapdata.AREA_COLOURS[key], "shape": mapdata.AREA_SHAPES[key]}
                  for key, label in vocabulary("area", t).items()},
        "colours": {"sea": mapdata.SEA, "empty": mapdata.EMPTY, "border": mapdata.BORDER,
                    "ringOuter": mapdata.MARKER_RINGS[0], "ringInner": mapdata.MARKER_RINGS[1]},
        "palette": list(mapdata.PALETTE),
        "precisions": vocabulary("precision", t),
        "coordsSources": vocabulary("coords_source", t),
        "statuses": {key: t.gettext(word) for key, word in STATUS_WORDS.items()},
        "strings": map_strings(),
        "countryNames": _country_names(current_language()),
        "newTab": mode in ("embed", "download"),
        **{key: BESIDE[key] for key in beside},
    }
    if data is not None:
        config["data"] = data
    else:
        config["dataUrl"] = with_query(url_for("maps.data"), filters)
    if inline_countries:
        config["countries"] = _countries_geojson()
    else:
        config["countriesUrl"] = url_for("maps.countries")
    # An optional online base layer (config MAP_TILES, off by default; docs/maps.md), never in the download,
    # which works offline. Its host must be in the CSP's img-src (security.py); a dead host: see map.js.
    tiles = current_app.config.get("MAP_TILES")
    if tiles and mode != "download":
        config["tiles"] = tiles
    return config


@lru_cache(maxsize=4)
def _country_names(lang):
    """{iso3: name in `lang`} of every country of the boundaries (the tooltips of countries without a matching
    project); empty in English, whose names the boundaries carry."""
    if lang == "en":
        return {}
    features = _countries_geojson()["features"]
    return {f["properties"]["iso3"]: geo.country_name(f["properties"]["iso3"], lang) for f in features}


@lru_cache(maxsize=1)
def _countries_geojson():
    return json.loads(geo.countries_geojson_path().read_text("utf-8"))


def _selection():
    db = get_db()
    query = query_from_args(db, request.args)
    return db, query


def _count(db, query):
    return find_projects(db, index_settings(), query, with_page=False, with_facets=False).total


def _region_name(code):
    region = region_table.get_region(code)
    return region.name_in(current_language()) if region else code


def _chips(db, query):
    """Active filters as (label, URL of the map without it), in the request's language."""
    map_url = url_for("maps.map_page")
    base = lambda query_string: with_query(map_url, query_string)  # noqa: E731
    labels = storage.org_labels(db, query.funders + query.orgs)
    titles = source_store.source_titles(db, query.sources)
    t, lang = words(), current_language()
    areas, statuses, kinds, roles = (vocabulary(v, t) for v in ("area", "status", "kind", "role"))
    chips = [(f"“{query.q}”", base(query.url_query(q="", page=1)))] if query.q else []
    for facet, values, label in (
            ("area", query.areas, lambda v: areas.get(v, v).split(" (")[0]),
            ("country", query.countries, lambda v: geo.country_name(v, lang)),
            ("region", getattr(query, "regions", ()), _region_name),
            ("funder", query.funders, lambda v: _("funded by %(org)s", org=labels.get(v, v))),
            ("org", query.orgs, lambda v: _("with %(org)s", org=labels.get(v, v))),
            ("role", query.roles, lambda v: _("as %(role)s", role=roles.get(v, v).lower())),
            ("status", query.statuses, lambda v: statuses.get(v, v)),
            ("kind", query.kinds, lambda v: kinds.get(v, v)),
            ("source", query.sources, lambda v: _("Source: %(title)s", title=titles.get(v, v)))):
        chips += [(label(v), base(query.toggled(facet, v))) for v in values]
    if query.year_from is not None or query.year_to is not None:
        chips.append((f"{query.year_from or '…'}–{query.year_to or '…'}",
                      base(query.url_query(year_from=None, year_to=None, page=1))))
    if query.bbox is not None:
        chips.append((_("In the area searched"), base(query.url_query(bbox=None, page=1))))
    return chips


# --- pages ----------------------------------------------------------------------------------------

@bp.route("/map")
def map_page():
    db, query = _selection()
    config = _config("full", query, beside=BESIDE)
    return render_template("map.html", q=query, shell=shell(config), chips=_chips(db, query),
                           summary=selection_summary(db, query, _count(db, query)))


@bp.route("/embed/map")
@embeddable
def embed_map():
    db, query = _selection()
    # the page depends on the query string, the language (and whether links carry it), the host of its
    # absolute links and the data; weak: the map element's id (folium's) differs from one drawing to the next
    checked = httpcache.validators(db, "embed", request.query_string.decode("latin-1"), current_language(),
                                   language_is_chosen(), request.host_url, weak=True)
    unchanged = httpcache.not_modified(checked)
    if unchanged is not None:
        return unchanged
    config = _config("embed", query, beside=("summaryId", "listId"))
    html = render_template("embed_map.html", q=query, shell=shell(config),
                           summary=selection_summary(db, query, _count(db, query)))
    return httpcache.with_validators(Response(html, mimetype="text/html"), checked)


@bp.route("/map/download.html")
def download():
    """One HTML file with everything inlined (Leaflet, clusters, our script, the data, the boundaries)."""
    db, query = _selection()
    results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
    data = mapdata.map_data(db, results.ids, focus=mapdata.focus_countries(query), area=query.bbox,
                            lang=current_language())
    config = _config("download", query, data=data, external=True, inline_countries=True, beside=BESIDE)
    summary = selection_summary(db, query, results.total)
    html = render_template("map_download.html", q=query, shell=shell(config, inline=True), assets=_inline_assets(),
                           description=summary.sentence, total=results.total,
                           version=storage.data_version(db))
    return Response(html, mimetype="text/html", headers={
        "Content-Disposition": f"attachment; filename=mercury-registry-map-{summary.slug}.html",
        "Cache-Control": "no-store"})


@lru_cache(maxsize=1)
def _inline_assets():
    """The vendored CSS and JS as text for inlining; Leaflet's CSS images become data: URIs."""
    css = []
    for name in mapshell.STYLES:
        text = (STATIC / name).read_text("utf-8")
        folder = (STATIC / name).parent
        for image in sorted(folder.glob("images/*.png")):
            uri = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode("ascii")
            text = text.replace(f"url(images/{image.name})", f"url({uri})")
        css.append(text)
    js = [(STATIC / name).read_text("utf-8") for name in mapshell.SCRIPTS]
    for text in css + js:
        if "</style" in text.lower() or "</script" in text.lower():
            raise RuntimeError("a vendored asset contains a closing tag and cannot be inlined")
    return {"css": Markup("\n".join(css)), "js": [Markup(t) for t in js]}


# --- data ----------------------------------------------------------------------------------------

@bp.route("/map/data.json")
def data():
    """The selection's compact drawing data (registry/maps/data.py, docs/maps.md), HTML-safe, cached by ETag."""
    db, query = _selection()
    lang = current_language()     # the payload names countries and titles projects in it
    etag = hashlib.sha256(f"{mapdata.FORMAT}|{storage.data_version(db)}|{mapdata.cache_key(query)}|{lang}"
                          .encode()).hexdigest()[:24]
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    gz = "gzip" in request.accept_encodings
    key = (current_app.config["DATABASE"], etag, gz)
    cache = data_cache()
    body = cache.get(key)
    if body is None:     # then from the files the workers share, built by the first to need it
        body = mapdata.cached_payload(current_app.config["CACHE_DIR"], f"{key[0]}|{etag}|{'gzip' if gz else 'identity'}",
                                      lambda: _payload_body(db, query, lang, gz),
                                      current_app.config.get("MAP_DATA_FILE_BYTES") or mapdata.PAYLOAD_FILES_BYTES)
        cache.put(key, body)
    if body[:2] == b"\x1f\x8b":
        headers["Content-Encoding"] = "gzip"
    return Response(body, mimetype="application/json", headers=headers)


def _payload_body(db, query, lang, gz):
    """The selection's payload as the response's bytes: HTML-safe JSON, gzipped when asked and worth it."""
    results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
    body = htmlsafe_json_dumps(mapdata.map_data(db, results.ids, focus=mapdata.focus_countries(query),
                                                area=query.bbox, lang=lang),
                               ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(body, 6) if gz and len(body) > 1400 else body


# Bytes of data responses each process keeps (config MAP_DATA_CACHE_BYTES). A selection's response is a few
# KB for a country and several MB (gzipped: about a fifth) for the whole of a large registry: counting
# entries let 32 of those hold about 1 GB per worker. 64 MB keeps the popular maps of a 100k registry.
MAP_DATA_CACHE_BYTES = 64 * 1024 * 1024
ENTRY_OVERHEAD = 256   # the key and the objects around each body, so that tiny bodies count too


class ByteBoundedCache:
    """The data responses this process served last, by (selection and data version, gzip), within a
    number of bytes: least recently used out first (cachetools.LRUCache, sized by each body's length). The
    map of a popular selection (the whole registry, a country) is then served without recomputing it."""

    def __init__(self, max_bytes):
        self.items = LRUCache(maxsize=max_bytes, getsizeof=lambda body: len(body) + ENTRY_OVERHEAD)
        self.lock = threading.Lock()   # cachetools caches are not thread-safe

    def get(self, key):
        with self.lock:
            return self.items.get(key)

    def put(self, key, body):
        if len(body) + ENTRY_OVERHEAD > self.items.maxsize:
            return   # larger than the whole cache: served, never kept
        with self.lock:
            self.items[key] = body

    @property
    def bytes(self):
        return self.items.currsize


def data_cache(app=None):
    """This process's cache of data responses for `app` (default: the current app)."""
    app = app or current_app._get_current_object()
    cache = app.extensions.get("map_data_cache")
    if cache is None:
        size = app.config.get("MAP_DATA_CACHE_BYTES") or MAP_DATA_CACHE_BYTES
        cache = app.extensions.setdefault("map_data_cache", ByteBoundedCache(int(size)))
    return cache


@bp.route("/map/countries.geojson")
def countries():
    """The 110m country boundaries: the maps' offline base layer (cached by the browser), gzipped when the
    browser accepts it (a fifth of the bytes: every map page loads it)."""
    if "gzip" not in request.accept_encodings:
        return send_file(geo.countries_geojson_path(), mimetype="application/geo+json", max_age=86400)
    body, etag = _countries_gzip()
    response = Response(body, mimetype="application/geo+json", headers={
        "Content-Encoding": "gzip", "Vary": "Accept-Encoding", "Cache-Control": "public, max-age=86400"})
    response.set_etag(etag)
    return response.make_conditional(request)


@lru_cache(maxsize=1)
def _countries_gzip():
    """The boundaries gzipped once per process, and their ETag."""
    raw = geo.countries_geojson_path().read_bytes()
    return gzip.compress(raw, 9, mtime=0), "gz-" + hashlib.sha256(raw).hexdigest()[:24]


# --- image and newsletter -------------------------------------------------------------------------

@bp.route("/map.png")
def png():
    db, query = _selection()
    width, height = staticmap.parse_size(request.args)
    scale = staticmap.parse_scale(request.args)
    version = storage.data_version(db)
    lang = current_language()     # title, legend and credit are written in it
    key = f"{mapdata.cache_key(query)}|{width}x{height}@{scale}|{mapdata.FORMAT}|v{version}|{lang}"
    checked = httpcache.validators(db, "png", key)
    unchanged = httpcache.not_modified(checked)
    if unchanged is not None:
        return unchanged

    def render():   # only on a cache miss: a cached image never counts against the client's budget
        with limits.metered("render"):
            results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
            data = mapdata.map_data(db, results.ids, focus=mapdata.focus_countries(query), area=query.bbox,
                                    lang=lang)
            (title, subtitle), *alternatives = png_titles(selection_summary(db, query, results.total))
            return staticmap.render_png(data, title, subtitle, width, height, scale, alternatives,
                                        words=words())

    try:
        body, _ = staticmap.cached_png(current_app.config["CACHE_DIR"], key, render,
                                       max_bytes=current_app.config.get("PNG_CACHE_BYTES")
                                       or staticmap.PNG_CACHE_BYTES)
    except staticmap.Busy as exc:
        raise ApiError(503, "busy", words().gettext(staticmap.BUSY)) from None
    return httpcache.with_validators(Response(body, mimetype="image/png"), checked)


def png_titles(summary):
    """(title, subtitle) pairs for the PNG, best first: the whole sentence with every place named, then with
    the countries counted, then the count over the filters in short (which the image shortens if need be)."""
    counted = _("%(count)s in the Mercury Partnership Registry", count=summary.count)
    if not summary.short:
        return [(counted, "")]
    return [(summary.full, ""), (summary.sentence, ""), (counted, summary.short)]


def _newsletter(db, query):
    results = find_projects(db, index_settings(), query, with_page=False, with_facets=False)
    links = map_share_links(query)
    width, height = staticmap.DEFAULT_WIDTH, staticmap.default_height(staticmap.DEFAULT_WIDTH)
    summary = selection_summary(db, query, results.total)
    return dict(
        q=query, total=results.total, headline=summary.sentence, description="",
        items=storage.project_summaries(db, results.ids[:NEWSLETTER_ITEMS]), more=max(0, results.total - NEWSLETTER_ITEMS),
        links=links, width=width, height=height,
        project_url=lambda pid: url_for("views.project", project_id=pid, _external=True))


@bp.route("/map/newsletter")
def newsletter():
    """A snippet for e-mail newsletters: an image linked to the live map, and a plain-text version."""
    db, query = _selection()
    context = _newsletter(db, query)
    snippet = render_template("map_newsletter_snippet.html", **context)
    text = render_template("map_newsletter.txt", **context)
    return render_template("map_newsletter.html", snippet=Markup(snippet), snippet_code=str(snippet), text=text,
                           **context)


@bp.route("/map/newsletter.txt")
def newsletter_text():
    db, query = _selection()
    return Response(render_template("map_newsletter.txt", **_newsletter(db, query)),
                    mimetype="text/plain")


# --- template helpers ------------------------------------------------------------------------------

@bp.app_template_global()
def map_share_links(query):
    """Absolute links to the map of this selection, its embed, PNG, newsletter snippet and download."""
    filters = query.filter_params()
    url = lambda endpoint: with_query(url_for(endpoint, _external=True), filters)  # noqa: E731
    width = staticmap.DEFAULT_WIDTH
    png = with_query(url("maps.png"), f"width={width}")
    return {"map": url("maps.map_page"), "embed": url("maps.embed_map"), "list": url("views.projects"),
            "png": png, "png_sharp": png + "&scale=2",   # twice the pixels, shown 600 px wide
            "newsletter": url("maps.newsletter"), "download": url("maps.download")}


@bp.app_template_global()
def small_map(project=None, org=None, country=None):
    """A small map for a record page: a project's own locations (inline), or an organisation's or a
    country's projects (fetched). Empty when a project has nothing to draw."""
    if project is not None:
        db = get_db()
        data = mapdata.map_data(db, [project], focus=None, lang=current_language())
        if not data["points"]:
            return ""
        config, query = _config("small", data=data), None
    else:
        query = ProjectQuery(orgs=(org,)) if org else ProjectQuery(countries=(country,))
        config = _config("small", query)
    return Markup(render_template("map_small.html", shell=shell(config), q=query))

