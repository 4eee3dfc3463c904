/* The "Embed / share" panel: keeps the iframe snippet in step with the width and height fields,
   and selects a snippet's text when it is clicked (ready to copy). No data is inserted as HTML. */
(function () {
  "use strict";
  function attr(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }
  function size(value, fallback) {
    value = String(value || "").trim();
    return /^\d{2,4}(px|%)?$/.test(value) ? value.replace(/px$/, "") : fallback;
  }
  document.querySelectorAll(".map-share").forEach(function (panel) {
    var code = panel.querySelector('[data-share="iframe"]');
    var width = panel.querySelector('[data-share="width"]');
    var height = panel.querySelector('[data-share="height"]');
    function update() {
      code.value = '<iframe src="' + attr(code.getAttribute("data-src")) + '" width="' +
        attr(size(width.value, "100%")) + '" height="' + attr(size(height.value, "450")) +
        '" style="border:0" loading="lazy" title="Map of Mercury Partnership projects"></iframe>';
    }
    if (code && width && height) {
      width.addEventListener("input", update);
      height.addEventListener("input", update);
    }
    panel.querySelectorAll(".copy").forEach(function (field) {
      field.addEventListener("focus", function () { field.select(); });
    });
  });
})();
