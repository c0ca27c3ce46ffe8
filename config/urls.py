from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from incidents.alerts.api import ingest_urlpatterns as alert_ingest_urlpatterns
from incidents.alerts.urls import alert_urlpatterns
from incidents.comms.urls import library_urlpatterns as comms_library_urlpatterns
from incidents.review.urls import follow_up_urlpatterns, reviews_urlpatterns
from incidents.security.urls import in_force_urlpatterns
from incidents.urls import account_urlpatterns, audit_urlpatterns, service_urlpatterns
from incidents.views_account import switch_language
from incidents.views_auth import RateLimitedLoginView, sso_callback, sso_start

from .health import healthz, readyz

urlpatterns = [
    # Alert ingestion first: monitoring posts here in storms (incidents/alerts/api.py).
    path("api/v1/alerts/", include(alert_ingest_urlpatterns)),
    path("", RedirectView.as_view(pattern_name="incidents:list", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("login/", RateLimitedLoginView.as_view(), name="login"),
    path("login/sso/", sso_start, name="sso-start"),
    path("login/sso/callback/", sso_callback, name="sso-callback"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The language switch in base.html posts here: Django's set_language, which also saves a
    # signed-in person's preference (incidents/languages.py).
    path("i18n/setlang/", switch_language, name="set_language"),
    path("incidents/", include("incidents.urls")),
    path("inbox/", include("incidents.reminders.urls")),
    path("services/", include((service_urlpatterns, "services"))),
    path("account/", include((account_urlpatterns, "account"))),
    path("audit/", include((audit_urlpatterns, "audit"))),
    path("comms/", include((comms_library_urlpatterns, "comms"))),
    path("runbooks/", include("runbooks.urls")),
    path("mitigations/", include((in_force_urlpatterns, "mitigations"))),
    path("follow-ups/", include((follow_up_urlpatterns, "followups"))),
    path("reviews/", include((reviews_urlpatterns, "reviews"))),
    path("alerts/", include((alert_urlpatterns, "alerts"))),
    path("status/", include("statuspage.urls")),
    # Statuspage v2 JSON at the host root too (/api/v2/summary.json ...), where Statuspage's
    # own clients look; the same documents as /status/api/v2/ (statuspage/urls_root.py).
    path("", include("statuspage.urls_root")),
    path("api/v1/", include("incidents.api_urls")),
    path("api/v1/", include("runbooks.api_urls")),
    path("api/v1/", include("statuspage.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

# Error pages that need no database, in the look of where they were asked (the status page's,
# the staff UI's, JSON under /api/); a database outage is a 503 with Retry-After, not a 500
# (config/errors.py).
handler400 = "config.errors.bad_request"
handler403 = "config.errors.permission_denied"
handler404 = "config.errors.page_not_found"
handler500 = "config.errors.server_error"
