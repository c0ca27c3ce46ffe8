from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.include_root_view = False
router.register("runbooks", api.RunbookViewSet, basename="runbook")
router.register("step-runs", api.StepRunViewSet, basename="step-run")

incident_children = DefaultRouter()
incident_children.include_root_view = False
incident_children.register("runbook-runs", api.RunViewSet, basename="runbook-run")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<incident:incident_pk>/", include(incident_children.urls)),
]
