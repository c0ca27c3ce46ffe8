"""Regulatory notification clocks: deadline arithmetic and the operations on clocks.

Deadlines are defaults to check with counsel, not legal advice (the UI and docs say so).

A stage's due time is `base + amount unit`, where base is the clock's start for stage
"after": "start", or, for a stage after an earlier one, the time that earlier stage was
submitted (or, until then, its due time). Business days skip Saturdays, Sundays and the
dates in settings.WARROOM_HOLIDAYS. A `cap_hours` limit counts from the incident's awareness
time (DORA: 4 h from classification but at most 24 h from awareness). A stage with no amount
("without undue delay", "immediately") has no due time: it is due now, with the team's own
target shown beside it.
"""

import calendar
import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop

from incidents import access
from incidents.models import Obligation, RegulatoryClock, Submission, TimelineEntry
from incidents.services import notify_changed, record_event
from incidents.timeline_text import Line, phrase

DISCLAIMER = gettext_lazy(
    "Deadlines shown are defaults taken from public legal texts, to be checked with counsel; they are not legal advice."
)
# The seeded obligation catalog's words (migration 0006), so the catalog has them: pages show a
# regime, recipient, start event, stage name or note in the reader's language when it is one of these
# ({% translate %} of the value); what an admin writes instead is shown as written.
CATALOG_TEXTS = (
    gettext_noop("EU GDPR Art. 33"),
    gettext_noop("Supervisory authority"),
    gettext_noop("Controller becomes aware of a personal-data breach"),
    gettext_noop("Notification"),
    gettext_noop("EU GDPR Art. 34"),
    gettext_noop("Affected people"),
    gettext_noop("Breach likely to result in a high risk to people"),
    gettext_noop("Notice to people"),
    gettext_noop("UK GDPR / ICO"),
    gettext_noop("ICO"),
    gettext_noop("Awareness of the breach"),
    gettext_noop("EU NIS2 Art. 23"),
    gettext_noop("CSIRT or competent authority"),
    gettext_noop("Awareness of a significant incident"),
    gettext_noop("Early warning"),
    gettext_noop("Incident notification"),
    gettext_noop("Final report"),
    gettext_noop("EU DORA Art. 19 (Del. Reg. 2025/301 Art. 5)"),
    gettext_noop("Competent authority"),
    gettext_noop("Classification of the incident as major (capped by awareness)"),
    gettext_noop("Initial notification"),
    gettext_noop("Intermediate report"),
    gettext_noop("US SEC Form 8-K Item 1.05"),
    gettext_noop("Public filing (SEC)"),
    gettext_noop("Determination that the incident is material"),
    gettext_noop("Form 8-K filing"),
    gettext_noop("US HIPAA 45 CFR 164.404-408"),
    gettext_noop("Individuals; HHS; media if over 500 in a state"),
    gettext_noop("Discovery of the breach"),
    gettext_noop("US CIRCIA (proposed rule, not in force)"),
    gettext_noop("CISA"),
    gettext_noop("Reasonable belief that a covered incident occurred"),
    gettext_noop("Covered incident report"),
    gettext_noop("China PIPL Art. 57"),
    gettext_noop("Authorities with personal-information duties; individuals"),
    gettext_noop("Personal information leaked, altered or lost (or may be)"),
    gettext_noop("China cybersecurity incident reporting measures — critical information infrastructure"),
    gettext_noop("Protection department and public security"),
    gettext_noop("Operator discovers the incident"),
    gettext_noop("Report"),
    gettext_noop("China cybersecurity incident reporting measures — other network operators"),
    gettext_noop("Provincial cyberspace administration"),
    gettext_noop("Singapore PDPA s26D"),
    gettext_noop("PDPC; affected individuals"),
    gettext_noop("Assessment that the breach is notifiable"),
    gettext_noop("Australia Notifiable Data Breaches"),
    gettext_noop("OAIC; individuals"),
    gettext_noop("Awareness of grounds to suspect an eligible breach"),
    gettext_noop("Assessment"),
    gettext_noop("Internal"),
    gettext_noop("Canada PIPEDA s10.1"),
    gettext_noop("Privacy Commissioner; individuals"),
    gettext_noop("Determination of a real risk of significant harm"),
    gettext_noop("India CERT-In Directions 2022"),
    gettext_noop("CERT-In"),
    gettext_noop("Noticing the incident"),
    # The seeded obligations' notes, shown under a clock.
    gettext_noop(
        '72 h "without undue delay, where feasible"; a late notice must give reasons; information may follow in phases.'
    ),
    gettext_noop(
        "Without undue delay. Exemptions: encrypted data, later mitigation, "
        "disproportionate effort (public notice instead)."
    ),
    gettext_noop("PECR telecom providers: 24 h."),
    gettext_noop("Intermediate report on request; a progress report if still ongoing at the final report's date."),
    gettext_noop("Financial entities only. Initial: 4 h from classification as major and at most 24 h from awareness."),
    gettext_noop("Materiality must be determined without unreasonable delay after discovery."),
    gettext_noop("HHS for fewer than 500 people: within 60 days of the end of the calendar year."),
    gettext_noop("Proposed rule, not in force. Ransom payments: 24 h."),
    gettext_noop("Immediately (no hour figure). Individual notice may be skipped if harm is avoided, unless ordered."),
    gettext_noop('In force 2025-11-01. Applies at "relatively major" grade or above; details may follow.'),
    gettext_noop('"Relatively major" grade or above, e.g. personal information of over 1 million people leaked.'),
    gettext_noop("Notifiable if significant harm is likely or 500 or more people are affected."),
    gettext_noop("Assess a suspected breach within 30 days; then notify as soon as practicable."),
    gettext_noop("As soon as feasible (no hour figure). Every breach must be recorded."),
    gettext_noop("Logs must be kept for 180 days."),
)

