from django.urls import path

from incidents.reminders import views as views_inbox

app_name = "inbox"

urlpatterns = [
    path("", views_inbox.inbox, name="index"),
    path("count/", views_inbox.count, name="count"),
    path("read/", views_inbox.mark_all_read, name="read_all"),
    path("preferences/", views_inbox.preferences, name="preferences"),
    path("<int:pk>/read/", views_inbox.mark_read, name="read"),
]
