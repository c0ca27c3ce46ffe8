"""Celery tasks of the status page. Each takes primary keys and is safe to run twice: the
outbox rows are unique per (subscriber, key), and delivery claims rows before sending.

- after_publication(comm_pk): bring the static export up to date, write one notification row
  per follower of the update, enqueue their delivery in batches.
- deliver(ids): send a batch of notification rows (statuspage/delivery.py).
- export_page(): re-export the static page if its content version is no longer current; asked
  for after every write that may change public content (request_export).
- sweep(): every 30 s (beat): re-enqueue due pending rows, hand back rows of dead workers,
  fan out updates whose after_publication was lost, move maintenance statuses on, and bring
  the static export up to date.
"""

import json
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from incidents import shared_cache
from incidents.models import Communication
from incidents.outbox import chunks

from . import delivery, export, pages, subscriptions
from .delivery import EMAIL_BATCH, WEBHOOK_BATCH  # noqa: F401 - rows per delivery task, named here before
from .models import Maintenance, Notification, Subscriber
from .public import PublicState

log = logging.getLogger(__name__)

CREATE_BATCH = 5000  # notification rows written per transaction
INCIDENT_UPDATES_IN_PAYLOAD = 10  # the newest updates up to this one; the rest are at the shortlink
# Updates published this long ago with no notification rows lost their after_publication.
FANOUT_RESCUE = (timedelta(minutes=2), timedelta(minutes=30))

Status = Notification.Status

# Queueing and the sweep's share of delivery are the outbox's (incidents/outbox.py).
enqueue = delivery.OUTBOX.enqueue  # {subscriber kind: [notification ids]}, in batches, after commit
release_stuck = delivery.OUTBOX.release_stuck
requeue_due = delivery.OUTBOX.requeue_due


# Publication -------------------------------------------------------------------------------


@shared_task(acks_late=True)
def after_publication(comm_pk):
    """A status-page update was published: bring the static export up to date, notify followers.
    Returns the number of notification rows queued for delivery."""
    comm = Communication.objects.select_related("incident").filter(pk=comm_pk).first()
    if not _is_public_update(comm):
        return 0
    export_static_page()
    return fan_out(comm_pk)


def _is_public_update(comm):
    return (
        comm is not None
        and comm.audience == Communication.Audience.STATUS_PAGE
        and comm.status == Communication.Status.PUBLISHED
        and not comm.incident.confidential  # never trust the signal alone
    )


# Set while an export check is queued and not yet started: however many writes commit
# meanwhile, one check follows them all (it starts after they committed, so it sees them). Its
# expiry only matters when the queued check was lost; the sweep checks anyway.
EXPORT_PENDING = "statuspage:export-check-pending"
EXPORT_PENDING_SECONDS = 60


def request_export():
    """After the current transaction commits, have the static export checked against the
    content version (and rebuilt if it changed). Called after every write that may change
    what the public sees; cheap when it did not."""
    if settings.STATUSPAGE_EXPORT_DIR:
        transaction.on_commit(_queue_export_check)


def _queue_export_check():
    # With the shared cache down every write queues its own check (each is cheap when the
    # export is current); a write must never fail because Redis is.
    if not shared_cache.run(cache.add, EXPORT_PENDING, 1, EXPORT_PENDING_SECONDS, default=True):
        return  # a check is queued and has not started: it will see this change
    try:
        export_page.delay()
    except Exception:  # the broker is down: the write stands, the sweep exports within 30 s
        shared_cache.run(cache.delete, EXPORT_PENDING)
        log.warning("Could not queue a status page export check; the sweep will do it.", exc_info=True)


@shared_task(acks_late=True)
def export_page():
    """Re-export the static page if what the public sees changed since the last export. Safe
    to run twice or at once: exports are serialised and each checks the version first."""
    # Before reading: a write committing from now on queues another check.
    shared_cache.run(cache.delete, EXPORT_PENDING)
    return export_static_page()


def export_static_page():
    """Bring the export in STATUSPAGE_EXPORT_DIR (when set) up to date with the current content
    version. Returns True when it is (written now or already current). A failed export is
    logged, not raised: subscribers are still told, and the next check (the sweep, every 30 s)
    exports again."""
    target = settings.STATUSPAGE_EXPORT_DIR
    if not target:
        return False
    try:
        export.export_if_changed(target)
    except Exception:
        log.exception("Exporting the status page to %s failed", target)
        return False
    return True


