// Follows a KPI report being worked out in the background (ecc/kept_reports.py): polls its
// status every two seconds. With no report on the page yet, reloads the page when it is ready,
// which then shows it; with older figures on the page, offers the new ones by a link instead of
// reloading under the reader. Said politely through the status line (aria-live).
(function () {
  "use strict";
  var section = document.getElementById("kpi-progress");
  if (!section) { return; }
  var url = section.getAttribute("data-status-url");
  var whenReady = section.getAttribute("data-when-ready");
  var status = document.getElementById("kpi-status");
  var elapsed = document.getElementById("kpi-elapsed");
  if (!whenReady) { return; }
  function say(text, linkText) {
    status.textContent = text + (linkText ? " " : "");
    if (linkText) {
      var a = document.createElement("a");
      a.href = window.location.href;
      a.textContent = linkText;
      status.appendChild(a);
    }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (state) {
        if (state.ready) {
          if (whenReady === "reload") {
            say("The report is ready.");
            window.location.reload();
          } else {
            say("The new figures are ready:", "show them");
          }
          return;
        }
        if (state.error) {
          say("The report could not be worked out: " + state.error + " Reload the page to try again.");
          return;
        }
        if (elapsed && state.elapsed_seconds !== null) {
          elapsed.textContent = "Working on it for " + state.elapsed_seconds + " of about " +
            state.estimate_seconds + " seconds. This page shows the report when it is ready.";
        }
        window.setTimeout(poll, 2000);
      })
      .catch(function () {
        say("Could not check on the report: reload the page to see it.");
        window.setTimeout(poll, 10000);
      });
  }
  window.setTimeout(poll, 1000);
})();
