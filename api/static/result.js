// The payment result page while it waits (for the gateway's confirmation, then for the signed receipt):
// asks result.json every few seconds and updates the page in place; the waiting text sits in an
// aria-live region so a screen reader hears the change. Without JavaScript the page offers a link to
// check again.
(function () {
  "use strict";
  var box = document.getElementById("result");
  if (!box || !box.dataset.poll) { return; }
  var url = box.dataset.poll;
  var delay = 2000;
  var tries = 0;

  function show(el, visible) { if (el) { el.hidden = !visible; } }

  function apply(state) {
    var badge = document.getElementById("status");
    if (badge && badge.textContent !== state.status_label) {
      badge.textContent = state.status_label;
      badge.className = "badge " + state.status;
      box.className = "pay card result " + state.status;
    }
    var text = document.getElementById("waiting-text");
    if (text && state.message) { text.textContent = state.message; }
    show(document.getElementById("waiting"), state.waiting);
    show(document.getElementById("back"), state.status === "pending" || state.status === "failed");
    var pdf = document.getElementById("receipt-pdf");
    var page = document.getElementById("receipt-page");
    if (state.receipt_page && page) { page.setAttribute("href", state.receipt_page); }
    if (state.receipt_pdf && pdf) { pdf.setAttribute("href", state.receipt_pdf); }
    show(pdf, Boolean(state.receipt_pdf));
    show(document.getElementById("receipt-links"), Boolean(state.receipt_page));
    if (!state.waiting) {
      var live = document.getElementById("waiting");
      if (live) {
        // Say the outcome once in the live region, then stop asking.
        live.hidden = false;
        live.innerHTML = "";
        var p = document.createElement("p");
        p.textContent = state.status_label;
        p.className = "done";
        live.appendChild(p);
      }
    }
    return state.waiting;
  }

  function poll() {
    tries += 1;
    fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (state && !apply(state)) { return; }
        // Slower after a minute (a transfer may take a while to be confirmed) or when refused (throttled).
        setTimeout(poll, !state || tries > 30 ? 10000 : delay);
      })
      .catch(function () { setTimeout(poll, 10000); });
  }

  setTimeout(poll, delay);
}());
