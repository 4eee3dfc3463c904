/* The filter panel of the project list (a <details>, closed in the HTML so that a phone shows the first
   result on its first screen): open it on wide screens, where it sits beside the list. Loaded right after
   the panel, before the page is first painted, so it never flickers. Without JavaScript the panel opens
   and closes with its "Filters (N)" button all the same. */
(function () {
  "use strict";
  var panel = document.getElementById("filter-panel");
  if (panel && window.matchMedia && window.matchMedia("(min-width: 761px)").matches) {
    panel.open = true;
  }
})();
