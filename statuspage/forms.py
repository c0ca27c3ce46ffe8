"""Public forms of the status page: subscribe, and change what a subscription follows."""

from django import forms
from django.core.validators import EmailValidator

from incidents.models import Service

from . import subscriptions
from .delivery import AddressError, check_webhook_url
from .models import Subscriber

SCOPES = [
    ("all", "Everything on this page"),
    ("some", "Only the components or groups I choose below"),
]


class ScopeForm(forms.Form):
    """Everything, or chosen components and/or groups (a group includes components added to
    it later)."""

    scope = forms.ChoiceField(choices=SCOPES, initial="all", widget=forms.RadioSelect, label="Tell me about")
    components = forms.ModelMultipleChoiceField(
        queryset=Service.objects.none(), required=False, widget=forms.CheckboxSelectMultiple, label="Components"
    )
    groups = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Groups",
        help_text="A group includes components added to it later.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Internal services are never offered, and never accepted if posted.
        self.fields["components"].queryset = Service.objects.filter(public=True).order_by("group", "position", "name")
        self.fields["groups"].choices = [(g, g) for g in subscriptions.public_groups()]

    def clean(self):
        data = super().clean()
        if data.get("scope") == "some" and not (data.get("components") or data.get("groups")):
            raise forms.ValidationError("Choose at least one component or group, or choose everything.")
        return data

    def scope_kwargs(self):
        data = self.cleaned_data
        if data["scope"] == "all":
            return {"all_components": True, "components": (), "groups": ()}
        return {"all_components": False, "components": list(data["components"]), "groups": list(data["groups"])}

    @classmethod
    def initial_for(cls, subscriber):
        return {
            "scope": "all" if subscriber.all_components else "some",
            "components": list(subscriber.components.all()),
            "groups": list(subscriber.groups or ()),
        }


class SubscribeForm(ScopeForm):
    kind = forms.ChoiceField(
        choices=Subscriber.Kind.choices, initial=Subscriber.Kind.EMAIL, widget=forms.RadioSelect, label="Send to"
    )
    email = forms.CharField(
        required=False,
        max_length=254,
        label="E-mail address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )
    webhook_url = forms.CharField(
        required=False,
        max_length=500,
        label="Webhook URL",
        help_text="We POST signed JSON to it (X-Warroom-Signature); answer 410 Gone to stop.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/status"}),
    )
    # Left empty by people; bots fill every field.
    website = forms.CharField(required=False, label="Leave this empty", widget=forms.TextInput(attrs={"tabindex": -1}))

    field_order = ["kind", "email", "webhook_url", "scope", "components", "groups", "website"]

    def clean(self):
        # Only the address for the chosen kind counts; the other field is ignored.
        data = super().clean()
        data["email"] = email = (data.get("email") or "").strip()
        data["webhook_url"] = url = (data.get("webhook_url") or "").strip()
        kind = data.get("kind")
        if kind == Subscriber.Kind.EMAIL and "email" not in self.errors:
            if not email:
                self.add_error("email", "Enter the e-mail address to send updates to.")
            else:
                try:
                    EmailValidator()(email)
                except forms.ValidationError:
                    self.add_error("email", f"“{email}” is not an e-mail address we can write to.")
        if kind == Subscriber.Kind.WEBHOOK and "webhook_url" not in self.errors:
            if not url:
                self.add_error("webhook_url", "Enter the URL to send updates to.")
            else:
                try:
                    check_webhook_url(url)
                except AddressError as exc:
                    self.add_error("webhook_url", str(exc))
        return data
