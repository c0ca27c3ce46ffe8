"""Settings of the workers tests/test_reminder_worker.py starts to send e-mail to its SMTP
sink: the worker settings, with the SMTP backend when EMAIL_HOST is given."""

import os

from tests.worker_settings import *  # noqa: F403

if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
