from django.urls import include, path

from incidents import views, views_account, views_audit

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("declare/", views.declare, name="declare"),
    path("<incident:pk>/", views.war_room, name="detail"),
    path("<incident:pk>/live/", views.live, name="live"),
    path("<incident:pk>/timeline/earlier/", views.timeline_earlier, name="timeline_earlier"),
    path("<incident:pk>/log/", views.log, name="log"),
    path("<incident:pk>/edit/", views.edit_incident, name="edit"),
    path("<incident:pk>/status/", views.change_status, name="status"),
    path("<incident:pk>/severity/", views.change_severity, name="severity"),
    path("<incident:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("<incident:pk>/take-command/", views.take_command, name="take_command"),
    path("<incident:pk>/roles/", views.assign_role, name="assign_role"),
    path("<incident:pk>/roles/<int:membership_pk>/remove/", views.remove_role, name="remove_role"),
    path("<incident:pk>/impacts/", views.add_impact, name="add_impact"),
    path("<incident:pk>/impacts/<int:impact_pk>/end/", views.end_impact, name="end_impact"),
    path("<incident:pk>/times/", views.correct_time, name="correct_time"),
    path("<incident:pk>/reminders/", include("incidents.reminders.incident_urls")),
    path("<incident:pk>/timeline/<int:entry_pk>/edit/", views.edit_entry, name="edit_entry"),
    path("<incident:pk>/comms/", include("incidents.comms.urls")),
    path("<incident:pk>/security/", include("incidents.security.urls")),
    path("<incident:pk>/review/", include("incidents.review.urls")),
    path("<incident:pk>/alerts/", include("incidents.alerts.urls")),
]

service_urlpatterns = [
    path("", views.service_list, name="list"),
    path("new/", views.service_create, name="create"),
    path("<slug:slug>/", views.service_detail, name="detail"),
]

account_urlpatterns = [
    path("", views_account.language, name="language"),
    path("tokens/", views_account.tokens, name="tokens"),
    path("tokens/<int:token_pk>/revoke/", views_account.revoke_token, name="revoke_token"),
    path("two-factor/", views_account.two_factor, name="two_factor"),
    path("two-factor/recovery-codes/", views_account.renew_recovery_codes, name="renew_recovery_codes"),
    path("two-factor/verify/", views_account.two_factor_verify, name="two_factor_verify"),
]

audit_urlpatterns = [
    path("", views_audit.audit_log, name="log"),
    path("lockouts/", views_audit.lockouts, name="lockouts"),
]
