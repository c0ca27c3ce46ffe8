from django import forms
from django.contrib.auth import get_user_model

from .models import Impact, Incident, Membership, Service


def _active_users():
    User = get_user_model()
    return User.objects.filter(is_active=True).order_by(User.USERNAME_FIELD)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None, **kwargs):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M", **kwargs)


CONFIDENTIAL_HELP = "Only the incident's members and the security group will see it"


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    summary = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}), required=False, help_text="Markdown: what users see, what we know"
    )
    severity = forms.TypedChoiceField(
        choices=Incident.Severity.choices, coerce=int, initial=3, help_text="SEV1 is the worst"
    )
    kind = forms.ChoiceField(choices=Incident.Kind.choices)
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label="Affected services"
    )
    # Three ways, so that "not chosen" reaches services.declare as None and the kind decides
    # (security and data-exposure incidents are confidential by default), with or without JS.
    confidential = forms.TypedChoiceField(
        choices=[
            ("", "As the kind suggests (security, data exposure: confidential)"),
            ("yes", "Confidential"),
            ("no", "Not confidential"),
        ],
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
        help_text=CONFIDENTIAL_HELP,
    )
    started_at = forms.DateTimeField(
        required=False, widget=DateTimeInput(), label="Impact started", help_text="In your time zone; empty means now"
    )
    commander = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="Me", help_text="Who runs the response; you can hand over later"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = _active_users()


class EditIncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, help_text="Markdown")
    kind = forms.ChoiceField(choices=Incident.Kind.choices)
    confidential = forms.BooleanField(required=False, help_text=CONFIDENTIAL_HELP)
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.all(), required=False, widget=forms.CheckboxSelectMultiple, label="Affected services"
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    note = forms.CharField(required=False, max_length=500)


class SeverityForm(forms.Form):
    severity = forms.TypedChoiceField(choices=Incident.Severity.choices, coerce=int)


class RoleForm(forms.Form):
    # No preselected role: picking a person and pressing Assign must never hand over command by accident.
    role = forms.ChoiceField(
        choices=[("", "Role…"), *Membership.Role.choices], widget=forms.Select(attrs={"aria-label": "Role"})
    )
    user = forms.ModelChoiceField(
        queryset=None, empty_label="Person…", widget=forms.Select(attrs={"aria-label": "Person"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _active_users()


class ImpactForm(forms.Form):
    service = forms.ModelChoiceField(
        queryset=Service.objects.all(), empty_label="Service…", widget=forms.Select(attrs={"aria-label": "Service"})
    )
    level = forms.ChoiceField(
        choices=[("", "Level…"), *Impact.Level.choices], widget=forms.Select(attrs={"aria-label": "Level"})
    )
    regions = forms.CharField(required=False, help_text="Comma-separated; empty means everywhere")
    started_at = forms.DateTimeField(required=False, widget=DateTimeInput())


class CorrectTimeForm(forms.Form):
    field = forms.ChoiceField(
        choices=[(f, f.removesuffix("_at").replace("_", " ").capitalize()) for f in Incident.CORRECTABLE_TIMES],
        widget=forms.Select(attrs={"aria-label": "Which time"}),
    )
    value = forms.DateTimeField(
        required=False, widget=DateTimeInput(attrs={"aria-label": "New time"}), help_text="Empty clears the time"
    )
    reason = forms.CharField(max_length=300)


class EntryEditForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))


class ServiceForm(forms.ModelForm):
    class Meta:
        model = Service
        fields = ["name", "slug", "group", "owner", "description", "public", "position"]
