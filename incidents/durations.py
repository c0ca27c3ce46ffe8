"""How long something took, for people: "2 d 3 h", "5 h 07 min", "12 min". Used by the
timeline's texts, the review's metrics and the clocks' time left."""


def duration(delta):
    """'2 d 3 h', '5 h 07 min', '12 min' for a positive timedelta."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def shown_duration(delta, missing="—"):
    """The duration, or `missing` where there is none to measure (None)."""
    return duration(delta) if delta is not None else missing
