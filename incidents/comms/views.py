"""HTML pages for comms staff: an incident's communications, drafting from templates with a
live preview, review and approval, scheduling and publishing, translations, and the template
library. Thin: parse, authorise (incidents.access for visibility, incidents.comms.services
for who may write), call a service, render.

Who may see what: anyone who may see the incident reads its communications (a confidential
incident is a 404 to everyone else); comms staff, commanders and the incident's commanders and
comms lead write them (others get a 403); the template library is read by anyone signed in and
written by comms staff and commanders.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from incidents import access
from incidents.comms import delivery, recipients
from incidents.comms import services as communications
from incidents.comms.forms import (
    CommunicationForm,
    RecipientForm,
    RecipientListForm,
    ScheduleForm,
    TemplateForm,
    TranslationForm,
)
from incidents.forms import apply_errors
from incidents.markup import render_markdown
from incidents.models import AudienceDelivery, Communication, CommunicationTemplate, Incident, RecipientList

Status = Communication.Status
PREVIEW_LIMIT = 100_000  # characters; a message is far shorter, and rendering is not free
WRITE_REFUSED = "Only comms staff and the incident's commanders may write communications."


def _incident(request, pk):
    return access.get_incident_for(request.user, pk, Incident.objects.prefetch_related("memberships"))


def _communication(incident, comm_pk):
    qs = incident.communications.select_related("author", "approved_by", "published_by", "template")
    return get_object_or_404(qs.prefetch_related("translations"), pk=comm_pk)


def explain_refusal(view):
    """A refusal is a 403 page that says why (Django's default 403 page says nothing)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            message = str(exc) or WRITE_REFUSED
            return render(request, "incidents/comms/refused.html", {"message": message}, status=403)

    return wrapped


def _require_write(request, incident):
    if not access.can_write_communication(request.user, incident):
        raise PermissionDenied(WRITE_REFUSED)


def _detail_url(comm):
    return reverse("incidents:comms:detail", args=[comm.incident.key, comm.pk])


# An incident's communications ---------------------------------------------------------------


@login_required
@require_GET
def index(request, pk):
    incident = _incident(request, pk)
    comms = list(
        incident.communications.select_related("author", "approved_by", "published_by")
        .prefetch_related("translations")
        .order_by("-created_at", "-id")
    )
    by_audience = [
        (audience, [c for c in comms if c.audience == audience.value]) for audience in Communication.Audience
    ]
    return render(
        request,
        "incidents/comms/index.html",
        {
            "incident": incident,
            "by_audience": by_audience,
            "count": len(comms),
            "can_write": access.can_write_communication(request.user, incident),
            "can_manage_lists": access.can_manage_recipient_lists(request.user),
        },
    )


@login_required
@explain_refusal
def new(request, pk):
    """Draft a communication. "Fill from template" re-renders the form with the template's
    body, placeholders filled; "Save draft" creates it."""
    incident = _incident(request, pk)
    _require_write(request, incident)
    status = 200
    if request.method == "POST" and request.POST.get("action") == "fill":
        form, status = _filled_form(request, incident, request.POST.dict())
    elif request.method == "POST":
        form = CommunicationForm(request.POST, incident=incident)
        if form.is_valid():
            try:
                comm = communications.draft(
                    incident, request.user, template=form.cleaned_data.get("template"), **form.service_fields_values()
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Draft saved."))
                return redirect(_detail_url(comm))
        status = 400
    else:
        initial = {
            "audience": Communication.Audience.STATUS_PAGE,
            "language": "en",
            "public_status": communications.default_public_status(incident),
        }
        if request.GET.get("audience") in Communication.Audience.values:
            initial["audience"] = request.GET["audience"]
        # The subject of a message that leaves the company is the public title, never the
        # internal one ("SEV1: [demo] db-7 ..."); with none yet the author writes one.
        internal = initial["audience"] == Communication.Audience.INTERNAL
        initial["title"] = incident.title if internal else incident.public_title
        template = request.GET.get("template")
        if not template and (suggested := communications.template_for_status(incident, initial["audience"])):
            template = str(suggested.pk)  # the one for the incident's current status, already filled
        if template:
            form, status = _filled_form(request, incident, {**initial, "template": template})
        else:
            form = CommunicationForm(initial=initial, incident=incident)
    return render(request, "incidents/comms/form.html", {"incident": incident, "form": form}, status=status)


def _filled_form(request, incident, values):
    """An unbound form holding what was typed, with the chosen template's body filled in."""
    template = None
    chosen = str(values.get("template", ""))
    # isdigit() alone admits "²" and 5000-digit strings, which int() refuses (a 500).
    if chosen.isascii() and chosen.isdigit() and len(chosen) <= 18:
        template = CommunicationTemplate.objects.filter(pk=int(chosen)).first()
    if template is None:
        form = CommunicationForm(values, incident=incident)
        form.is_valid()  # add_error needs a cleaned form
        form.add_error("template", _("Choose a template to fill the message from."))
        return form, 400
    values["body"] = communications.fill_template(template, incident)
    values["language"] = template.language
    if template.audience:
        values["audience"] = template.audience
    if template.public_status:
        values["public_status"] = template.public_status
    return CommunicationForm(initial=values, incident=incident), 200


@login_required
@require_GET
def awaiting(request):
    """Awaiting my approval: the communications in review this user may approve, on incidents
    they may see (a confidential one only to its members), newest first, each linking to the
    text to read and approve. An approved, sent-back or discarded one leaves the list."""
    return render(
        request,
        "incidents/comms/awaiting.html",
        {"communications": access.communications_awaiting_approval(request.user)},
    )


@login_required
@require_POST
def preview(request):
    """Live Markdown preview (htmx): the field named by ?field= (default `body`), rendered and
    sanitised exactly as it will be shown."""
    field = request.GET.get("field", "body")
    text = request.POST.get(field, "")[:PREVIEW_LIMIT]
    return render(request, "incidents/comms/_preview.html", {"html": render_markdown(text)})


# One communication ---------------------------------------------------------------------------


@login_required
@require_GET
def detail(request, pk, comm_pk):
    incident = _incident(request, pk)
    comm = _communication(incident, comm_pk)
    return render(request, "incidents/comms/detail.html", _detail_context(request, incident, comm))


def _detail_context(request, incident, comm, translation_form=None, schedule_form=None):
    can_write = access.can_write_communication(request.user, incident)
    translations = list(comm.translations.all())
    if translation_form is None:
        chosen = next((t for t in translations if t.language == request.GET.get("translation")), None)
        initial = {"language": chosen.language, "title": chosen.title, "body": chosen.body} if chosen else {}
        if not chosen and comm.language != "zh-hans" and all(t.language != "zh-hans" for t in translations):
            initial = {"language": "zh-hans", "title": comm.title}  # the second language of the UI
            if comm.audience == Communication.Audience.STATUS_PAGE:
                initial["title"] = (incident.public_titles or {}).get("zh-hans", "")
            # Drafted from a template that has a Chinese sibling: start from it, filled.
            filled = communications.fill_translation(comm, "zh-hans")
            if filled is not None:
                initial["body"] = filled
        translation_form = TranslationForm(initial=initial, prefix="translation")
    if comm.audience == Communication.Audience.STATUS_PAGE:
        # A status-page update has no subject line: its translation's title is the incident's
        # public title in that language, in force once the update is published.
        title = translation_form.fields["title"]
        title.label = _("Translated public title")
        title.help_text = _("The incident's name on the status page in this language; empty: the default public title.")
    state = comm.status
    # "Publish now" records the update as scheduled for now and the worker publishes it within
    # seconds: the page says so, offers nothing more to click, and redraws itself once it is out.
    publishing = state == Status.SCHEDULED and comm.scheduled_for is not None and comm.scheduled_for <= timezone.now()
    # Who it goes to, and once published each recipient's delivery: people's addresses, shown to
    # those who may write communications (a followed page's subscribers masked for those who may
    # not manage the lists).
    deliveries = (
        [d.seen_by(request.user) for d in delivery.deliveries_of(comm)]
        if can_write and state == Status.PUBLISHED
        else []
    )
    delivering = any(d.status in (AudienceDelivery.Status.PENDING, AudienceDelivery.Status.SENDING) for d in deliveries)
    any_failed = any(d.status == AudienceDelivery.Status.FAILED for d in deliveries)
    return {
        "publishing": publishing,
        "delivering": delivering,
        "recipient_lists": list(comm.recipient_lists.all()) if comm.audience in RecipientList.AUDIENCES else [],
        "deliveries": deliveries,
        "any_failed": any_failed,
        "any_masked": any(d.masked for d in deliveries),
        "notifies": comm.notifies_stage if comm.notifies_clock_id else "",
        "incident": incident,
        "comm": comm,
        "body": render_markdown(comm.body),
        "diff": communications.diff_against_previous(comm),
        "translations": [(t, render_markdown(t.body)) for t in translations],
        "can_write": can_write,
        "can_edit": can_write and state not in (Status.PUBLISHED, Status.DISCARDED) and not publishing,
        "actions": _actions(comm, request.user) if can_write and not publishing else [],
        "can_schedule": can_write and state == Status.APPROVED,
        "own_approval_refused": state == Status.IN_REVIEW and access.approval_needs_someone_else(request.user, comm),
        # Who can approve it, for those who may not: whom to ask (none: nobody else may).
        "approvers": (
            [u.get_username() for u in access.approvers_to_tell(comm)]
            if can_write and state == Status.IN_REVIEW and not access.may_approve(request.user, comm)
            else None
        ),
        "translation_form": translation_form,
        "schedule_form": schedule_form or ScheduleForm(),
        "affected": communications.affected_services(comm),
        "public_title": communications.title_going_out(comm),
    }


def _actions(comm, user):
    """(action, label, css class) for the workflow buttons allowed in the communication's state
    to this user (who may write it): no Approve button for someone the two-person rule keeps
    from approving it."""
    allowed = Communication.TRANSITIONS[comm.status]
    actions = []
    if Status.IN_REVIEW in allowed:
        actions.append(("submit", _("Submit for review"), "primary"))
    if Status.APPROVED in allowed and comm.status == Status.IN_REVIEW and access.may_approve(user, comm):
        actions.append(("approve", _("Approve"), "primary"))
    if Status.PUBLISHED in allowed:
        actions.append(("publish", _("Publish now"), "primary"))
    if Status.APPROVED in allowed and comm.status == Status.SCHEDULED:
        actions.append(("unschedule", _("Cancel schedule"), ""))
    if Status.DRAFT in allowed:
        actions.append(("send-back", _("Send back to draft"), ""))
    if Status.DISCARDED in allowed:
        actions.append(("discard", _("Discard"), "danger"))
    return actions


ACTIONS = {
    "submit": (communications.submit, gettext_lazy("Submitted for review.")),
    "approve": (communications.approve, gettext_lazy("Approved.")),
    "send-back": (communications.send_back, gettext_lazy("Sent back to draft.")),
    "discard": (communications.discard, gettext_lazy("Discarded.")),
    "unschedule": (communications.unschedule, gettext_lazy("Taken off the schedule; still approved.")),
    "send-again": (delivery.send_again, gettext_lazy("Failed deliveries sent again.")),
    "publish": (
        communications.request_publish,
        gettext_lazy("Publishing: it shows as published as soon as the worker is done."),
    ),
}


@login_required
@require_POST
@explain_refusal
def act(request, pk, comm_pk, action):
    """A workflow step. A refused move (wrong state, the two-person rule) comes back as a
    message on the communication's page; a user who may not write gets a 403."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    incident = _incident(request, pk)
    comm = _communication(incident, comm_pk)
    _require_write(request, incident)
    operation, success = ACTIONS[action]
    # An approval is of the text the approver was shown: the form carries its version.
    args = (_shown_version(request),) if action == "approve" else ()
    try:
        operation(comm, request.user, *args)
    except communications.StaleCommunication as exc:
        # Show the text as it is now, with the refusal, on the page itself (not a redirect):
        # the approver reads the new text and its approve button carries the new version.
        for error in exc.messages:
            messages.error(request, error)
        comm = _communication(incident, comm_pk)
        return render(request, "incidents/comms/detail.html", _detail_context(request, incident, comm), status=409)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or WRITE_REFUSED)
    else:
        messages.success(request, success)
    return redirect(_detail_url(comm))


def _shown_version(request):
    """The version of the text the approve form showed; None (never current) when the form
    sent none or garbage, so the approval is refused as stale rather than a 500."""
    shown = request.POST.get("version", "")
    if shown.isascii() and shown.isdigit() and len(shown) <= 10:
        return int(shown)
    return None


@login_required
@require_POST
@explain_refusal
def schedule(request, pk, comm_pk):
    incident = _incident(request, pk)
    comm = _communication(incident, comm_pk)
    _require_write(request, incident)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            communications.schedule(comm, request.user, form.cleaned_data["scheduled_for"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Scheduled."))
            return redirect(_detail_url(comm))
    context = _detail_context(request, incident, comm, schedule_form=form)
    return render(request, "incidents/comms/detail.html", context, status=400)


@login_required
@explain_refusal
def edit(request, pk, comm_pk):
    """Change the message. Editing an approved or scheduled update sends it back to review."""
    incident = _incident(request, pk)
    comm = _communication(incident, comm_pk)
    _require_write(request, incident)
    if comm.status in (Status.PUBLISHED, Status.DISCARDED):
        messages.error(request, _("A published or discarded communication cannot be edited."))
        return redirect(_detail_url(comm))
    kept_lists = list(comm.recipient_lists.all())
    initial = {
        "audience": comm.audience,
        "title": comm.title,
        "body": comm.body,
        "language": comm.language,
        "public_status": comm.public_status,
        "affected": comm.affected,
        "recipient_lists": [item.pk for item in kept_lists],
        "notifies": f"{comm.notifies_clock_id}:{comm.notifies_stage}" if comm.notifies_clock_id else "",
        "public_title": comm.public_title,
        "public_impact": comm.public_impact,
    }
    form = CommunicationForm(
        request.POST or None, initial=initial, incident=incident, with_template=False, kept_lists=kept_lists
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                communications.edit(comm, request.user, **form.service_fields_values())
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect(_detail_url(comm))
        status = 400
    return render(
        request, "incidents/comms/form.html", {"incident": incident, "form": form, "comm": comm}, status=status
    )


@login_required
@require_POST
@explain_refusal
def translate(request, pk, comm_pk):
    incident = _incident(request, pk)
    comm = _communication(incident, comm_pk)
    _require_write(request, incident)
    if request.POST.get("action") == "fill":
        return _filled_translation(request, incident, comm)
    form = TranslationForm(request.POST, prefix="translation")
    if form.is_valid():
        data = form.cleaned_data
        try:
            communications.set_translation(comm, request.user, data["language"], data["body"], data["title"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Translation saved."))
            return redirect(_detail_url(comm) + "#translations")
    comm = _communication(incident, comm_pk)
    context = _detail_context(request, incident, comm, translation_form=form)
    return render(request, "incidents/comms/detail.html", context, status=400)


def _filled_translation(request, incident, comm):
    """The translation form with the message filled from the communication's template in the
    language typed, placeholders filled in that language."""
    form = TranslationForm(request.POST, prefix="translation")
    form.is_valid()
    form.errors.pop("body", None)  # the message is what is being filled
    language = form.cleaned_data.get("language")
    filled = communications.fill_translation(comm, language) if language else None
    if filled is None:
        if language:
            form.add_error(
                "language",
                _("No template in %(language)s for this update: write the translation, or add that template.")
                % {"language": language},
            )
        context = _detail_context(request, incident, comm, translation_form=form)
        return render(request, "incidents/comms/detail.html", context, status=400)
    initial = {"language": language, "title": form.cleaned_data.get("title") or comm.title, "body": filled}
    form = TranslationForm(initial=initial, prefix="translation")
    return render(
        request, "incidents/comms/detail.html", _detail_context(request, incident, comm, translation_form=form)
    )


@login_required
@require_POST
@explain_refusal
def cadence(request, pk):
    """The incident's own public update cadence, from the war-room header."""
    incident = _incident(request, pk)
    raw = request.POST.get("minutes", "")
    minutes = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else None
    if raw and minutes is None:
        messages.error(request, _("Choose how often to update the public."))
        return redirect(incident)
    try:
        communications.set_update_cadence(incident, minutes, request.user, request.POST.get("reason", ""))
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    return redirect(incident)


# The template library ----------------------------------------------------------------------


def _require_template_writer(request):
    if not access.can_manage_communication_templates(request.user):
        raise PermissionDenied(_("Only comms staff and commanders may change communication templates."))


@login_required
@require_GET
def template_list(request):
    templates = list(CommunicationTemplate.objects.order_by("audience", "name"))
    audiences = dict(Communication.Audience.choices)
    return render(
        request,
        "incidents/comms/template_list.html",
        {
            "templates": [(t, audiences.get(t.audience, "")) for t in templates],
            "can_manage": access.can_manage_communication_templates(request.user),
        },
    )


@login_required
@explain_refusal
def template_create(request):
    _require_template_writer(request)
    return _template_form(request, None)


@login_required
@explain_refusal
def template_edit(request, template_pk):
    _require_template_writer(request)
    template = get_object_or_404(CommunicationTemplate, pk=template_pk)
    return _template_form(request, template)


def _template_form(request, template):
    form = TemplateForm(request.POST or None, instance=template)
    if request.method == "POST":
        if form.is_valid():
            saved = form.save()
            messages.success(request, _("Template “%(name)s” saved.") % {"name": saved.name})
            return redirect("comms:templates")
        status = 400
    else:
        status = 200
    return render(request, "incidents/comms/template_form.html", {"form": form, "template": template}, status=status)


@login_required
@require_POST
@explain_refusal
def template_delete(request, template_pk):
    _require_template_writer(request)
    template = get_object_or_404(CommunicationTemplate, pk=template_pk)
    name = template.name
    template.delete()  # drafts made from it keep their text; their `template` link is cleared
    messages.success(request, _("Template “%(name)s” deleted.") % {"name": name})
    return redirect("comms:templates")


# Recipient lists ---------------------------------------------------------------------------


def _require_list_manager(request):
    if not access.can_manage_recipient_lists(request.user):
        raise PermissionDenied(recipients.REFUSED)


@login_required
@explain_refusal
def recipient_lists(request):
    """The recipient lists of customer, regulator and partner messages, and a form for a new
    one. Comms staff and commanders only (the lists hold people's addresses)."""
    _require_list_manager(request)
    form = RecipientListForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = recipients.create_list(request.user, **form.cleaned_data)
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("List “%(name)s” created.") % {"name": created.name})
                return redirect("comms:recipient_list", created.pk)
        status = 400
    lists = list(RecipientList.objects.annotate(member_count=Count("members")).order_by("audience", "name"))
    following = delivery.following(lists)
    for item in lists:
        item.following = following.get(item.pk)
    return render(request, "incidents/comms/recipient_lists.html", {"lists": lists, "form": form}, status=status)


@login_required
@explain_refusal
def recipient_list(request, list_pk):
    """One list: its members, a form to add one, and the list's own settings. POST `action`:
    `add` (a member), `remove` (`member`), `toggle` (a member's `active`), `update` (the list)
    or `delete` (the list)."""
    _require_list_manager(request)
    recipient_list = get_object_or_404(RecipientList, pk=list_pk)
    list_form = RecipientListForm(
        initial={
            "name": recipient_list.name,
            "audience": recipient_list.audience,
            "active": recipient_list.active,
            "follows_page": recipient_list.follows_page,
        },
        prefix="list",
    )
    member_form = RecipientForm(prefix="member")
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "add":
            member_form = RecipientForm(request.POST, prefix="member")
            if member_form.is_valid():
                try:
                    member = recipients.add_member(recipient_list, request.user, **member_form.values())
                except ValidationError as exc:
                    apply_errors(member_form, exc)
                else:
                    messages.success(request, _("%(address)s added.") % {"address": member.address})
                    return redirect("comms:recipient_list", recipient_list.pk)
            status = 400
        elif action == "update":
            list_form = RecipientListForm(request.POST, prefix="list")
            if list_form.is_valid():
                try:
                    recipients.update_list(recipient_list, request.user, **list_form.cleaned_data)
                except ValidationError as exc:
                    apply_errors(list_form, exc)
                else:
                    messages.success(request, _("Saved."))
                    return redirect("comms:recipient_list", recipient_list.pk)
            status = 400
        elif action in ("remove", "toggle"):
            raw = request.POST.get("member", "")
            member = None
            if raw.isascii() and raw.isdigit() and len(raw) <= 18:
                member = recipient_list.members.filter(pk=int(raw)).first()
            try:
                if member is None:
                    messages.error(request, _("That member is no longer on the list."))
                elif action == "remove":
                    recipients.remove_member(member, request.user)
                    messages.success(request, _("%(address)s removed.") % {"address": member.address})
                else:
                    recipients.update_member(member, request.user, active=not member.active)
            except ValidationError as exc:
                for error in exc.messages:
                    messages.error(request, error)
            return redirect("comms:recipient_list", recipient_list.pk)
        elif action == "delete":
            name = recipient_list.name
            recipients.delete_list(recipient_list, request.user)
            messages.success(request, _("List “%(name)s” deleted.") % {"name": name})
            return redirect("comms:recipient_lists")
        else:
            messages.error(request, _("Unknown action."))
            return redirect("comms:recipient_list", recipient_list.pk)
    return render(
        request,
        "incidents/comms/recipient_list.html",
        {
            "recipient_list": recipient_list,
            "following": delivery.following([recipient_list]).get(recipient_list.pk),
            "members": list(recipient_list.members.order_by("kind", "email", "webhook_url", "pk")),
            "list_form": list_form,
            "member_form": member_form,
        },
        status=status,
    )
