"""The status page's part of the REST API under /api/v1/ (config/urls.py): scheduled
maintenance (statuspage.api)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.include_root_view = False
router.register("maintenances", api.MaintenanceViewSet, basename="maintenance")

urlpatterns = [path("", include(router.urls))]
