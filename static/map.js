/* The registry's interactive maps (see registry/web/maps.py, registry/maps/ and docs/maps.md).
 *
 * folium creates the Leaflet map and calls RegistryMap.init(map, config). This script loads the country
 * boundaries and the selection's compact data (or takes them inline), then draws:
 *   - the countries as the offline base layer, plain or shaded by matching projects (a choropleth),
 *   - the located activities as canvas circle markers in clusters, one overlay per partnership area,
 *     the symbol showing the precision (exact site, sub-national area, country),
 *   - a legend, popups, a summary and the list of regional and global projects beside the map.
 * Anything that comes from data goes into the page through textContent or DOM properties, never as HTML.
 *
 * The data's tables are rows whose columns are named in data.fields (registry/maps/data.py FIELDS; every
 * field is documented in docs/maps.md): readData() turns them into records once, and everything else
 * reads fields by name. The configuration (cfg) is the other contract, built by registry/web/maps.py.
 */
(function () {
  "use strict";

  // A symbol per precision drawn as a point (registry/maps/data.py DRAWN): shape by size and border.
  var SYMBOLS = {
    site: {radius: 5, weight: 1.5, fillOpacity: 0.95, dashArray: null, white: true},
    subnational: {radius: 7, weight: 1.5, fillOpacity: 0.55, dashArray: "3 2", white: false},
    country: {radius: 9, weight: 2.5, fillOpacity: 0.2, dashArray: null, white: false}
  };
  var TABLES = ["projects", "points", "unplaced", "countries"];
  var PLAIN = {color: "#aab6bd", weight: 0.6, fillColor: "#f3f1ec", fillOpacity: 1};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Only for the few constant labels that Leaflet's layer control inserts as HTML.
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // --- the data: named fields ---------------------------------------------------------------------

  // The index of each column by name, built once per table: {lat: 0, lon: 1, ...}.
  function columns(fields) {
    var index = {};
    fields.forEach(function (name, i) { index[name] = i; });
    return index;
  }

  // A coded column holds an index (or a list of indexes) into data.values[column].
  function decoded(dictionary, value) {
    if (!dictionary) return value;
    return Array.isArray(value) ? value.map(function (i) { return dictionary[i]; }) : dictionary[value];
  }

  function records(data, table) {
    var col = columns(data.fields[table]), names = Object.keys(col), values = data.values || {};
    return data[table].map(function (row) {
      var record = {};
      names.forEach(function (name) {
        var value = row[col[name]];
        record[name] = value === undefined ? null : decoded(values[name], value);
      });
      return record;
    });
  }

  // The payload as records, with its references resolved: a point's or listed place's project is the
  // project's record, a project's countries are country records (name, projects), found by iso3 too.
  function readData(data) {
    var d = {total: data.total, breaks: data.breaks, bounds: data.bounds || null, byIso3: {}};
    TABLES.forEach(function (table) { d[table] = records(data, table); });
    d.countries.forEach(function (c) { d.byIso3[c.iso3] = c; });
    d.projects.forEach(function (p) { p.countries = p.countries.map(function (i) { return d.countries[i]; }); });
    d.points.concat(d.unplaced).forEach(function (place) { place.project = d.projects[place.project]; });
    return d;
  }

  function load(inline, url) {
    if (inline) return Promise.resolve(inline);
    return fetch(url, {credentials: "same-origin"}).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
        return body;
      });
    });
  }

  function link(ctl, href, text, className) {
    var a = el("a", className, text);
    a.href = href;
    if (ctl.cfg.newTab) { a.target = "_blank"; a.rel = "noopener"; }
    return a;
  }

  function projectHref(ctl, id) { return ctl.cfg.projectUrl + encodeURIComponent(id); }

  function withParam(url, name, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + name + "=" + encodeURIComponent(value);
  }

  function areaOf(ctl, key) { return ctl.cfg.areas[key] || {label: key, colour: "#666666"}; }

  function projectsIn(ctl, iso3) {
    var country = ctl.data.byIso3[iso3];
    return country ? country.projects : 0;
  }

  function shadeStyle(ctl, iso3) {
    var n = projectsIn(ctl, iso3), breaks = ctl.data.breaks, k = -1;
    for (var i = 0; i < breaks.length; i++) if (n >= breaks[i]) k = i;
    if (k < 0) return PLAIN;
    return {color: "#7d8f99", weight: 0.7, fillColor: ctl.cfg.palette[k], fillOpacity: 1};
  }

  function markerStyle(ctl, point) {
    var s = SYMBOLS[point.precision] || SYMBOLS.country, colour = areaOf(ctl, point.project.area).colour;
    return {radius: s.radius, weight: s.weight, dashArray: s.dashArray, fillOpacity: s.fillOpacity,
            fillColor: colour, color: s.white ? "#ffffff" : colour, opacity: 1};
  }

  // --- popups -------------------------------------------------------------------------------------

  function projectPopup(ctl, point) {
    var p = point.project, box = el("div", "map-popup"), area = areaOf(ctl, p.area);
    box.appendChild(link(ctl, projectHref(ctl, p.id), p.title, "map-popup-title"));
    var areaLine = el("div", "map-popup-area");
    var swatch = el("span", "map-swatch");
    swatch.style.background = area.colour;
    areaLine.appendChild(swatch);
    areaLine.appendChild(document.createTextNode(area.label));
    box.appendChild(areaLine);
    var facts = el("dl", "map-popup-facts");
    function fact(label, value) {
      if (!value) return;
      facts.appendChild(el("dt", null, label));
      facts.appendChild(el("dd", null, value));
    }
    fact("Where", point.name + " (" + (ctl.cfg.precisions[point.precision] || point.precision).toLowerCase() + ")");
    fact("Coordinates", coordsSource(ctl, point));
    fact("Funded by", p.funders.join(", "));
    fact("Countries", p.countries.map(function (c) { return c.name; }).join(", "));
    fact("Status", p.status);
    box.appendChild(facts);
    box.appendChild(link(ctl, projectHref(ctl, p.id), "View the project →", "map-popup-more"));
    return box;
  }

  // Where a point's coordinates come from, when its location records it (older data does not: null),
  // with the gazetteer entry that placed it.
  function coordsSource(ctl, point) {
    var source = point.coords_source;
    if (!source) return null;
    var label = (ctl.cfg.coordsSources || {})[source] || source;
    return point.gazetteer_id ? label + " (" + point.gazetteer_id + ")" : label;
  }

  function countryPopup(ctl, feature) {
    var iso3 = feature.properties.iso3, n = projectsIn(ctl, iso3);
    var box = el("div", "map-popup");
    box.appendChild(el("strong", null, feature.properties.name));
    box.appendChild(el("div", null, plural(n, "matching project", "matching projects")));
    if (n) box.appendChild(link(ctl, withParam(ctl.cfg.listUrl, "country", iso3), "Show them in the list →",
                                "map-popup-more"));
    return box;
  }

  // --- layers -------------------------------------------------------------------------------------

  // For an extent across the antimeridian (bounds.east > 180), longitudes west of the meridian opposite the
  // extent's centre are drawn 360 degrees east, so that Fiji or Kiribati is one place, not two map edges.
  function seamOf(ctl) {
    var b = ctl.data.bounds;
    return b && b.east > 180 ? (b.west + b.east) / 2 - 180 : null;
  }

  function eastOf(ctl, lon) {
    var seam = seamOf(ctl);
    return seam !== null && lon < seam ? lon + 360 : lon;
  }

  // The boundaries with each polygon wholly west of the seam moved east (a copy; nothing when no seam).
  function shiftedWorld(ctl, world) {
    var seam = seamOf(ctl);
    if (seam === null) return world;
    // a GeoJSON position is [lon, lat]: shift() moves the first of it, lonOf() reads it
    function lonOf(position) { return position.slice(0, 1).pop(); }
    function shift(position) { return [lonOf(position) + 360].concat(position.slice(1)); }
    function polygon(rings) {
      var east = Math.max.apply(null, rings.slice(0, 1).pop().map(lonOf));
      return east < seam ? rings.map(function (ring) { return ring.map(shift); }) : rings;
    }
    return {type: "FeatureCollection", features: world.features.map(function (f) {
      var g = f.geometry, coords = g.type === "Polygon" ? polygon(g.coordinates) : g.coordinates.map(polygon);
      return {type: "Feature", properties: f.properties, geometry: {type: g.type, coordinates: coords}};
    })};
  }

  function drawCountries(ctl, world) {
    var map = ctl.map;
    world = shiftedWorld(ctl, world);
    if (seamOf(ctl) !== null) map.setMaxBounds([[-85, seamOf(ctl) - 20], [85, seamOf(ctl) + 380]]);
    ctl.plain = L.geoJSON(world, {style: PLAIN, interactive: false});
    ctl.shaded = L.geoJSON(world, {
      style: function (f) { return shadeStyle(ctl, f.properties.iso3); },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(function () {
          return el("span", null, f.properties.name + ": " + plural(projectsIn(ctl, f.properties.iso3), "project", "projects"));
        }, {sticky: true});
        layer.on("click", function (e) {
          L.popup({maxWidth: 260}).setLatLng(e.latlng).setContent(countryPopup(ctl, f)).openOn(map);
        });
      }
    });
    ctl.shaded.addTo(map);
  }

  // Neutral cluster badges: the default green/yellow/orange would read as partnership-area colours.
  function clusterIcon(cluster) {
    var n = cluster.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 44;
    return L.divIcon({html: "<div><span>" + Number(n) + "</span></div>", className: "marker-cluster map-cluster",
                      iconSize: L.point(size, size)});
  }

  function drawPoints(ctl) {
    var d = ctl.data, map = ctl.map, byArea = {};
    ctl.cluster = L.markerClusterGroup({
      chunkedLoading: true, showCoverageOnHover: false, maxClusterRadius: 45, spiderfyOnMaxZoom: true,
      iconCreateFunction: clusterIcon,
      // data-drawn tells tests and benchmarks that every marker is in (chunked loading is done)
      chunkProgress: function (done, total) { if (done === total) ctl.container.setAttribute("data-drawn", "1"); }
    });
    ctl.markers = d.points.map(function (point, i) {
      var options = markerStyle(ctl, point);
      options.pointIndex = i;
      var marker = L.circleMarker([point.lat, eastOf(ctl, point.lon)], options);
      var area = point.project.area;
      (byArea[area] = byArea[area] || []).push(marker);
      return marker;
    });
    ctl.cluster.on("click", function (e) {
      var point = d.points[e.layer.options.pointIndex];
      L.popup({maxWidth: 280, offset: [0, -4]}).setLatLng(e.layer.getLatLng())
        .setContent(projectPopup(ctl, point)).openOn(map);
    });
    ctl.cluster.addTo(map);
    // One overlay per partnership area: an empty stand-in layer that adds its markers to the cluster group
    // (all at once at the start: one chunked load for the whole selection).
    var areaLayers = {};
    Object.keys(byArea).sort(function (a, b) { return areaOf(ctl, a).label.localeCompare(areaOf(ctl, b).label); })
      .forEach(function (area) {
        var proxy = L.layerGroup();
        proxy.on("add", function () { if (ctl.areaLayers) ctl.cluster.addLayers(byArea[area]); });
        proxy.on("remove", function () { ctl.cluster.removeLayers(byArea[area]); });
        areaLayers[area] = {layer: proxy, count: byArea[area].length};
        proxy.addTo(map);
      });
    ctl.areaLayers = areaLayers;
    ctl.cluster.addLayers(ctl.markers);
  }

  // The optional online base layer (cfg.tiles: its URL template, label and attribution; never in the
  // offline download), requested only once chosen in the layer control. A tile server that cannot be
  // reached (no internet, blocked, down, or silent) must not break the map: when the first tile fails, or
  // none has arrived after TILES_WAIT ms, the map says that tiles are unavailable and goes back to the
  // offline country layer it showed before. Choosing the layer again tries again.
  var TILES_WAIT = 8000;

  function onlineTiles(ctl, tiles) {
    var layer = L.tileLayer(tiles.url, {maxZoom: 19, attribution: tiles.attribution}), loaded = 0, timer = null;
    ctl.tiles = layer;
    function unavailable() {
      clearTimeout(timer);
      if (!ctl.map.hasLayer(layer)) return;
      ctl.container.setAttribute("data-tiles", "unavailable");
      ctl.map.removeLayer(layer);
      ctl.offlineBase.addTo(ctl.map).bringToBack();
      if (!ctl.tilesNotice) {
        ctl.tilesNotice = notice(ctl, "Online map tiles are unavailable (the tile server cannot be reached): " +
                                      "showing the offline country map.");
      }
    }
    layer.on("add", function () {
      loaded = 0;
      ctl.container.setAttribute("data-tiles", "loading");
      clearTimeout(timer);
      timer = setTimeout(function () { if (!loaded) unavailable(); }, TILES_WAIT);
    });
    layer.on("remove", function () { clearTimeout(timer); });
    layer.on("tileload", function () {
      loaded += 1;
      ctl.container.setAttribute("data-tiles", "loaded");
    });
    layer.on("tileerror", function () { if (!loaded) unavailable(); });   // a gap here and there is fine
    return layer;
  }

  function addControls(ctl) {
    var map = ctl.map, overlays = {};
    Object.keys(ctl.areaLayers).forEach(function (area) {
      var a = areaOf(ctl, area);
      overlays['<span class="map-swatch" style="background:' + esc(a.colour) + '"></span>' + esc(a.label) +
               ' <span class="map-count">(' + ctl.areaLayers[area].count + ")</span>"] = ctl.areaLayers[area].layer;
    });
    var bases = {"Countries shaded by number of projects": ctl.shaded, "Countries only": ctl.plain};
    if (ctl.cfg.tiles) bases[ctl.cfg.tiles.label] = onlineTiles(ctl, ctl.cfg.tiles);
    L.control.layers(bases, overlays, {collapsed: true, position: "topright"})
      .addTo(map);
    // Countries and points share one canvas: a newly chosen base layer must go back under the points.
    ctl.offlineBase = ctl.shaded;
    map.on("baselayerchange", function (e) {
      e.layer.bringToBack();
      if (e.layer !== ctl.tiles) ctl.offlineBase = e.layer;
    });
    var outside = ctl.cfg.legendId && document.getElementById(ctl.cfg.legendId);
    if (outside) {                       // the full page has room for the legend beside the map
      outside.textContent = "";
      outside.appendChild(buildLegend(ctl, false));
    } else {
      var legend = L.control({position: "bottomleft"});
      legend.onAdd = function () { return buildLegend(ctl, true); };   // small and embedded maps: on demand
      legend.addTo(map);
    }
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Boundaries: Natural Earth · Mercury Partnership Registry");
  }

  function symbolSvg(precision) {
    var ns = "http://www.w3.org/2000/svg", s = SYMBOLS[precision], size = 22;
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", size); svg.setAttribute("height", size); svg.setAttribute("aria-hidden", "true");
    var c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", size / 2); c.setAttribute("cy", size / 2); c.setAttribute("r", s.radius);
    c.setAttribute("fill", "#555"); c.setAttribute("fill-opacity", s.fillOpacity);
    c.setAttribute("stroke", s.white ? "#fff" : "#555"); c.setAttribute("stroke-width", s.weight);
    if (s.dashArray) c.setAttribute("stroke-dasharray", s.dashArray);
    svg.appendChild(c);
    return svg;
  }

  function buildLegend(ctl, collapsed) {
    var box = el("details", "map-legend"), breaks = ctl.data.breaks;
    box.open = !collapsed;
    box.appendChild(el("summary", null, "Legend"));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    if (breaks.length) {
      box.appendChild(el("div", "map-legend-title", "Projects per country"));
      var row = el("div", "map-legend-classes");
      breaks.forEach(function (low, i) {
        var next = breaks[i + 1], item = el("span", "map-legend-class"), sw = el("span", "map-swatch");
        sw.style.background = ctl.cfg.palette[i];
        item.appendChild(sw);
        item.appendChild(document.createTextNode(next === undefined ? low + "+" : (next - 1 === low ? low : low + "–" + (next - 1))));
        row.appendChild(item);
      });
      box.appendChild(row);
    }
    box.appendChild(el("div", "map-legend-title", "Located activities"));
    Object.keys(SYMBOLS).forEach(function (key) {
      var item = el("div", "map-legend-symbol");
      item.appendChild(symbolSvg(key));
      item.appendChild(document.createTextNode(ctl.cfg.precisions[key]));
      box.appendChild(item);
    });
    var areas = Object.keys(ctl.areaLayers);
    if (areas.length) {
      box.appendChild(el("div", "map-legend-title", "Partnership area (colour)"));
      areas.forEach(function (key) {
        var a = areaOf(ctl, key), item = el("div", "map-legend-area"), sw = el("span", "map-swatch");
        sw.style.background = a.colour;
        item.appendChild(sw);
        item.appendChild(document.createTextNode(a.label + " (" + ctl.areaLayers[key].count + ")"));
        box.appendChild(item);
      });
    }
    box.appendChild(el("div", "map-legend-note", "Numbers are clusters of nearby points: zoom in or click them. " +
                                                 "Switch layers with the control at the top right."));
    return box;
  }

  // --- beside the map -------------------------------------------------------------------------------

  function fillSummary(ctl) {
    var d = ctl.data, target = ctl.cfg.summaryId && document.getElementById(ctl.cfg.summaryId);
    var located = {}, listed = {};
    d.points.forEach(function (point) { located[point.project.id] = 1; });
    d.unplaced.forEach(function (place) { listed[place.project.id] = 1; });
    ctl.stats = {projects: d.total, points: d.points.length, located: Object.keys(located).length,
                 listed: Object.keys(listed).length};
    if (!target) return;
    target.textContent = d.total === 0 ? "No projects match these filters." :
      plural(d.total, "project", "projects") + " · " + plural(d.points.length, "location", "locations") +
      " on the map" + (ctl.stats.listed ? " · " + plural(ctl.stats.listed, "regional or global project", "regional or global projects") + " listed" : "");
  }

  function fillUnplaced(ctl, limit) {
    var d = ctl.data, target = ctl.cfg.listId && document.getElementById(ctl.cfg.listId);
    if (!target) return;
    var groups = [], byProject = {};
    d.unplaced.forEach(function (place) {
      var id = place.project.id;
      if (!(id in byProject)) { byProject[id] = []; groups.push(place.project); }
      byProject[id].push(place.name);
    });
    target.textContent = "";
    if (!groups.length) { target.appendChild(el("p", "small", "None in this selection.")); return; }
    var list = el("ul", "map-unplaced");
    groups.slice(0, limit).forEach(function (p) {
      var item = el("li");
      var sw = el("span", "map-swatch");
      sw.style.background = areaOf(ctl, p.area).colour;
      item.appendChild(sw);
      item.appendChild(link(ctl, projectHref(ctl, p.id), p.title));
      item.appendChild(el("span", "map-unplaced-where", byProject[p.id].join("; ")));
      list.appendChild(item);
    });
    target.appendChild(list);
    if (groups.length > limit) {
      var more = el("p", "small");
      more.appendChild(document.createTextNode("… and " + (groups.length - limit) + " more: "));
      more.appendChild(link(ctl, ctl.cfg.listUrl, "see the list"));
      target.appendChild(more);
    }
  }

  function notice(ctl, text) {
    var box = L.control({position: "topleft"});
    box.onAdd = function () { return el("div", "map-notice", text); };
    box.addTo(ctl.map);
    return box;
  }

  // --- view: fit the points, or restore the view from the address (#zoom/lat/lon) --------------------

  function restoreView(ctl) {
    var m = /^#(\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/.exec(window.location.hash);
    if (!m || ctl.cfg.mode === "small" || ctl.cfg.mode === "download") return false;
    ctl.map.setView([+m[2], +m[3]], +m[1], {animate: false});
    return true;
  }

  // The selection's extent (data.bounds, made by registry/maps/data.py selection_bounds; null: the world).
  // Its east is above 180 when it crosses the antimeridian: the map is then centred on it (see eastOf).
  function boundsOf(ctl) {
    var b = ctl.data.bounds;
    return b ? L.latLngBounds([b.south, b.west], [b.north, b.east]) : null;
  }

  function fitView(ctl) {
    var map = ctl.map, bounds = boundsOf(ctl);
    if (!restoreView(ctl)) {                 // a viewport in the address wins
      if (bounds) {
        map.fitBounds(bounds, {padding: [24, 24], maxZoom: ctl.cfg.mode === "small" ? 5 : 6, animate: false});
      } else if (ctl.markers.length) {
        map.fitBounds(L.latLngBounds(ctl.markers.map(function (m) { return m.getLatLng(); })),
                      {padding: [36, 36], maxZoom: ctl.cfg.mode === "small" ? 5 : 6, animate: false});
      } else {
        map.setView([20, 10], map.getSize().x < 700 ? 1 : 2, {animate: false});
      }
    }
    if (ctl.cfg.mode === "full" || ctl.cfg.mode === "embed") {
      map.on("moveend", function () {
        var c = map.getCenter();
        history.replaceState(null, "", "#" + map.getZoom() + "/" + c.lat.toFixed(3) + "/" + c.lng.toFixed(3));
      });
    }
  }

  function init(map, cfg) {
    var ctl = {map: map, cfg: cfg, container: map.getContainer(), markers: []};
    (window.registryMaps = window.registryMaps || []).push(ctl);
    ctl.container.setAttribute("aria-busy", "true");
    ctl.container.setAttribute("role", "region");
    ctl.container.setAttribute("aria-label", "Map of the projects");
    Promise.all([load(cfg.countries, cfg.countriesUrl), load(cfg.data, cfg.dataUrl)]).then(function (res) {
      ctl.data = readData(res[1]);
      drawCountries(ctl, res[0]);
      drawPoints(ctl);
      addControls(ctl);
      fitView(ctl);
      fillSummary(ctl);
      fillUnplaced(ctl, cfg.mode === "embed" ? 50 : 300);
      if (!ctl.data.total) notice(ctl, "No projects match these filters.");
      ctl.container.setAttribute("aria-busy", "false");
      ctl.container.setAttribute("data-ready", "1");
    }).catch(function (err) {
      notice(ctl, "The map data could not be loaded: " + err.message);
      var target = cfg.summaryId && document.getElementById(cfg.summaryId);
      if (target) target.textContent = "The map data could not be loaded: " + err.message;
      ctl.container.setAttribute("data-error", "1");
    });
    return ctl;
  }

  window.RegistryMap = {init: init};
})();
