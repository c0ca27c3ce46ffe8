"""Alert pages: the war room's alerts panel under /incidents/<pk>/alerts/ (`urlpatterns`,
namespace incidents:alerts), and the alert list, triage and sources under /alerts/
(`alert_urlpatterns`, namespace alerts)."""

from django.urls import path

from incidents.alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.panel, name="panel"),
]

alert_urlpatterns = [
    path("", views.alert_list, name="list"),
    path("triage/", views.triage, name="triage"),
    path("triage/<int:alert_pk>/open/", views.triage_open, name="triage_open"),
    path("triage/<int:alert_pk>/attach/", views.triage_attach, name="triage_attach"),
    path("sources/", views.source_list, name="sources"),
    path("sources/new/", views.source_create, name="source_create"),
    path("sources/<int:source_pk>/", views.source_detail, name="source"),
    path("sources/<int:source_pk>/edit/", views.source_edit, name="source_edit"),
    path("sources/<int:source_pk>/rotate/", views.source_rotate, name="source_rotate"),
    path("sources/<int:source_pk>/pause/", views.source_pause, name="source_pause"),
    path("sources/<int:source_pk>/rules/", views.rule_create, name="rule_create"),
    path("sources/<int:source_pk>/rules/<int:rule_pk>/", views.rule_edit, name="rule_edit"),
    path("sources/<int:source_pk>/rules/<int:rule_pk>/delete/", views.rule_delete, name="rule_delete"),
]