UNITS = ("hours", "days", "business_days", "months")


def _holidays():
    return {datetime.date.fromisoformat(d) for d in getattr(settings, "WARROOM_HOLIDAYS", [])}


def add_business_days(start, days, holidays=frozenset()):
    """`days` working days after `start`, keeping its time of day; weekends and holidays skipped."""
    current = start
    remaining = days
    while remaining > 0:
        current += datetime.timedelta(days=1)
        local = timezone.localtime(current) if timezone.is_aware(current) else current
        if local.weekday() < 5 and local.date() not in holidays:
            remaining -= 1
    return current


def add_months(start, months):
    month = start.month - 1 + months
    year = start.year + month // 12
    month = month % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def add(start, amount, unit, holidays=frozenset()):
    if unit == "hours":
        return start + datetime.timedelta(hours=amount)
    if unit == "days":
        return start + datetime.timedelta(days=amount)
    if unit == "business_days":
        return add_business_days(start, amount, holidays)
    if unit == "months":
        return add_months(start, amount)
    raise ValueError(f"unknown unit {unit!r}")


@dataclass
class StageState:
    name: str
    recipient: str
    due_at: datetime.datetime | None  # None: "without undue delay" — due now
    submission: Submission | None
    target_at: datetime.datetime | None = None
    capped: bool = False
    starts_at: datetime.datetime | None = None  # where the stage's window opens (its base)

    @property
    def done(self):
        return self.submission is not None

    def overdue(self, now=None):
        now = now or timezone.now()
        if self.done:
            return self.due_at is not None and self.submission.submitted_at > self.due_at
        return self.due_at is not None and now > self.due_at

    def time_left(self, now=None):
        if self.due_at is None or self.done:
            return None
        return self.due_at - (now or timezone.now())


@dataclass(frozen=True)
class ReminderPoints:
    half_window: datetime.datetime
    hour_before: datetime.datetime
    missed: datetime.datetime


def reminder_points(stage_state):
    """When to remind about a stage with a due time: half-way through its window, one hour
    before it is due, and when it is missed (the due time itself). None for a stage without a
    due time ("without undue delay": due now, nothing to count down to). For a window shorter
    than an hour the "hour before" point is the window's opening; a window that opens after its
    capped due time has no half-way point either, so both collapse onto the due time."""
    due = stage_state.due_at
    if due is None:
        return None
    start = stage_state.starts_at if stage_state.starts_at is not None else due
    window = max(due - start, datetime.timedelta(0))
    opens = due - window
    return ReminderPoints(
        half_window=opens + window / 2,
        hour_before=max(opens, due - datetime.timedelta(hours=1)),
        missed=due,
    )


def validate_stages(stages):
    """Check an obligation's stage list (used by the admin form and the seed)."""
    if not isinstance(stages, list) or not stages:
        raise ValidationError({"stages": gettext("At least one stage is needed.")})
    names = []
    for stage in stages:
        if not isinstance(stage, dict) or not stage.get("name"):
            raise ValidationError({"stages": gettext("Each stage needs a name.")})
        amount, unit = stage.get("amount"), stage.get("unit")
        if (amount is None) != (unit is None):
            raise ValidationError(
                {
                    "stages": gettext("Stage {stage!r}: give both amount and unit, or neither.").format(
                        stage=stage["name"]
                    )
                }
            )
        if unit is not None and unit not in UNITS:
            raise ValidationError(
                {
                    "stages": gettext("Stage {stage!r}: unit must be one of {choices}.").format(
                        stage=stage["name"], choices=", ".join(UNITS)
                    )
                }
            )
        if amount is not None and (not isinstance(amount, int) or amount <= 0):
            raise ValidationError(
                {
                    "stages": gettext("Stage {stage!r}: amount must be a positive whole number.").format(
                        stage=stage["name"]
                    )
                }
            )
        after = stage.get("after", "start")
        if after != "start" and after not in names:
            raise ValidationError(
                {
                    "stages": gettext("Stage {stage!r} follows {after!r}, which is not before it.").format(
                        stage=stage["name"], after=after
                    )
                }
            )
        names.append(stage["name"])


