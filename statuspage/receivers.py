"""React to the incident core: a published update re-exports the static page and notifies
subscribers (both through Celery, enqueued after commit)."""

from django.db import transaction
from django.dispatch import receiver

from incidents.signals import communication_published


@receiver(communication_published)
def on_communication_published(sender, communication, **kwargs):
    if communication.audience != "status_page" or communication.incident.confidential:
        return
    from . import tasks

    transaction.on_commit(lambda: tasks.after_publication.delay(communication.pk))
