"""The three payload formats an alert source accepts (docs/alerts.md), turned into one shape:

    {"fingerprint", "status": "firing"|"resolved", "title", "labels": {str: str},
     "annotations": {str: str}, "url", "starts_at", "ends_at"}

Everything in a payload is untrusted: sizes are bounded, types checked, links kept only when
they are http(s). A payload that breaks a rule raises PayloadError naming the field at fault,
and nothing of it is stored.
"""

import hashlib
import json
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

MAX_ALERTS = 500
MAX_LABELS = 64
MAX_KEY = 100
MAX_VALUE = 2000
MAX_FINGERPRINT = 200
MAX_TITLE = 300
# Alertmanager writes this for "no end yet".
ZERO_TIME = "0001-01-01T00:00:00Z"


class PayloadError(Exception):
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


def _text(value, field, limit, required=False):
    if value is None or value == "":
        if required:
            raise PayloadError(field, "This field is required.")
        return ""
    if not isinstance(value, str):
        raise PayloadError(field, "Must be a string.")
    if "\x00" in value:
        raise PayloadError(field, "Must not contain a NUL character.")
    if len(value) > limit:
        raise PayloadError(field, f"At most {limit} characters.")
    return value


def _mapping(value, field):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(field, "Must be an object of string values.")
    if len(value) > MAX_LABELS:
        raise PayloadError(field, f"At most {MAX_LABELS} entries.")
    out = {}
    for key, item in value.items():
        _text(key, f"{field}.{key[:40]}", MAX_KEY, required=True)
        if not isinstance(item, str):
            raise PayloadError(f"{field}.{key[:40]}", "Must be a string.")
        out[key] = _text(item, f"{field}.{key[:40]}", MAX_VALUE)
    return out


def _time(value, field):
    if value in (None, "", ZERO_TIME):
        return None
    if not isinstance(value, str):
        raise PayloadError(field, "Must be an RFC 3339 date-time.")
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise PayloadError(field, "Must be an RFC 3339 date-time, e.g. 2026-03-02T09:00:00Z.")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if not 1900 <= parsed.year <= 2999:
        raise PayloadError(field, "Must be a date between the years 1900 and 2999.")
    return parsed.isoformat()


def _link(value, field):
    url = _text(value, field, 2000)
    return url if url.lower().startswith(("https://", "http://")) else ""


def _status(value, field):
    if value not in ("firing", "resolved"):
        raise PayloadError(field, 'Must be "firing" or "resolved".')
    return value


def _labels_fingerprint(labels):
    text = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _title(labels, annotations):
    return (annotations.get("summary") or labels.get("alertname") or annotations.get("title") or "Alert")[:MAX_TITLE]


def _alert_list(payload, field="alerts"):
    alerts = payload.get(field)
    if not isinstance(alerts, list):
        raise PayloadError(field, "Must be a list of alerts.")
    if not alerts:
        raise PayloadError(field, "Contains no alert.")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(field, f"At most {MAX_ALERTS} alerts per request.")
    for i, item in enumerate(alerts):
        if not isinstance(item, dict):
            raise PayloadError(f"{field}[{i}]", "Must be an object.")
    return alerts


def _prometheus_style(payload):
    """Alertmanager's webhook (version 4) and Grafana's: the same alert objects."""
    out = []
    for i, item in enumerate(_alert_list(payload)):
        at = f"alerts[{i}]"
        labels = _mapping(item.get("labels"), f"{at}.labels")
        annotations = _mapping(item.get("annotations"), f"{at}.annotations")
        fingerprint = _text(item.get("fingerprint"), f"{at}.fingerprint", MAX_FINGERPRINT)
        out.append(
            {
                "fingerprint": fingerprint or _labels_fingerprint(labels),
                "status": _status(item.get("status"), f"{at}.status"),
                "title": _title(labels, annotations),
                "labels": labels,
                "annotations": annotations,
                "url": _link(item.get("generatorURL"), f"{at}.generatorURL"),
                "starts_at": _time(item.get("startsAt"), f"{at}.startsAt"),
                "ends_at": _time(item.get("endsAt"), f"{at}.endsAt"),
            }
        )
    return out


def parse_alertmanager(payload):
    version = payload.get("version")
    if version != "4":
        raise PayloadError("version", 'Alertmanager webhook payloads of version "4" are understood.')
    return _prometheus_style(payload)


def parse_grafana(payload):
    return _prometheus_style(payload)


def parse_generic(payload):
    """{"alerts": [...]} or one alert object (docs/alerts.md, Generic JSON)."""
    items = _alert_list(payload) if "alerts" in payload else [payload]
    prefix = "alerts[{}]." if "alerts" in payload else ""
    out = []
    for i, item in enumerate(items):
        at = prefix.format(i)
        labels = _mapping(item.get("labels"), f"{at}labels")
        annotations = _mapping(item.get("annotations"), f"{at}annotations")
        description = _text(item.get("description"), f"{at}description", MAX_VALUE)
        if description:
            annotations.setdefault("description", description)
        out.append(
            {
                "fingerprint": _text(item.get("dedup_key"), f"{at}dedup_key", MAX_FINGERPRINT, required=True),
                "status": _status(item.get("status", "firing"), f"{at}status"),
                "title": _text(item.get("title"), f"{at}title", MAX_TITLE, required=True),
                "labels": labels,
                "annotations": annotations,
                "url": _link(item.get("url"), f"{at}url"),
                "starts_at": _time(item.get("started_at"), f"{at}started_at"),
                "ends_at": _time(item.get("ended_at"), f"{at}ended_at"),
            }
        )
    return out


PARSERS = {"alertmanager": parse_alertmanager, "grafana": parse_grafana, "generic": parse_generic}


def parse(kind, body):
    """The alerts of a raw request body sent by a source of this kind."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("body", "Not valid JSON.") from None
    if not isinstance(payload, dict):
        raise PayloadError("body", "Must be a JSON object.")
    return PARSERS[kind](payload)


def as_datetime(value):
    return datetime.fromisoformat(value) if value else None