def check_stages_change(obligation, stages):
    """Refuse new stages for an obligation that clocks already use: their deadlines are computed
    from the stages, so a change would move them silently. The API and the admin both ask here."""
    if obligation is None or obligation.pk is None:
        return
    # Compare with the stored stages, not the instance's: a form may already have set the new ones.
    stored = Obligation.objects.filter(pk=obligation.pk).values_list("stages", flat=True).first()
    if stored != stages and obligation.clocks.exists():
        raise ValidationError(
            {
                "stages": gettext(
                    "Clocks on incidents use this obligation: changing its stages would move their deadlines. "
                    "Deactivate it and add a new one instead."
                )
            }
        )


def stages_of(clock, submissions=None, now=None):
    """The clock's stages with due times, from its start, the incident's awareness time and the
    submissions made (pass prefetched submissions to avoid a query)."""
    if submissions is None:
        submissions = list(clock.submissions.all())
    by_stage = {s.stage: s for s in submissions}
    holidays = _holidays()
    aware_at = clock.incident.aware_at or clock.started_at
    result = {}
    ordered = []
    for stage in clock.obligation.stages:
        after = stage.get("after", "start")
        if after == "start":
            base = clock.started_at
        else:
            earlier = result[after]
            base = earlier.submission.submitted_at if earlier.submission else earlier.due_at
        due = None
        capped = False
        if stage.get("amount") and base is not None:
            due = add(base, stage["amount"], stage["unit"], holidays)
            cap = stage.get("cap_hours")
            if cap:
                limit = aware_at + datetime.timedelta(hours=cap)
                if limit < due:
                    due, capped = limit, True
        target = None
        if stage.get("amount") is None and clock.target_hours:
            target = clock.started_at + datetime.timedelta(hours=clock.target_hours)
        state = StageState(
            name=stage["name"],
            recipient=stage.get("recipient") or clock.obligation.recipient,
            due_at=due,
            submission=by_stage.get(stage["name"]),
            target_at=target,
            capped=capped,
            starts_at=base,
        )
        result[stage["name"]] = state
        ordered.append(state)
    return ordered


# Suggestions ------------------------------------------------------------------------------------

EU = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
}  # fmt: skip


def _covers(obligation_places, country):
    places = set(obligation_places)
    return country in places or ("EU" in places and country in EU)


def suggest(incident):
    """Obligations that likely apply, from the exposure assessment's jurisdictions and data
    categories; not yet started on this incident."""
    try:
        exposure = incident.exposure
    except ObjectDoesNotExist:  # no assessment yet
        exposure = None
    countries = {c.upper() for c in (exposure.jurisdictions if exposure else [])}
    categories = set(exposure.categories if exposure else [])
    started = set(incident.clocks.values_list("obligation_id", flat=True))
    result = []
    for obligation in Obligation.objects.filter(active=True).order_by("key"):
        if obligation.pk in started:
            continue
        if obligation.jurisdictions and not any(_covers(obligation.jurisdictions, c) for c in countries):
            continue
        if obligation.data_categories and not (set(obligation.data_categories) & categories):
            continue
        if obligation.personal_data and exposure is None:
            continue
        result.append(obligation)
    return result


# Operations -------------------------------------------------------------------------------------


def _require(user, incident):
    if not access.can_manage_security(user, incident):
        raise PermissionDenied(
            gettext("Only the incident's commanders and the security group may manage legal clocks.")
        )


