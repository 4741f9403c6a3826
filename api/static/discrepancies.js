// The discrepancy list: "select every row on this page" ticks (or clears) each row's box, and shows
// "some" when only part of the page is ticked; choosing rows by hand switches the scope back to them.
(function () {
  "use strict";
  var all = document.querySelector("[data-select-page]");
  var form = document.getElementById("bulk-form");
  if (!all || !form) { return; }
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox][name=id]"));
  var selected = document.getElementById("scope-selected");

  function sync() {
    var ticked = boxes.filter(function (b) { return b.checked; }).length;
    all.checked = ticked > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }

  all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    if (selected) { selected.checked = true; }
  });
  boxes.forEach(function (b) {
    b.addEventListener("change", function () {
      if (selected) { selected.checked = true; }
      sync();
    });
  });
  sync();
}());
