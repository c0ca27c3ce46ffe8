from django import forms
from django.utils.translation import gettext_lazy as _

from incidents.alerts.models import AlertRule, AlertSource
from incidents.forms import ServicesField, active_users
from incidents.models import Incident, Service


class SourceForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=AlertSource.Kind.choices)
    services = ServicesField(
        label=_("Services it covers"),
        queryset=Service.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    owner = forms.ModelChoiceField(
        label=_("Declares incidents as"), queryset=active_users(), required=False, help_text=_("Empty: you")
    )
    grouping_minutes = forms.IntegerField(label=_("Grouping window (minutes)"), min_value=0, max_value=1440, initial=10)
    require_signature = forms.BooleanField(label=_("Require an HMAC-SHA256 signature of the body"), required=False)


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, required=False)
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=10**6, required=False)
    matchers = forms.CharField(
        label=_("Matchers"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: label=value, label!=value, label=~regex, label!~regex. None: every alert."),
    )
    service = forms.ModelChoiceField(label=_("Service"), queryset=Service.objects.none(), required=False)
    severity = forms.TypedChoiceField(
        label=_("Severity"),
        choices=[("", _("From the alert's severity label")), *Incident.Severity.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    kind = forms.ChoiceField(label=_("Incident kind"), choices=Incident.Kind.choices, initial="availability")
    action = forms.ChoiceField(label=_("Action"), choices=AlertRule.Action.choices)
    sample = forms.CharField(
        label=_("Sample payload (to try the rules)"),
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 6}),
    )

    def __init__(self, *args, source=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = source.services.all() if source else Service.objects.none()

    def rule_values(self):
        data = dict(self.cleaned_data)
        data.pop("sample", None)
        data["matchers"] = [m.strip() for m in (data["matchers"] or "").splitlines() if m.strip()]
        if data.get("position") is None:
            data.pop("position")
        return data


class AttachForm(forms.Form):
    incident = forms.IntegerField(label=_("Incident number"), min_value=1, max_value=2**62)
