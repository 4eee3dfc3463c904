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
  // Colours come from the configuration (registry/maps/data.py: SEA, EMPTY, BORDER, PALETTE, AREA_COLOURS),
  // one definition shared with the PNG and checked for contrast by tests/test_map_a11y.py.
  function plainStyle(ctl) {
    return {color: ctl.cfg.colours.border, weight: 0.6, fillColor: ctl.cfg.colours.empty, fillOpacity: 1};
  }

  // --- marker shapes: one per partnership area (data.py AREA_SHAPES), so colour is never the only cue ----

  // The outline of a shape of radius r around (0, 0) as [x, y] corners; null for a circle.
  function shapeCorners(shape, r) {
    function regular(n, start, radius) {
      var corners = [];
      for (var i = 0; i < n; i++) {
        var a = start + i * 2 * Math.PI / n;
        corners.push({x: radius * Math.cos(a), y: radius * Math.sin(a)});
      }
      return corners;
    }
    var up = -Math.PI / 2;
    switch (shape) {
      case "square": return regular(4, Math.PI / 4, r * 1.25);
      case "diamond": return regular(4, up, r * 1.3);
      case "triangle": return regular(3, up, r * 1.4).map(function (c) { return {x: c.x, y: c.y + r * 0.25}; });
      case "triangle-down": return regular(3, Math.PI / 2, r * 1.4).map(function (c) { return {x: c.x, y: c.y - r * 0.25}; });
      case "pentagon": return regular(5, up, r * 1.2);
      case "hexagon": return regular(6, 0, r * 1.15);
      case "star": return regular(10, up, 1).map(function (c, i) { var k = i % 2 ? r * 0.6 : r * 1.45; return {x: c.x * k, y: c.y * k}; });
      case "cross":
        var a = r * 0.45, b = r * 1.2;
        return [[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a], [-b, -a], [-a, -a]]
          .map(function (c) { return {x: c.shift(), y: c.shift()}; });
      default: return null;
    }
  }

  // A circle marker drawn as its area's shape on the canvas, with a dark outer ring (then the fill and the
  // inner ring of its options): 3:1 against the sea, empty land and every class (WCAG 1.4.11).
  var ShapeMarker = L.CircleMarker.extend({
    _updatePath: function () {
      var renderer = this._renderer, ctx = renderer._ctx;
      if (!ctx) return L.CircleMarker.prototype._updatePath.call(this);   // an SVG map: a plain circle
      if (!renderer._drawing || this._empty()) return;
      var p = this._point, r = Math.max(Math.round(this._radius), 1), corners = shapeCorners(this.options.shape, r);
      function path() {
        ctx.beginPath();
        if (!corners) { ctx.arc(p.x, p.y, r, 0, Math.PI * 2, false); return; }
        corners.forEach(function (c, i) { ctx[i ? "lineTo" : "moveTo"](p.x + c.x, p.y + c.y); });
        ctx.closePath();
      }
      path();
      ctx.setLineDash([]);
      ctx.globalAlpha = 1;
      ctx.lineWidth = this.options.weight + 2.5;
      ctx.strokeStyle = this.options.ring;
      ctx.stroke();
      path();
      renderer._fillStroke(ctx, this);
    }
  });

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

  // --- words: every one comes in cfg.strings, in the page's language (registry/web/maps.py map_strings) ----

  // A string with its "%(name)s" places filled in from `values`.
  function fmt(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && name in values ? String(values[name]) : whole;
    });
  }

  function say(ctl, key, values) { return fmt(ctl.cfg.strings[key], values); }

  // The language's number format and plural rules, made once per map (a cluster's label uses both, and a
  // large selection has thousands of clusters and listed projects).
  function intl(ctl) {
    if (!ctl.intl) {
      var lang = ctl.cfg.lang || "en";
      ctl.intl = {number: new Intl.NumberFormat(lang), plural: new Intl.PluralRules(lang)};
    }
    return ctl.intl;
  }

  function number(ctl, n) { return intl(ctl).number.format(n); }

  // A plural string ({one, other}) for n, the form chosen by the language's rules (French: 0 and 1 are "one").
  function plural(ctl, key, n) {
    var forms = ctl.cfg.strings[key], rule = intl(ctl).plural.select(n);
    return fmt(rule === "one" ? forms.one : forms.other, {num: number(ctl, n)});
  }

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

  // Plain loops over the columns found once: a large selection has tens of thousands of rows.
  function records(data, table) {
    var col = columns(data.fields[table]), names = Object.keys(col), values = data.values || {};
    var at = names.map(function (name) { return col[name]; });
    var dictionaries = names.map(function (name) { return values[name]; });
    var rows = data[table], out = new Array(rows.length);
    for (var r = 0; r < rows.length; r++) {
      var row = rows[r], record = {};
      for (var k = 0; k < names.length; k++) {
        var value = row[at[k]];
        record[names[k]] = value === undefined ? null : decoded(dictionaries[k], value);
      }
      out[r] = record;
    }
    return out;
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

  function link(ctl, href, text, className, lang) {
    var a = el("a", className, text);
    a.href = href;
    if (lang && lang !== ctl.cfg.lang) a.lang = lang;     // a title without a translation, in English
    if (ctl.cfg.newTab) { a.target = "_blank"; a.rel = "noopener"; }
    return a;
  }

  // projectSuffix keeps the page's language in the link ("?lang=fr", or nothing)
  function projectHref(ctl, id) { return ctl.cfg.projectUrl + encodeURIComponent(id) + (ctl.cfg.projectSuffix || ""); }

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
    if (k < 0) return plainStyle(ctl);
    return {color: ctl.cfg.colours.border, weight: 0.7, fillColor: ctl.cfg.palette[k], fillOpacity: 1};
  }

  function markerStyle(ctl, point) {
    var s = SYMBOLS[point.precision] || SYMBOLS.country, area = areaOf(ctl, point.project.area);
    var colours = ctl.cfg.colours;
    return {radius: s.radius, weight: s.weight, dashArray: s.dashArray, fillOpacity: s.fillOpacity,
            fillColor: area.colour, color: s.white ? colours.ringInner : area.colour, opacity: 1,
            shape: area.shape || "circle", ring: colours.ringOuter};
  }

  // --- popups -------------------------------------------------------------------------------------

  function projectPopup(ctl, point) {
    var p = point.project, box = el("div", "map-popup"), area = areaOf(ctl, p.area);
    box.appendChild(link(ctl, projectHref(ctl, p.id), p.title, "map-popup-title", p.title_lang));
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
    fact(say(ctl, "where"), say(ctl, "placeAt", {
      place: point.name, precision: (ctl.cfg.precisions[point.precision] || point.precision).toLowerCase()}));
    fact(say(ctl, "coordinates"), coordsSource(ctl, point));
    fact(say(ctl, "fundedBy"), p.funders.join(", "));
    fact(say(ctl, "countries"), p.countries.map(function (c) { return c.name; }).join(", "));
    fact(say(ctl, "status"), (ctl.cfg.statuses || {})[p.status] || p.status);
    box.appendChild(facts);
    box.appendChild(link(ctl, projectHref(ctl, p.id), say(ctl, "viewProject"), "map-popup-more"));
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
    box.appendChild(el("strong", null, countryName(ctl, iso3, feature.properties.name)));
    box.appendChild(el("div", null, plural(ctl, "matchingProjects", n)));
    if (n) box.appendChild(link(ctl, withParam(ctl.cfg.listUrl, "country", iso3), say(ctl, "showInList"),
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

  // A map centred across the antimeridian may pan that far east (before the view is set).
  function limitBounds(ctl) {
    var seam = seamOf(ctl);
    if (seam !== null) ctl.map.setMaxBounds([[-85, seam - 20], [85, seam + 380]]);
  }

  // A layer made the first time it is shown (the plain countries: a choice in the layer control).
  function lazyLayer(build) {
    var group = L.featureGroup(), built = false;
    group.on("add", function () {
      if (!built) group.addLayer(build());
      built = true;
    });
    return group;
  }

  function drawCountries(ctl, world) {
    var map = ctl.map;
    world = shiftedWorld(ctl, world);
    ctl.plain = lazyLayer(function () { return L.geoJSON(world, {style: plainStyle(ctl), interactive: false}); });
    ctl.shaded = L.geoJSON(world, {
      style: function (f) { return shadeStyle(ctl, f.properties.iso3); },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(function () {
          return el("span", null, say(ctl, "countryProjects", {
            country: countryName(ctl, f.properties.iso3, f.properties.name),
            projects: plural(ctl, "projects", projectsIn(ctl, f.properties.iso3))}));
        }, {sticky: true});
        // without a mouse: the list beside the map names each located project by country, and each
        // country's name there links to its projects (see fillLocated)
        layer.on("click", function (e) {
          openPopup(ctl, L.popup({maxWidth: 260}).setLatLng(e.latlng).setContent(countryPopup(ctl, f)));
        });
      }
    });
    ctl.shaded.addTo(map);
  }

  // A cluster's icon is a DOM element (Leaflet makes it a focusable role=button; Enter zooms in, as a click
  // does, through markercluster's "clusterkeypress"): it gets a name, "9 projects near Ghana: zoom in".
  var NamedIcon = L.DivIcon.extend({
    createIcon: function (old) {
      var div = L.DivIcon.prototype.createIcon.call(this, old);
      div.setAttribute("aria-label", this.options.label);
      div.title = this.options.label;
      div.setAttribute("tabindex", "0");
      div.setAttribute("role", "button");
      return div;
    }
  });

  // In one walk over a cluster's points: how many projects they belong to, and the country (a point's
  // "country" column) of the point nearest the cluster's centre, by name.
  function clusterContents(ctl, cluster) {
    var centre = cluster.getLatLng(), best = null, bestDistance = Infinity, projects = Object.create(null), count = 0;
    cluster.getAllChildMarkers().forEach(function (m) {
      var point = ctl.data.points[m.options.pointIndex], ll = m.getLatLng();
      if (!projects[point.project.id]) { projects[point.project.id] = true; count += 1; }
      var distance = Math.pow(ll.lat - centre.lat, 2) + Math.pow(ll.lng - centre.lng, 2);
      if (point.country && distance < bestDistance) { best = point.country; bestDistance = distance; }
    });
    return {projects: count, near: best && countryName(ctl, best)};
  }

  // A country's name in the page's language: the payload's (countries with matching projects), else the
  // configuration's (cfg.countryNames, empty in English), else the boundaries' English name (`fallback`).
  function countryName(ctl, iso3, fallback) {
    var c = ctl.data.byIso3[iso3];
    return c ? c.name : ((ctl.cfg.countryNames || {})[iso3] || fallback || iso3);
  }

  function clusterLabel(ctl, cluster) {
    var n = cluster.getChildCount(), contents = clusterContents(ctl, cluster);
    var count = contents.projects, near = contents.near;
    // the label starts with the number the badge shows (WCAG 2.5.3, label in name): the places it groups
    var what = plural(ctl, "projects", count);
    if (n !== count) what = say(ctl, "placesOf", {places: plural(ctl, "places", n), projects: what});
    return near ? say(ctl, "clusterNear", {what: what, country: near}) : say(ctl, "cluster", {what: what});
  }

  // Neutral cluster badges: the default green/yellow/orange would read as partnership-area colours.
  function clusterIcon(ctl, cluster) {
    var n = cluster.getChildCount(), size = n < 10 ? 30 : n < 100 ? 36 : 44;
    return new NamedIcon({html: "<div aria-hidden=\"true\"><span>" + Number(n) + "</span></div>",
                          className: "marker-cluster map-cluster", iconSize: L.point(size, size),
                          label: clusterLabel(ctl, cluster)});
  }

  // --- popups: they take focus when opened; Escape closes them and focus goes back to what opened them ---

  function openPopup(ctl, popup, opener) {
    var active = document.activeElement;
    ctl.popupOpener = opener || (active && active !== document.body ? active : ctl.container);
    popup.openOn(ctl.map);
  }

  function watchPopups(ctl) {
    var map = ctl.map;
    map.on("popupopen", function (e) {
      var box = e.popup.getElement(), content = box && box.querySelector(".leaflet-popup-content");
      if (!content) return;
      content.setAttribute("tabindex", "-1");
      content.setAttribute("role", "dialog");
      var title = content.querySelector(".map-popup-title, strong");
      content.setAttribute("aria-label", title ? title.textContent : say(ctl, "details"));
      var first = content.querySelector("a[href]") || content;
      first.focus({preventScroll: true});
    });
    map.on("popupclose", function () {
      var opener = ctl.popupOpener;
      ctl.popupOpener = null;
      if (opener && document.contains(opener) && ctl.container.contains(document.activeElement || document.body)) {
        opener.focus({preventScroll: true});
      } else if (opener && document.contains(opener) && document.activeElement === document.body) {
        opener.focus({preventScroll: true});
      }
    });
    document.addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || !map._popup || !map.hasLayer(map._popup)) return;
      e.preventDefault();
      map.closePopup();
    });
  }

  // The popup of a point; from the list beside the map (opener: its button) the map first zooms or
  // spiderfies until the point is drawn on its own.
  function showPoint(ctl, index, opener) {
    var point = ctl.data.points[index], marker = ctl.markers[index];
    function open() {
      openPopup(ctl, L.popup({maxWidth: 280, offset: [0, -4]}).setLatLng(marker.getLatLng())
        .setContent(projectPopup(ctl, point)), opener);
    }
    if (opener && ctl.cluster.hasLayer(marker)) ctl.cluster.zoomToShowLayer(marker, open);
    else open();
  }

  // Runs `run` after the next frame (what was drawn is painted first), or after a quarter of a second in a
  // page that gets no frames (a hidden tab, an embed's iframe off screen).
  function afterPaint(run) {
    var done = false;
    function once() { if (!done) run(); done = true; }
    requestAnimationFrame(function () { setTimeout(once, 0); });
    setTimeout(once, 250);
  }

  // `then` runs once every marker is in, once they are painted.
  function drawPoints(ctl, then) {
    var d = ctl.data, map = ctl.map, byArea = {};
    ctl.cluster = L.markerClusterGroup({
      // chunks of at most 200 ms keep the page responsive; between them, only a short pause
      chunkedLoading: true, chunkDelay: 1, showCoverageOnHover: false, maxClusterRadius: 45, spiderfyOnMaxZoom: true,
      iconCreateFunction: function (cluster) { return clusterIcon(ctl, cluster); },
      // data-drawn tells tests and benchmarks that every marker is in (chunked loading is done)
      chunkProgress: function (done, total) {
        // (the group reports 0 of 0 when it is added to the map, before its markers are)
        if (done !== total || total !== ctl.markers.length) return;
        ctl.container.setAttribute("data-drawn", "1");
        if (then) afterPaint(then);
        then = null;
      }
    });
    ctl.markers = d.points.map(function (point, i) {
      var options = markerStyle(ctl, point);
      options.pointIndex = i;
      var marker = new ShapeMarker([point.lat, eastOf(ctl, point.lon)], options);
      var area = point.project.area;
      (byArea[area] = byArea[area] || []).push(marker);
      return marker;
    });
    ctl.cluster.on("click", function (e) {
      showPoint(ctl, e.layer.options.pointIndex);
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
        ctl.tilesNotice = notice(ctl, say(ctl, "tilesUnavailable"));
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
               ' <span class="map-count">(' + esc(number(ctl, ctl.areaLayers[area].count)) + ")</span>"] = ctl.areaLayers[area].layer;
    });
    var bases = {};
    bases[esc(say(ctl, "baseShaded"))] = ctl.shaded;
    bases[esc(say(ctl, "basePlain"))] = ctl.plain;
    if (ctl.cfg.tiles) bases[ctl.cfg.tiles.label] = onlineTiles(ctl, ctl.cfg.tiles);
    ctl.layers = L.control.layers(bases, overlays, {collapsed: true, position: "topright"}).addTo(map);
    accessibleLayerControl(ctl.layers, say(ctl, "layersLabel"));
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
    map.attributionControl.addAttribution(esc(say(ctl, "attribution")));
  }

  // The layer control's toggle says whether the list is open (aria-expanded) and Escape closes it, focus
  // back on the toggle. Leaflet opens it on hover, a click, or Enter on the toggle.
  function accessibleLayerControl(control, name) {
    var box = control.getContainer(), toggle = box.querySelector(".leaflet-control-layers-toggle");
    var list = box.querySelector(".leaflet-control-layers-list");
    list.id = list.id || "map-layers-" + L.stamp(control);
    toggle.setAttribute("aria-controls", list.id);
    toggle.setAttribute("aria-label", name);
    function update() {
      toggle.setAttribute("aria-expanded", String(L.DomUtil.hasClass(box, "leaflet-control-layers-expanded")));
    }
    var expand = control.expand, collapse = control.collapse;
    control.expand = function () { var r = expand.apply(this, arguments); update(); return r; };
    control.collapse = function () { var r = collapse.apply(this, arguments); update(); return r; };
    toggle.addEventListener("keydown", function (e) {
      if (e.key === " ") { e.preventDefault(); control.expand(); }
    });
    box.addEventListener("keydown", function (e) {
      if (e.key !== "Escape" || !L.DomUtil.hasClass(box, "leaflet-control-layers-expanded")) return;
      e.preventDefault();
      e.stopPropagation();
      control.collapse();
      toggle.focus();
    });
    update();
  }

  // The same few symbols are drawn beside thousands of listed projects: each is made once, then copied.
  var shapeSvgs = {};

  function shapeSvg(shape, fill, size) {
    var key = shape + " " + fill + " " + size;
    if (!(key in shapeSvgs)) shapeSvgs[key] = newShapeSvg(shape, fill, size);
    return shapeSvgs[key].cloneNode(true);
  }

  function newShapeSvg(shape, fill, size) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), r = size / 3.4, c = size / 2;
    svg.setAttribute("width", size); svg.setAttribute("height", size); svg.setAttribute("aria-hidden", "true");
    var corners = shapeCorners(shape, r), node;
    if (corners) {
      node = document.createElementNS(ns, "polygon");
      node.setAttribute("points", corners.map(function (p) { return (c + p.x).toFixed(2) + "," + (c + p.y).toFixed(2); }).join(" "));
    } else {
      node = document.createElementNS(ns, "circle");
      node.setAttribute("cx", c); node.setAttribute("cy", c); node.setAttribute("r", r);
    }
    node.setAttribute("fill", fill);
    node.setAttribute("stroke", "#1d2a33");
    node.setAttribute("stroke-width", "1.5");
    svg.appendChild(node);
    return svg;
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
    box.appendChild(el("summary", null, say(ctl, "legend")));
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    if (breaks.length) {
      box.appendChild(el("div", "map-legend-title", say(ctl, "legendChoropleth")));
      var row = el("div", "map-legend-classes");
      breaks.forEach(function (low, i) {
        var next = breaks[i + 1], item = el("span", "map-legend-class"), sw = el("span", "map-swatch");
        sw.style.background = ctl.cfg.palette[i];
        item.appendChild(sw);
        item.appendChild(document.createTextNode(next === undefined ? number(ctl, low) + "+" :
          (next - 1 === low ? number(ctl, low) : number(ctl, low) + "–" + number(ctl, next - 1))));
        row.appendChild(item);
      });
      box.appendChild(row);
    }
    box.appendChild(el("div", "map-legend-title", say(ctl, "legendLocated")));
    Object.keys(SYMBOLS).forEach(function (key) {
      var item = el("div", "map-legend-symbol");
      item.appendChild(symbolSvg(key));
      item.appendChild(document.createTextNode(ctl.cfg.precisions[key]));
      box.appendChild(item);
    });
    var areas = Object.keys(ctl.areaLayers);
    if (areas.length) {
      box.appendChild(el("div", "map-legend-title", say(ctl, "legendAreas")));
      areas.forEach(function (key) {
        var a = areaOf(ctl, key), item = el("div", "map-legend-area");
        item.appendChild(shapeSvg(a.shape, a.colour, 18));
        item.appendChild(document.createTextNode(a.label + " (" + number(ctl, ctl.areaLayers[key].count) + ")"));
        box.appendChild(item);
      });
    }
    box.appendChild(el("div", "map-legend-note", say(ctl, "legendNote") +
                                                 (ctl.cfg.locatedId ? " " + say(ctl, "legendNoteLocated") : "")));
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
    target.textContent = d.total === 0 ? say(ctl, "noProjects") :
      plural(ctl, "projects", d.total) + " · " + plural(ctl, "summaryLocations", d.points.length) +
      (ctl.stats.listed ? " · " + plural(ctl, "summaryListed", ctl.stats.listed) : "");
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
    if (!groups.length) { target.appendChild(el("p", "small", say(ctl, "noneHere"))); return; }
    var list = el("ul", "map-unplaced");
    groups.slice(0, limit).forEach(function (p) {
      var item = el("li");
      var sw = el("span", "map-swatch");
      sw.style.background = areaOf(ctl, p.area).colour;
      item.appendChild(sw);
      item.appendChild(link(ctl, projectHref(ctl, p.id), p.title, null, p.title_lang));
      item.appendChild(el("span", "map-unplaced-where", byProject[p.id].join("; ")));
      list.appendChild(item);
    });
    target.appendChild(list);
    if (groups.length > limit) {
      var more = el("p", "small");
      more.appendChild(document.createTextNode(say(ctl, "more", {num: number(ctl, groups.length - limit)}) + " "));
      more.appendChild(link(ctl, ctl.cfg.listUrl, say(ctl, "seeList")));
      target.appendChild(more);
    }
  }

  // The text equivalent of the points (issue 17): every located project, grouped by the country of its
  // places, each linked to its page, with a button that shows it on the map (its popup). This is the
  // keyboard and screen-reader path to single points, which are drawn on a canvas and cannot take focus.
  function fillLocated(ctl, done) {
    var d = ctl.data, target = ctl.cfg.locatedId && document.getElementById(ctl.cfg.locatedId);
    if (!target) return done();
    var groups = {}, order = [];
    d.points.forEach(function (point, index) {
      var key = point.country || "";
      if (!(key in groups)) { groups[key] = {iso3: point.country, projects: {}, ids: []}; order.push(key); }
      var g = groups[key], id = point.project.id;
      if (!(id in g.projects)) { g.projects[id] = {project: point.project, places: [], first: index}; g.ids.push(id); }
      if (g.projects[id].places.indexOf(point.name) < 0) g.projects[id].places.push(point.name);
    });
    function label(key) { return key ? countryName(ctl, key) : say(ctl, "otherPlaces"); }
    order.sort(function (a, b) { return (a ? 0 : 1) - (b ? 0 : 1) || label(a).localeCompare(label(b), ctl.cfg.lang); });
    target.textContent = "";
    if (!order.length) { target.appendChild(el("p", "small", say(ctl, "noneHere"))); return done(); }
    // one project at a time, in slices with the page free in between: a large selection lists thousands
    var entries = [], list = null, current = null;
    order.forEach(function (key) { groups[key].ids.forEach(function (id) { entries.push({key: key, id: id}); }); });
    inSlices(entries, function (entry) {
      if (entry.key !== current) {
        current = entry.key;
        list = locatedSection(ctl, target, groups[current], label(current));
      }
      list.appendChild(locatedItem(ctl, entry.id, groups[current].projects[entry.id]));
    }, done);
  }

  // A country's heading (linked to its projects in the list) and its list, added to `target`: the list.
  function locatedSection(ctl, target, group, name) {
    var section = el("section", "map-located-place"), heading = el("h3");
    if (group.iso3) heading.appendChild(link(ctl, withParam(ctl.cfg.listUrl, "country", group.iso3), name));
    else heading.textContent = name;
    heading.appendChild(document.createTextNode(" (" + number(ctl, group.ids.length) + ")"));
    section.appendChild(heading);
    var list = el("ul", "map-located");
    section.appendChild(list);
    target.appendChild(section);
    return list;
  }

  // A located project: its symbol, its link, its places and area, and the button that shows it on the map.
  function locatedItem(ctl, id, entry) {
    var p = entry.project, item = el("li"), area = areaOf(ctl, p.area);
    item.setAttribute("data-project", id);
    item.appendChild(shapeSvg(area.shape, area.colour, 14));
    item.appendChild(link(ctl, projectHref(ctl, id), p.title, null, p.title_lang));
    item.appendChild(el("span", "map-located-where", entry.places.join("; ") + " · " + area.label));
    var show = el("button", "map-show", say(ctl, "showOnMap"));
    show.type = "button";
    // the visible words first (WCAG 2.5.3)
    show.setAttribute("aria-label", say(ctl, "showOnMapLabel", {title: p.title}));
    show.addEventListener("click", function () { showPoint(ctl, entry.first, show); });
    item.appendChild(show);
    return item;
  }

  // each(item) for every item, in slices of about 50 ms with the page free (input, painting) in between;
  // then done().
  function inSlices(items, each, done) {
    var next = 0;
    (function slice() {
      var start = Date.now();
      while (next < items.length && Date.now() - start < 50) each(items[next++]);
      if (next < items.length) setTimeout(slice, 0);
      else done();
    })();
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
    var restored = restoreView(ctl);
    if (!restored) {                         // a viewport in the address wins
      if (bounds) {
        map.fitBounds(bounds, {padding: [24, 24], maxZoom: ctl.cfg.mode === "small" ? 5 : 6, animate: false});
      } else if (ctl.data.points.length) {
        map.fitBounds(L.latLngBounds(ctl.data.points.map(function (p) { return [p.lat, eastOf(ctl, p.lon)]; })),
                      {padding: [36, 36], maxZoom: ctl.cfg.mode === "small" ? 5 : 6, animate: false});
      } else {
        map.setView([20, 10], map.getSize().x < 700 ? 1 : 2, {animate: false});
      }
    }
    if (ctl.cfg.mode === "full" || ctl.cfg.mode === "embed") {
      if (restored) followView(ctl);         // the links that share the view carry it from the start
      map.on("moveend", function () { followView(ctl); });
    }
  }

  // The view in the address (#zoom/lat/lon, what restoreView reads), and in what shares it: the embed's
  // link to the full map (templates/embed_map.html) and, through the "registry:view" event, the share
  // panel's link and iframe code (static/share.js).
  function followView(ctl) {
    // the centre as it is, not wrapped: a map centred across the antimeridian (eastOf) has it east of 180
    var map = ctl.map, c = map.getCenter();
    var hash = "#" + map.getZoom() + "/" + c.lat.toFixed(3) + "/" + c.lng.toFixed(3);
    history.replaceState(null, "", hash);
    document.querySelectorAll(".embed-caption a[href]").forEach(function (a) {
      a.href = a.href.replace(/#.*$/, "") + hash;
    });
    window.dispatchEvent(new CustomEvent("registry:view", {detail: {hash: hash}}));
  }

  // --- "Search this area": the visible box as the query's bbox (core/query.py parse_bbox) -------------

  function degrees(value) { return String(Math.round(value * 10000) / 10000); }

  // The map's bounds as "minlon,minlat,maxlon,maxlat": longitudes brought into -180..180 (a view may
  // show a world copy, or be centred across the antimeridian: then minlon > maxlon, a box that wraps),
  // latitudes within -90..90; a view wider than the globe is every longitude.
  function visibleBbox(map) {
    var b = map.getBounds(), west = b.getWest(), east = b.getEast();
    var south = Math.max(-90, b.getSouth()), north = Math.min(90, b.getNorth());
    if (east - west >= 360) {
      west = -180; east = 180;
    } else {
      west = ((west + 180) % 360 + 360) % 360 - 180;
      east = ((east + 180) % 360 + 360) % 360 - 180;
      if (east === -180 && west > -180) east = 180;
    }
    return [west, south, east, north].map(degrees).join(",");
  }

  // The map page's address with this bbox (page reset, any other bbox replaced) and the current view.
  function areaUrl(map) {
    var params = new URLSearchParams(window.location.search), rest;
    params.delete("bbox");
    params.delete("page");
    rest = params.toString();
    return window.location.pathname + "?" + (rest ? rest + "&" : "") + "bbox=" + visibleBbox(map) +
      window.location.hash;
  }

  // The button appears once the user has moved the map (never for the first view, fitted or restored);
  // pressing it (click, Enter or Space: a real button) opens the map of that area, whose list link and
  // counts then follow. The first element in the map, so that Tab reaches it right after the arrow keys.
  function addAreaSearch(ctl) {
    var map = ctl.map, box = el("div", "map-search-area");
    var button = el("button", "map-search-area-button", say(ctl, "searchArea"));
    button.type = "button";
    button.hidden = true;
    button.title = say(ctl, "searchAreaTitle");
    box.appendChild(button);
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    ctl.container.insertBefore(box, ctl.container.firstChild);
    button.addEventListener("click", function () { window.location.assign(areaUrl(map)); });
    ctl.areaButton = button;
    // The first view (fitted or restored) is set before this, and a resize (a phone turned) is no choice of
    // an area: every other move is the user's (dragging, zooming, the arrow keys, a cluster opened).
    var resized = false;
    setTimeout(function () {
      map.on("resize", function () { resized = true; });
      map.on("moveend", function () {
        if (!resized) button.hidden = false;
        resized = false;
      });
    }, 0);
  }

  // The lists beside the map; then the map is ready (data-ready: the browser tests wait for it).
  function fillBeside(ctl) {
    fillUnplaced(ctl, ctl.cfg.mode === "embed" ? 50 : 300);
    fillLocated(ctl, function () {
      ctl.container.setAttribute("aria-busy", "false");
      ctl.container.setAttribute("data-ready", "1");
    });
  }

  // Resolves once the page is parsed: the elements beside the map (after it in the page) exist, and the
  // deferred scripts that hear the map (static/share.js) have run. The data, preloaded, may come before.
  function parsed() {
    return new Promise(function (done) {
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", done, {once: true});
      else done();
    });
  }

  function init(map, cfg) {
    var ctl = {map: map, cfg: cfg, container: map.getContainer(), markers: []};
    (window.registryMaps = window.registryMaps || []).push(ctl);
    ctl.container.setAttribute("aria-busy", "true");
    ctl.container.setAttribute("role", "region");
    ctl.container.setAttribute("aria-label", say(ctl, "mapLabel"));
    Promise.all([load(cfg.countries, cfg.countriesUrl), load(cfg.data, cfg.dataUrl), parsed()]).then(function (res) {
      ctl.data = readData(res[1]);
      ctl.container.style.background = cfg.colours.sea;
      watchPopups(ctl);
      limitBounds(ctl);
      fitView(ctl);            // before drawing: the countries are projected and the points clustered once
      drawCountries(ctl, res[0]);
      // the map first: the lists beside it (thousands of entries in a large selection) once the points are in
      drawPoints(ctl, function () { fillBeside(ctl); });
      addControls(ctl);
      if (cfg.mode === "full") addAreaSearch(ctl);
      fillSummary(ctl);
      if (!ctl.data.total) notice(ctl, say(ctl, "noProjects"));
    }).catch(function (err) {
      var failed = say(ctl, "loadFailed", {error: err.message});
      notice(ctl, failed);
      var target = cfg.summaryId && document.getElementById(cfg.summaryId);
      if (target) target.textContent = failed;
      ctl.container.setAttribute("data-error", "1");
    });
    return ctl;
  }

  window.RegistryMap = {init: init};
})();
