"""The interactive map's shell: the only module that imports folium.

folium builds a Leaflet map without tiles whose assets are the vendored files under static/vendor (no
request leaves the app) and hands it to static/map.js with a JSON configuration. No data ever goes through
folium's Popup/Tooltip: they insert text as raw HTML (see the field notes); map.js fills popups with
textContent.
"""
import folium
from folium.template import Template
from markupsafe import Markup, escape

SCRIPTS = ("vendor/leaflet/leaflet.js", "vendor/leaflet.markercluster/leaflet.markercluster.js", "map.js")
STYLES = ("vendor/leaflet/leaflet.css", "vendor/leaflet.markercluster/MarkerCluster.css",
          "vendor/leaflet.markercluster/MarkerCluster.Default.css", "map.css")
MAX_ZOOM = 10


class ShellMap(folium.Map):
    """folium's Map without the page-wide styles it normally adds (html/body at 100%, a viewport that
    forbids zooming), so that it fits inside our pages; the wrapper element sets the size."""
    _template = Template("""
        {% macro header(this, kwargs) %}
            <style>#{{ this.get_name() }} { position: relative; width: 100%; height: 100%; }</style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
            <div class="folium-map" id={{ this.get_name()|tojson }}></div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.map({{ this.get_name()|tojson }}, {
                center: {{ this.location|tojson }},
                crs: L.CRS.{{ this.crs }},
                ...{{ this.options|tojavascript }}
            });
        {% endmacro %}
    """)


class RegistryLayers(folium.MacroElement):
    """Hands the map to static/map.js with its configuration, serialised as HTML-safe JSON."""
    _template = Template("""
        {% macro script(this, kwargs) %}
            RegistryMap.init({{ this._parent.get_name() }}, {{ this.config|tojson }});
        {% endmacro %}
    """)

    def __init__(self, config):
        super().__init__()
        self._name = "RegistryLayers"
        self.config = config


def shell(config, scripts=(), styles=()):
    """The map's HTML: asset links ((name, url) pairs; none when the page inlines them), the map element
    and the script that creates it. Safe to put in any page: data only appears inside HTML-safe JSON."""
    m = ShellMap(location=[20, 10], zoom_start=2, tiles=None, prefer_canvas=True, max_bounds=True,
                 min_lat=-85, max_lat=85, min_lon=-200, max_lon=200,
                 minZoom=0, maxZoom=MAX_ZOOM, zoomSnap=0.5, worldCopyJump=False, maxBoundsViscosity=0.8)
    m.default_js, m.default_css = list(scripts), list(styles)
    RegistryLayers(config).add_to(m)
    root = m.get_root()
    root.header._children.pop("meta_http", None)   # our pages declare their charset themselves
    root.render()
    return Markup(_preloads(config) + root.header.render() + root.html.render() +
                  "<script>" + root.script.render() + "</script>")


def _preloads(config):
    """Links that start fetching what map.js will fetch (the selection's data, the boundaries) as soon as the
    page arrives, while the scripts load, instead of once they have run. `crossorigin` gives the request the
    credentials mode of map.js's fetch, so that the browser hands it the preloaded response."""
    urls = [config[key] for key in ("dataUrl", "countriesUrl") if config.get(key)]
    return "".join(f'<link rel="preload" href="{escape(url)}" as="fetch" crossorigin="anonymous">' for url in urls)
