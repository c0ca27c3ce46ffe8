from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from incidents.models import ApiToken, AuditEvent, Impact, Incident, Membership, Service


def active_users():
    """The people a form offers (owners, assignees, commanders): active ones, by name."""
    User = get_user_model()
    return User.objects.filter(is_active=True).order_by(User.USERNAME_FIELD)


def apply_errors(form, exc):
    """Put a service's ValidationError on the form: on its field when the form has it (or the
    field the form's `error_aliases` names for it)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            field = getattr(form, "error_aliases", {}).get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def keep_seconds(value, stored):
    """The stored time when the form gave it back unchanged: forms show minutes, and an
    untouched time must not log a change of its seconds."""
    if value and stored and value == stored.replace(second=0, microsecond=0):
        return stored
    return value


def error_messages(exc, default="You may not do that on this incident."):
    """A service's ValidationError or PermissionDenied as a list of messages, for a notice."""
    if hasattr(exc, "error_dict"):
        return [m for msgs in exc.message_dict.values() for m in msgs]
    return list(getattr(exc, "messages", None) or [str(exc) or default])


class DateTimeField(forms.DateTimeField):
    """A date and time typed into a form, within the years 1900-2999: a far-off one (9999-12-31
    in a zone west of UTC) would overflow the database's timestamps once stored in UTC, and
    every page showing it would fail."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and not 1900 <= result.year <= 2999:
            raise forms.ValidationError(_("Give a date between the years 1900 and 2999."), code="invalid")
        return result


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None, **kwargs):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M", **kwargs)


class ServicesField(forms.ModelMultipleChoiceField):
    """Services chosen by id. Refuses what no id can be before it reaches the database
    (SQLite cannot even compare a 20-digit number): a form error, never a 500."""

    def _check_values(self, value):
        for pk in value:
            pk = str(pk)
            # len() first: int() refuses more than 4300 digits.
            if not (pk.isascii() and pk.isdecimal() and len(pk) <= 19 and int(pk) < 2**63):
                message = self.error_messages["invalid_pk_value"]
                raise forms.ValidationError(message, code="invalid_pk_value", params={"pk": pk})
        return super()._check_values(value)


CONFIDENTIAL_HELP = _("Only the incident's members and the security group will see it")


class DeclareForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, widget=forms.TextInput(attrs={"autofocus": True}))
    summary = forms.CharField(
        label=_("Summary"),
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text=_("Markdown: what users see, what we know"),
    )
    severity = forms.TypedChoiceField(
        label=_("Severity"),
        choices=Incident.Severity.choices,
        coerce=int,
        initial=3,
        help_text=_("SEV1 is the worst"),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Incident.Kind.choices)
    services = ServicesField(
        queryset=Service.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Affected services"),
    )
    # Three ways, so that "not chosen" reaches services.declare as None and the kind decides
    # (security and data-exposure incidents are confidential by default), with or without JS.
    confidential = forms.TypedChoiceField(
        label=_("Confidential"),
        choices=[
            ("", _("As the kind suggests (security, data exposure: confidential)")),
            ("yes", _("Confidential")),
            ("no", _("Not confidential")),
        ],
        coerce=lambda value: value == "yes",
        empty_value=None,
        required=False,
        help_text=CONFIDENTIAL_HELP,
    )
    started_at = DateTimeField(
        required=False,
        widget=DateTimeInput(),
        label=_("Impact started"),
        help_text=_("In your time zone; empty means now"),
    )
    commander = forms.ModelChoiceField(
        label=_("Commander"),
        queryset=None,
        required=False,
        empty_label=_("Me"),
        help_text=_("Who runs the response; you can hand over later"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = active_users()


class EditIncidentForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    summary = forms.CharField(
        label=_("Summary"), widget=forms.Textarea(attrs={"rows": 8}), required=False, help_text=_("Markdown")
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=Incident.Kind.choices)
    confidential = forms.BooleanField(label=_("Confidential"), required=False, help_text=CONFIDENTIAL_HELP)
    services = ServicesField(
        queryset=Service.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Affected services"),
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    note = forms.CharField(required=False, max_length=500)
    # The status the page showed: a move decided on a stale page is refused (StatusConflict).
    from_status = forms.ChoiceField(choices=Incident.Status.choices, required=False)


class SeverityForm(forms.Form):
    severity = forms.TypedChoiceField(choices=Incident.Severity.choices, coerce=int)


class RoleForm(forms.Form):
    # No preselected role: picking a person and pressing Assign must never hand over command by accident.
    role = forms.ChoiceField(
        choices=[("", _("Role…")), *Membership.Role.choices], widget=forms.Select(attrs={"aria-label": _("Role")})
    )
    user = forms.ModelChoiceField(
        queryset=None, empty_label=_("Person…"), widget=forms.Select(attrs={"aria-label": _("Person")})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = active_users()


class ImpactForm(forms.Form):
    """One level on one or more services: the incident's declared services are offered as
    boxes, those with no open impact yet ticked; any other service through the select."""

    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    service = forms.ModelChoiceField(
        queryset=Service.objects.all(),
        required=False,
        empty_label=_("Other service…"),
        widget=forms.Select(attrs={"aria-label": _("Other service")}),
    )
    level = forms.ChoiceField(
        choices=[("", _("Level…")), *Impact.Level.choices], widget=forms.Select(attrs={"aria-label": _("Level")})
    )
    regions = forms.CharField(required=False, help_text="Comma-separated; empty means everywhere")
    started_at = DateTimeField(required=False, widget=DateTimeInput())

    def __init__(self, *args, incident=None, impacts=(), **kwargs):
        super().__init__(*args, **kwargs)
        if incident is not None:
            declared = list(incident.services.all())
            open_ids = {i.service_id for i in impacts if i.is_open}
            self.fields["services"].queryset = Service.objects.filter(pk__in=[s.pk for s in declared])
            self.fields["services"].choices = [(s.pk, s.name) for s in declared]
            self.fields["services"].initial = [s.pk for s in declared if s.pk not in open_ids]

    def clean(self):
        cleaned = super().clean()
        chosen = list(cleaned.get("services") or [])
        if cleaned.get("service") and cleaned["service"] not in chosen:
            chosen.append(cleaned["service"])
        if not chosen and not self.errors:
            raise ValidationError(_("Tick a service or choose one."))
        cleaned["chosen"] = chosen
        return cleaned


# Incident.CORRECTABLE_TIMES as the time form names them.
CORRECTABLE_TIME_LABELS = {
    "aware_at": _("Aware"),
    "started_at": _("Started"),
    "detected_at": _("Detected"),
    "acknowledged_at": _("Acknowledged"),
    "mitigated_at": _("Mitigated"),
    "resolved_at": _("Resolved"),
    "closed_at": _("Closed"),
}


class CorrectTimeForm(forms.Form):
    field = forms.ChoiceField(
        choices=[
            (f, CORRECTABLE_TIME_LABELS.get(f) or f.removesuffix("_at").replace("_", " ").capitalize())
            for f in Incident.CORRECTABLE_TIMES
        ],
        widget=forms.Select(attrs={"aria-label": _("Which time")}),
    )
    value = DateTimeField(
        required=False, widget=DateTimeInput(attrs={"aria-label": _("New time")}), help_text=_("Empty clears the time")
    )
    reason = forms.CharField(max_length=300)


class EntryEditForm(forms.Form):
    body = forms.CharField(label=_("Body"), widget=forms.Textarea(attrs={"rows": 4}))


class ServiceNamesField(forms.CharField):
    """A service's names in other languages, one `language code: name` a line (zh-hans: 公共 API)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value):
        names = {}
        for line in (super().to_python(value) or "").splitlines():
            if not line.strip():
                continue
            language, sep, name = line.partition(":")
            if not sep or not language.strip() or not name.strip():
                raise ValidationError(_("Write one name a line as “language code: name”, e.g. zh-hans: 公共 API."))
            names[language.strip().lower()] = name.strip()
        return names

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{language}: {name}" for language, name in value.items())
        return value


