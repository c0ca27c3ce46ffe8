"""Forms of the status page: subscribe, and change what a subscription follows (public);
schedule maintenance (staff, statuspage.views_manage)."""

from django import forms
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import EmailValidator
from django.db.models import Q
from django.utils.translation import gettext, gettext_lazy

from incidents.forms import DateTimeField, DateTimeInput, ServicesField
from incidents.models import Service

from . import subscriptions
from .delivery import AddressError, check_webhook_url
from .models import StatusPage, Subscriber

SCOPES = [
    ("all", gettext_lazy("Everything on this page")),
    ("some", gettext_lazy("Only the components or groups I choose below")),
]


def components_field(label, field_class=ServicesField, **more):
    """Checkboxes of components (services); the form's __init__ sets which ones it offers (the
    queryset), and only those are accepted."""
    return field_class(
        queryset=Service.objects.none(), required=False, widget=forms.CheckboxSelectMultiple, label=label, **more
    )


def groups_field(label):
    """Checkboxes of component groups; the form's __init__ sets which ones it offers (choices)."""
    return forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=label,
        help_text=gettext_lazy("A group includes components added to it later."),
    )


class ScopeForm(forms.Form):
    """Everything, or chosen components and/or groups (a group includes components added to
    it later)."""

    scope = forms.ChoiceField(
        choices=SCOPES, initial="all", widget=forms.RadioSelect, label=gettext_lazy("Tell me about")
    )
    components = components_field(gettext_lazy("Components"))
    groups = groups_field(gettext_lazy("Groups"))

    def __init__(self, *args, page=None, **kwargs):
        super().__init__(*args, **kwargs)
        from . import pages

        page = page or pages.default_page()
        # Internal services, and those of other pages, are never offered, and never accepted if posted.
        shown = Service.objects.filter(public=True)
        if not page.all_components:
            shown = shown.filter(Q(pk__in=page.service_ids) | Q(group__in=page.group_names))
        self.fields["components"].queryset = shown.order_by("group", "position", "name")
        self.fields["groups"].choices = [(g, g) for g in subscriptions.public_groups(page)]

    def clean(self):
        data = super().clean()
        if data.get("scope") == "some" and not (data.get("components") or data.get("groups")):
            raise forms.ValidationError(gettext("Choose at least one component or group, or choose everything."))
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
        choices=[(Subscriber.Kind.EMAIL, gettext_lazy("E-mail")), (Subscriber.Kind.WEBHOOK, gettext_lazy("Webhook"))],
        initial=Subscriber.Kind.EMAIL,
        widget=forms.RadioSelect,
        label=gettext_lazy("Send to"),
    )
    email = forms.CharField(
        required=False,
        max_length=254,
        label=gettext_lazy("E-mail address"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )
    webhook_url = forms.CharField(
        required=False,
        max_length=500,
        label=gettext_lazy("Webhook URL"),
        help_text=gettext_lazy("We POST signed JSON to it (X-Warroom-Signature); answer 410 Gone to stop."),
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/status"}),
    )
    # Left empty by people; bots fill every field.
    website = forms.CharField(
        required=False, label=gettext_lazy("Leave this empty"), widget=forms.TextInput(attrs={"tabindex": -1})
    )

    field_order = ["kind", "email", "webhook_url", "scope", "components", "groups", "website"]

    def clean(self):
        # Only the address for the chosen kind counts; the other field is ignored.
        data = super().clean()
        data["email"] = email = (data.get("email") or "").strip()
        data["webhook_url"] = url = (data.get("webhook_url") or "").strip()
        kind = data.get("kind")
        if kind == Subscriber.Kind.EMAIL and "email" not in self.errors:
            if not email:
                self.add_error("email", gettext("Enter the e-mail address to send updates to."))
            else:
                try:
                    EmailValidator()(email)
                except forms.ValidationError:
                    self.add_error(
                        "email", gettext("“%(email)s” is not an e-mail address we can write to.") % {"email": email}
                    )
        if kind == Subscriber.Kind.WEBHOOK and "webhook_url" not in self.errors:
            if not url:
                self.add_error("webhook_url", gettext("Enter the URL to send updates to."))
            else:
                try:
                    check_webhook_url(url)
                except AddressError as exc:
                    # Whether a name resolves, or to a private address, is not a stranger's
                    # business: one answer for both, so the form cannot map our network.
                    message = gettext("This address cannot receive webhooks.") if exc.about_network else str(exc)
                    self.add_error("webhook_url", message)
        return data


class MaintenanceServicesField(ServicesField):
    """Public services first; internal ones are offered too, marked, since they never show."""

    def label_from_instance(self, obj):
        if obj.public:
            return obj.name
        return gettext("%(name)s (internal: not shown on the status page)") % {"name": obj.name}


class MaintenanceForm(forms.Form):
    """A maintenance window. Shapes only: the rules (who, completed and cancelled windows) are
    statuspage.services'."""

    FIELDS = ("title", "body", "scheduled_for", "scheduled_until", "verify_minutes")

    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    body = forms.CharField(
        label=gettext_lazy("What changes for users"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=gettext_lazy("Markdown, shown on the status page."),
    )
    services = components_field(
        gettext_lazy("Affected services"),
        MaintenanceServicesField,
        help_text=gettext_lazy("None chosen: the whole platform."),
    )
    scheduled_for = DateTimeField(label=gettext_lazy("Starts"), widget=DateTimeInput())
    scheduled_until = DateTimeField(label=gettext_lazy("Ends"), widget=DateTimeInput())
    verify_minutes = forms.IntegerField(
        label=gettext_lazy("Verification (minutes)"),
        min_value=0,
        max_value=24 * 60,
        initial=15,
        help_text=gettext_lazy("How long the page says “verifying” after the window ends."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = Service.objects.order_by("-public", "group", "position", "name")

    @classmethod
    def initial_for(cls, maintenance):
        return {
            **{name: getattr(maintenance, name) for name in cls.FIELDS},
            "services": list(maintenance.services.all()),
        }

    def clean(self):
        data = super().clean()
        starts, ends = data.get("scheduled_for"), data.get("scheduled_until")
        if starts and ends and ends <= starts:
            self.add_error("scheduled_until", gettext("The window must end after it starts."))
        return data

    def internal_services(self):
        return [s.name for s in self.cleaned_data.get("services") or () if not s.public]

    def values(self):
        """Keyword arguments of statuspage.services.schedule and change."""
        data = self.cleaned_data
        return {**{name: data[name] for name in self.FIELDS}, "services": list(data["services"])}


class StatusPageForm(forms.Form):
    """Define a status page (statuspage.services.save_page checks the rest, by field)."""

    name = forms.CharField(
        max_length=200, required=False, label=gettext_lazy("Name"), help_text=gettext_lazy("Empty: the site's name.")
    )
    slug = forms.CharField(
        max_length=60, label=gettext_lazy("Path"), help_text=gettext_lazy("The page is at /status/p/<path>/.")
    )
    host = forms.CharField(
        max_length=253,
        required=False,
        label=gettext_lazy("Host name"),
        help_text=gettext_lazy("Optional: also served at /status/ of this host (add it to ALLOWED_HOSTS)."),
    )
    logo_url = forms.CharField(
        max_length=300,
        required=False,
        label=gettext_lazy("Logo"),
        help_text=gettext_lazy("A path on this site, e.g. /static/brand/logo.png."),
    )
    language = forms.ChoiceField(choices=(), required=False, label=gettext_lazy("Default language"))
    all_components = forms.BooleanField(required=False, label=gettext_lazy("Every public component, now and later"))
    services = components_field(gettext_lazy("Components"))
    groups = groups_field(gettext_lazy("Component groups"))
    visibility = forms.ChoiceField(
        choices=StatusPage.Visibility.choices, widget=forms.RadioSelect, label=gettext_lazy("Who may see it")
    )
    allowed_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Private: members of these groups"),
        help_text=gettext_lazy("Signed-in staff and holders of an access link see it too."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = Service.objects.filter(public=True).order_by("group", "position", "name")
        groups = Service.objects.filter(public=True).exclude(group="").values_list("group", flat=True)
        self.fields["groups"].choices = [(g, g) for g in sorted(set(groups))]
        self.fields["allowed_groups"].queryset = Group.objects.order_by("name")
        self.fields["language"].choices = [("", gettext_lazy("The visitor's"))] + [
            (code, name) for code, name in settings.LANGUAGES
        ]

    @classmethod
    def initial_for(cls, page):
        return {
            "name": page.name,
            "slug": page.slug,
            "host": page.host or "",
            "logo_url": page.logo_url,
            "language": page.language,
            "all_components": page.all_components,
            "services": list(page.services.all()),
            "groups": list(page.groups or ()),
            "visibility": page.visibility,
            "allowed_groups": list(page.allowed_groups.all()),
        }

    def values(self):
        data = dict(self.cleaned_data)
        data["services"] = list(data["services"])
        data["allowed_groups"] = list(data["allowed_groups"])
        return data


class AccessLinkForm(forms.Form):
    label = forms.CharField(
        max_length=200, label=gettext_lazy("For whom"), help_text=gettext_lazy("e.g. the customer's name")
    )
