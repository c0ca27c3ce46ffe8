"""The audit trail of an incident: every recorded change, one row per changed field, as the
audit page shows it and its CSV and JSON exports carry it. Built from the timeline, whose
entries carry old and new values (incidents.services.change_data), and from the kept
revisions of edited notes."""

import json
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch

from incidents.models import AudienceDelivery, TimelineEntry, TimelineRevision

AUDIT_COLUMNS = ["recorded_at", "occurred_at", "actor", "kind", "object", "field", "old", "new", "summary", "entry"]


def subject(entry):
    """What a timeline entry changed, in a few words: a mitigation, the assessment, a clock..."""
    data = entry.data or {}
    if data.get("field") == "mitigation" and "mitigation" in data:
        return f"mitigation {data['mitigation']}" + (f" ({data['title']})" if data.get("title") else "")
    if entry.kind == TimelineEntry.Kind.EXPOSURE:
        return "exposure assessment"
    if data.get("obligation"):
        return f"clock {data['obligation']}" + (f" / {data['stage']}" if data.get("stage") else "")
    if entry.kind == TimelineEntry.Kind.NOTE:
        return "timeline"
    return "incident"


def audit_rows(incident, user):
    """Every recorded change to the incident, oldest first: one row per changed field of each
    timeline entry (the entry's data carries old and new values), plus one row per edit of a
    timeline note (from its kept revisions), and the deliveries of its messages as `user` may
    see them (delivery_rows). Three queries whatever the number of rows."""
    entries = list(
        incident.timeline.select_related("author")
        .prefetch_related(Prefetch("revisions", queryset=TimelineRevision.objects.select_related("replaced_by")))
        .order_by("recorded_at", "id")
    )
    rows = []
    for entry in entries:
        data = entry.data or {}
        base = {
            "recorded_at": entry.recorded_at,
            "occurred_at": entry.occurred_at,
            "actor": entry.author.get_username() if entry.author else "system",
            "kind": entry.kind,
            "object": subject(entry),
            "summary": entry.text,
            "entry": entry.pk,
        }
        revisions = list(entry.revisions.all())
        original = revisions[0].body if revisions else entry.body
        if isinstance(data.get("changes"), list) and data["changes"]:
            prefix = data.get("field", "")
            for change in data["changes"]:
                field = change.get("field", "")
                rows.append(
                    {
                        **base,
                        "field": f"{prefix}.{field}" if prefix else field,
                        "old": change.get("old"),
                        "new": change.get("new"),
                    }
                )
        elif "old" in data or "new" in data:
            rows.append({**base, "field": data.get("field", ""), "old": data.get("old"), "new": data.get("new")})
        elif entry.kind == TimelineEntry.Kind.NOTE:
            rows.append({**base, "summary": original, "field": "note", "old": None, "new": original})
        else:
            rows.append({**base, "field": data.get("field", entry.kind), "old": None, "new": data or None})
        texts = [r.body for r in revisions] + [entry.body]
        for revision, new_text in zip(revisions, texts[1:], strict=True):
            rows.append(
                {
                    "recorded_at": revision.replaced_at,
                    "occurred_at": entry.occurred_at,
                    "actor": revision.replaced_by.get_username() if revision.replaced_by else "system",
                    "kind": "edit",
                    "object": f"timeline entry {entry.pk}",
                    "field": "body",
                    "old": revision.body,
                    "new": new_text,
                    "summary": "Timeline entry edited.",
                    "entry": entry.pk,
                }
            )
    rows += delivery_rows(incident, user)
    rows.sort(key=lambda r: (r["recorded_at"], r["entry"] or 0))
    return rows


def delivery_rows(incident, user):
    """Who received which customer, regulator or partner message, and when: one row per
    recipient of each published communication, with its delivery status (sent, waiting,
    failed with the error). A followed status page's subscriber's address is masked for a
    reader who may not manage the recipient lists (access.can_see_delivery_address): the
    audit trail's readers (the incident's commanders, the security group) are not all allowed
    to see who is on the lists. One query."""
    deliveries = AudienceDelivery.objects.filter(communication__incident=incident).select_related("communication")
    rows = []
    for d in (d.seen_by(user) for d in deliveries.order_by("created_at", "pk")):
        comm = d.communication
        when = d.sent_at or d.created_at
        rows.append(
            {
                "recorded_at": when,
                "occurred_at": when,
                "actor": "system",
                "kind": "delivery",
                "object": f"communication {comm.pk} ({comm.audience})",
                "field": "delivery",
                "old": None,
                "new": {
                    "to": d.address,
                    "name": d.name,
                    "kind": d.kind,
                    "list": d.list_name,
                    "subject": comm.title,
                    "status": d.status,
                    "attempts": d.attempts,
                    "sent_at": d.sent_at,
                    "error": d.last_error,
                    "subscriber": d.subscriber_number or None,
                },
                "summary": f"{comm.get_audience_display()} communication {comm.pk} to {d.address}: {d.status}.",
                "entry": None,
            }
        )
    return rows


def csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder)
    # A spreadsheet would run a cell starting like a formula: make it plain text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def shown(value):
    """A value as the audit page shows it: text as it is, anything else as the JSON export has it."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder)
