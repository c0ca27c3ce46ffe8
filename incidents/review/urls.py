"""The review page of one incident, included under /incidents/<pk>/review/ (namespace
incidents:review), and the pages across incidents: follow-ups at /follow-ups/
(`follow_up_urlpatterns`, namespace followups) and reviews at /reviews/
(`reviews_urlpatterns`, namespace reviews)."""

from django.urls import path

from incidents.review import views

app_name = "review"

urlpatterns = [
    path("", views.page, name="page"),
    path("start/", views.start, name="start"),
    path("save/", views.save, name="save"),
    path("reopen/", views.reopen, name="reopen"),
    path("export.md", views.export, name="export"),
    path("items/", views.add_item, name="add_item"),
    path("items/<int:item_pk>/", views.edit_item, name="edit_item"),
    path("items/<int:item_pk>/status/", views.item_status, name="item_status"),
]

follow_up_urlpatterns = [
    path("", views.follow_ups, name="list"),
]

reviews_urlpatterns = [
    path("", views.reviews, name="list"),
]
