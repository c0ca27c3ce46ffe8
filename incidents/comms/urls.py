"""Comms pages: an incident's communications (included by incidents.urls under
/incidents/<pk>/comms/, namespace incidents:comms) and the template library with the Markdown
preview (`library_urlpatterns`, mounted by config.urls under /comms/, namespace comms)."""

from django.urls import path

from incidents.comms import views as views_comms

app_name = "comms"

urlpatterns = [
    path("", views_comms.index, name="index"),
    path("new/", views_comms.new, name="new"),
    path("cadence/", views_comms.cadence, name="cadence"),
    path("<int:comm_pk>/", views_comms.detail, name="detail"),
    path("<int:comm_pk>/edit/", views_comms.edit, name="edit"),
    path("<int:comm_pk>/schedule/", views_comms.schedule, name="schedule"),
    path("<int:comm_pk>/translations/", views_comms.translate, name="translate"),
    path("<int:comm_pk>/<slug:action>/", views_comms.act, name="act"),
]

library_urlpatterns = [
    path("awaiting/", views_comms.awaiting, name="awaiting"),
    path("templates/", views_comms.template_list, name="templates"),
    path("templates/new/", views_comms.template_create, name="template_create"),
    path("templates/<int:template_pk>/", views_comms.template_edit, name="template_edit"),
    path("templates/<int:template_pk>/delete/", views_comms.template_delete, name="template_delete"),
    path("preview/", views_comms.preview, name="preview"),
    path("recipients/", views_comms.recipient_lists, name="recipient_lists"),
    path("recipients/<int:list_pk>/", views_comms.recipient_list, name="recipient_list"),
]
