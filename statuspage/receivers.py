"""React to the incident core: a published update re-exports the static page and notifies
subscribers (both through Celery, enqueued after commit); any change to what the public page
is built from makes this process forget its content version at once (other processes notice
within STATUSPAGE_VERSION_SECONDS)."""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from incidents.signals import communication_published, incident_changed

from .models import Maintenance
from .views import WATCHED_MODELS, recent_version

for _model in WATCHED_MODELS:
    post_save.connect(recent_version.forget, sender=_model, dispatch_uid=f"statuspage-version-{_model.__name__}")
    post_delete.connect(recent_version.forget, sender=_model, dispatch_uid=f"statuspage-version-d-{_model.__name__}")
m2m_changed.connect(recent_version.forget, sender=Maintenance.services.through, dispatch_uid="statuspage-version-m2m")
communication_published.connect(recent_version.forget, dispatch_uid="statuspage-version-published")
incident_changed.connect(recent_version.forget, dispatch_uid="statuspage-version-incident")


@receiver(communication_published)
def on_communication_published(sender, communication, **kwargs):
    if communication.audience != "status_page" or communication.incident.confidential:
        return
    from . import tasks

    transaction.on_commit(lambda: tasks.after_publication.delay(communication.pk))
