// The status page's one script: show every <time datetime> in the visitor's own time zone
// and language. Without it (or without Intl) the server's zone is shown, which is also right.
(function () {
  "use strict";
  var format;
  var dayFormat;
  try {
    var locale = document.documentElement.lang || undefined;
    format = new Intl.DateTimeFormat(locale, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    dayFormat = new Intl.DateTimeFormat(locale, { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });
  } catch (e) {
    return;
  }
  var times = document.querySelectorAll("time[datetime]");
  for (var i = 0; i < times.length; i++) {
    var el = times[i];
    var value = el.getAttribute("datetime");
    if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
      // A calendar day of the page (the history bars' days): a name, not a moment.
      var day = new Date(value + "T00:00:00Z");
      if (!isNaN(day.getTime())) { el.textContent = dayFormat.format(day); }
      continue;
    }
    var moment = new Date(value);
    if (isNaN(moment.getTime())) { continue; }
    el.title = el.textContent;
    el.textContent = format.format(moment);
  }
})();
