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
  function fmt(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + (m < 10 ? "0" : "") + m + " min";
    return m + " min";
  }
  setInterval(function () {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.getAttribute("data-since"));
      if (!isNaN(since)) el.textContent = fmt(Math.max(0, Math.floor((Date.now() - since) / 1000)));
    });
  }, 30000);
})();
