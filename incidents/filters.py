"""One FilterSet per model, shared by the HTML lists and the API."""

import re

import django_filters
from django.db.models import Exists, OuterRef, Q

from .models import Impact, Incident, Service, TimelineEntry

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