class ServiceForm(forms.ModelForm):
    names = ServiceNamesField(
        label=_("Names in other languages"),
        required=False,
        help_text=_("One a line, “language code: name” (zh-hans: 公共 API), used by the status page and updates."),
    )

    class Meta:
        model = Service
        fields = ["name", "slug", "group", "owner", "description", "public", "position", "names"]
        labels = {
            "name": _("Name"),
            "slug": _("Slug"),
            "group": _("Group"),
            "owner": _("Owner"),
            "description": _("Description"),
            "public": _("Public"),
            "position": _("Position"),
        }
        help_texts = {"group": _("e.g. Product, Platform"), "public": _("Shown on the public status page")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # As in the API: services.create_service makes a slug from the name when none is given.
        self.fields["slug"].required = False

    def validate_unique(self):
        # Uniqueness is the catalog's rule (names differ case-insensitively), judged by
        # services.create_service; the model's own check would let "public api" in beside
        # "Public API" and word its refusals differently from the API.
        pass


# Accounts: API tokens, two-factor sign-in, the audit log ---------------------------------------


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("What will use it, e.g. “chat-ops bot”."))
    scope = forms.ChoiceField(label=_("Scope"), choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_at = DateTimeField(
        label=_("Expires"), required=False, widget=DateTimeInput(), help_text=_("Empty: until you revoke it.")
    )


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text"}),
        help_text=_("The 6 digits your authenticator app shows, or one of your recovery codes."),
    )


class UnlockForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150, required=False)
    address = forms.GenericIPAddressField(label=_("Address"), required=False)

    def clean(self):
        data = super().clean()
        if not data.get("username") and not data.get("address"):
            raise forms.ValidationError(_("Name a username or an address to unlock."))
        return data


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), required=False, choices=[("", "—"), *AuditEvent.Action.choices])
    actor = forms.CharField(label=_("Who"), max_length=150, required=False)
    subject = forms.CharField(label=_("Concerning"), max_length=200, required=False)
    address = forms.CharField(label=_("Address"), max_length=64, required=False)
    since = DateTimeField(label=_("From"), required=False, widget=DateTimeInput())
    until = DateTimeField(label=_("Until"), required=False, widget=DateTimeInput())

    def filter(self, events):
        data = self.cleaned_data
        if data.get("action"):
            events = events.filter(action=data["action"])
        if data.get("actor"):
            events = events.filter(actor_name__iexact=data["actor"].strip())
        if data.get("subject"):
            events = events.filter(subject__icontains=data["subject"].strip())
        if data.get("address"):
            events = events.filter(address=data["address"].strip())
        if data.get("since"):
            events = events.filter(at__gte=data["since"])
        if data.get("until"):
            events = events.filter(at__lt=data["until"])
        return events


class LanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        help_text=_("The staff pages once you sign in, and the e-mails Warroom sends you."),
    )

    def __init__(self, *args, **kwargs):
        from django.conf import settings
        from django.utils.translation import get_language_info

        super().__init__(*args, **kwargs)
        site = get_language_info(settings.LANGUAGE_CODE)["name_local"]
        self.fields["language"].choices = [("", _("The site's language (%(language)s)") % {"language": site})] + [
            (code, get_language_info(code)["name_local"]) for code, _name in settings.LANGUAGES
        ]
