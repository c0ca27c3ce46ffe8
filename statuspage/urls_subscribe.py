"""Subscription pages, mounted under /status/ in the `statuspage` namespace:
statuspage:subscribe, statuspage:confirm, statuspage:unsubscribe, statuspage:manage.

statuspage/urls.py adds them with `urlpatterns += urls_subscribe.urlpatterns`."""

from django.urls import path

from . import views_subscribe

urlpatterns = [
    path("subscribe/", views_subscribe.subscribe, name="subscribe"),
    path("subscribe/confirm/<str:token>/", views_subscribe.confirm, name="confirm"),
    path("subscribe/manage/<str:token>/", views_subscribe.manage, name="manage"),
    path("unsubscribe/<str:token>/", views_subscribe.unsubscribe, name="unsubscribe"),
]
