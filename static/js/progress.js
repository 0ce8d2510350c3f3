// Live progress of running backups and restores: each running one asks for its own state every second
// and is replaced by the server's rendering of it, until the backup has finished.
(function () {
  "use strict";
  var PERIOD = 1000;

  function replace(element, html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var fresh = template.content.firstElementChild;
    element.replaceWith(fresh);
    return fresh;
  }

  function watch(row) {
    var url = row.getAttribute("data-status-url");
    var misses = 0;
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (data) {
          misses = 0;
          row = replace(row, data.html);
          // the card's "Last backup" line says what the row says, while it runs too
          var summaries = document.querySelectorAll('[data-last-backup-of="' + row.id.replace("backup-", "") + '"]');
          summaries.forEach(function (element) { element.innerHTML = data.summary; });
          if (data.active) window.setTimeout(tick, PERIOD);
        })
        .catch(function () {
          misses += 1;
          window.setTimeout(tick, Math.min(30000, PERIOD * Math.pow(2, misses)));
        });
    }
    window.setTimeout(tick, PERIOD);
  }

  document.querySelectorAll("[data-status-url]").forEach(watch);
})();
