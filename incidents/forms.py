from django import forms
from django.contrib.auth import get_user_model

from .models import Impact, Incident, Membership, Service


def _active_users():
    User = get_user_model()
    return User.objects.filter(is_active=True).order_by(User.USERNAME_FIELD)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, help_text="Markdown")
    severity = forms.TypedChoiceField(choices=Incident.Severity.choices, coerce=int, initial=3)
    kind = forms.ChoiceField(choices=Incident.Kind.choices)
    services = forms.ModelMultipleChoiceField(queryset=Service.objects.all(), required=False)
    confidential = forms.BooleanField(required=False)
    started_at = forms.DateTimeField(
        required=False, widget=DateTimeInput(), label="Impact started", help_text="Leave empty for now"
    )
    commander = forms.ModelChoiceField(queryset=None, required=False, help_text="Leave empty to take command yourself")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = _active_users()


class EditIncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, help_text="Markdown")
    kind = forms.ChoiceField(choices=Incident.Kind.choices)
    confidential = forms.BooleanField(required=False)
    services = forms.ModelMultipleChoiceField(queryset=Service.objects.all(), required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    note = forms.CharField(required=False, max_length=500)


class SeverityForm(forms.Form):
    severity = forms.TypedChoiceField(choices=Incident.Severity.choices, coerce=int)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
    user = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _active_users()


class ImpactForm(forms.Form):
    service = forms.ModelChoiceField(queryset=Service.objects.all())
    level = forms.ChoiceField(choices=Impact.Level.choices)
    regions = forms.CharField(required=False, help_text="Comma-separated; empty means everywhere")
    started_at = forms.DateTimeField(required=False, widget=DateTimeInput())


class CorrectTimeForm(forms.Form):
    field = forms.ChoiceField(
        choices=[(f, f.removesuffix("_at").replace("_", " ").capitalize()) for f in Incident.CORRECTABLE_TIMES]
    )
    value = forms.DateTimeField(required=False, widget=DateTimeInput(), help_text="Empty clears the time")
    reason = forms.CharField(max_length=300)


class EntryEditForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))


class ServiceForm(forms.ModelForm):
    class Meta:
        model = Service
        fields = ["name", "slug", "group", "owner", "description", "public", "position"]
