// The error pattern of every form (templates/editor/_fields.html): after a failed submission the error
// summary takes the focus, so a screen reader reads it first and a keyboard user starts from it; a link of
// the summary moves the focus to its field (following "#f-title" alone would only scroll) and shows the
// field's label above it.
(function () {
  function focusField(event) {
    var id = decodeURIComponent(this.getAttribute("href").slice(1));
    var field = document.getElementById(id);
    if (!field) return;
    event.preventDefault();
    var label = document.querySelector('label[for="' + id + '"]');
    var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    (label || legend || field).scrollIntoView();
    field.focus({ preventScroll: true });
  }
  function start() {
    var summary = document.getElementById("form-errors");
    if (!summary) return;
    summary.querySelectorAll('a[href^="#"]').forEach(function (a) { a.addEventListener("click", focusField); });
    summary.focus();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
