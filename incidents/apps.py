from importlib import import_module

from django.apps import AppConfig
from django.urls import register_converter
from django.utils.module_loading import module_has_submodule

# The wings of incidents/ (one sub-package each, app label `incidents`). The core never imports
# them by name: it loads their admin and signal receivers here, their URLs through include()
# in config/urls.py, their tasks through CELERY_IMPORTS and their reminder rules through
# WARROOM_REMINDER_RULES. import-linter (pyproject.toml) keeps it that way.
WINGS = ("comms", "security", "review", "reminders", "alerts")
# What the app registry loads of each wing once models are ready.
WING_ROOMS = ("admin", "receivers")


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents.access import IncidentIdConverter

        # `<incident:pk>`: URL patterns name incidents by key (or, for old links, by number).
        register_converter(IncidentIdConverter, "incident")
        # Its receivers end API tokens on a password change and stamp the sign-in time.
        import_module(f"{self.name}.credentials")
        # Its system checks catch mistakes in the SSO settings.
        import_module(f"{self.name}.sso")
        # Its receiver puts a person's chosen language into the session they sign in to.
        import_module(f"{self.name}.languages")
        # Its receivers write sign-ins, admin changes and group changes to the audit log.
        import_module(f"{self.name}.auditlog")
        for wing in WINGS:
            package = import_module(f"{self.name}.{wing}")
            for room in WING_ROOMS:
                if module_has_submodule(package, room):
                    import_module(f"{package.__name__}.{room}")
