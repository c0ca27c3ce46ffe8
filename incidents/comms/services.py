"""Domain operations on communications: draft -> in review -> approved -> published (or
scheduled, or discarded). Publishing itself runs in a Celery task (incidents.comms.tasks) that claims
the row, so a double click or a retried task publishes once."""

import difflib
import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext as _
from django.utils.translation import override as language_override

from incidents import access
from incidents.comms import delivery
from incidents.comms.reminders import cadence_minutes, next_update_promise
from incidents.models import (
    Communication,
    CommunicationTemplate,
    CommunicationTranslation,
    Impact,
    Incident,
    RecipientList,
    RegulatoryClock,
    Service,
    Submission,
    TimelineEntry,
)
from incidents.services import check_public_title, in_site_language, notify_changed, record_event
from incidents.signals import communication_moved, communication_published

Status = Communication.Status
Audience = Communication.Audience


class StaleCommunication(ValidationError):
    """The text changed since the approver read it: the approval is refused, not applied to
    text they have not seen."""


# Templates ---------------------------------------------------------------------------------


class _Blank(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def public_time(value, language):
    """A time as a communication in `language` gives it to its readers: in their language's
    format and time zone (WARROOM_COMMS_TIME_ZONES, else TIME_ZONE), with the UTC offset
    rather than an abbreviation such as "CST", which names three different zones."""
    language = (language or settings.LANGUAGE_CODE).lower()
    zones = settings.WARROOM_COMMS_TIME_ZONES
    zone = zones.get(language) or zones.get(language.split("-")[0]) or settings.TIME_ZONE
    local = value.astimezone(zoneinfo.ZoneInfo(zone))
    minutes = int(local.utcoffset().total_seconds() // 60)
    offset = (
        "UTC" if minutes == 0 else f"UTC{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    )
    with language_override(language):
        return f"{date_format(local, 'DATETIME_FORMAT')} {offset}"


def placeholders(incident, language=None, now=None):
    """The values of a template's placeholders for this incident, in `language`. A value is
    empty ("") when there is nothing true to say (no public measures in force, no update
    cadence); the filler then leaves out the sentence that would hold it."""
    language = language or settings.LANGUAGE_CODE
    impacts = incident.impacts.filter(ended_at__isnull=True).select_related("service")
    # No open impact recorded yet: the sentence about the problems still has to read right.
    services = ", ".join(f"{i.service.name_in(language)} ({i.get_level_display().lower()})" for i in impacts) or _(
        "some of our services"
    )
    mitigations = ""
    public_mitigations = getattr(incident, "mitigations", None)
    if public_mitigations is not None:
        # In the template's language where the mitigation gives one, else its default text.
        mitigations = "\n".join(
            f"- {m.explanation_in(language)}"
            for m in public_mitigations.filter(public=True, ended_at__isnull=True)
            if getattr(m, "public_explanation", "")
        )
    next_update = next_update_promise(incident, now)
    return _Blank(
        title=incident.title,
        reference=incident.reference,
        severity=f"SEV{incident.severity}",
        status=incident.get_status_display().lower(),
        services=services,
        next_update=public_time(next_update, language) if next_update else "",
        mitigations=mitigations,
        started_at=public_time(incident.started_at, language),
    )


PLACEHOLDER = re.compile(r"\{(\w+)\}")
PLACEHOLDER_NAMES = ("title", "reference", "severity", "status", "services", "next_update", "mitigations", "started_at")
# Where a sentence ends: after . ! ? and a space, or right after the CJK full stops.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
# A lead-in such as "Measures in place meanwhile:" or "5. **Measures taken:**".
LEAD_IN = re.compile(r"[:：][*_\s]*$")


def fill_template(template, incident, now=None):
    """The template's body with its {placeholders} filled for this incident, in the template's
    language ({title} is the public title in any template for people outside the company, the
    internal title only in an internal one). A sentence whose
    placeholder has nothing to say is left out (a placeholder alone in its paragraph takes the
    lead-in line before it along), so the public never reads "by within the hour" or "Measures
    in place: none". Unknown placeholders and any other braces
    are left as typed so the author sees them. (Not str.format: one stray brace or a JSON
    example in a template must not stop every placeholder from filling.)"""
    language = template.language or settings.LANGUAGE_CODE
    # Labels (status, levels) in the template's own language when the UI has it, else English.
    with language_override(language):
        values = {name: str(value) for name, value in placeholders(incident, language, now).items()}
    if template.audience != Audience.INTERNAL:
        # The public, customers, partners and regulators read the public title, never the
        # internal one; with none yet, {title} stays as typed, a hole the author sees and
        # submission refuses.
        values.pop("title")
        if incident.public_title:
            values["title"] = incident.public_title_in(language)
    # Templates saved from a browser form have CRLF line ends; paragraphs are found on LF.
    body = template.body.replace("\r\n", "\n")
    body = _without_empty(body, {name for name, value in values.items() if value == ""})
    values = _Blank(values)
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), body)


def _without_empty(body, empty):
    """`body` less the sentences, list items and placeholder-only paragraphs (with their
    lead-in) that hold a placeholder named in `empty`."""

    def holds_empty(text):
        return any(name in empty for name in PLACEHOLDER.findall(text))

    kept = []
    for paragraph in re.split(r"\n[ \t]*\n", body):
        if not holds_empty(paragraph):
            kept.append(paragraph)
            continue
        if PLACEHOLDER.fullmatch(paragraph.strip()):
            if kept and LEAD_IN.search(kept[-1]):
                earlier, _, lead_in = kept.pop().rpartition("\n")
                if not LIST_ITEM.match(lead_in):
                    # "... working on it now. Measures that may affect you:" keeps its first sentence.
                    earlier = "\n".join(filter(None, [earlier, " ".join(SENTENCE_END.split(lead_in)[:-1])]))
                if earlier.strip():
                    kept.append(earlier)
            continue
        lines = []
        for line in paragraph.split("\n"):
            if holds_empty(line):
                if LIST_ITEM.match(line):
                    continue
                line = " ".join(s for s in SENTENCE_END.split(line) if s and not holds_empty(s))
                line = line.replace("。 ", "。").replace("！ ", "！").replace("？ ", "？")
            if line.strip():
                lines.append(line)
        if lines:
            kept.append("\n".join(lines))
    return "\n\n".join(kept)


def unfilled_placeholders(text):
    """The {placeholders} still in a text, outside code; a template's own placeholders are
    filled when a draft is made from it, so one left over is a hole the author has not seen."""
    prose = re.sub(r"```.*?```|`[^`\n]*`", "", text or "", flags=re.DOTALL)
    return [f"{{{name}}}" for name in dict.fromkeys(re.findall(r"\{([A-Za-z_]\w*)\}", prose))]


def _refuse_unfilled(comm):
    """Refuse to move text with a hole towards publication, naming the first hole per field;
    the text stays as it is for the author to fix."""
    errors = {}
    for field, text in (("title", comm.title), ("body", comm.body)):
        holes = unfilled_placeholders(text)
        if holes:
            errors[field] = _unfilled_message(holes)
    for translation in comm.translations.all():
        holes = unfilled_placeholders(translation.title) + unfilled_placeholders(translation.body)
        if holes and "translations" not in errors:
            errors["translations"] = _("The %(language)s translation: %(problem)s") % {
                "language": translation.language,
                "problem": _unfilled_message(holes),
            }
    if errors:
        raise ValidationError(errors)


def _unfilled_message(holes):
    return ngettext(
        "The text still has the placeholder %(names)s: replace it with the real value first.",
        "The text still has the placeholders %(names)s: replace them with the real values first.",
        len(holes),
    ) % {"names": ", ".join(holes)}


def template_for_status(incident, audience):
    """The template to start a status-page update from: the built-in (or operator's) one for
    the incident's current status, in the language it was written in first."""
    if audience != Audience.STATUS_PAGE:
        return None
    return (
        CommunicationTemplate.objects.filter(
            audience=audience, public_status=incident.status, translation_of__isnull=True
        )
        .order_by("pk")
        .first()
    )


def fill_translation(comm, language):
    """The communication's template in `language`, filled for its incident; None when the
    communication was not drafted from a template or that template has no such translation."""
    if comm.template is None:
        return None
    template = comm.template.in_language(language)
    if template is None:
        return None
    return fill_template(template, comm.incident)


def affected_services(comm):
    """A status-page update's affected services as (name, level), in the order it lists them;
    a service since removed from the catalog by the slug the update recorded."""
    slugs = [item["service"] for item in comm.affected or []]
    names = dict(Service.objects.filter(slug__in=slugs).values_list("slug", "name"))
    return [(names.get(item["service"], item["service"]), item["level"]) for item in comm.affected or []]


# Update cadence ----------------------------------------------------------------------------

# What an incident's own cadence may be, in minutes: from every quarter hour to once a day.
CADENCE_CHOICES = (15, 30, 60, 120, 240, 480, 720, 1440)


def cadence_text(minutes):
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


@in_site_language
@transaction.atomic
def set_update_cadence(incident, minutes, by, reason=""):
    """Give the incident its own time between public updates (`minutes`, one of
    CADENCE_CHOICES), or None for its severity's default; logged on the timeline."""
    access.require(
        access.can_write_communication(by, incident),
        "Only comms staff and the incident's commanders may change its update cadence.",
    )
    if minutes is not None and minutes not in CADENCE_CHOICES:
        raise ValidationError(
            {
                "minutes": gettext("Choose one of: {choices}, or the default.").format(
                    choices=", ".join(cadence_text(m) for m in CADENCE_CHOICES)
                )
            }
        )
    reason = (reason or "").strip()
    if len(reason) > 1000 or "\x00" in reason:
        raise ValidationError({"reason": gettext("Say it in at most 1,000 characters of text.")})
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    old = incident.update_cadence_minutes
    if old == minutes:
        return incident
    incident.update_cadence_minutes = minutes
    incident.save(update_fields=["update_cadence_minutes"])
    default = cadence_minutes(incident.severity)
    shown = (
        f"every {cadence_text(minutes)}"
        if minutes
        else (f"the SEV{incident.severity} default (every {cadence_text(default)})" if default else "none")
    )
    why = f" Reason: {reason}" if reason else ""
    record_event(
        incident,
        by,
        TimelineEntry.Kind.FIELD,
        f"Public update cadence: {shown}.{why}",
        {"field": "update_cadence_minutes", "old": old, "new": minutes, "reason": reason},
    )
    notify_changed(incident, "cadence")
    return incident


# Workflow ----------------------------------------------------------------------------------


AFFECTED_LEVELS = ("operational", *Impact.Level.values)
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def _validate_affected(affected):
    if not isinstance(affected, list):
        raise ValidationError({"affected": gettext("A list of {service, level} pairs.")})
    slugs = []
    for item in affected:
        if not isinstance(item, dict) or set(item) != {"service", "level"}:
            raise ValidationError({"affected": gettext("Each affected service is {service, level}.")})
        level, slug = item["level"], item["service"]
        # Type checks first: a list is unhashable (a TypeError in the membership test) and a NUL
        # byte is refused by PostgreSQL; both are bad input, not a server error.
        if not isinstance(level, str) or level not in AFFECTED_LEVELS:
            raise ValidationError(
                {
                    "affected": gettext("Unknown level {level!r}; use one of {choices}.").format(
                        level=level, choices=", ".join(AFFECTED_LEVELS)
                    )
                }
            )
        if not isinstance(slug, str) or not slug or "\x00" in slug:
            raise ValidationError({"affected": gettext("Name each service by its slug.")})
        if slug in slugs:
            raise ValidationError({"affected": gettext("Service {slug!r} is listed twice.").format(slug=slug)})
        slugs.append(slug)
    known = set(Service.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    unknown = [s for s in slugs if s not in known]
    if unknown:
        raise ValidationError({"affected": gettext("Unknown service {unknown!r}.").format(unknown=unknown[0])})
    return [{"service": i["service"], "level": i["level"]} for i in affected]


def _check_language(language, field="language"):
    language = (language or "").strip().lower()
    if len(language) > 15 or not LANGUAGE_CODE.match(language):
        raise ValidationError({field: gettext("Use a language code such as en, de, pt-br or zh-hans.")})
    return language


def check_fields(fields):
    """Validate (and normalise) a communication's content fields: draft and edit call this, and
    forms that must show the errors before they call them (the admin)."""
    if "audience" in fields and fields["audience"] not in Audience.values:
        raise ValidationError(
            {"audience": gettext("Unknown audience; use one of {choices}.").format(choices=", ".join(Audience.values))}
        )
    if "public_status" in fields and fields["public_status"] not in ("", *Communication.PublicStatus.values):
        raise ValidationError({"public_status": gettext("Use investigating, identified, monitoring or resolved.")})
    if "public_impact" in fields and fields["public_impact"] not in ("", *Communication.PublicImpact.values):
        raise ValidationError({"public_impact": gettext("Use none, minor, major or critical.")})
    if "public_title" in fields:
        fields["public_title"] = check_public_title(fields["public_title"] or "")
    if "body" in fields and not (fields["body"] or "").strip():
        raise ValidationError({"body": gettext("Write the message.")})
    if "title" in fields and len(fields["title"] or "") > 200:
        raise ValidationError({"title": gettext("Keep the title under 200 characters.")})
    if "language" in fields:
        fields["language"] = _check_language(fields["language"])
    if "affected" in fields:
        fields["affected"] = _validate_affected(fields["affected"])
    return fields


def check_recipient_lists(audience, lists, known=()):
    """The recipient lists a communication for `audience` goes to, from lists or their ids:
    lists of that audience, active (a list chosen before it was deactivated may stay)."""
    lists = list(lists or ())
    if not lists:
        return []
    if audience not in RecipientList.AUDIENCES:
        raise ValidationError(
            {"recipient_lists": gettext("Only customer, regulator and partner messages go to recipient lists.")}
        )
    ids = []
    for item in lists:
        pk = item.pk if isinstance(item, RecipientList) else item
        if isinstance(pk, bool) or not isinstance(pk, int):
            raise ValidationError({"recipient_lists": gettext("Name each recipient list by its id.")})
        ids.append(pk)
    found = RecipientList.objects.in_bulk(ids)
    kept = {item.pk for item in known}
    for pk in ids:
        chosen = found.get(pk)
        if chosen is None:
            raise ValidationError({"recipient_lists": gettext("There is no recipient list %(id)s.") % {"id": pk}})
        if chosen.audience != audience:
            raise ValidationError(
                {
                    "recipient_lists": gettext("The list “%(name)s” is for %(audience)s, not this audience.")
                    % {"name": chosen.name, "audience": chosen.get_audience_display().lower()}
                }
            )
        if not chosen.active and pk not in kept:
            raise ValidationError(
                {"recipient_lists": gettext("The list “%(name)s” is inactive.") % {"name": chosen.name}}
            )
    return [found[pk] for pk in dict.fromkeys(ids)]


def notification_stages(incident):
    """(clock, stage name) of every stage of the incident's running legal clocks not yet
    submitted: what a regulator message can be the notification for."""
    clocks = list(
        RegulatoryClock.objects.filter(incident=incident, status=RegulatoryClock.Status.RUNNING)
        .select_related("obligation")
        .prefetch_related("submissions")
        .order_by("started_at", "pk")
    )
    return [
        (clock, stage["name"])
        for clock in clocks
        for stage in clock.obligation.stages
        if stage["name"] not in {s.stage for s in clock.submissions.all()}
    ]


def check_notifies(incident, audience, by, notifies):
    """(clock, stage) for a regulator message that `by` says is the notification for that
    stage of one of the incident's legal clocks, or (None, "") for none. Publishing it records
    the submission, so only someone who may record one (the incident's commanders, the security
    group) may say so."""
    if not notifies:
        return None, ""
    try:
        clock_pk, stage = notifies
    except (TypeError, ValueError):
        raise ValidationError({"notifies_stage": gettext("Choose a stage of a legal clock.")}) from None
    if audience != Audience.REGULATORS:
        raise ValidationError(
            {"notifies_stage": gettext("Only a regulator message can be the notification for a legal clock.")}
        )
    if isinstance(clock_pk, bool) or not isinstance(clock_pk, int) or not isinstance(stage, str):
        raise ValidationError({"notifies_stage": gettext("Choose a stage of a legal clock.")})
    clock = RegulatoryClock.objects.select_related("obligation").filter(pk=clock_pk, incident=incident).first()
    if clock is None:
        raise ValidationError({"notifies_clock": gettext("Choose a legal clock of this incident.")})
    names = [s["name"] for s in clock.obligation.stages]
    if stage not in names:
        raise ValidationError(
            {
                "notifies_stage": gettext("Unknown stage %(stage)s; use one of %(choices)s.")
                % {"stage": stage, "choices": ", ".join(names)}
            }
        )
    if Submission.objects.filter(clock=clock, stage=stage).exists():
        raise ValidationError(
            {"notifies_stage": gettext("The %(stage)s stage was already submitted.") % {"stage": stage}}
        )
    if not access.can_manage_security(by, incident):
        raise ValidationError(
            {
                "notifies_stage": gettext(
                    "Only the incident's commanders and the security group may record a notification on a legal clock."
                )
            }
        )
    return clock, stage


@in_site_language
@transaction.atomic
def draft(
    incident,
    by,
    *,
    audience,
    body,
    title="",
    language="en",
    public_status="",
    affected=(),
    template=None,
    recipient_lists=(),
    notifies=None,
    public_impact="",
    public_title="",
):
    access.require(
        access.can_write_communication(by, incident),
        "Only comms staff and the incident's commanders may write communications.",
    )
    fields = check_fields(
        {
            "audience": audience,
            "title": title or "",
            "body": body,
            "language": language or "en",
            "public_status": public_status,
            "affected": list(affected),
            "public_impact": public_impact or "",
            "public_title": public_title or "",
        }
    )
    if audience == Audience.STATUS_PAGE:
        public_status = public_status or default_public_status(incident)
        public_impact = fields["public_impact"] or suggested_impact(incident)
        public_title = "" if fields["public_title"] == incident.public_title else fields["public_title"]
    else:
        public_impact = public_title = ""
    lists = check_recipient_lists(audience, recipient_lists)
    clock, stage = check_notifies(incident, audience, by, notifies)
    comm = Communication.objects.create(
        incident=incident,
        audience=audience,
        title=fields["title"],
        body=fields["body"],
        language=fields["language"],
        public_status=public_status,
        public_impact=public_impact,
        public_title=public_title,
        affected=fields["affected"],
        template=template,
        author=by,
        contributors=[by.pk],
        notifies_clock=clock,
        notifies_stage=stage,
        notifies_marked_by=by if clock else None,
    )
    comm.recipient_lists.set(lists)
    record_event(
        incident,
        by,
        TimelineEntry.Kind.COMMS,
        f"{comm.get_audience_display()} communication drafted by {by.get_username()}.",
        {"field": "communication", "communication": comm.pk, "old": None, "new": Status.DRAFT},
    )
    notify_changed(incident, "communications")
    return comm


# The impact a status-page update suggests for an incident of each severity; comms choose.
SEVERITY_IMPACT = {1: "critical", 2: "major", 3: "minor", 4: "none"}


def suggested_impact(incident):
    return SEVERITY_IMPACT.get(incident.severity, Communication.PublicImpact.MINOR)


def title_going_out(comm):
    """The public title the incident has once this status-page update is out: the one the
    update sets, else the incident's own."""
    return comm.public_title or comm.incident.public_title


def _refuse_untitled(comm):
    """A status-page update cannot move towards publication while the incident would go
    public without a public title (the internal one is never shown): the draft stays as it is
    for its author to give one."""
    if comm.audience == Audience.STATUS_PAGE and not title_going_out(comm):
        raise ValidationError(
            {
                "public_title": gettext(
                    "Give the incident a public title first: the status page never shows the internal one."
                )
            }
        )


def default_public_status(incident):
    if incident.status in Communication.PublicStatus.values:
        return incident.status
    return Communication.PublicStatus.RESOLVED


EDITABLE = (
    "title",
    "body",
    "language",
    "public_status",
    "affected",
    "audience",
    "public_impact",
    "public_title",
    "recipient_lists",
    "notifies",
)


@in_site_language
@transaction.atomic
def edit(comm, by, **fields):
    """Change a draft or an update in review. Editing an approved or scheduled update sends
    it back to review: what was approved is not what would go out."""
    comm = Communication.objects.select_for_update().select_related("incident").get(pk=comm.pk)
    access.require(
        access.can_write_communication(by, comm.incident),
        "Only comms staff and the incident's commanders may edit communications.",
    )
    if comm.status in (Status.PUBLISHED, Status.DISCARDED):
        raise ValidationError(
            {
                "status": gettext("A {lower} communication cannot be edited.").format(
                    lower=comm.get_status_display().lower()
                )
            }
        )
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be edited.")})
    lists = fields.pop("recipient_lists", None)
    notifies = fields.pop("notifies", False)
    fields = check_fields(fields)
    if fields.get("public_title") and fields["public_title"] == comm.incident.public_title:
        fields["public_title"] = ""  # the title it has already: nothing to change on publication
    # A status-page update always states an impact: none sent keeps its own, or suggests one.
    if fields.get("audience", comm.audience) == Audience.STATUS_PAGE and not fields.get("public_impact"):
        fields.pop("public_impact", None)
        if not comm.public_impact:
            fields["public_impact"] = suggested_impact(comm.incident)
    changed = [k for k, v in fields.items() if getattr(comm, k) != v]
    audience = fields.get("audience", comm.audience)
    current = list(comm.recipient_lists.order_by("pk"))
    if lists is None:  # kept, less those the new audience does not hear
        lists = [item for item in current if item.audience == audience]
    lists = check_recipient_lists(audience, lists, known=current)
    if {item.pk for item in lists} != {item.pk for item in current}:
        changed.append("recipient_lists")
    old_notifies = (comm.notifies_clock_id, comm.notifies_stage) if comm.notifies_clock_id else None
    if notifies is False:  # kept, unless it is no longer a regulator message
        notifies = old_notifies if audience == Audience.REGULATORS else None
    if isinstance(notifies, list | tuple):
        notifies = tuple(notifies)
    if (notifies or None) != old_notifies:
        clock, stage = check_notifies(comm.incident, audience, by, notifies)
        comm.notifies_clock, comm.notifies_stage = clock, stage
        comm.notifies_marked_by = by if clock else None
        changed.append("notifies")
    if not changed:
        return comm
    for key in changed:
        if key in fields:
            setattr(comm, key, fields[key])
    comm.recipient_lists.set(lists)
    _content_changed(comm, by, f"edited ({', '.join(changed)})", {"changed": changed})
    return comm


def _content_changed(comm, by, what, data):
    """Save a change to what a communication says (on a row the caller locked). The version
    goes up, so an approval of the earlier text is refused, and the editor joins the writers,
    who may not approve it. What was approved is no longer what would go out, so an approved
    or scheduled one goes back to review (off the schedule); the change is logged."""
    old = comm.status
    if comm.status in (Status.APPROVED, Status.SCHEDULED):
        comm.status = Status.IN_REVIEW
        comm.approved_by = comm.approved_at = comm.scheduled_for = None
    comm.content_version += 1
    if by is not None and by.pk not in comm.contributors:
        comm.contributors = [*comm.contributors, by.pk]
    comm.updated_at = timezone.now()
    comm.save()
    if old == comm.status:
        outcome = "."
    elif old == Status.SCHEDULED:
        outcome = ": taken off the schedule and back in review for a new approval."
    else:
        outcome = ": back in review for a new approval."
    record_event(
        comm.incident,
        by,
        TimelineEntry.Kind.COMMS,
        f"{comm.get_audience_display()} communication {what}{outcome}",
        {
            "field": "communication",
            "communication": comm.pk,
            "old": old,
            "new": comm.status,
            "version": comm.content_version,
            **data,
        },
    )
    notify_changed(comm.incident, "communications")
    if old != comm.status:
        communication_moved.send(sender=Communication, communication=comm, old=old, new=comm.status, by=by)


@in_site_language
def _move(comm, by, new, body, **extra):
    comm = Communication.objects.select_for_update().select_related("incident").get(pk=comm.pk)
    old = comm.status
    if new not in Communication.TRANSITIONS[old]:
        raise ValidationError(
            {
                "status": gettext("A {lower} communication cannot become {replace}.").format(
                    lower=comm.get_status_display().lower(), replace=new.replace("_", " ")
                )
            }
        )
    comm.status = new
    for key, value in extra.items():
        setattr(comm, key, value)
    comm.updated_at = timezone.now()
    comm.save()
    record_event(
        comm.incident,
        by,
        TimelineEntry.Kind.COMMS,
        body.format(audience=comm.get_audience_display(), user=by.get_username() if by else "scheduler"),
        {"field": "communication", "communication": comm.pk, "old": old, "new": new},
    )
    notify_changed(comm.incident, "communications")
    communication_moved.send(sender=Communication, communication=comm, old=old, new=new, by=by)
    return comm


@transaction.atomic
def submit(comm, by):
    access.require(
        access.can_write_communication(by, comm.incident), "Only comms staff may submit communications for review."
    )
    _refuse_unfilled(comm)
    _refuse_untitled(comm)
    return _move(comm, by, Status.IN_REVIEW, "{audience} communication submitted for review by {user}.")


@transaction.atomic
def approve(comm, by, version):
    """Approve one exact version of the text and its translations: `version` is the
    `content_version` the approver read. If it has changed since, StaleCommunication is
    raised and nothing is approved."""
    access.require(
        access.can_approve_communication(by, comm.incident),
        "Only comms staff and the incident's commanders may approve.",
    )
    # Judge on the row as it is now, locked, not on the caller's copy: the text, its writers
    # and the audience may have changed since it was read.
    comm = Communication.objects.select_for_update().select_related("incident").get(pk=comm.pk)
    if isinstance(version, bool) or not isinstance(version, int):
        raise StaleCommunication(
            {"version": "Say which version of the text you approve. Nothing was approved: read it, then approve."}
        )
    if version != comm.content_version:
        raise StaleCommunication(
            {
                "version": f"The text changed after you read it (you read version {version}, it is now version "
                f"{comm.content_version}). Nothing was approved: read it again, then approve."
            }
        )
    if access.approval_needs_someone_else(by, comm):
        raise ValidationError(
            {
                "approved_by": gettext(
                    "Someone who neither wrote nor changed the text must approve what the public, "
                    "customers or regulators read."
                )
            }
        )
    _refuse_unfilled(comm)
    _refuse_untitled(comm)
    return _move(
        comm,
        by,
        Status.APPROVED,
        "{audience} communication approved by {user}.",
        approved_by=by,
        approved_at=timezone.now(),
    )


@transaction.atomic
def send_back(comm, by):
    access.require(
        access.can_write_communication(by, comm.incident), "Only comms staff may send communications back to draft."
    )
    return _move(
        comm,
        by,
        Status.DRAFT,
        "{audience} communication sent back to draft by {user}.",
        approved_by=None,
        approved_at=None,
    )


@transaction.atomic
def discard(comm, by):
    access.require(access.can_write_communication(by, comm.incident), "Only comms staff may discard communications.")
    return _move(comm, by, Status.DISCARDED, "{audience} communication discarded by {user}.")


@transaction.atomic
def schedule(comm, by, when):
    access.require(access.can_write_communication(by, comm.incident), "Only comms staff may schedule communications.")
    if when is not None and timezone.is_naive(when):
        raise ValidationError({"scheduled_for": gettext("Give the time with its time zone.")})
    if when is None or when <= timezone.now():
        raise ValidationError({"scheduled_for": gettext("Choose a time in the future.")})
    comm = _move(
        comm,
        by,
        Status.SCHEDULED,
        "{audience} communication scheduled for " + when.isoformat() + " by {user}.",
        scheduled_for=when,
    )
    return comm


@transaction.atomic
def unschedule(comm, by):
    """Take a scheduled communication off the schedule; it stays approved."""
    access.require(access.can_write_communication(by, comm.incident), "Only comms staff may change the schedule.")
    return _move(
        comm, by, Status.APPROVED, "{audience} communication taken off the schedule by {user}.", scheduled_for=None
    )


@transaction.atomic
def request_publish(comm, by):
    """Ask for an approved communication to go out now. The request is recorded first (as
    scheduled for now), then the Celery task is enqueued; if the broker is down, the beat's
    publish_due_communications picks it up once it is back, so a publication is never lost."""
    access.require(access.can_write_communication(by, comm.incident), "Only comms staff may publish communications.")
    comm = Communication.objects.select_for_update().select_related("incident").get(pk=comm.pk)
    if comm.status == Status.PUBLISHED:
        return comm  # a double click: already out
    _refuse_untitled(comm)
    if comm.status not in (Status.APPROVED, Status.SCHEDULED):
        raise ValidationError({"status": gettext("Only an approved communication can be published.")})
    now = timezone.now()
    if comm.status == Status.APPROVED:
        comm = _move(
            comm, by, Status.SCHEDULED, "{audience} communication sent for publishing by {user}.", scheduled_for=now
        )
    elif comm.scheduled_for > now:
        Communication.objects.filter(pk=comm.pk).update(scheduled_for=now, updated_at=now)
        comm.scheduled_for = now
    from incidents.comms.tasks import publish_communication

    # robust: a broker outage must not fail the request; the row above is the durable intent.
    transaction.on_commit(lambda: publish_communication.delay(comm.pk, by.pk), robust=True)
    return comm


@in_site_language
def publish_now(comm_pk, by_pk=None, only_due=False):
    """Publish one communication; called by the Celery task. Claims the row with a conditional
    UPDATE so that only one caller ever publishes it. Returns True if this call published."""
    now = timezone.now()
    with transaction.atomic():
        claim = Communication.objects.filter(pk=comm_pk, status__in=(Status.APPROVED, Status.SCHEDULED))
        if only_due:
            claim = claim.filter(status=Status.SCHEDULED, scheduled_for__lte=now)
        # The status it had, for the timeline; the UPDATE repeats it so a change in between
        # (sent back, discarded) makes the claim fail rather than publish.
        old = claim.values_list("status", flat=True).first()
        if old is None:
            return False
        claimed = claim.filter(status=old).update(
            status=Status.PUBLISHED, published_at=now, published_by_id=by_pk, updated_at=now
        )
        if claimed != 1:
            return False
        comm = Communication.objects.select_related("incident", "published_by").get(pk=comm_pk)
        by = comm.published_by
        if comm.audience == Audience.STATUS_PAGE:
            _apply_public_title(comm, by)
            _apply_affected(comm, by)
        queued = delivery.fan_out(comm)
        record_event(
            comm.incident,
            by,
            TimelineEntry.Kind.COMMS,
            f"{comm.get_audience_display()} communication published"
            + (f" ({comm.public_status})" if comm.public_status else "")
            + (f"; {queued} recipient(s) queued for delivery" if queued else "")
            + ".",
            {"field": "communication", "communication": comm.pk, "old": old, "new": Status.PUBLISHED},
        )
        notify_changed(comm.incident, "communications")
        # In this transaction: what other wings do on publication (a legal clock's submission)
        # commits with it.
        communication_moved.send(sender=Communication, communication=comm, old=old, new=Status.PUBLISHED, by=by)
        transaction.on_commit(lambda: communication_published.send(sender=Communication, communication=comm))
    return True


def _apply_public_title(comm, by):
    """The public title a published update sets (and its translations' titles, in their
    languages) becomes the incident's: a title change goes live with the update that makes it."""
    incident = Incident.objects.select_for_update().get(pk=comm.incident_id)
    changes = {}
    if comm.public_title and comm.public_title != incident.public_title:
        changes["public_title"] = comm.public_title
    titles = dict(incident.public_titles or {})
    for translation in comm.translations.all():
        title = " ".join((translation.title or "").split())
        if title:
            titles[translation.language] = title
    if titles != (incident.public_titles or {}):
        changes["public_titles"] = titles
    if not changes:
        return
    Incident.objects.filter(pk=incident.pk).update(**changes)
    for field, new in changes.items():
        old = getattr(incident, field)
        setattr(comm.incident, field, new)
        if field == "public_title":
            body = f"Public title changed with the published update: {old or '(none)'} → {new}."
        else:
            shown = ", ".join(f"{code}: {text}" for code, text in sorted(new.items()))
            body = f"Public title in other languages, with the published update: {shown}."
        record_event(
            comm.incident,
            by,
            TimelineEntry.Kind.FIELD,
            body,
            {"field": field, "old": old, "new": new, "communication": comm.pk},
        )


def _apply_affected(comm, by):
    """The levels set on a published update become the incident's impacts, so the status page
    shows what the update says."""
    now = timezone.now()
    incident = comm.incident
    for item in comm.affected:
        open_impacts = list(incident.impacts.filter(service__slug=item["service"], ended_at__isnull=True))
        if item["level"] == "operational":
            for impact in open_impacts:
                Impact.objects.filter(pk=impact.pk).update(ended_at=now)
            continue
        if any(i.level == item["level"] for i in open_impacts):
            continue
        for impact in open_impacts:
            Impact.objects.filter(pk=impact.pk).update(ended_at=now)
        service = Service.objects.get(slug=item["service"])
        Impact.objects.create(incident=incident, service=service, level=item["level"], started_at=now, created_by=by)
        incident.services.add(service)
    if comm.public_status == Communication.PublicStatus.RESOLVED:
        incident.impacts.filter(ended_at__isnull=True).update(ended_at=now)


# Reading ------------------------------------------------------------------------------------


def previous_published(comm):
    return (
        Communication.objects.filter(
            incident=comm.incident_id, audience=comm.audience, status=Status.PUBLISHED, published_at__isnull=False
        )
        .exclude(pk=comm.pk)
        .filter(published_at__lt=comm.published_at or timezone.now())
        .order_by("-published_at")
        .first()
    )


def diff_against_previous(comm):
    """Unified diff of the body against the previous published update for the same audience."""
    previous = previous_published(comm)
    if previous is None:
        return []
    return list(
        difflib.unified_diff(
            previous.body.splitlines(), comm.body.splitlines(), "published", "this draft", lineterm="", n=2
        )
    )


@in_site_language
@transaction.atomic
def set_translation(comm, by, language, body, title=""):
    """Add or replace a translation. What goes out includes its translations, so changing one
    counts as changing the text: the version goes up, the translator joins the writers, and an
    approved or scheduled update goes back to review, as editing the original does."""
    comm = Communication.objects.select_for_update().select_related("incident").get(pk=comm.pk)
    access.require(access.can_write_communication(by, comm.incident), "Only comms staff may translate communications.")
    if comm.status in (Status.PUBLISHED, Status.DISCARDED):
        raise ValidationError(
            {
                "language": gettext("A {lower} communication's translations cannot change.").format(
                    lower=comm.get_status_display().lower()
                )
            }
        )
    language = _check_language(language)
    if language == comm.language:
        raise ValidationError({"language": gettext("Choose a language other than the original's.")})
    if not (body or "").strip():
        raise ValidationError({"body": gettext("Write the translated message.")})
    if len(title or "") > 200:
        raise ValidationError({"title": gettext("Keep the title under 200 characters.")})
    existing = CommunicationTranslation.objects.filter(communication=comm, language=language).first()
    if existing is not None and existing.body == body and existing.title == (title or ""):
        return existing
    translation, created = CommunicationTranslation.objects.update_or_create(
        communication=comm, language=language, defaults={"body": body, "title": title or ""}
    )
    _content_changed(comm, by, f"{language} translation {'added' if created else 'changed'}", {"language": language})
    return translation


def open_incidents_for_comms(user):
    return Incident.objects.visible_to(user).filter(status__in=Incident.OPEN_STATUSES)
