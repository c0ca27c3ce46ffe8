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
  // New entries arrive at the end; one logged after the fact (/at 02:55 ...) moves to its
  // place in time, as the server orders the page (occurred time, then entry number).
  function entryKey(li) {
    var time = li.querySelector("time");
    return [time ? Date.parse(time.getAttribute("datetime")) : 0, parseInt(li.id.replace("entry-", ""), 10) || 0];
  }
  function before(a, b) { return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]); }
  function sortEntries(list) {
    var items = Array.prototype.slice.call(list.children).filter(function (li) { return li.id.indexOf("entry-") === 0; });
    for (var i = 1; i < items.length; i++) {
      var key = entryKey(items[i]);
      if (!before(key, entryKey(items[i - 1]))) continue;
      var j = i - 1;
      while (j > 0 && before(key, entryKey(items[j - 1]))) j--;
      list.insertBefore(items[i], items[j]);
      items.splice(j, 0, items.splice(i, 1)[0]);
    }
  }
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var list = timeline();
    if (!list || event.detail.target !== list) return;
    sortEntries(list);
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

// Live redraws never take away what someone is doing. Panels are redrawn by polls (the war
// room's #live, the runbook panel, the legal clocks) and by the answers to other forms. Before
// any such swap, a form someone is working in (focus inside, or values that differ from what the
// server drew: unsaved input), or a <details> they opened or closed themselves, is kept as it is
// (htmx's hx-preserve, set on the fly) while the rest of the panel updates; the server's newer
// version of it, if any, is applied once it is submitted or abandoned (values back to what was
// drawn, focus gone, <details> back as drawn). When the new drawing has no counterpart for it,
// or the pointer is pressed inside the panel (a button must not move under it), the whole
// redraw waits instead, with a short note. A "reload the page" answer (far behind) waits until
// no form on the page holds unsaved input.
(function () {
  "use strict";
  var pending = [];       // {el, html, style}: swaps waiting until el is no longer busy
  var reloadWanted = false, pressed = null, keepCount = 0;
  var NOTE = "live-note";
  var drawnHTML = new WeakMap(), drawnOpen = new WeakMap();

  function noteText() {
    return document.body.getAttribute("data-live-note") || "Updated — will refresh when you finish.";
  }
  function isDirty(form) {
    return Array.prototype.some.call(form.querySelectorAll("input, select, textarea"), function (c) {
      if (c.type === "hidden" || c.type === "submit" || c.type === "button" || c.type === "reset") return false;
      if (c.type === "checkbox" || c.type === "radio") return c.checked !== c.defaultChecked;
      if (c.tagName === "SELECT" && !c.multiple) {
        // Drawn with no option marked selected, a list shows its first one.
        var drawnIndex = Array.prototype.findIndex.call(c.options, function (o) { return o.defaultSelected; });
        return c.selectedIndex !== Math.max(drawnIndex, 0);
      }
      if (c.tagName === "SELECT") {
        return Array.prototype.some.call(c.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return c.value !== c.defaultValue;
    });
  }
  function anyDirty() { return Array.prototype.some.call(document.querySelectorAll("form"), isDirty); }
  function toggledByUser(details) { return drawnOpen.has(details) && details.open !== drawnOpen.get(details); }
  function focusedIn(el) { return el !== document.activeElement && el.contains(document.activeElement); }
  function formsIn(unit) { return unit.tagName === "FORM" ? [unit] : Array.prototype.slice.call(unit.querySelectorAll("form")); }
  function isBusy(unit) { return focusedIn(unit) || formsIn(unit).some(isDirty); }
  // The units kept through a redraw: where the focus is, and every form with unsaved input, each
  // with the innermost <details> around it (its open state goes along). Outermost ones only.
  function unitAround(el, root) {
    var details = el.closest("details");
    if (details && root.contains(details) && details !== root) return details;
    return el.closest("form");
  }
  function busyUnits(root, except) {
    var units = [];
    function add(unit) {
      if (!unit || unit === root || !root.contains(unit) || units.indexOf(unit) !== -1) return;
      if (except && unit.contains(except)) return;
      units.push(unit);
    }
    if (focusedIn(root)) add(unitAround(document.activeElement, root));
    root.querySelectorAll("form").forEach(function (form) { if (isDirty(form)) add(unitAround(form, root)); });
    return units.filter(function (u) { return !units.some(function (o) { return o !== u && o.contains(u); }); });
  }
  // <details> opened or closed by the user (not kept whole): the new drawing opens or closes
  // its counterpart the same way.
  function toggledDetails(root, units) {
    return Array.prototype.filter.call(root.querySelectorAll("details"), function (d) {
      return toggledByUser(d) && !units.some(function (u) { return u.contains(d); });
    });
  }
  // A unit's place in its panel, to find its counterpart in the new drawing: the id the server
  // gave it, else its kind, its form's action and its position among units alike.
  function serverId(el) { return el.id && !el.hasAttribute("data-live-id") ? el.id : ""; }
  function actionOf(el) {
    var form = el.tagName === "FORM" ? el : el.querySelector("form");
    return form ? form.getAttribute("action") || "" : "";
  }
  function alike(root, tag, action) {
    return Array.prototype.filter.call(root.querySelectorAll(tag), function (el) {
      return !serverId(el) && actionOf(el) === action;
    });
  }
  function counterpart(unit, root, content) {
    var id = serverId(unit);
    if (id) return content.querySelector("[id='" + id.replace(/['\\]/g, "") + "']");
    var testid = unit.getAttribute("data-testid");
    if (testid) return content.querySelector("[data-testid='" + testid.replace(/['\\]/g, "") + "']");
    var position = alike(root, unit.tagName, actionOf(unit)).indexOf(unit);
    return alike(content, unit.tagName, actionOf(unit))[position] || null;
  }
  // How the server drew an element, for comparing two drawings: no open state, no CSRF token
  // (masked anew on every drawing), no notes of ours.
  function drawn(el) {
    var copy = el.cloneNode(true);
    [copy].concat(Array.prototype.slice.call(copy.querySelectorAll("[open], [hx-preserve], [data-live-kept], [data-drawn-open]"))).forEach(function (e) {
      ["open", "hx-preserve", "data-live-kept", "data-live-id", "data-drawn-open"].forEach(function (name) { e.removeAttribute(name); });
    });
    copy.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(function (e) { e.removeAttribute("value"); });
    copy.querySelectorAll("." + NOTE).forEach(function (e) { e.remove(); });
    [copy].concat(Array.prototype.slice.call(copy.querySelectorAll(".has-live-note"))).forEach(function (e) {
      e.classList.remove("has-live-note");
      if (!e.classList.length) e.removeAttribute("class");
    });
    copy.removeAttribute("id");
    return copy.outerHTML;
  }
  function record(el) {
    if (el.closest("[data-live-kept]")) return;  // kept as the user left it: its baseline stays
    if (el.tagName === "DETAILS") {
      // Opened or closed like its earlier self (carryOpen): the server drew it otherwise.
      var server = el.getAttribute("data-drawn-open");
      drawnOpen.set(el, server === null ? el.open : server === "1");
      el.removeAttribute("data-drawn-open");
    }
    drawnHTML.set(el, drawn(el));
  }
  function recordAll(root) {
    if (root.matches && root.matches("details, form")) record(root);
    if (root.querySelectorAll) root.querySelectorAll("details, form").forEach(record);
  }

  // The note lies over the top edge of what waits, never pushing anything (a button) aside.
  function showNote(el) {
    if (el.querySelector(":scope > ." + NOTE)) return;
    var note = document.createElement("p");
    note.className = NOTE + " overlay small";
    note.setAttribute("role", "status");
    note.textContent = noteText();
    el.classList.add("has-live-note");
    el.appendChild(note);
  }
  function defer(el, html, style) {
    pending = pending.filter(function (p) { return p.el !== el; });
    pending.push({ el: el, html: html, style: style });
    showNote(el);
  }
  // Keep the busy units of `target` in the new drawing `content` (hx-preserve on their
  // counterparts) and remember the server's newer version of those it changed. False when one
  // has no counterpart: the caller holds back the whole redraw.
  function keepBusy(target, content, except) {
    var units = busyUnits(target, except);
    var found = units.map(function (unit) { return counterpart(unit, target, content); });
    if (found.indexOf(null) !== -1) return false;
    units.forEach(function (unit, i) {
      var fresh = found[i];
      var changed = !drawnHTML.has(unit) || drawn(fresh) !== drawnHTML.get(unit);
      var newer = fresh.cloneNode(true);
      if (!unit.id) {
        unit.id = "live-kept-" + (++keepCount);
        unit.setAttribute("data-live-id", "");
      }
      unit.setAttribute("data-live-kept", "");  // its baseline stays the drawing the user started from
      fresh.id = unit.id;
      fresh.setAttribute("hx-preserve", "true");
      if (changed) defer(unit, newer.outerHTML, "outerHTML");
    });
    return true;
  }
  function carryOpen(target, content, toggled) {
    toggled.forEach(function (details) {
      var fresh = counterpart(details, target, content);
      if (!fresh) return;
      fresh.setAttribute("data-drawn-open", fresh.hasAttribute("open") ? "1" : "0");
      if (details.open) fresh.setAttribute("open", "");
      else fresh.removeAttribute("open");
    });
  }
  function pressedIn(target) { return pressed !== null && target.contains(pressed); }
  function isLiveRedraw(detail) { return !!detail.requestConfig && detail.requestConfig.verb === "get"; }
  function submittingForm(detail) {
    var elt = detail.requestConfig && detail.requestConfig.elt;
    return elt && elt.closest ? elt.closest("form") : null;
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail, target = detail.target;
    if (!detail.shouldSwap || !target || !target.querySelectorAll || typeof detail.serverResponse !== "string") return;
    var live = isLiveRedraw(detail), except = live ? null : submittingForm(detail);
    var elt = detail.requestConfig && detail.requestConfig.elt;
    var style = ((elt && elt.getAttribute && elt.getAttribute("hx-swap")) || "innerHTML").split(" ")[0];
    if (live && pressedIn(target)) {
      detail.shouldSwap = false;
      defer(target, detail.serverResponse, style);
      return;
    }
    var units = busyUnits(target, except), toggled = toggledDetails(target, units);
    if (!units.length && !toggled.length) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = detail.serverResponse;
    if (keepBusy(target, tpl.content, except)) {
      carryOpen(target, tpl.content, toggled);
      detail.serverResponse = tpl.innerHTML;
    } else if (live) {
      detail.shouldSwap = false;
      defer(target, detail.serverResponse, style);
    }
  });

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var detail = event.detail, target = detail.target;
    if (!target || !detail.fragment || !target.querySelectorAll) return;
    // Only a swap that replaces the target (hx-swap-oob="true": the new element has its id) can
    // take anything away; new timeline entries put before or after the others cannot.
    var first = detail.fragment.firstElementChild;
    if (!target.id || !first || first.id !== target.id) return;
    if (!pressedIn(target) && keepBusy(target, detail.fragment)) {
      carryOpen(target, detail.fragment, toggledDetails(target, busyUnits(target)));
    } else {
      detail.shouldSwap = false;
      var holder = document.createElement("div");
      holder.appendChild(detail.fragment.cloneNode(true));
      holder.querySelectorAll("[hx-swap-oob]").forEach(function (el) { el.removeAttribute("hx-swap-oob"); });
      defer(target, holder.innerHTML, "outerHTML");
    }
  });

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.getResponseHeader("HX-Refresh") !== "true" || !anyDirty()) return;
    event.preventDefault();
    reloadWanted = true;
    if (!document.getElementById("live-reload-note")) {
      var note = document.createElement("p");
      note.id = "live-reload-note";
      note.className = NOTE + " floating";
      note.setAttribute("role", "status");
      note.textContent = noteText();
      document.body.appendChild(note);
    }
  });

  document.addEventListener("DOMContentLoaded", function () { recordAll(document); });
  document.addEventListener("htmx:load", function (event) { recordAll(event.detail.elt); });

  // Apply what waited, once nobody is using its place any more.
  function flush() {
    if (reloadWanted && !anyDirty()) { window.location.reload(); return; }
    var waiting = pending;
    pending = [];
    waiting.forEach(function (p) {
      if (!document.body.contains(p.el)) return;  // redrawn meanwhile (submitted): nothing left to apply
      var unit = p.el.hasAttribute("data-live-kept") || p.el.tagName === "FORM" || p.el.tagName === "DETAILS";
      if (pressedIn(p.el) || (unit ? isBusy(p.el) : busyUnits(p.el).length > 0)) { pending.push(p); return; }
      var html = p.html;
      if (p.el.tagName === "DETAILS" && toggledByUser(p.el)) {
        // Its newer drawing, opened or closed as the user left it.
        var tpl = document.createElement("template");
        tpl.innerHTML = html;
        var fresh = tpl.content.firstElementChild;
        fresh.setAttribute("data-drawn-open", fresh.hasAttribute("open") ? "1" : "0");
        if (p.el.open) fresh.setAttribute("open", "");
        else fresh.removeAttribute("open");
        html = tpl.innerHTML;
      }
      htmx.swap(p.el, html, { swapStyle: p.style });
    });
  }
  function soon() { setTimeout(flush, 0); }
  ["focusout", "change", "input", "reset", "toggle", "htmx:afterSettle"].forEach(function (name) {
    document.addEventListener(name, soon, true);
  });
  document.addEventListener("pointerdown", function (event) { pressed = event.target; }, true);
  function release() { setTimeout(function () { pressed = null; flush(); }, 50); }
  document.addEventListener("pointerup", release, true);
  document.addEventListener("pointercancel", release, true);
})();

// A form part that applies to one choice of a select only (data-shown-by: the select's id,
// data-shown-for: the value): shown for that choice, hidden for the others. Without scripts
// every part shows, each saying what it is for. What was typed in a hidden part is kept.
(function () {
  function sync(select) {
    document.querySelectorAll('[data-shown-by="' + select.id + '"]').forEach(function (part) {
      part.hidden = part.getAttribute("data-shown-for") !== select.value;
    });
  }
  function all() {
    var ids = {};
    document.querySelectorAll("[data-shown-by]").forEach(function (part) { ids[part.getAttribute("data-shown-by")] = true; });
    Object.keys(ids).forEach(function (id) {
      var select = document.getElementById(id);
      if (select) { sync(select); }
    });
  }
  document.addEventListener("DOMContentLoaded", all);
  document.addEventListener("htmx:afterSettle", all);
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.id && document.querySelector('[data-shown-by="' + target.id + '"]')) { sync(target); }
  });
})();
