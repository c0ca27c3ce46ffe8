"""The public status page under /status/ (no login): HTML, Statuspage v2 JSON, Atom feeds.

Every route serves a document of statuspage.views.Documents by its path under /status/;
the static export writes the same paths to disk. The subscription pages (statuspage:subscribe
and friends) come from urls_subscribe; the staff pages under manage/ (signed in, never cached,
not exported) from views_manage.
"""

from django.urls import path

from . import urls_subscribe, views, views_manage

app_name = "statuspage"


def document(route, name, doc=None):
    return path(route, views.document, {"path": route if doc is None else doc}, name=name)


# The Statuspage v2 JSON documents. Mounted twice: under /status/api/v2/ (below) and at the
# host root's /api/v2/ (config/urls.py, `statuspage.urls_root`), where Statuspage's own clients
# look (the status widget replaces the page URL's path with /api/v2/summary.json). Both call
# the same view with the same document path, so they serve the same bytes, caching and CORS.
API_V2_DOCUMENTS = [
    ("summary.json", "summary"),
    ("status.json", "status"),
    ("components.json", "components"),
    ("incidents.json", "incidents"),
    ("incidents/unresolved.json", "unresolved_incidents"),
    ("scheduled-maintenances.json", "scheduled_maintenances"),
    ("scheduled-maintenances/upcoming.json", "upcoming_maintenances"),
    ("scheduled-maintenances/active.json", "active_maintenances"),
]


def api_v2_documents():
    return [document(f"api/v2/{route}", name) for route, name in API_V2_DOCUMENTS]


urlpatterns = [
    document("", "index"),
    document("history/", "history"),
    document("incidents/<str:public_id>/", "incident", "incidents/{id}/"),
    document("maintenance/<str:public_id>/", "maintenance", "maintenance/{id}/"),
    document("feed.atom", "feed"),
    document("components/<str:public_id>/feed.atom", "component_feed", "components/{id}/feed.atom"),
    *api_v2_documents(),
]

urlpatterns += urls_subscribe.urlpatterns

# Staff pages (signed in): scheduled maintenance, subscriber deliveries.
urlpatterns += [
    path("manage/maintenance/", views_manage.maintenance_list, name="manage_maintenance"),
    path("manage/maintenance/new/", views_manage.maintenance_new, name="manage_maintenance_new"),
    path("manage/maintenance/<int:pk>/", views_manage.maintenance_edit, name="manage_maintenance_edit"),
    path("manage/maintenance/<int:pk>/cancel/", views_manage.maintenance_cancel, name="manage_maintenance_cancel"),
    path("manage/deliveries/", views_manage.deliveries, name="manage_deliveries"),
]
