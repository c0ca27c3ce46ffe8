"""Forms of the comms pages. They parse and check shapes; the rules (who, which state, the
two-person rule) are incidents.comms.services'."""

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from incidents.comms import delivery
from incidents.comms.services import (
    AFFECTED_LEVELS,
    LANGUAGE_CODE,
    PLACEHOLDER_NAMES,
    notification_stages,
    suggested_impact,
)
from incidents.forms import DateTimeField, DateTimeInput
from incidents.models import Communication, CommunicationTemplate, Impact, Recipient, RecipientList, Service

LEVEL_CHOICES = [
    ("", _("Not mentioned")),
    ("operational", _("Operational")),
    *[(value, label) for value, label in Impact.Level.choices],
]
PUBLIC_STATUS_CHOICES = [("", "—"), *Communication.PublicStatus.choices]
LANGUAGE_HELP = _("A language code: en, de, fr, zh-hans…")


def clean_language_code(value):
    value = (value or "").strip().lower()
    if not LANGUAGE_CODE.match(value):
        raise ValidationError(_("Use a language code such as en, de, pt-br or zh-hans."))
    return value


class CommunicationForm(forms.Form):
    """A draft or an edit. For status-page updates, one level select per public service
    (`service_<pk>`), defaulting to the incident's open impacts: what the update says about
    each service becomes its public status when it is published."""

    audience = forms.ChoiceField(label=_("Audience"), choices=Communication.Audience.choices)
    template = forms.ModelChoiceField(
        label=_("Template"),
        queryset=CommunicationTemplate.objects.all(),
        required=False,
        empty_label=_("No template"),
        help_text=_("“Fill from template” replaces the message below with the template, placeholders filled."),
    )
    title = forms.CharField(
        label=_("Title"), max_length=200, required=False, help_text=_("Subject line for e-mail audiences")
    )
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 12}), help_text=_("Markdown"))
    language = forms.CharField(label=_("Language"), max_length=15, initial="en", help_text=LANGUAGE_HELP)
    public_status = forms.ChoiceField(
        label=_("Public status"),
        choices=PUBLIC_STATUS_CHOICES,
        required=False,
        help_text=_("The label the status page shows with this update"),
    )
    public_title = forms.CharField(label=_("Public title"), max_length=200, required=False)
    # Not sent (a form posted by a script): the draft takes the suggestion, an edit keeps its own.
    public_impact = forms.ChoiceField(
        label=_("Public impact"), choices=Communication.PublicImpact.choices, required=False
    )

    recipient_lists = forms.ModelMultipleChoiceField(
        label=_("Send to"),
        queryset=RecipientList.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Customers, regulators, partners: the recipient lists it is delivered to when published"),
    )
    notifies = forms.ChoiceField(
        label=_("This is the notification for"),
        required=False,
        help_text=_("Publishing it records the submission on this stage of the legal clock"),
    )

    # The service names the clock and the stage apart; the form chooses both in one field.
    error_aliases = {"notifies_clock": "notifies", "notifies_stage": "notifies"}

    def __init__(self, *args, incident, with_template=True, kept_lists=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.incident = incident
        if not with_template:
            del self.fields["template"]
        kept = [item.pk for item in kept_lists]
        lists = RecipientList.objects.filter(models.Q(active=True) | models.Q(pk__in=kept)).order_by("audience", "name")
        self.fields["recipient_lists"].queryset = lists  # what a submitted choice is checked against
        # Read once for the checkboxes (the widget would read the queryset again).
        self.list_choices = [(item.pk, f"{item.name} ({item.get_audience_display()})") for item in lists]
        self.fields["recipient_lists"].choices = self.list_choices
        stages = [
            (f"{clock.pk}:{stage}", f"{clock.obligation.regime} — {stage}")
            for clock, stage in notification_stages(incident)
        ]
        current = self.initial.get("notifies")
        if current and current not in dict(stages):
            stages.append((current, current.partition(":")[2]))
        self.fields["notifies"].choices = [("", _("None: not a legal notification")), *stages]
        self._public_fields(incident)
        self.services = list(Service.objects.filter(public=True))
        current = self._current_levels(incident)
        preset = {item["service"]: item["level"] for item in self.initial.get("affected") or []}
        self.service_fields = []
        for service in self.services:
            name = f"service_{service.pk}"
            self.fields[name] = forms.ChoiceField(
                label=service.name, choices=LEVEL_CHOICES, required=False, initial=preset.get(service.slug, "")
            )
            if "affected" not in self.initial:
                self.fields[name].initial = current.get(service.pk, "")
            self.service_fields.append((service, name))

    def _public_fields(self, incident):
        """The public title (asked for while the incident has none) and the impact, suggested
        from the severity: what the status page shows once the update is published."""
        title = self.fields["public_title"]
        title.widget.attrs["placeholder"] = _("e.g. Slow replies in web chat")
        if incident.public_title:
            title.initial = self.initial.get("public_title") or incident.public_title
            title.help_text = format_lazy(
                _("The status page calls this incident “{title}”. A new title goes live with this update."),
                title=incident.public_title,
            )
        else:
            title.initial = self.initial.get("public_title", "")
            title.help_text = _(
                "What the public reads as this incident's name on the status page, its feeds and subscriber "
                "e-mails. Not the internal title: the incident has no public title yet, so this first update "
                "needs one."
            )
        impact = self.fields["public_impact"]
        suggestion = suggested_impact(incident)
        impact.initial = self.initial.get("public_impact") or suggestion
        impact.help_text = format_lazy(
            _("Suggested for SEV{severity}: {impact}. The status page shows the latest published update's impact."),
            severity=incident.severity,
            impact=Communication.PublicImpact(suggestion).label,
        )

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("audience") == Communication.Audience.STATUS_PAGE
            and not self.incident.public_title
            and not (cleaned.get("public_title") or "").strip()
        ):
            self.add_error(
                "public_title",
                _("Give the incident a public title: the status page never shows the internal one."),
            )
        return cleaned

    @staticmethod
    def _current_levels(incident):
        """Each service's level on this incident now: its worst open impact, or operational if
        the incident touched it and nothing is open any more."""
        levels = {pk: "operational" for pk in incident.services.values_list("pk", flat=True)}
        for service_id, level in incident.impacts.filter(ended_at__isnull=True).values_list("service_id", "level"):
            if Impact.RANK.get(level, 0) > Impact.RANK.get(levels.get(service_id), 0):
                levels[service_id] = level
        return levels

    def affected_rows(self):
        return [(service, self[name]) for service, name in self.service_fields]

    def main_fields(self):
        return [self[name] for name in ("audience", "template", "title", "body", "language") if name in self.fields]

    def clean_language(self):
        return clean_language_code(self.cleaned_data.get("language"))

    def has_lists(self):
        return bool(self.list_choices)

    def notified(self):
        """(clock id, stage) chosen, or None."""
        clock, _sep, stage = (self.cleaned_data.get("notifies") or "").partition(":")
        return (int(clock), stage) if clock.isdigit() else None

    def affected(self):
        return [
            {"service": service.slug, "level": self.cleaned_data[name]}
            for service, name in self.service_fields
            if self.cleaned_data.get(name) in AFFECTED_LEVELS
        ]

    def service_fields_values(self):
        """What the service calls take: the public status label and the affected services only
        matter for the status page (the form hides them for other audiences)."""
        data = self.cleaned_data
        is_status_page = data["audience"] == Communication.Audience.STATUS_PAGE
        to_lists = data["audience"] in RecipientList.AUDIENCES
        impact = {"public_impact": data["public_impact"]} if is_status_page and data.get("public_impact") else {}
        return {
            **impact,
            "audience": data["audience"],
            "title": data["title"],
            "body": data["body"],
            "language": data["language"],
            "public_status": data["public_status"] if is_status_page else "",
            "affected": self.affected() if is_status_page else [],
            # The form hides them for other audiences: what is hidden is not sent.
            "recipient_lists": [item.pk for item in data.get("recipient_lists") or []] if to_lists else [],
            "notifies": self.notified() if data["audience"] == Communication.Audience.REGULATORS else None,
            "public_title": data["public_title"] if is_status_page else "",
        }


