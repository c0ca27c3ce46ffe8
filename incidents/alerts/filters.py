"""The alert list's filters, for the page and the API alike."""

import django_filters

from incidents.alerts.models import Alert, AlertSource
from incidents.models import Service


class AlertFilter(django_filters.FilterSet):
    source = django_filters.ModelChoiceFilter(queryset=AlertSource.objects.all())
    service = django_filters.ModelChoiceFilter(queryset=Service.objects.all(), to_field_name="slug")
    status = django_filters.ChoiceFilter(choices=Alert.Status.choices)
    unrouted = django_filters.BooleanFilter(method="filter_unrouted", label="Matched no rule")

    class Meta:
        model = Alert
        fields = ["source", "service", "status", "unrouted"]

    def filter_unrouted(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(routed=not value)
