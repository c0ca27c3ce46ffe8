"""Test settings: the production settings module with a test-only environment around it.

In CI (CI=true) the suite must run against PostgreSQL and Redis; a missing DATABASE_URL or
CELERY_BROKER_URL there is an error, never a silent fall-back to SQLite.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("SECURE_HTTPS", "False")
os.environ.setdefault("WARROOM_VAR_DIR", tempfile.mkdtemp(prefix="warroom-test-"))

if os.environ.get("CI") == "true":
    missing = [name for name in ("DATABASE_URL", "CELERY_BROKER_URL") if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"CI=true but {', '.join(missing)} not set: the suite must run on PostgreSQL and Redis.")

from config.settings import *  # noqa: E402,F403

# Fast password hashing: the suite creates many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Serve static files from the source tree (no collectstatic before tests).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