def build_payload(comm_pk, state=None):
    """The notification payload for one published update, built once from PublicState (so
    internal services and confidential incidents cannot get in), plus who it concerns.
    Returns (key, payload, service_ids, group_names), or None if the update is not public."""
    state = state or PublicState()
    incident = next((i for i in state.incidents if any(u.pk == comm_pk for u in i.updates)), None)
    if incident is None:
        return None
    data = state.incident_json(incident)
    position = next(n for n, u in enumerate(incident.updates) if u.pk == comm_pk)
    comm = incident.updates[position]
    # Newest first, starting at this update: a late delivery never shows later updates.
    data["incident_updates"] = data["incident_updates"][position : position + INCIDENT_UPDATES_IN_PAYLOAD]
    update = data["incident_updates"][0]
    translations = {t.language: t.body for t in comm.translations.all() if t.language != comm.language}
    slugs = {item["service"] for item in comm.affected}
    components = [c for c in state.leaf_components if c.service.slug in slugs]
    components += [state.by_service[i.service_id] for i in incident.public_impacts if i.service_id in state.by_service]
    service_ids = {c.service.pk for c in components}
    group_names = {c.service.group for c in components if c.service.group}
    payload = {
        "type": "update",
        "communication": comm.pk,  # internal: lets delivery drop it if the incident turns confidential
        "page": state.page(),
        "status": state.status(),
        "incident": data,
        "translations": translations,  # the update's body in other languages, for e-mail
        "names": dict(incident.public_titles or {}),  # the public title in other languages, for e-mail
    }
    return update_key(update["id"], state.status_page), payload, service_ids, group_names


def update_key(update_id, page):
    """The notification key of an update on a page: the default page's as before there were
    several pages; another page's names it (its payload differs: page name, url, components)."""
    return f"update:{update_id}" if page.is_default else f"update:{update_id}:p{page.pk}"


def page_subscribers(page):
    """The page's subscribers (the default page's include those from before there were pages)."""
    if page.is_default:
        return Subscriber.objects.filter(Q(page=page) | Q(page__isnull=True))
    return Subscriber.objects.filter(page=page)


def followers(service_ids, group_names, page=None):
    """Ids and kinds of the page's active subscribers who follow any of these services or
    groups: all components, a chosen component, or a group matched by name now (so a group
    includes components added to it after subscribing). On a private page, only those that
    may still see it (the rule of incidents.access.can_view_status_page: their access link not
    revoked, or their user still staff or in an allowed group), checked now for all of them at
    once (subscriptions.allowed_to_see_their_pages)."""
    page = page or pages.default_page()
    active = page_subscribers(page).filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True)
    found = _all_followers(active, service_ids, group_names)
    if page.is_private and found:
        subscribers = list(Subscriber.objects.filter(pk__in=found).select_related("user", "access_link"))
        for sub in subscribers:
            sub.page = page  # the page the update is on (a default page's old subscribers have none)
        allowed = subscriptions.allowed_to_see_their_pages(subscribers)
        found = {pk: kind for pk, kind in found.items() if pk in allowed}
    return found


def _all_followers(active, service_ids, group_names):
    found = dict(active.filter(all_components=True).values_list("pk", "kind").iterator(chunk_size=CREATE_BATCH))
    if service_ids:
        found.update(
            active.filter(all_components=False, components__in=service_ids).values_list("pk", "kind").distinct()
        )
    if group_names:
        # Matched in Python: JSON containment differs between PostgreSQL and SQLite.
        chose_groups = active.filter(all_components=False).exclude(groups=[])
        for pk, kind, groups in chose_groups.values_list("pk", "kind", "groups"):
            if set(groups or ()) & group_names:
                found[pk] = kind
    return found


def fan_out(comm_pk):
    """Notify the followers of the update on every page that shows it (a page showing any of
    its components); returns the number of rows queued."""
    queued = 0
    shown = False
    for page in pages.all_pages():
        built = build_payload(comm_pk, PublicState(page=page))
        if built is None:
            continue
        shown = True
        queued += _fan_out_on_page(page, *built)
    if not shown:
        log.warning("Update %s is not on any status page (yet); nobody notified.", comm_pk)
    return queued


def _fan_out_on_page(page, key, payload, service_ids, group_names):
    found = followers(service_ids, group_names, page)
    payload_json = json.dumps(payload, separators=(",", ":"))
    queued = 0
    for batch in chunks(sorted(found), CREATE_BATCH):
        with transaction.atomic():
            written = _insert_notifications(batch, key, payload_json)
            if len(written) < len(batch):
                # A re-run: rows written before may still wait for a task that never came.
                pending = Notification.objects.filter(key=key, subscriber_id__in=batch, status=Status.PENDING)
                written = list(pending.values_list("pk", "subscriber_id"))
            by_kind = {}
            for pk, subscriber_pk in written:
                by_kind.setdefault(found[subscriber_pk], []).append(pk)
            enqueue(by_kind)
            queued += sum(len(ids) for ids in by_kind.values())
    return queued