class ScheduleForm(forms.Form):
    scheduled_for = DateTimeField(label=_("Publish at"), widget=DateTimeInput(attrs={"aria-label": _("Publish at")}))


class TranslationForm(forms.Form):
    language = forms.CharField(label=_("Language"), max_length=15, help_text=_("e.g. zh-hans, de, fr"))
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    body = forms.CharField(
        label=_("Translated message"), widget=forms.Textarea(attrs={"rows": 8}), help_text=_("Markdown")
    )

    def clean_language(self):
        return clean_language_code(self.cleaned_data.get("language"))


class TemplateForm(forms.ModelForm):
    public_status = forms.ChoiceField(label=_("Public status"), choices=PUBLIC_STATUS_CHOICES, required=False)

    class Meta:
        model = CommunicationTemplate
        fields = ["name", "audience", "public_status", "language", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 14})}
        help_texts = {
            "body": format_lazy(
                "{} {}", _("Markdown. Placeholders:"), ", ".join("{" + name + "}" for name in PLACEHOLDER_NAMES)
            ),
            "audience": _("Empty: offered for every audience"),
        }

    def clean_language(self):
        return clean_language_code(self.cleaned_data.get("language"))


class RecipientListForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    audience = forms.ChoiceField(label=_("Audience"), choices=[(a.value, a.label) for a in RecipientList.AUDIENCES])
    active = forms.BooleanField(
        label=_("Active"), required=False, initial=True, help_text=_("An inactive list receives nothing")
    )
    follows_page = forms.TypedChoiceField(
        label=_("Subscribers of a private status page"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("Its confirmed subscribers who may still see it are members too"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["follows_page"].choices = [("", _("None"))] + [
            (str(pk), name) for pk, name in delivery.followable_pages()
        ]


class RecipientForm(forms.Form):
    """One member: an e-mail address (name and language optional) or a webhook URL. The checks
    (a valid address, a public URL) are incidents.comms.recipients'."""

    kind = forms.ChoiceField(label=_("Kind"), choices=Recipient.Kind.choices, initial=Recipient.Kind.EMAIL)
    email = forms.CharField(label=_("E-mail address"), max_length=254, required=False)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    language = forms.CharField(
        label=_("Language"), max_length=15, required=False, help_text=_("E-mail in this language when translated")
    )
    webhook_url = forms.CharField(
        label=_("Webhook URL"), max_length=500, required=False, help_text=_("A public http(s) address; signed")
    )

    def values(self):
        data = self.cleaned_data
        if data["kind"] == Recipient.Kind.EMAIL:
            return {"kind": data["kind"], "email": data["email"], "name": data["name"], "language": data["language"]}
        return {"kind": data["kind"], "webhook_url": data["webhook_url"], "name": data["name"]}
