"""What the security wing does when the core signals (loaded by incidents.apps)."""

from django.core.exceptions import ValidationError
from django.dispatch import receiver

from incidents import access
from incidents.models import Communication, RegulatoryClock, TimelineEntry
from incidents.security import clocks
from incidents.services import record_event
from incidents.signals import communication_moved


@receiver(communication_moved, dispatch_uid="security.notification_published")
def record_published_notification(sender, communication, old, new, by, **kwargs):
    """A regulator message marked as the notification for a stage of a legal clock was
    published: record the submission on that stage, in the publishing transaction, through
    the same service as recording it by hand (logged on the timeline). The publisher records
    it when they may; else whoever marked the message (the scheduler publishes on its own).
    When nobody may, or the stage was submitted meanwhile, the timeline says so instead."""
    comm = communication
    if new != Communication.Status.PUBLISHED or not comm.notifies_clock_id or not comm.notifies_stage:
        return
    clock = RegulatoryClock.objects.select_related("incident", "obligation").filter(pk=comm.notifies_clock_id).first()
    if clock is None or clock.incident_id != comm.incident_id:
        return
    people = [who for who in (by, comm.notifies_marked_by) if who is not None]
    actor = next((who for who in people if access.can_manage_security(who, clock.incident)), None)
    problem = "" if actor else "nobody who published or marked it may record submissions"
    if actor is not None:
        try:
            clocks.record_submission(
                clock,
                comm.notifies_stage,
                actor,
                submitted_at=comm.published_at,
                communication=comm,
                notes=f"Recorded on publishing regulator communication {comm.pk}.",
            )
        except ValidationError as exc:
            problem = " ".join(exc.messages)
    if problem:
        record_event(
            clock.incident,
            by,
            TimelineEntry.Kind.REGULATORY,
            f"Regulator communication {comm.pk} was published as the {comm.notifies_stage} notification for "
            f"{clock.obligation.regime}, but the submission was not recorded ({problem}): record it by hand.",
            {"field": "submission", "obligation": clock.obligation.key, "stage": comm.notifies_stage},
        )
