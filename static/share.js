/* The "Embed / share" panel: keeps the iframe snippet in step with the width and height fields, and the
   link and the iframe's address in step with the map's view (#zoom/lat/lon, from static/map.js's
   "registry:view" event: the shared map and the embed open on the view shown), and selects a snippet's
   text when it is clicked (ready to copy). No data is inserted as HTML. The iframe's title comes from the
   template (data-title), in the page's language. */
(function () {
  "use strict";
  function attr(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }
  function size(value, fallback) {
    value = String(value || "").trim();
    return /^\d{2,4}(px|%)?$/.test(value) ? value.replace(/px$/, "") : fallback;
  }
  // A view is only ever "#" and numbers (map.js): anything else is left out.
  function viewHash(hash) {
    return /^#\d+(\.\d+)?\/-?\d+(\.\d+)?\/-?\d+(\.\d+)?$/.test(String(hash || "")) ? hash : "";
  }
  document.querySelectorAll(".map-share").forEach(function (panel) {
    var code = panel.querySelector('[data-share="iframe"]');
    var width = panel.querySelector('[data-share="width"]');
    var height = panel.querySelector('[data-share="height"]');
    var link = panel.querySelector('[data-share="link"]');
    var view = viewHash(window.location.hash);   // a permalink opened: its view, until the map moves
    function update() {
      code.value = '<iframe src="' + attr(code.getAttribute("data-src") + view) + '" width="' +
        attr(size(width.value, "100%")) + '" height="' + attr(size(height.value, "450")) +
        '" style="border:0" loading="lazy" title="' + attr(code.getAttribute("data-title") || "") + '"></iframe>';
    }
    if (code && width && height) {
      width.addEventListener("input", update);
      height.addEventListener("input", update);
    }
    window.addEventListener("registry:view", function (e) {
      view = viewHash(e.detail && e.detail.hash);
      if (link) link.value = link.getAttribute("data-base") + view;
      if (code && width && height) update();
    });
    panel.querySelectorAll(".copy").forEach(function (field) {
      field.addEventListener("focus", function () { field.select(); });
    });
  });
})();
