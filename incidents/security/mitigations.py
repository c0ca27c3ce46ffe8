"""Domain operations for security incidents: mitigations (temporary measures that affect
users) and the data-exposure assessment. Regulatory clocks live in incidents.security.clocks.

Like incidents.services, every operation checks the actor's permission (PermissionDenied),
validates its input (ValidationError keyed by the field at fault), changes the rows in one
transaction and writes one timeline entry whose data lists each changed field with its old and
new value: {"field": "mitigation"|"exposure", "changes": [{"field", "old", "new"}, ...],
"old": {...}, "new": {...}}. The audit export reads those entries.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from incidents import access
from incidents.durations import duration
from incidents.models import ExposureAssessment, Incident, Mitigation, RegulatoryClock, Submission, TimelineEntry
from incidents.security import clocks as regulatory
from incidents.services import SERVICE_NAME_LANGUAGE, change_data, describe_changes, notify_changed, record_event
from incidents.timeline_text import Line, phrase

User = get_user_model()

# The largest count PostgreSQL's bigint holds (people and records affected).
MAX_COUNT = 2**63 - 1
COUNTRY_CODE = re.compile(r"[A-Z]{2}")


REFUSALS = {
    "record": gettext_noop("Only the incident's commanders and the security group may record mitigations."),
    "change": gettext_noop("Only the incident's commanders and the security group may change mitigations."),
    "lift": gettext_noop("Only the incident's commanders and the security group may lift mitigations."),
    "assess": gettext_noop("Only the incident's commanders and the security group may assess data exposure."),
}


def _require(user, incident, what):
    if not access.can_manage_security(user, incident):
        raise PermissionDenied(gettext(REFUSALS[what]))


# Mitigations -------------------------------------------------------------------------------

MITIGATION_FIELDS = (
    "title",
    "description",
    "affects",
    "owner",
    "started_at",
    "review_by",
    "ended_at",
    "public",
    "public_explanation",
    "public_explanations",
)
MITIGATION_LABELS = {
    "title": gettext_noop("title"),
    "description": gettext_noop("what it does"),
    "affects": gettext_noop("who it affects"),
    "owner": gettext_noop("owner"),
    "started_at": gettext_noop("started"),
    "review_by": gettext_noop("review by"),
    "ended_at": gettext_noop("ended"),
    "public": gettext_noop("public"),
    "public_explanation": gettext_noop("public explanation"),
    "public_explanations": gettext_noop("public explanation in other languages"),
}
EXPLANATION_MAX = 5000


def check_explanations(texts):
    """A mitigation's public explanation in other languages: {language code: text}, codes
    lowercased (as a service's names are)."""
    if texts is None:
        return {}
    if not isinstance(texts, dict):
        raise ValidationError(
            {
                "public_explanations": gettext(
                    'Give the explanations as {language code: text}, e.g. {"zh-hans": "新用户注册暂时受限。"}.'
                )
            }
        )
    checked = {}
    for language, text in texts.items():
        code = str(language).strip().lower()
        if not SERVICE_NAME_LANGUAGE.match(code) or len(code) > 15:
            raise ValidationError(
                {
                    "public_explanations": gettext("{language} is not a language code such as zh-hans or de.").format(
                        language=repr(language)
                    )
                }
            )
        if not isinstance(text, str) or not text.strip() or len(text) > EXPLANATION_MAX or "\x00" in text:
            raise ValidationError(
                {
                    "public_explanations": gettext(
                        "The {code} explanation must be text of 1 to {limit} characters."
                    ).format(code=code, limit=EXPLANATION_MAX)
                }
            )
        checked[code] = text.strip()
    return checked


def _check_mitigation(values, now):
    """Validate a mitigation's complete set of values (after a change is applied)."""
    for field in ("title", "description", "affects", "public_explanation"):
        value = values[field]
        if not isinstance(value, str) or "\x00" in value:
            raise ValidationError({field: gettext("Give text.")})
        values[field] = value.strip()
    if not values["title"]:
        raise ValidationError({"title": gettext("A title is required: what is restricted, in a few words.")})
    if len(values["title"]) > Mitigation._meta.get_field("title").max_length:
        raise ValidationError({"title": gettext("Keep the title under 200 characters.")})
    if not values["description"]:
        raise ValidationError({"description": gettext("Say what the measure does.")})
    if len(values["affects"]) > Mitigation._meta.get_field("affects").max_length:
        raise ValidationError({"affects": gettext("Keep this under 300 characters.")})
    if not isinstance(values["public"], bool):
        raise ValidationError({"public": gettext("Public is yes or no.")})
    if values["public"] and not values["public_explanation"]:
        raise ValidationError(
            {
                "public_explanation": gettext(
                    "A public mitigation needs a plain-language explanation for the status page."
                )
            }
        )
    values["public_explanations"] = check_explanations(values["public_explanations"])
    if values["public_explanations"] and not values["public_explanation"]:
        raise ValidationError(
            {
                "public_explanation": gettext(
                    "Give the explanation in the default language too: the status page falls back to it."
                )
            }
        )
    if values["owner"] is not None and not isinstance(values["owner"], User):
        raise ValidationError({"owner": gettext("Give a user.")})
    for field in ("started_at", "review_by", "ended_at"):
        value = values[field]
        if value is not None and not (isinstance(value, datetime) and timezone.is_aware(value)):
            raise ValidationError({field: gettext("Give a date and time with its time zone.")})
    if values["started_at"] is None:
        raise ValidationError({"started_at": gettext("A mitigation needs a start time.")})
    if values["started_at"] > now:
        raise ValidationError({"started_at": gettext("A mitigation cannot start in the future.")})
    if values["review_by"] is not None and values["review_by"] < values["started_at"]:
        raise ValidationError({"review_by": gettext("The review cannot be due before the mitigation starts.")})
    if values["ended_at"] is not None:
        if values["ended_at"] < values["started_at"]:
            raise ValidationError({"ended_at": gettext("A mitigation cannot end before it starts.")})
        if values["ended_at"] > now:
            raise ValidationError({"ended_at": gettext("Lift a mitigation when it ends, not in advance.")})
    return values


@transaction.atomic
def add_mitigation(
    incident,
    by,
    *,
    title,
    description,
    affects="",
    owner=None,
    started_at=None,
    review_by=None,
    public=False,
    public_explanation="",
    public_explanations=None,
):
    _require(by, incident, "record")
    now = timezone.now()
    values = _check_mitigation(
        {
            "title": title,
            "description": description,
            "affects": affects if affects is not None else "",
            "owner": owner,
            "started_at": started_at or now,
            "review_by": review_by,
            "ended_at": None,
            "public": public,
            "public_explanation": public_explanation if public_explanation is not None else "",
            "public_explanations": public_explanations,
        },
        now,
    )
    mitigation = Mitigation.objects.create(incident=incident, created_by=by, updated_at=now, **values)
    changes = [(f, None, values[f]) for f in MITIGATION_FIELDS if values[f] not in (None, "", False, {})]
    if mitigation.public:
        visibility = phrase(gettext_noop("public, explained on the status page"))
    else:
        visibility = phrase(gettext_noop("internal"))
    record_event(
        incident,
        by,
        TimelineEntry.Kind.MITIGATION,
        Line(
            gettext_noop("Mitigation in force: **{title}** ({visibility})."),
            title=mitigation.title,
            visibility=visibility,
        ),
        change_data("mitigation", changes, mitigation=mitigation.pk, title=mitigation.title),
    )
    notify_changed(incident, "mitigations")
    return mitigation


def check_mitigation(mitigation, **changes):
    """Validate a change to a mitigation as update_mitigation does, saving nothing: the checked
    values, or ValidationError keyed by the field at fault (a form shows it by that field)."""
    unknown = set(changes) - set(MITIGATION_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be changed.")})
    if "started_at" in changes and changes["started_at"] is None:
        raise ValidationError({"started_at": gettext("A mitigation needs a start time.")})
    values = {f: getattr(mitigation, f) for f in MITIGATION_FIELDS}
    values.update(changes)
    return _check_mitigation(values, timezone.now())


def update_mitigation(mitigation, by, **changes):
    """Change any of a mitigation's fields (one timeline entry lists every change). Setting
    `ended_at` lifts it; `lift_mitigation` is the one-click way."""
    return _update_mitigation(mitigation, by, changes)


@transaction.atomic
def _update_mitigation(mitigation, by, changes, note="", lifting=False):
    incident = mitigation.incident
    _require(by, incident, "change")
    unknown = set(changes) - set(MITIGATION_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be changed.")})
    locked = Mitigation.objects.select_for_update().get(pk=mitigation.pk)
    if lifting and locked.ended_at is not None:
        raise ValidationError({"ended_at": gettext("{title!r} was already lifted.").format(title=locked.title)})
    now = timezone.now()
    values = check_mitigation(locked, **changes)
    changed = [(f, getattr(locked, f), values[f]) for f in MITIGATION_FIELDS if getattr(locked, f) != values[f]]
    if not changed:
        return locked
    for field, _, new in changed:
        setattr(locked, field, new)
    locked.updated_at = now
    locked.save()
    fields = {f for f, _, _ in changed}
    if "ended_at" in fields and locked.ended_at is not None:
        rest = describe_changes(changed, MITIGATION_LABELS, skip=("ended_at",))
        if rest:
            body = Line(
                gettext_noop("Mitigation lifted: **{title}**. Also changed: {changes}."),
                title=locked.title,
                changes=rest,
            )
        else:
            body = Line(gettext_noop("Mitigation lifted: **{title}**."), title=locked.title)
    elif "ended_at" in fields:
        body = Line(gettext_noop("Mitigation back in force: **{title}**."), title=locked.title)
    else:
        body = Line(
            gettext_noop("Mitigation **{title}** changed: {changes}."),
            title=locked.title,
            changes=describe_changes(changed, MITIGATION_LABELS),
        )
    data = change_data("mitigation", changed, mitigation=locked.pk, title=locked.title)
    if note:
        body = Line(gettext_noop("{line} {note}"), line=body, note=note)
        data["note"] = note
    record_event(incident, by, TimelineEntry.Kind.MITIGATION, body, data)
    notify_changed(incident, "mitigations")
    return locked


def lift_mitigation(mitigation, by, ended_at=None, note=""):
    """End a mitigation in one action; the timeline says who lifted it and when."""
    _require(by, mitigation.incident, "lift")
    if not isinstance(note, str) or "\x00" in note:
        raise ValidationError({"note": gettext("Give text.")})
    return _update_mitigation(mitigation, by, {"ended_at": ended_at or timezone.now()}, note.strip(), lifting=True)


def in_force(user):
    """Mitigations in force on the incidents this user may see, oldest first."""
    visible = Incident.objects.visible_to(user)
    return (
        Mitigation.objects.filter(ended_at__isnull=True, incident__in=visible)
        .select_related("incident", "owner")
        .order_by("started_at", "id")
    )


def review_overdue(mitigation, now=None):
    return (
        mitigation.ended_at is None
        and mitigation.review_by is not None
        and mitigation.review_by < (now or timezone.now())
    )


# Exposure assessment ---------------------------------------------------------------------------

EXPOSURE_FIELDS = (
    "certainty",
    "categories",
    "people_affected",
    "records_affected",
    "confidence",
    "jurisdictions",
    "encrypted",
    "found_by",
)
EXPOSURE_LABELS = {
    "certainty": gettext_noop("certainty"),
    "categories": gettext_noop("data categories"),
    "people_affected": gettext_noop("people affected"),
    "records_affected": gettext_noop("records affected"),
    "confidence": gettext_noop("confidence"),
    "jurisdictions": gettext_noop("jurisdictions"),
    "encrypted": gettext_noop("encrypted"),
    "found_by": gettext_noop("found by"),
}
Assessment = ExposureAssessment


def _choice(field, value, choices):
    if not isinstance(value, str) or value not in choices.values:
        raise ValidationError(
            {
                field: gettext("Unknown {field_label} {value!r}; use one of {choices}.").format(
                    field_label=EXPOSURE_LABELS[field], value=value, choices=", ".join(choices.values)
                )
            }
        )
    return value


def _unique(items):
    return list(dict.fromkeys(items))


def check_exposure(changes):
    """The changes to an exposure assessment, checked as assess_exposure checks them (saving
    nothing); ValidationError keyed by the field at fault."""
    cleaned = {}
    for field, value in changes.items():
        if field == "certainty":
            cleaned[field] = _choice(field, value, Assessment.Certainty)
        elif field == "confidence":
            cleaned[field] = _choice(field, value, Assessment.Confidence)
        elif field == "found_by":
            cleaned[field] = _choice(field, value, Assessment.Source)
        elif field == "categories":
            if not isinstance(value, list | tuple) or not all(
                isinstance(c, str) and c in Assessment.Category.values for c in value
            ):
                raise ValidationError(
                    {
                        field: gettext("Data categories are a list of: {choices}.").format(
                            choices=", ".join(Assessment.Category.values)
                        )
                    }
                )
            cleaned[field] = _unique(value)
        elif field == "jurisdictions":
            if not isinstance(value, list | tuple) or not all(
                isinstance(c, str) and COUNTRY_CODE.fullmatch(c) for c in value
            ):
                raise ValidationError(
                    {field: gettext("Jurisdictions are two-letter country codes in capitals, e.g. DE, FR, CN.")}
                )
            cleaned[field] = _unique(value)
        elif field in ("people_affected", "records_affected"):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT
            ):
                raise ValidationError(
                    {field: gettext("Give a whole number, zero or more (or leave it empty if unknown).")}
                )
            cleaned[field] = value
        elif field == "encrypted":
            if value not in (True, False, None):
                raise ValidationError({field: gettext("Encrypted is yes, no or unknown (empty).")})
            cleaned[field] = value
        else:
            raise ValidationError({field: gettext("This field is not part of the exposure assessment.")})
    return cleaned


def exposure_of(incident):
    return ExposureAssessment.objects.filter(incident=incident).select_related("updated_by").first()


@transaction.atomic
def assess_exposure(incident, by, **changes):
    """Create the incident's exposure assessment or change it; one timeline entry lists each
    changed field with its old and new value (on creation, every field set)."""
    _require(by, incident, "assess")
    cleaned = check_exposure(changes)
    Incident.objects.select_for_update().filter(pk=incident.pk).first()  # one assessment at a time
    assessment = ExposureAssessment.objects.select_for_update().filter(incident=incident).first()
    now = timezone.now()
    if assessment is None:
        assessment = ExposureAssessment(incident=incident)
        old = dict.fromkeys(EXPOSURE_FIELDS)
        created = True
    else:
        old = {f: getattr(assessment, f) for f in EXPOSURE_FIELDS}
        created = False
    for field, value in cleaned.items():
        setattr(assessment, field, value)
    new = {f: getattr(assessment, f) for f in EXPOSURE_FIELDS}
    changed = [(f, old[f], new[f]) for f in EXPOSURE_FIELDS if old[f] != new[f]]
    if not changed and not created:
        return assessment
    assessment.updated_at = now
    assessment.updated_by = by
    assessment.save()
    if created:
        msg = gettext_noop("Exposure assessment recorded: {changes}.")
    else:
        msg = gettext_noop("Exposure assessment changed: {changes}.")
    record_event(
        incident,
        by,
        TimelineEntry.Kind.EXPOSURE,
        Line(msg, changes=describe_changes(changed, EXPOSURE_LABELS) or phrase(gettext_noop("unset"))),
        change_data("exposure", changed),
    )
    incident.exposure = assessment  # refresh the cached one-to-one (regulatory.suggest reads it)
    notify_changed(incident, "exposure")
    return assessment


# Legal clocks as people read them ----------------------------------------------------------------


@dataclass
class StageRow:
    state: regulatory.StageState
    overdue: bool
    due_now: bool
    time_left: timedelta | None
    late_by: timedelta | None

    def __getattr__(self, name):  # name, recipient, due_at, submission, done... of the stage
        if name == "state":
            raise AttributeError(name)
        return getattr(self.state, name)

    @property
    def time_left_text(self):
        return duration(self.time_left) if self.time_left is not None else ""

    @property
    def late_by_text(self):
        return duration(self.late_by) if self.late_by is not None else ""

    @property
    def time_left_seconds(self):
        return int(self.time_left.total_seconds()) if self.time_left is not None else None


def clock_rows(clock, now):
    """The clock's stages as the panel and the API show them. A clock marked not required
    counts down nothing (only submissions already made late stay marked late)."""
    rows = []
    running = clock.status != RegulatoryClock.Status.NOT_REQUIRED
    for state in regulatory.stages_of(clock, list(clock.submissions.all()), now=now):
        overdue = state.overdue(now) if (running or state.done) else False
        late_by = None
        if overdue:
            late_by = (state.submission.submitted_at if state.done else now) - state.due_at
        rows.append(
            StageRow(
                state=state,
                overdue=overdue,
                due_now=state.due_at is None and not state.done and running,
                time_left=state.time_left(now) if running else None,
                late_by=late_by,
            )
        )
    return rows


def clocks_of(incident):
    """The incident's clocks, running first, with obligation and submissions (three queries)."""
    running_first = Case(
        When(status=RegulatoryClock.Status.RUNNING, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    clocks = list(
        incident.clocks.select_related("obligation")
        .prefetch_related(
            Prefetch("submissions", queryset=Submission.objects.select_related("submitted_by", "communication"))
        )
        .order_by(running_first, "started_at", "id")
    )
    for clock in clocks:
        clock.incident = incident  # the incident already loaded: its awareness time caps deadlines
    return clocks
