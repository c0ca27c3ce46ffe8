"""Forms of the comms pages. They parse and check shapes; the rules (who, which state, the
two-person rule) are incidents.comms.services'."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from incidents.comms.services import AFFECTED_LEVELS, LANGUAGE_CODE, PLACEHOLDER_NAMES, suggested_impact
from incidents.forms import DateTimeField, DateTimeInput
from incidents.models import Communication, CommunicationTemplate, Impact, Service

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

    def __init__(self, *args, incident, with_template=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.incident = incident
        if not with_template:
            del self.fields["template"]
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
        impact = {"public_impact": data["public_impact"]} if is_status_page and data.get("public_impact") else {}
        return {
            **impact,
            "audience": data["audience"],
            "title": data["title"],
            "body": data["body"],
            "language": data["language"],
            "public_status": data["public_status"] if is_status_page else "",
            "affected": self.affected() if is_status_page else [],
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
