from django.urls import include, path
from rest_framework.routers import DefaultRouter

from incidents import api
from incidents.comms import api as api_comms
from incidents.review import api as api_review

router = DefaultRouter()
router.register("incidents", api.IncidentViewSet, basename="incident")
router.register("services", api.ServiceViewSet, basename="service")
router.register("communication-templates", api_comms.CommunicationTemplateViewSet, basename="communication-template")
router.register("action-items", api_review.AllActionItemsViewSet, basename="all-action-item")

incident_children = DefaultRouter(trailing_slash=True)
incident_children.include_root_view = False
incident_children.register("timeline", api.TimelineViewSet, basename="timeline")
incident_children.register("impacts", api.ImpactViewSet, basename="impact")
incident_children.register("roles", api.RoleViewSet, basename="role")
incident_children.register("communications", api_comms.CommunicationViewSet, basename="communication")
incident_children.register("action-items", api_review.ActionItemViewSet, basename="action-item")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<int:incident_pk>/", include(incident_children.urls)),
    path("", include("incidents.security.api")),
    path("", include("incidents.review.api")),
]
