"""The REST API under /api/v1/: the core's viewsets here, each wing's from its own api.py (by
name, so the core imports no wing)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents import api


class Router(DefaultRouter):
    """The API root (/api/v1/) lists the wings' collections too, by URL name."""

    WING_COLLECTIONS = {
        "communication-templates": "communication-template-list",
        "obligations": "obligation-list",
        "action-items": "all-action-item-list",
        "alert-sources": "alert-source-list",
        "alerts": "alert-list",
        "maintenances": "maintenance-list",  # statuspage.api_urls
    }

    def get_api_root_view(self, api_urls=None):
        list_name = self.routes[0].name
        root = {prefix: list_name.format(basename=basename) for prefix, _viewset, basename in self.registry}
        return self.APIRootView.as_view(api_root_dict=root | self.WING_COLLECTIONS)


router = Router()
router.register("incidents", api.IncidentViewSet, basename="incident")
router.register("services", api.ServiceViewSet, basename="service")
router.register("tokens", api.ApiTokenViewSet, basename="token")

incident_children = DefaultRouter(trailing_slash=True)
incident_children.include_root_view = False
incident_children.register("timeline", api.TimelineViewSet, basename="timeline")
incident_children.register("impacts", api.ImpactViewSet, basename="impact")
incident_children.register("roles", api.RoleViewSet, basename="role")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<incident:incident_pk>/", include(incident_children.urls)),
    path("", include("incidents.comms.api")),
    path("", include("incidents.security.api")),
    path("", include("incidents.review.api")),
    path("", include("incidents.alerts.api")),
]
