// The status page's one script: show every <time datetime> in the visitor's own time zone
// and language, with the zone as a UTC offset ("UTC+08:00", as the server writes it: names such
// as "CST" are ambiguous). Without it (or without Intl) the server's zone is shown, which is
// also right.
(function () {
  "use strict";
  var format;
  var dayFormat;
  try {
    var locale = document.documentElement.lang || undefined;
    format = new Intl.DateTimeFormat(locale, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"
    });
    dayFormat = new Intl.DateTimeFormat(locale, { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });
  } catch (e) {
    return;
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function zone(moment) {
    var minutes = -moment.getTimezoneOffset();
    if (!minutes) { return "UTC"; }
    var sign = minutes > 0 ? "+" : "-";
    minutes = Math.abs(minutes);
    return "UTC" + sign + pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
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
    el.textContent = format.format(moment) + " " + zone(moment);
  }
})();
