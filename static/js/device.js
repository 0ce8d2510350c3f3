// Device-code login: ask this server (never trakt directly) whether the code was approved,
// at the interval trakt gave; the server refuses to poll trakt any faster.
(function () {
  "use strict";
  var box = document.getElementById("device");
  if (!box) return;
  var url = box.getAttribute("data-poll-url");
  var interval = Number(box.getAttribute("data-interval")) || 5;
  var status = document.getElementById("device-status");
  var restart = document.getElementById("device-restart");
  var code = box.querySelector(".device-grid");  // the steps, the code and its QR code
  var token = restart.querySelector("input[name=csrfmiddlewaretoken]").value;
  var failures = 0;

  function show(state, message) {
    status.textContent = message;
    status.className = "status status-" + state;
    box.setAttribute("data-state", state);
  }

  function later(seconds) {
    window.setTimeout(poll, Math.max(0.5, seconds) * 1000);
  }

  function poll() {
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token, "Accept": "application/json"}
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) throw new Error("not JSON (" + response.status + ")");
      return response.json();
    }).then(function (data) {
      failures = 0;
      if (data.state === "connected") {
        show("connected", data.message);
        window.location.assign(data.redirect);
        return;
      }
      if (data.done) {  // denied, expired, refused: this code is dead, so it leaves the page
        show(data.state, data.message);
        code.hidden = true;
        restart.hidden = false;
        return;
      }
      if (data.interval) interval = data.interval;
      show(data.state === "wait" ? "pending" : data.state, data.message);
      later(data.state === "wait" ? data.wait : interval);
    }).catch(function () {
      failures += 1;
      if (failures >= 5) {
        show("error", "This page lost contact with the server (or your session ended). Reload the page to continue.");
        restart.hidden = false;
        return;
      }
      show("error", "No answer from the server; trying again…");
      later(interval * 2);
    });
  }

  later(interval);
})();
