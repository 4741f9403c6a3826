// Statement imports (finance): the upload button is disabled while the file uploads, and the import page's
// <progress> follows the background job by asking its JSON status every second. The outcome is written once
// into a role="status" live region, so a screen reader hears the end, not every tick. Without JavaScript the
// page offers a link to refresh it, and the form still submits.
(function () {
  "use strict";

  var form = document.getElementById("import-form");
  if (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button[type=submit]");
      if (!button) { return; }
      // Disabled after the submission has started (a disabled button submits nothing, but this runs after).
      window.setTimeout(function () {
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        if (form.dataset.uploading) { button.textContent = form.dataset.uploading; }
      }, 0);
    });
    // Coming back to the page (back button, bfcache) must not leave the button disabled.
    window.addEventListener("pageshow", function () {
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = false; button.removeAttribute("aria-busy"); }
    });
  }

  var box = document.getElementById("import");
  if (!box || !box.dataset.statusUrl) { return; }
  var url = box.dataset.statusUrl;
  var bar = document.getElementById("import-progress");
  var message = document.getElementById("import-message");
  var label = document.getElementById("import-state-label");
  var done = document.getElementById("import-done");
  var link = document.getElementById("import-discrepancies");
  var refresh = document.getElementById("import-refresh");
  var failures = 0;

  function apply(s) {
    box.dataset.state = s.state;
    if (bar) {
      bar.max = Math.max(s.total, 1);
      bar.value = s.processed;
      bar.textContent = s.processed + "/" + s.total;
    }
    if (message) { message.textContent = s.message; }
    if (label) { label.textContent = s.state_label; }
    var finished = s.state === "done" || s.state === "failed";
    if (finished) {
      if (done && done.textContent !== s.message) { done.textContent = s.message; }
      if (link && s.discrepancies_url) { link.setAttribute("href", s.discrepancies_url); link.hidden = false; }
      if (refresh) { refresh.hidden = true; }
    }
    return finished;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (s) {
        failures = 0;
        if (!apply(s)) { window.setTimeout(poll, 1000); }
      })
      .catch(function () {
        // A busy or restarting server: ask again, less often; the page's refresh link still works.
        failures += 1;
        if (failures < 30) { window.setTimeout(poll, 1000 * Math.min(failures + 1, 10)); }
      });
  }

  if (box.dataset.state === "queued" || box.dataset.state === "running") {
    if (refresh) { refresh.hidden = true; }
    poll();
  }
}());