def _insert_notifications(subscriber_ids, key, payload_json):
    """One pending row per subscriber, skipping those who already have one for this key (a
    re-run writes nothing new); returns (id, subscriber id) of the rows written.

    The payload travels once per statement and the database copies it: bulk_create would
    serialise it, and on PostgreSQL quote it, once per row, which was most of the time it
    took to notify 100,000 subscribers."""
    qn = connection.ops.quote_name
    column = {f.name: qn(f.column) for f in Notification._meta.concrete_fields}
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    json_cast = "::jsonb" if connection.vendor == "postgresql" else ""
    marks = ", ".join(["%s"] * len(subscriber_ids))
    names = ("subscriber", "key", "payload", "status", "attempts", "last_error", "created_at", "next_attempt_at")
    columns = ", ".join(column[name] for name in names)
    sql = (
        f"INSERT INTO {qn(Notification._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model, values are parameters
        f"SELECT {qn('id')}, %s, %s{json_cast}, %s, 0, '', %s, %s FROM {qn(Subscriber._meta.db_table)} "
        f"WHERE {qn('id')} IN ({marks}) "
        f"ON CONFLICT ({column['subscriber']}, {column['key']}) DO NOTHING "
        f"RETURNING {qn('id')}, {column['subscriber']}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, payload_json, Status.PENDING, now, now, *subscriber_ids])
        return cursor.fetchall()


# Delivery ----------------------------------------------------------------------------------


@shared_task(acks_late=True)
def deliver(notification_ids):
    """Send the given notifications (those still pending and due); schedule retries."""
    return delivery.OUTBOX.retry_later(delivery.deliver(notification_ids))


# Sweep -------------------------------------------------------------------------------------


@shared_task
def sweep():
    """Beat, every 30 s. Nothing here depends on having run before, or on running alone."""
    now = timezone.now()
    return {
        "stuck": release_stuck(now),
        "requeued": requeue_due(now),
        "rescued": rescue_fan_out(now),
        "maintenances": move_maintenances(now),
        "exported": export_static_page(),  # after moving maintenance on: that changes the page
    }


def rescue_fan_out(now):
    """A status-page update published a while ago that its first follower never got a row
    for: its after_publication was lost (the broker went down at that moment). Fan it out
    again; rows that exist are left alone. The probe uses the unique (subscriber, key) index,
    so the sweep never scans the notification table."""
    newest, oldest = FANOUT_RESCUE
    candidates = list(
        Communication.objects.filter(
            audience=Communication.Audience.STATUS_PAGE,
            status=Communication.Status.PUBLISHED,
            incident__confidential=False,
            published_at__lte=now - newest,
            published_at__gte=now - oldest,
        ).values_list("pk", "published_at")
    )
    if not candidates:
        return 0
    rescued = 0
    lost = set()
    for page in pages.all_pages():
        state = PublicState(now=now, page=page)
        for pk, published_at in candidates:
            built = build_payload(pk, state)
            if built is None or pk in lost:
                continue
            key, _, service_ids, group_names = built
            probe = _first_follower(service_ids, group_names, published_at, page)
            if probe is not None and not Notification.objects.filter(subscriber_id=probe, key=key).exists():
                lost.add(pk)
    for pk in sorted(lost):
        log.warning("Update %s was never fanned out; doing it now.", pk)
        rescued += bool(fan_out(pk))
    return rescued


def _first_follower(service_ids, group_names, published_at, page):
    """The page's lowest-id subscriber who was active when the update went out and follows it."""
    active = (
        page_subscribers(page)
        .filter(confirmed_at__lte=published_at, unsubscribed_at__isnull=True, created_at__lte=published_at)
        .order_by("pk")
    )
    candidates = [active.filter(all_components=True).values_list("pk", flat=True).first()]
    if service_ids:
        candidates.append(
            active.filter(all_components=False, components__in=service_ids).values_list("pk", flat=True).first()
        )
    if group_names:
        for pk, groups in active.filter(all_components=False).exclude(groups=[]).values_list("pk", "groups"):
            if set(groups or ()) & group_names:
                candidates.append(pk)
                break
    found = [pk for pk in candidates if pk is not None]
    return min(found) if found else None


def move_maintenances(now):
    """Scheduled -> in progress -> verifying -> completed, on time, without anyone clicking.
    The conditional UPDATE keeps two sweeps from both recording a change."""
    moved = 0
    for m in Maintenance.objects.filter(cancelled=False).exclude(status=Maintenance.Status.COMPLETED):
        new = m.status_at(now)
        if new != m.status:
            moved += Maintenance.objects.filter(pk=m.pk, status=m.status).update(status=new, updated_at=now)
    return moved
