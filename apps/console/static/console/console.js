/* The console's behaviour, from a static file (no inline script; a strict CSP applies).
 * - #tradebot-dashboard[data-refresh-url]: re-fetches the dashboard fragment every data-refresh-seconds
 *   and swaps it in, then asks charts.js to draw again (event "tb:refreshed").
 * - [data-reload-seconds]: reloads the page while a backtest is queued or running. */
(function () {
  "use strict";

  function refreshDashboard(root) {
    var url = root.getAttribute("data-refresh-url");
    var seconds = parseInt(root.getAttribute("data-refresh-seconds") || "15", 10);
    if (!url || !(seconds > 0)) return;
    var busy = false;
    window.setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) throw new Error("dashboard refresh: HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          root.innerHTML = html;
          document.dispatchEvent(new CustomEvent("tb:refreshed", { detail: root }));
        })
        .catch(function (error) {
          root.setAttribute("data-refresh-error", String(error));
        })
        .finally(function () { busy = false; });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("tradebot-dashboard");
    if (root) refreshDashboard(root);
    var reload = document.querySelector("[data-reload-seconds]");
    if (reload) {
      var wait = parseInt(reload.getAttribute("data-reload-seconds"), 10);
      if (wait > 0) window.setTimeout(function () { window.location.reload(); }, wait * 1000);
    }
  });
})();
