from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.register("incidents", api.IncidentViewSet, basename="incident")
router.register("services", api.ServiceViewSet, basename="service")

incident_children = DefaultRouter(trailing_slash=True)
incident_children.include_root_view = False
incident_children.register("timeline", api.TimelineViewSet, basename="timeline")
incident_children.register("impacts", api.ImpactViewSet, basename="impact")
incident_children.register("roles", api.RoleViewSet, basename="role")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<int:incident_pk>/", include(incident_children.urls)),
]
