// Form errors next to their fields, in the page's language, tied to the field with aria-describedby:
// - the browser's own checks (required, length, e-mail, number...) no longer show its tooltip in the
//   browser's language: the message is written under the field and the first wrong field gets the focus;
// - errors the server sends back (an element with data-error-for="<field name>", as the shared error
//   partial renders them) are moved next to their field and announced the same way.
(function () {
  "use strict";
  var vi = (document.documentElement.lang || "vi").indexOf("en") !== 0;
  var T = vi ? {
    missing: "Vui lòng nhập thông tin này.", choose: "Vui lòng chọn một mục.", check: "Vui lòng đánh dấu ô này để tiếp tục.",
    file: "Vui lòng chọn tệp.", email: "Địa chỉ email chưa đúng.", url: "Địa chỉ trang web chưa đúng.",
    short: "Cần ít nhất {n} ký tự (đang có {m}).", long: "Tối đa {n} ký tự.", pattern: "Giá trị chưa đúng định dạng.",
    min: "Giá trị nhỏ nhất là {n}.", max: "Giá trị lớn nhất là {n}.", step: "Giá trị không hợp lệ.",
    number: "Vui lòng nhập một số.", other: "Giá trị chưa hợp lệ."
  } : {
    missing: "Please fill in this field.", choose: "Please choose an item.", check: "Please tick this box to go on.",
    file: "Please choose a file.", email: "The e-mail address is not right.", url: "The web address is not right.",
    short: "At least {n} characters (now {m}).", long: "At most {n} characters.", pattern: "The value is not in the right format.",
    min: "The smallest value is {n}.", max: "The largest value is {n}.", step: "The value is not valid.",
    number: "Please enter a number.", other: "The value is not valid."
  };

  function fill(text, n, m) { return text.replace("{n}", n).replace("{m}", m); }

  function message(el) {
    var v = el.validity;
    if (v.valueMissing) {
      if (el.type === "checkbox" || el.type === "radio") { return T.check; }
      if (el.type === "file") { return T.file; }
      return el.tagName === "SELECT" ? T.choose : T.missing;
    }
    if (v.badInput) { return T.number; }
    if (v.typeMismatch) { return el.type === "email" ? T.email : el.type === "url" ? T.url : T.other; }
    if (v.tooShort) { return fill(T.short, el.minLength, el.value.length); }
    if (v.tooLong) { return fill(T.long, el.maxLength); }
    if (v.patternMismatch) { return el.title || T.pattern; }
    if (v.rangeUnderflow) { return fill(T.min, el.min); }
    if (v.rangeOverflow) { return fill(T.max, el.max); }
    if (v.stepMismatch) { return T.step; }
    return T.other;
  }

  var seq = 0;
  function errorId(el) {
    if (!el.dataset.errorId) { seq += 1; el.dataset.errorId = (el.id || el.name || "field") + "-error-" + seq; }
    return el.dataset.errorId;
  }

  function describe(el, span) {
    var ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
    if (ids.indexOf(span.id) < 0) { ids.push(span.id); }
    el.setAttribute("aria-describedby", ids.join(" "));
    el.setAttribute("aria-invalid", "true");
  }

  function place(el, span) {
    // After the field (inside its label when the field is wrapped in one).
    var anchor = el.closest("label") && el.type !== "checkbox" && el.type !== "radio" ? el : (el.closest("label") || el);
    anchor.insertAdjacentElement("afterend", span);
  }

  function show(el, text) {
    var id = errorId(el);
    var span = document.getElementById(id);
    if (!span) {
      span = document.createElement("span");
      span.id = id;
      span.className = "field-error";
      place(el, span);
    }
    span.textContent = text;
    describe(el, span);
  }

  function clear(el) {
    var span = el.dataset.errorId && document.getElementById(el.dataset.errorId);
    if (span && !span.dataset.errorFor) { span.remove(); }
    el.removeAttribute("aria-invalid");
  }

  var focused = null;
  document.addEventListener("invalid", function (e) {
    var el = e.target;
    e.preventDefault();  // no tooltip in the browser's language
    show(el, message(el));
    if (!focused) {
      focused = el;
      el.focus();
      setTimeout(function () { focused = null; }, 0);
    }
  }, true);

  ["input", "change"].forEach(function (kind) {
    document.addEventListener(kind, function (e) {
      var el = e.target;
      if (el.getAttribute && el.getAttribute("aria-invalid") === "true" && el.checkValidity && el.validity.valid) {
        clear(el);
      }
    }, true);
  });

  // Errors from the server, one element per field: next to the field they are about.
  document.querySelectorAll("[data-error-for]").forEach(function (span) {
    var form = span.closest("form") || document;
    var name = span.dataset.errorFor;
    var el = form.querySelector("[name=\"" + name.replace(/"/g, "") + "\"]") ||
      document.querySelector("[name=\"" + name.replace(/"/g, "") + "\"]");
    if (!el) { return; }
    if (!span.id) { span.id = errorId(el); } else { el.dataset.errorId = span.id; }
    span.classList.add("field-error");
    place(el, span);
    describe(el, span);
  });
}());
