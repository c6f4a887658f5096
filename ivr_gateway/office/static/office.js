// Refreshes the board in place: fetches the rows every few seconds and swaps them in, keeping
// the page, the filters and the keyboard focus where they are. Without script the board still
// works (reload the page); with it, nothing else on the page changes.
(function () {
  "use strict";
  var live = document.getElementById("board-live");
  if (!live) { return; }
  var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10);
  if (!seconds) { return; }
  var url = live.getAttribute("data-refresh-url");
  function refresh() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) { live.innerHTML = html; })
      .catch(function () {
        var note = live.querySelector(".updated");
        if (note) { note.textContent = "Could not refresh: check the connection, or log in again."; }
      });
  }
  window.setInterval(refresh, seconds * 1000);
})();
