"""The Statuspage v2 JSON at the host root, /api/v2/*.json, for clients that know a status page
only by its host (Atlassian's status widget, exporters and dashboards made for statuspage.io).

The same view and document paths as /status/api/v2/ (statuspage.urls.api_v2_documents), so each
answers exactly what its /status/ twin answers, with the same caching and CORS. config/urls.py
includes these at the root: every route starts with "api/v2/", beside Warroom's own REST API
at /api/v1/ and never over it.
"""

from .urls import api_v2_documents

app_name = "statuspage_root"

urlpatterns = api_v2_documents()
