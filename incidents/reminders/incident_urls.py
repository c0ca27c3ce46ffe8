"""Reminder routes under an incident (/incidents/<pk>/reminders/...), included from
incidents/urls.py into the `incidents` namespace; the inbox's own routes are in urls.py."""

from django.urls import path

from incidents.reminders import views

urlpatterns = [
    path("snooze/", views.snooze, name="snooze_reminder"),
]
