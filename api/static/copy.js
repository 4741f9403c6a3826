// Copy buttons (pay page: account number, transfer note). The values are plain selectable text, so the
// page works without JavaScript; with it, each button copies its value and says so in a live region.
(function () {
  "use strict";
  if (!navigator.clipboard || !window.isSecureContext) { return; }
  var said = document.getElementById("copied");
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        if (said) { said.textContent = said.dataset.done + ": " + source.textContent.trim(); }
        button.classList.add("done");
      }, function () {
        // Refused (no permission): select the text so a long press copies it.
        var range = document.createRange();
        range.selectNodeContents(source);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      });
    });
  });
}());
