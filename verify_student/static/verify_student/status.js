/* The status page follows the review while it is in progress.
 *
 * Every few seconds (while the tab is visible) it reads the page again and,
 * when the state has changed, puts the new status section in place of the
 * old, inside an aria-live region so screen readers announce it. It stops
 * once the review is over. Without this script, the page's Refresh link
 * does the same by hand.
 */
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var scheduled = false;

  function section() { return document.getElementById("vs-status"); }

  function replaceWith(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("vs-status");
    var now = section();
    if (!fresh || !now || fresh.dataset.state === now.dataset.state) return;
    now.dataset.state = fresh.dataset.state;
    now.innerHTML = fresh.innerHTML;
    if (fresh.dataset.follow) now.dataset.follow = fresh.dataset.follow;
    else delete now.dataset.follow;
  }

  function check() {
    scheduled = false;
    var url = section() && section().dataset.follow;
    if (!url || document.hidden) return;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) { if (html) replaceWith(html); })
      .catch(function () { /* offline for a moment: try again at the next tick */ })
      .then(schedule);
  }

  function schedule() {
    if (scheduled || !(section() && section().dataset.follow)) return;
    scheduled = true;
    window.setTimeout(check, INTERVAL_MS);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(); });
  schedule();
})();
