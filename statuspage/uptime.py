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

import math
from datetime import datetime, timedelta

from django.utils import timezone

# Down-weight of a minute at each level; levels missing here count as up.
WEIGHTS = {"major_outage": 1.0, "partial_outage": 0.3}
MAINTENANCE_LEVEL = "under_maintenance"
WINDOWS = {"30d": 30, "90d": 90}


def percent(down, counted):
    if counted <= 0:
        return 100.0
    value = 100.0 * (1.0 - down / counted)
    return max(0.0, math.floor(value * 100 + 1e-9) / 100)


def measure(outages, excluded, start, end):
    """(weighted seconds down, seconds counted) between start and end: `outages` are
    (from, to, weight), `excluded` (from, to) maintenance spans."""
    if end <= start:
        return 0.0, 0.0
    outages = [(max(a, start), min(b, end), w) for a, b, w in outages if a < end and b > start]
    excluded = [(max(a, start), min(b, end)) for a, b in excluded if a < end and b > start]
    if not outages and not excluded:
        return 0.0, (end - start).total_seconds()
    points = sorted({start, end, *(t for a, b, _w in outages for t in (a, b)), *(t for span in excluded for t in span)})
    down = counted = 0.0
    for lo, hi in zip(points, points[1:], strict=False):
        if any(a <= lo and hi <= b for a, b in excluded):
            continue
        seconds = (hi - lo).total_seconds()
        counted += seconds
        down += seconds * max((w for a, b, w in outages if a <= lo and hi <= b), default=0.0)
    return down, counted


class Uptime:
    """Per leaf component id: `windows[id]` = {"30d": 99.95, "90d": 99.98} and `days[id]` =
    {date: percent} for the history bar's days (the page's own calendar days, the last one
    ending now)."""

    def __init__(self, state, days=90):
        now = state.now
        zone = timezone.get_default_timezone()
        today = timezone.localtime(now, zone).date()
        first = today - timedelta(days=days - 1)
        day_starts = [
            timezone.make_aware(datetime.combine(first + timedelta(days=n), datetime.min.time()), zone)
            for n in range(days + 1)
        ]
        outages, excluded = self._spans(state)
        self.windows, self.days = {}, {}
        for component in state.leaf_components:
            key = component.service.pk
            mine, off = outages.get(key, []), excluded.get(key, []) + excluded.get(None, [])
            self.windows[component.id] = {
                name: percent(*measure(mine, off, now - timedelta(days=n), now)) for name, n in WINDOWS.items()
            }
            self.days[component.id] = {
                first + timedelta(days=n): percent(*measure(mine, off, day_starts[n], min(day_starts[n + 1], now)))
                for n in range(days)
            }

    @staticmethod
    def _spans(state):
        """Outage spans by service id, and maintenance spans by service id (None: every
        service), up to now."""
        now = state.now
        outages, excluded = {}, {}
        for incident in state.incidents:
            for impact in incident.public_impacts:
                end = min(impact.ended_at or now, now)
                if impact.started_at >= end:
                    continue
                if impact.level == MAINTENANCE_LEVEL:
                    excluded.setdefault(impact.service_id, []).append((impact.started_at, end))
                elif impact.level in WEIGHTS:
                    outages.setdefault(impact.service_id, []).append((impact.started_at, end, WEIGHTS[impact.level]))
        for m in state.maintenances:
            span = (m.scheduled_for, min(m.scheduled_until, now))
            if span[0] >= span[1]:
                continue
            chosen = [s.pk for s in m.services.all()]
            for key in chosen or [None]:
                excluded.setdefault(key, []).append(span)
        return outages, excluded