@transaction.atomic
def start_clock(incident, obligation, by, started_at=None, target_hours=None):
    _require(by, incident)
    started_at = started_at or incident.aware_at
    if started_at is None:
        raise ValidationError(
            {"started_at": gettext("Record when you became aware (or the determination time) first.")}
        )
    if started_at > timezone.now():
        raise ValidationError({"started_at": gettext("A clock cannot start in the future.")})
    if RegulatoryClock.objects.filter(incident=incident, obligation=obligation).exists():
        raise ValidationError(
            {
                "obligation": gettext("{regime} is already running on {reference}.").format(
                    regime=obligation.regime, reference=incident.reference
                )
            }
        )
    clock = RegulatoryClock.objects.create(
        incident=incident, obligation=obligation, started_at=started_at, target_hours=target_hours, created_by=by
    )
    first = stages_of(clock, [])[0]
    if first.due_at:
        due = Line(gettext_noop("first deadline {when}"), when=first.due_at.isoformat())
    else:
        due = phrase(gettext_noop("without undue delay"))
    record_event(
        incident,
        by,
        TimelineEntry.Kind.REGULATORY,
        Line(
            gettext_noop("Clock started: {regime} ({recipient}), {due}."),
            regime=phrase(obligation.regime),
            recipient=phrase(obligation.recipient),
            due=due,
        ),
        {"field": "clock", "obligation": obligation.key, "old": None, "new": started_at.isoformat()},
    )
    notify_changed(incident, "clocks")
    return clock


@transaction.atomic
def correct_clock_start(clock, started_at, by, reason):
    _require(by, clock.incident)
    if not (reason or "").strip():
        raise ValidationError({"reason": gettext("Say why the start time changes.")})
    if started_at > timezone.now():
        raise ValidationError({"started_at": gettext("A clock cannot start in the future.")})
    old = clock.started_at
    clock.started_at = started_at
    clock.save(update_fields=["started_at"])
    record_event(
        clock.incident,
        by,
        TimelineEntry.Kind.REGULATORY,
        Line(
            gettext_noop("Clock start corrected for {regime}: {old} → {new}. Reason: {reason}"),
            regime=phrase(clock.obligation.regime),
            old=old.isoformat(),
            new=started_at.isoformat(),
            reason=reason,
        ),
        {
            "field": "clock.started_at",
            "obligation": clock.obligation.key,
            "old": old.isoformat(),
            "new": started_at.isoformat(),
        },
    )
    notify_changed(clock.incident, "clocks")
    return clock


@transaction.atomic
def record_submission(clock, stage, by, *, submitted_at=None, reference="", communication=None, notes=""):
    _require(by, clock.incident)
    if communication is not None and communication.incident_id != clock.incident_id:
        raise ValidationError({"communication": gettext("Link a communication of this incident.")})
    names = [s["name"] for s in clock.obligation.stages]
    if stage not in names:
        raise ValidationError(
            {
                "stage": gettext("Unknown stage {stage!r}; use one of {choices}.").format(
                    stage=stage, choices=", ".join(names)
                )
            }
        )
    submitted_at = submitted_at or timezone.now()
    if submitted_at > timezone.now():
        raise ValidationError({"submitted_at": gettext("A submission cannot be in the future.")})
    if Submission.objects.filter(clock=clock, stage=stage).exists():
        raise ValidationError({"stage": gettext("The {stage} stage was already submitted.").format(stage=stage)})
    submission = Submission.objects.create(
        clock=clock,
        stage=stage,
        submitted_at=submitted_at,
        submitted_by=by,
        reference=reference,
        communication=communication,
        notes=notes,
    )
    if set(clock.submissions.values_list("stage", flat=True)) >= set(names):
        clock.status = RegulatoryClock.Status.DONE
        clock.save(update_fields=["status"])
    ref = Line(gettext_noop(" (reference {reference})"), reference=reference) if reference else ""
    record_event(
        clock.incident,
        by,
        TimelineEntry.Kind.REGULATORY,
        Line(
            gettext_noop("Submitted {stage} for {regime} to {recipient}{reference}."),
            stage=phrase(stage),
            regime=phrase(clock.obligation.regime),
            recipient=phrase(clock.obligation.recipient),
            reference=ref,
        ),
        {
            "field": "submission",
            "obligation": clock.obligation.key,
            "stage": stage,
            "old": None,
            "new": submitted_at.isoformat(),
        },
    )
    notify_changed(clock.incident, "clocks")
    return submission


@transaction.atomic
def mark_not_required(clock, by, reason):
    _require(by, clock.incident)
    if not (reason or "").strip():
        raise ValidationError({"reason": gettext("Say why this notification is not required.")})
    old = clock.status
    clock.status = RegulatoryClock.Status.NOT_REQUIRED
    clock.not_required_reason = reason.strip()
    clock.save(update_fields=["status", "not_required_reason"])
    record_event(
        clock.incident,
        by,
        TimelineEntry.Kind.REGULATORY,
        Line(
            gettext_noop("{regime} marked not required. Reason: {reason}"),
            regime=phrase(clock.obligation.regime),
            reason=clock.not_required_reason,
        ),
        {"field": "clock.status", "obligation": clock.obligation.key, "old": old, "new": clock.status},
    )
    notify_changed(clock.incident, "clocks")
    return clock
