// Follows a rota import while it runs: polls its status every second and shows "1,200 of
// 10,000 rows"; when it has finished, reloads the page, which then shows the summary.
(function () {
  "use strict";
  var section = document.getElementById("import-progress");
  if (!section) { return; }
  var url = section.getAttribute("data-status-url");
  var text = document.getElementById("import-rows");
  var bar = document.getElementById("import-bar");
  var number = new Intl.NumberFormat("en-GB");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        if (status.finished) { window.location.reload(); return; }
        if (status.stalled) {
          text.textContent = "This import has stopped answering (its web worker was probably " +
            "restarted); nothing from it was stored. Upload the file again.";
          return;
        }
        text.textContent = (status.state === "queued" ? "Waiting to start: " : "Importing: ") +
          number.format(status.rows_done) + " of " + number.format(status.rows_total) + " rows.";
        bar.max = status.rows_total || 1;
        bar.value = status.rows_done;
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        text.textContent = "Could not check the import: it carries on; reload the page to see.";
        window.setTimeout(poll, 5000);
      });
  }
  window.setTimeout(poll, 500);
})();
