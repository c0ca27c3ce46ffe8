"""The public status page under /status/ (no login): HTML, Statuspage v2 JSON, Atom feeds.

Every other status page (statuspage.pages) has the same documents and subscription form under
/status/p/<slug>/ (named page_<name>, e.g. statuspage:page_summary), and a page with a host
name also at /status/ of that host.

Every route serves a document of statuspage.views.Documents by its path under /status/;
the static export writes the same paths to disk. The subscription pages (statuspage:subscribe
and friends) come from urls_subscribe; the staff pages under manage/ (signed in, never cached,
not exported) from views_manage.
"""

from django.urls import path

from . import urls_subscribe, views, views_manage, views_subscribe

app_name = "statuspage"


def document(route, name, doc=None, prefix=""):
    return path(prefix + route, views.document, {"path": route if doc is None else doc}, name=name)


# The Statuspage v2 JSON documents. Mounted twice: under /status/api/v2/ (below) and at the
# host root's /api/v2/ (config/urls.py, `statuspage.urls_root`), where Statuspage's own clients
# look (the status widget replaces the page URL's path with /api/v2/summary.json). Both call
# the same view with the same document path, so they serve the same bytes, caching and CORS
# (of the page the host names, statuspage.pages, else the default page).
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


DOCUMENTS = [
    ("", "index"),
    ("history/", "history"),
    ("incidents/<str:public_id>/", "incident", "incidents/{id}/"),
    ("maintenance/<str:public_id>/", "maintenance", "maintenance/{id}/"),
    ("feed.atom", "feed"),
    ("components/<str:public_id>/feed.atom", "component_feed", "components/{id}/feed.atom"),
    *((f"api/v2/{route}", name) for route, name in API_V2_DOCUMENTS),
]

urlpatterns = [document(*spec) for spec in DOCUMENTS]
urlpatterns += urls_subscribe.urlpatterns

# Every other page, by path (statuspage.pages.resolve reads page_slug).
PAGE = "p/<slug:page_slug>/"
urlpatterns += [document(route, f"page_{name}", *rest, prefix=PAGE) for route, name, *rest in DOCUMENTS]
urlpatterns += [path(PAGE + "subscribe/", views_subscribe.subscribe, name="page_subscribe")]

# Staff pages (signed in): scheduled maintenance, subscriber deliveries.
urlpatterns += [
    path("manage/maintenance/", views_manage.maintenance_list, name="manage_maintenance"),
    path("manage/maintenance/new/", views_manage.maintenance_new, name="manage_maintenance_new"),
    path("manage/maintenance/<int:pk>/", views_manage.maintenance_edit, name="manage_maintenance_edit"),
    path("manage/maintenance/<int:pk>/cancel/", views_manage.maintenance_cancel, name="manage_maintenance_cancel"),
    path("manage/deliveries/", views_manage.deliveries, name="manage_deliveries"),
    path("manage/pages/", views_manage.page_list, name="manage_pages"),
    path("manage/pages/new/", views_manage.page_edit, name="manage_page_new"),
    path("manage/pages/<int:pk>/", views_manage.page_edit, name="manage_page"),
    path("manage/pages/<int:pk>/links/", views_manage.page_link_new, name="manage_page_link_new"),
    path(
        "manage/pages/<int:pk>/links/<int:link_pk>/revoke/",
        views_manage.page_link_revoke,
        name="manage_page_link_revoke",
    ),
]
