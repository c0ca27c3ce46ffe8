"""Uptime of each public component over the last 30 and 90 days, and of each day on its
history bar, computed from the same public history as the bars: the impacts of the incidents
the page shows (statuspage.public.PublicState) and the maintenance windows.

The rule, Atlassian Statuspage's (docs/statuspage.md, "Uptime"):

- a minute of major outage is a minute down;
- a minute of partial outage counts as 0.3 of a minute down (it breaks the component for some
  users, not all);
- degraded performance counts as up (slow, but working);
- minutes under maintenance (a window on the component, or on the whole platform, or an impact
  at the level under_maintenance) are left out of the count altogether: neither up nor down.

uptime = 100 × (1 − down minutes ÷ counted minutes), where counted minutes are the window's
minutes less those under maintenance; rounded down to two decimals, so any downtime at all
shows below 100. Where several impacts overlap, the worst one counts (never the sum). An
impact still open runs until now. Computed inside the page's cached build from what it already
loaded: no query of its own.
"""

import bisect
import math
from datetime import datetime, timedelta

from django.utils import timezone

# Down-weight of a minute at each level; levels missing here count as up.
WEIGHTS = {"major_outage": 1.0, "partial_outage": 0.3}
MAINTENANCE_LEVEL = "under_maintenance"
WINDOWS = {"30d": 30, "90d": 90}
DAY = 86400.0


def percent(down, counted):
    if counted <= 0:
        return 100.0
    value = 100.0 * (1.0 - down / counted)
    return max(0.0, math.floor(value * 100 + 1e-9) / 100)


def timeline(outages, excluded, start, end):
    """The spans between start and end (POSIX seconds) that are not plain up time, in order and
    without overlap: (from, to, weight) where the component was down at that weight (the worst
    of the outages covering it), (from, to, None) where it was under maintenance."""
    outages = [(max(a, start), min(b, end), w) for a, b, w in outages if a < end and b > start]
    excluded = [(max(a, start), min(b, end)) for a, b in excluded if a < end and b > start]
    if not outages and not excluded:
        return []
    points = sorted({*(t for a, b, _w in outages for t in (a, b)), *(t for span in excluded for t in span)})
    spans = []
    for lo, hi in zip(points, points[1:], strict=False):
        if any(a <= lo and hi <= b for a, b in excluded):
            spans.append((lo, hi, None))
            continue
        weight = max((w for a, b, w in outages if a <= lo and hi <= b), default=0.0)
        if weight > 0:
            spans.append((lo, hi, weight))
    return spans


def measure(spans, start, end):
    """(weighted seconds down, seconds counted) between start and end."""
    down = excluded = 0.0
    for a, b, weight in spans:
        if b <= start or a >= end:
            continue
        overlap = min(b, end) - max(a, start)
        if weight is None:
            excluded += overlap
        else:
            down += weight * overlap
    return down, (end - start) - excluded


def by_day(spans, bounds):
    """The uptime of each day between consecutive `bounds`: each span is shared out among the
    few days it touches, rather than every day scanning every span."""
    days = len(bounds) - 1
    down, excluded = [0.0] * days, [0.0] * days
    for a, b, weight in spans:
        n = max(0, bisect.bisect_right(bounds, a) - 1)
        while n < days and bounds[n] < b:
            overlap = min(b, bounds[n + 1]) - max(a, bounds[n])
            if overlap > 0:
                if weight is None:
                    excluded[n] += overlap
                else:
                    down[n] += weight * overlap
            n += 1
    return [percent(down[n], bounds[n + 1] - bounds[n] - excluded[n]) for n in range(days)]


class Uptime:
    """Per leaf component id: `windows[id]` = {"30d": 99.95, "90d": 99.98} and `days[id]` =
    {date: percent} for the history bar's days (the page's own calendar days, the last one
    ending now)."""

    def __init__(self, state, days=90):
        now = state.now.timestamp()
        zone = timezone.get_default_timezone()
        today = timezone.localtime(state.now, zone).date()
        dates = [today - timedelta(days=days - 1 - n) for n in range(days)]
        bounds = [timezone.make_aware(datetime.combine(d, datetime.min.time()), zone).timestamp() for d in dates] + [
            now
        ]
        earliest = min(bounds[0], now - max(WINDOWS.values()) * DAY)
        outages, excluded = self._spans(state)
        everywhere = excluded.get(None, [])
        self.windows, self.days = {}, {}
        for component in state.leaf_components:
            key = component.service.pk
            spans = timeline(outages.get(key, []), excluded.get(key, []) + everywhere, earliest, now)
            if not spans:
                self.windows[component.id] = dict.fromkeys(WINDOWS, 100.0)
                self.days[component.id] = dict.fromkeys(dates, 100.0)
                continue
            self.windows[component.id] = {
                name: percent(*measure(spans, now - n * DAY, now)) for name, n in WINDOWS.items()
            }
            self.days[component.id] = dict(zip(dates, by_day(spans, bounds), strict=True))

    @staticmethod
    def _spans(state):
        """Outage spans (from, to, weight) by service id, and maintenance spans (from, to) by
        service id (None: every service), in POSIX seconds, up to now."""
        now = state.now
        outages, excluded = {}, {}
        for incident in state.incidents:
            for impact in incident.public_impacts:
                end = min(impact.ended_at or now, now)
                if impact.started_at >= end:
                    continue
                span = (impact.started_at.timestamp(), end.timestamp())
                if impact.level == MAINTENANCE_LEVEL:
                    excluded.setdefault(impact.service_id, []).append(span)
                elif impact.level in WEIGHTS:
                    outages.setdefault(impact.service_id, []).append((*span, WEIGHTS[impact.level]))
        for m in state.maintenances:
            end = min(m.scheduled_until, now)
            if m.scheduled_for >= end:
                continue
            span = (m.scheduled_for.timestamp(), end.timestamp())
            for key in [s.pk for s in m.services.all()] or [None]:
                excluded.setdefault(key, []).append(span)
        return outages, excluded
