// Refreshes the board in place. Every few seconds it asks for the page shown, sending the ETag
// of what it shows: 304 means nothing changed (no body). When something did, only the rows
// whose content changed are replaced, so the focused link or control stays in the page; if the
// focused row itself changed, focus moves to the same control in its new version. Changes of
// status are announced politely ("2 visits changed: J.S. now In progress"). A refresh that fails
// twice shows a banner (the board may be stale); a session that ended (401) shows a loud banner
// and marks the rows as out of date, rather than showing them as if current. A wall-screen
// display link that was revoked (410) clears the rows and says so.
// Without script the board still works (reload the page).
// A table wider than the screen (a phone) scrolls sideways inside its box: that box becomes a
// tab stop, named after its table, so the keyboard can scroll it too (WCAG 2.1.1; axe's
// scrollable-region-focusable). Boxes that fit are left out of the tab order.
(function () {
  "use strict";
  function name(wrap) {
    var caption = wrap.querySelector("caption");
    var heading = wrap.previousElementSibling;
    var text = caption ? caption.textContent : (heading && /^H[1-6]$/.test(heading.tagName) ?
      heading.textContent : "Table");
    return text.trim() + " (scrolls sideways)";
  }
  function mark() {
    var wraps = document.querySelectorAll(".table-wrap");
    for (var i = 0; i < wraps.length; i += 1) {
      var wrap = wraps[i];
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", name(wrap));
      } else if (wrap.getAttribute("role") === "region") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    }
  }
  mark();
  window.addEventListener("resize", mark);
})();

(function () {
  "use strict";
  var live = document.getElementById("board-live");
  if (!live) { return; }
  var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10);
  if (!seconds) { return; }
  var url = live.getAttribute("data-refresh-url");
  var etag = live.getAttribute("data-etag") || "";
  var banner = document.getElementById("board-banner");
  var announce = document.getElementById("board-announce");
  var failures = 0;
  var ended = false;
  var timer = null;

  function showBanner(kind, text, linkText, linkHref) {
    if (!banner) { return; }
    banner.className = "board-banner board-banner-" + kind;
    banner.textContent = text + " ";
    if (linkText) {
      var a = document.createElement("a");
      a.href = linkHref;
      a.textContent = linkText;
      banner.appendChild(a);
    }
    banner.hidden = false;
  }

  function hideBanner() {
    if (banner && !ended) { banner.hidden = true; banner.textContent = ""; }
  }

  function rowsByKey(root) {
    var found = {};
    var rows = root.querySelectorAll("tbody tr[data-key]");
    for (var i = 0; i < rows.length; i += 1) { found[rows[i].getAttribute("data-key")] = rows[i]; }
    return found;
  }

  // Where focus is, as (row key, index of the focusable element within the row).
  function focusPlace() {
    var el = document.activeElement;
    if (!el || !live.contains(el)) { return null; }
    var row = el.closest("tr[data-key]");
    if (!row) { return null; }
    var all = row.querySelectorAll("a, button, input, select, textarea, [tabindex]");
    return { key: row.getAttribute("data-key"), index: Array.prototype.indexOf.call(all, el) };
  }

  function restoreFocus(place) {
    if (!place) { return; }
    var row = live.querySelector('tr[data-key="' + place.key.replace(/"/g, '\\"') + '"]');
    if (!row) { return; }
    var all = row.querySelectorAll("a, button, input, select, textarea, [tabindex]");
    var target = all[place.index] || all[0];
    if (target && document.activeElement !== target) { target.focus(); }
  }

  function apply(html) {
    var next = document.createElement("div");
    next.innerHTML = html;
    var oldRows = rowsByKey(live);
    var newRows = rowsByKey(next);
    var oldBody = live.querySelector("tbody");
    var newBody = next.querySelector("tbody");
    var changed = [];
    Object.keys(newRows).forEach(function (key) {
      var was = oldRows[key];
      var now = newRows[key];
      if (was && was.getAttribute("data-status") !== now.getAttribute("data-status")) {
        changed.push((now.getAttribute("data-initials") || "a visit") + " now " +
                     now.getAttribute("data-status"));
      }
    });
    var place = focusPlace();
    // Everything outside the table (counts, pager, the time) is small: swap it whole.
    var oldParts = live.children;
    var newParts = next.children;
    var sameShape = oldParts.length === newParts.length && oldBody && newBody;
    if (!sameShape) {
      live.innerHTML = html;
    } else {
      for (var i = 0; i < newParts.length; i += 1) {
        if (oldParts[i].contains(oldBody)) { continue; }
        if (oldParts[i].outerHTML !== newParts[i].outerHTML) {
          live.replaceChild(newParts[i].cloneNode(true), oldParts[i]);
        }
      }
      // Rows: keep each unchanged row element (and whatever has focus in it) where it is.
      var kept = [];
      Array.prototype.forEach.call(newBody.children, function (row) {
        var key = row.getAttribute("data-key");
        var was = key && oldRows[key];
        kept.push(was && was.outerHTML === row.outerHTML ? was : row);
      });
      Array.prototype.forEach.call(oldBody.children, function (row) {
        if (kept.indexOf(row) === -1) { oldBody.removeChild(row); }
      });
      kept.forEach(function (row, index) {
        if (oldBody.children[index] !== row) { oldBody.insertBefore(row, oldBody.children[index] || null); }
      });
    }
    restoreFocus(place);
    if (changed.length && announce) {
      announce.textContent = changed.length + (changed.length === 1 ? " visit changed: " :
        " visits changed: ") + changed.slice(0, 5).join("; ") + (changed.length > 5 ? "; …" : "");
    }
  }

  function sessionEnded() {
    ended = true;
    live.classList.add("board-stale");
    live.setAttribute("inert", ""); // out of date: not read out, not focusable
    showBanner("ended", "Your session has ended: log in again. The rows below are out of date.",
               "Log in again", live.getAttribute("data-login-url") || "/office/login");
    if (timer) { window.clearInterval(timer); }
  }

  // A wall-screen display link that was revoked (410): the rows go, and the screen says why.
  function displayRevoked(message) {
    ended = true;
    live.innerHTML = "";
    showBanner("ended", message || "This display link was revoked.", null, null);
    if (timer) { window.clearInterval(timer); }
  }

  function refresh() {
    if (document.hidden || ended) { return; }
    var headers = { "Accept": "text/html" };
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(url, { credentials: "same-origin", headers: headers, redirect: "manual", cache: "no-store" })
      .then(function (response) {
        if (response.status === 410 && response.headers.get("X-Office-Display") === "revoked") {
          return response.text().then(function (text) { displayRevoked(text); return null; });
        }
        if (response.status === 401 || response.type === "opaqueredirect") {
          sessionEnded();
          return null;
        }
        if (response.status === 304) { return ""; }
        if (!response.ok) { throw new Error("status " + response.status); }
        etag = response.headers.get("ETag") || "";
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        failures = 0;
        hideBanner();
        live.classList.remove("board-stale");
        if (html) { apply(html); }
      })
      .catch(function () {
        failures += 1;
        if (failures >= 2) {
          live.classList.add("board-stale");
          showBanner("stale", "The board could not refresh: what it shows may be out of date. " +
                     "Check the connection; it keeps trying.", "Reload now", window.location.href);
        }
      });
  }
  timer = window.setInterval(refresh, seconds * 1000);
  window.boardRefresh = refresh; // tests (and a person in the console) can refresh at once
})();
