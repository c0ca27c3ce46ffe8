"""Celery tasks of alerts. Each takes primary keys and is safe to run twice (or twice at once):
applying a delivery again changes nothing (incidents.alerts.services)."""

from celery import shared_task

from incidents.alerts import services as alerts

# Routing retries only what is transient (the database or the broker away a moment).
ROUTING_RETRIES = dict(
    autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, retry_backoff_max=300, max_retries=8
)


@shared_task(name="incidents.alerts.process_delivery", **ROUTING_RETRIES)
def process_delivery(delivery_pk):
    """Route the alerts of one stored delivery: open, attach, record, or leave for triage."""
    return alerts.process_delivery(delivery_pk)


@shared_task(name="incidents.alerts.route_source", **ROUTING_RETRIES)
def route_source(source_pk):
    """Route every delivery of one source not routed yet, oldest first (what a burst shares)."""
    return alerts.route_source(source_pk)


@shared_task(name="incidents.alerts.sweep")
def sweep():
    """Beat, every 30 s: route deliveries whose task the broker lost."""
    done = 0
    for pk in alerts.pending_deliveries():
        done += alerts.process_delivery(pk)
    return done
