"""Settings of the Celery worker that tests start (tests/worker.py): the test settings, with
e-mail kept in the worker's memory (tests assert on the outbox rows, not on mail)."""

from tests.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
