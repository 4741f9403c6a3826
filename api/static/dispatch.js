// Address suggestions on the dispatch desk: the administrative units (two levels since 1 July 2025) from
// /api/v1/addresses/provinces and /api/v1/addresses/wards fill the province and ward datalists as the
// dispatcher types (diacritics optional). A static file: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";
  var province = document.getElementById("province");
  var ward = document.getElementById("ward");
  if (!province || !ward) { return; }
  var provinceList = document.getElementById("province-list");
  var wardList = document.getElementById("ward-list");
  var provinces = [];
  var timer = null;

  function fill(list, names) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    names.slice(0, 30).forEach(function (name) {
      var option = document.createElement("option");
      option.value = name;  // textContent-free: the value is set as data, never parsed as markup
      list.appendChild(option);
    });
  }

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .catch(function () { return []; });
  }

  get("/api/v1/addresses/provinces").then(function (rows) {
    provinces = rows || [];
    fill(provinceList, provinces.map(function (p) { return p.name; }));
  });

  function provinceCode() {
    var typed = province.value.trim().toLowerCase();
    var found = provinces.filter(function (p) { return p.name.toLowerCase() === typed || p.code === typed; });
    return found.length ? found[0].code : "";
  }

  function suggestWards() {
    var q = ward.value.trim();
    if (q.length < 2) { return; }
    var url = "/api/v1/addresses/wards?q=" + encodeURIComponent(q);
    var code = provinceCode();
    if (code) { url += "&province=" + encodeURIComponent(code); }
    get(url).then(function (rows) {
      fill(wardList, (rows || []).map(function (w) { return w.name; }));
      var first = rows && rows[0];
      // A ward chosen with no province typed yet: fill in its province too.
      if (first && !province.value.trim() && first.name === ward.value.trim()) {
        var owner = provinces.filter(function (p) { return p.code === first.province_code; })[0];
        if (owner) { province.value = owner.name; }
      }
    });
  }

  ward.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(suggestWards, 200);
  });
})();
