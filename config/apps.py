from django.contrib.admin.apps import AdminConfig


class WarroomAdminConfig(AdminConfig):
    """django.contrib.admin with its login answering the sign-in throttle's refusals with a 429
    (incidents.views_auth.WarroomAdminSite); the throttle itself is the authentication backend."""

    default_site = "incidents.views_auth.WarroomAdminSite"
