"""React to the incident core: a published update notifies subscribers (through Celery,
enqueued after commit); any change to what the public page is built from makes this process
forget its content version at once (other processes notice within STATUSPAGE_VERSION_SECONDS)
and asks for a check of the static export after commit. Whether the change was public at all
is the content version's to say (the check re-exports only if it changed), so no list of
"public" changes is kept here: only the changes that cannot touch what the page is built
from (a private note, a role, a runbook step...) are let pass without any work, because they
are most of the writes on an incident's worst day and each would cost every reader's process a
fresh digest. A change kind not named there is treated as possibly public."""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from incidents.signals import communication_published, incident_changed

from . import pages
from .models import Maintenance, StatusPage
from .views import WATCHED_MODELS, recent_version

# incident_changed kinds that touch none of WATCHED_MODELS' public fields: what they write is the
# timeline, roles, runbook runs, reminders, reviews, clocks, the exposure assessment, alerts. (A
# service that also saves a watched model still says so through post_save.)
PRIVATE_CHANGES = frozenset(
    {
        "timeline",
        "roles",
        "runbooks",
        "reminders",
        "review",
        "action_items",
        "clocks",
        "exposure",
        "acknowledged",
        "cadence",
        "alerts",
    }
)


def public_content_may_have_changed(**kwargs):
    if kwargs.get("action", "post_").startswith("pre_"):
        return  # m2m_changed: the post_ action follows
    if kwargs.get("change") in PRIVATE_CHANGES:
        return
    from . import tasks

    recent_version.forget()
    pages.recent_pages.forget()
    tasks.request_export()


for _model in WATCHED_MODELS:
    post_save.connect(
        public_content_may_have_changed, sender=_model, dispatch_uid=f"statuspage-version-{_model.__name__}"
    )
    post_delete.connect(
        public_content_may_have_changed, sender=_model, dispatch_uid=f"statuspage-version-d-{_model.__name__}"
    )
for _through in (Maintenance.services.through, StatusPage.services.through, StatusPage.allowed_groups.through):
    m2m_changed.connect(
        public_content_may_have_changed, sender=_through, dispatch_uid=f"statuspage-version-m2m-{_through.__name__}"
    )
communication_published.connect(public_content_may_have_changed, dispatch_uid="statuspage-version-published")
incident_changed.connect(public_content_may_have_changed, dispatch_uid="statuspage-version-incident")


@receiver(communication_published)
def on_communication_published(sender, communication, **kwargs):
    if communication.audience != "status_page" or communication.incident.confidential:
        return
    from . import tasks

    transaction.on_commit(lambda: tasks.after_publication.delay(communication.pk))
