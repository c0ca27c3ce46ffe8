"""One FilterSet per model, shared by the HTML lists and the API."""

import re

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from incidents.access import incident_lookup
from incidents.models import ActionItem, Impact, Incident, Service, TimelineEntry

# "INC-5", "inc 5", "inc5": a search for one incident by its reference.
REFERENCE = re.compile(r"^inc[-\s]?0*(\d{1,18})$", re.IGNORECASE)


class IncidentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Incident.Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Incident.Severity.choices)
    kind = django_filters.MultipleChoiceFilter(choices=Incident.Kind.choices)
    service = django_filters.CharFilter(method="filter_service", label="Service (slug)")
    open = django_filters.BooleanFilter(method="filter_open", label="Open only")
    q = django_filters.CharFilter(method="filter_text", label="Search")

    class Meta:
        model = Incident
        fields = ["status", "severity", "kind", "confidential"]

    def filter_service(self, queryset, name, value):
        impacted = Impact.objects.filter(incident=OuterRef("pk"), service__slug=value)
        affected = Incident.services.through.objects.filter(incident=OuterRef("pk"), service__slug=value)
        return queryset.filter(Exists(impacted) | Exists(affected))

    def filter_open(self, queryset, name, value):
        if value is None:
            return queryset
        return (
            queryset.filter(status__in=Incident.OPEN_STATUSES)
            if value
            else queryset.exclude(status__in=Incident.OPEN_STATUSES)
        )

    def filter_text(self, queryset, name, value):
        """Title, summary and timeline text; a reference ("INC-5") finds that incident and
        the ones that mention it, but not INC-50 (whose timeline says "Declared INC-50")."""
        value = value.strip()
        if not value:
            return queryset
        reference = REFERENCE.match(value)
        if reference:
            number = int(reference.group(1))
            # A portable pattern: PostgreSQL's ~* and Python's re (Django's SQLite REGEXP) agree.
            mention = rf"(^|[^a-z0-9])inc-{number}([^0-9]|$)"
            text = Q(pk=number) | Q(title__iregex=mention) | Q(summary__iregex=mention)
            in_timeline = TimelineEntry.objects.filter(incident=OuterRef("pk"), body__iregex=mention)
            return queryset.filter(text | Q(Exists(in_timeline)))
        text = Q(title__icontains=value) | Q(summary__icontains=value)
        if value.isascii() and value.isdigit() and len(value) <= 18:  # not "²", which int() refuses
            text |= Q(pk=int(value))
        in_timeline = TimelineEntry.objects.filter(incident=OuterRef("pk"), body__icontains=value)
        return queryset.filter(text | Q(Exists(in_timeline)))


class ServiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_text", label="Search")

    class Meta:
        model = Service
        fields = ["group", "public"]

    def filter_text(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


# Action items --------------------------------------------------------------------------------

# "5", "INC-5", "inc5": one incident by its number or reference (ASCII digits only: int() refuses "²").
INCIDENT_REF = re.compile(r"^(?:inc[-\s]?)?0*(\d{1,18})$", re.IGNORECASE | re.ASCII)
INCIDENT_KEY = re.compile(r"^[a-z][a-z0-9]{11}$", re.ASCII)


class IncidentRefField(forms.CharField):
    default_error_messages = {"invalid": "Give an incident's id or reference, e.g. k7mq2xw9pd3e or INC-5."}

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        if INCIDENT_KEY.match(value):
            return value
        match = INCIDENT_REF.match(value)
        if match is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(match.group(1))


@extend_schema_field(OpenApiTypes.STR)
class IncidentRefFilter(django_filters.Filter):
    """One incident, by its id (key), number or reference."""

    field_class = IncidentRefField

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(**incident_lookup(value, prefix=f"{self.field_name}__"))


class StrictBooleanField(forms.Field):
    """true/false (1/0, yes/no); anything else is an error, not silently "no filter"."""

    default_error_messages = {"invalid": "Use true or false."}
    VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            return value
        try:
            return self.VALUES[str(value).strip().lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


def _choice_errors(name, values):
    return {"invalid_choice": f"Unknown {name} %(value)r; use one of {', '.join(values)}."}


class ActionItemFilter(django_filters.FilterSet):
    """Action items, for the follow-ups list and the API; the queryset is already scoped to
    what the reader may see (incidents.review.services.action_items_visible_to)."""

    status = django_filters.MultipleChoiceFilter(
        choices=ActionItem.Status.choices, error_messages=_choice_errors("status", ActionItem.Status.values)
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=ActionItem.Priority.choices, error_messages=_choice_errors("priority", ActionItem.Priority.values)
    )
    owner = django_filters.CharFilter(method="filter_owner", label="Owner: a username, or me", max_length=150)
    overdue = StrictBooleanFilter(method="filter_overdue", label="Open and past its due date")
    incident = IncidentRefFilter(field_name="incident", label="Incident id or reference (INC-5)")

    class Meta:
        model = ActionItem
        fields = ["status", "priority"]

    def filter_owner(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value.lower() == "me":
            user = getattr(self.request, "user", None)
            return queryset.filter(owner=user) if user is not None and user.is_authenticated else queryset.none()
        # An unknown username matches nothing, as an unknown service slug does for incidents.
        return queryset.filter(**{f"owner__{get_user_model().USERNAME_FIELD}": value})

    def filter_overdue(self, queryset, name, value):
        if value is None:
            return queryset
        late = Q(status=ActionItem.Status.OPEN, due_on__lt=ActionItem.today())
        return queryset.filter(late) if value else queryset.exclude(late)
