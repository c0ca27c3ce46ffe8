// Small progressive enhancements; the pages work without them.
(function () {
  "use strict";
  // Tell the server the viewer's time zone so times are shown in it.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* older browsers: server time zone it is */ }

  // Keep "elapsed" figures ticking between live refreshes.
  // The units incidents/durations.py writes, in the page's language.
  var zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
  var D = zh ? " 天 " : " d ", H = zh ? " 小时" : " h", MIN = zh ? " 分钟" : " min";
  function fmt(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
    if (d) return d + D + h + H;
    if (h) return h + H + " " + (m < 10 ? "0" : "") + m + MIN;
    return m + MIN;
  }
  setInterval(function () {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) el.textContent = fmt(Math.max(0, Math.floor((Date.now() - since) / 1000)));
    });
  }, 30000);

  // The timeline scrolls inside its card with the newest entry at the bottom, next to the box:
  // start there, and follow new entries unless the reader has scrolled up to read history.
  function timeline() { return document.getElementById("timeline-list"); }
  function atBottom(list) { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }
  function toBottom(list) { list.scrollTop = list.scrollHeight; }
  var follow = true, logged = false, earlier = false, heightBefore = 0;
  document.addEventListener("DOMContentLoaded", function () {
    var list = timeline();
    if (list && !location.hash) toBottom(list);
    // Ready to type, without scrolling the incident's header out of view.
    var box = document.querySelector("#box input[name=body]");
    if (box && !location.hash) box.focus({ preventScroll: true });
  });
  // "Show earlier entries" puts a page of entries at the top of the list: show where the
  // earlier ones end (the reader scrolls up from there), instead of following the bottom.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("#earlier")) earlier = true;
  });
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var list = timeline();
    if (list && event.detail.target === list) {
      follow = !earlier && (logged || atBottom(list));
      heightBefore = list.scrollHeight;
      logged = false;
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var list = timeline();
    if (!list || event.detail.target !== list) return;
    if (earlier) {
      earlier = false;
      list.scrollTop = Math.max(0, list.scrollHeight - heightBefore - list.clientHeight / 2);
    } else if (follow) {
      toBottom(list);
    }
  });
  // A line just logged from the box is always shown, wherever the reader had scrolled.
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail;
    if (detail.elt && detail.elt.id === "box" && detail.xhr && detail.xhr.getResponseHeader("HX-Trigger")) logged = true;
    if (detail.elt && detail.elt.closest && detail.elt.closest("#earlier")) earlier = false; // failed or done
  });
})();

// Legal clocks (templates/incidents/security/_clocks.html): keep "time left" counting down
// between refreshes of the panel; the server marks a stage overdue on its next render.
(function () {
  "use strict";
  // The units incidents/durations.py writes, in the page's language.
  var zh = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0;
  var D = zh ? " 天 " : " d ", H = zh ? " 小时" : " h", MIN = zh ? " 分钟" : " min";
  function fmt(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
    if (d) return d + D + h + H;
    if (h) return h + H + " " + (m < 10 ? "0" : "") + m + MIN;
    return m + MIN;
  }
  setInterval(function () {
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var until = Date.parse(el.getAttribute("data-until"));
      if (!isNaN(until)) el.textContent = fmt(Math.max(0, Math.floor((until - Date.now()) / 1000)));
    });
  }, 30000);
})();
