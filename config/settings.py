"""Warroom settings: one module, every knob from the environment, safe defaults.

docs/deploy.md lists every environment variable read here.
"""

import secrets
import sys
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("WARROOM_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
# Commands that sign nothing. `makemigrations` only reads the models: it may run without a key
# (CI and pre-commit hooks run `makemigrations --check` with no secrets), on a throwaway one;
# the image's build runs `collectstatic` on a throwaway key (Dockerfile).
SIGNS_NOTHING = {"makemigrations", "collectstatic"}
if not SECRET_KEY and sys.argv[1:2] == ["makemigrations"]:
    SECRET_KEY = secrets.token_urlsafe(50)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random "
            "string, or DEBUG=True for local development only."
        )
    SECRET_KEY = "insecure-debug-only-key-do-not-use-in-production"
# A guessable key lets anyone forge sessions and password-reset links: refuse it at start rather
# than as a `check --deploy` warning nobody reads: Django's own rule (security.W009), plus the
# placeholder people paste from examples, however often repeated.
if (
    not DEBUG
    and sys.argv[1:2] not in [[command] for command in SIGNS_NOTHING]
    and (
        len(SECRET_KEY) < 50
        or len(set(SECRET_KEY)) < 5
        or "changeme" in SECRET_KEY.lower().replace("-", "").replace("_", "")
        or SECRET_KEY.startswith("django-insecure")
    )
):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak: it must be at least 50 characters with at least 5 different ones, "
        "and not a placeholder. Generate one with "
        '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
    )

SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "config.apps.WarroomAdminConfig",  # django.contrib.admin, its login answering 429 when throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Two-factor sign-in (incidents/twofactor.py): TOTP authenticator apps and recovery codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "incidents",
    "runbooks",
    "statuspage",
]

MIDDLEWARE = [
    # Cache-Control for everything private, Permissions-Policy everywhere (also on static files).
    "config.middleware.PrivateResponsesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below whitenoise (it serves static files compressed ahead of time), above everything that
    # writes the body.
    "config.middleware.StaffGZipMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    # Here rather than last, so it also marks what the middleware below answer themselves (a
    # two-factor redirect, a CSRF failure) and the public documents answered just below.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The status page's documents for visitors without a session, answered before everything
    # below (only staff need it): statuspage/middleware.py.
    "statuspage.middleware.PublicDocumentsMiddleware",
    # Alert deliveries (their secret is their credential), answered likewise before everything
    # below: incidents/alerts/middleware.py.
    "incidents.alerts.middleware.AlertIngestMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The staff UI's language: the switch in base.html (session/cookie), else Accept-Language.
    # The public status page picks its own (statuspage.views.visitor_language).
    "django.middleware.locale.LocaleMiddleware",
    # ...unless the signed-in person chose a language (/account/): incidents/languages.py.
    "config.middleware.PersonLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): has this session passed its second factor (django-otp)?
    "django_otp.middleware.OTPMiddleware",
    # Who and from where, for the audit log's receivers (incidents/auditlog.py).
    "incidents.auditlog.AuditContextMiddleware",
    # Signed in with a password but not yet past the second factor (or required to enrol and
    # not enrolled): nothing but the two-factor pages (incidents/twofactor.py).
    "incidents.twofactor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.middleware.SessionLifetimeMiddleware",
    "config.middleware.ViewerTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # Tag libraries of incidents/ wings (only an app's own templatetags/ is found by itself).
            "libraries": {"comms": "incidents.comms.templatetags"},
        },
    },
]

# SQLite under var/ is the embedded default; DATABASE_URL selects PostgreSQL in production.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'warroom.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that drops packets (a failover, a partition) must not hold a request
    # for the OS's TCP timeout: give up connecting after this long; the request is a 503
    # (config/errors.py). `?connect_timeout=N` in DATABASE_URL overrides it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker with beat) share the file. Write-ahead log: readers never
    # wait for the writer nor it for them, and a commit is one append (synchronous=NORMAL is
    # durable in WAL mode but for the last commits on a power cut: the embedded default is for
    # trying Warroom, production runs PostgreSQL). Transactions begin IMMEDIATE, taking the write
    # lock up front: a deferred one that read first and then writes gets "database is locked" at
    # once when another process wrote meanwhile, with no wait; an immediate one waits its turn, up
    # to `timeout` seconds (the busy timeout). An in-memory database (the test suite's) ignores
    # the journal mode. Django's SQLite notes describe all three options.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # "warroom2026", "acme-incidents!": the product's or the site's name is the first guess.
    {"NAME": "incidents.passwords.SiteNamePasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "incidents:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The UI's languages (locale/ for the staff UI, statuspage/locale for the public page); English
# is the fallback for anything untranslated.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Caches hold rate-limit counters, so production points CACHE_URL at Redis to share them
# between web processes; the embedded default keeps them in the database. Nothing in the cache
# is needed to answer (incidents.shared_cache): when Redis is down, the status page builds from
# the database and each process counts rate limits itself.
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Before every key: lets several installations (or a benchmark) share one Redis database.
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", ""),
            # A Redis host that drops packets must not hold requests for the OS's TCP timeout.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "warroom_cache",
        }
    }

# After a Redis error, each process leaves the shared cache alone this many seconds before
# asking again (incidents.shared_cache).
WARROOM_CACHE_RETRY_SECONDS = 5

# Sessions live in the database, never in the cache: signing in must work while Redis is down.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# A session ends after this long without a request (seconds)... (config.middleware.SessionLifetimeMiddleware)
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 12 * 3600)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT
# ...and this long after signing in, however active.
SESSION_MAX_LIFETIME = env_int("SESSION_MAX_LIFETIME", 7 * 86400)

# Security headers. Production runs behind TLS; DEBUG (make run) does not.
SECURE_HTTPS = env_bool("SECURE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SECURE_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HTTPS
SECURE_HSTS_PRELOAD = SECURE_HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from a meta tag, not the cookie; harmless either way
SESSION_COOKIE_SAMESITE = "Lax"
# The staff UI's language switch (/i18n/setlang/, also saving a signed-in person's preference)
# and a signed-in person's chosen language (incidents/languages.py) set this cookie: same rules as the session's.
LANGUAGE_COOKIE_SECURE = SECURE_HTTPS
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# One throttle for every way in (incidents/signin.py, docs/deploy.md "Sign-in throttle"):
# attempts per username and client address, per address, and a backoff per username.
LOGIN_RATE_LIMIT = env_int("LOGIN_RATE_LIMIT", 10)
LOGIN_RATE_WINDOW = env_int("LOGIN_RATE_WINDOW", 300)
LOGIN_ADDRESS_RATE_LIMIT = env_int("LOGIN_ADDRESS_RATE_LIMIT", 30)
LOGIN_USER_BACKOFF_AFTER = env_int("LOGIN_USER_BACKOFF_AFTER", 30)
LOGIN_USER_BACKOFF_SECONDS = env_int("LOGIN_USER_BACKOFF_SECONDS", 10)
# The throttle is a backend, so the sign-in page, the admin and any other caller of
# django.contrib.auth.authenticate go through it.
# Sign-in with OpenID Connect (incidents/sso.py) is the second backend.
AUTHENTICATION_BACKENDS = ["incidents.signin.ThrottledModelBackend", "incidents.sso.OpenIDConnectBackend"]

# Sign-in with OpenID Connect (incidents/sso.py, docs/deploy.md "SSO setup"): off unless
# OIDC_ISSUER_URL is set. The provider's endpoints and keys come from its discovery document.
OIDC_ISSUER_URL = env_str("OIDC_ISSUER_URL")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid profile email")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# "provider-group=warroom-group,..."; empty: the provider's group names are Warroom's own.
OIDC_GROUP_MAP = env_list("OIDC_GROUP_MAP", [])
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)  # seconds for each request to the provider
# Off: only WARROOM_BREAK_GLASS_USERS sign in with a password (page, admin, anywhere else).
WARROOM_PASSWORD_SIGNIN = env_bool("WARROOM_PASSWORD_SIGNIN", True)
WARROOM_BREAK_GLASS_USERS = env_list("WARROOM_BREAK_GLASS_USERS", [])

# E-mail: console in development, SMTP when EMAIL_HOST is set.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "warroom@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery. The embedded default is the filesystem transport under var/, so `make run` needs
# no broker; production sets CELERY_BROKER_URL to Redis.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_FILESYSTEM_DIR = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task modules of incidents/ wings (autodiscovery finds only each app's own tasks.py).
CELERY_IMPORTS = ["incidents.comms.tasks", "incidents.reminders.tasks", "incidents.alerts.tasks", "incidents.auditlog"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    # Scheduled communications go out within this period of their time.
    "publish-due-communications": {"task": "incidents.tasks.publish_due_communications", "schedule": 15.0},
    # Re-enqueue pending subscriber notifications, move maintenance statuses on.
    "statuspage-sweep": {"task": "statuspage.tasks.sweep", "schedule": 30.0},
    # Send due reminders and escalations, re-enqueue pending deliveries (docs/reminders.md).
    "reminders-sweep": {"task": "incidents.tasks.sweep_reminders", "schedule": 30.0},
    # Hand back and re-enqueue customer, regulator and partner deliveries (docs/audiences.md).
    "audience-deliveries-sweep": {"task": "incidents.comms.tasks.sweep_audience_deliveries", "schedule": 30.0},
    # Route alert deliveries whose task was lost (docs/alerts.md).
    "alerts-sweep": {"task": "incidents.alerts.sweep", "schedule": 30.0},
    # Delete audit events older than WARROOM_AUDIT_RETENTION_DAYS (incidents/auditlog.py).
    "audit-log-purge": {"task": "incidents.tasks.purge_audit_log", "schedule": 3600.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `Authorization: Token <key>`, stored hashed, bad keys counted against the address.
        "incidents.signin.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "incidents.api.WarroomAutoSchema",
    "EXCEPTION_HANDLER": "incidents.api.exception_handler",
    # Per client address without credentials, per user with them (incidents/signin.py).
    "DEFAULT_THROTTLE_CLASSES": ["incidents.signin.AnonRateThrottle", "incidents.signin.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_ANON_RATE", "60/min"),
        "user": env_str("API_USER_RATE", "1200/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Warroom API",
    "DESCRIPTION": "Incidents, timeline, services, impacts and roles. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # `<incident:...>` in URLs: an incident's key or number (incidents.access.IncidentIdConverter).
    "PATH_CONVERTER_OVERRIDES": {
        "incident": {"type": "string", "pattern": "^([0-9]{1,18}|[a-z][a-z0-9]{11})$"},
    },
    # Every operation's error answers (400, 401, 403, 404, 409, 422) are in the schema.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "incidents.api.document_errors"],
    # The docs page loads Swagger UI from our own static files: no third-party requests.
    "SWAGGER_UI_DIST": "SIDECAR",
    # One schema name for the incident-kind values wherever a serializer offers them (an
    # incident's `kind`, a runbook's `kinds`), so `check --deploy` stays free of naming
    # warnings. Keep in step with incidents.models.Incident.Kind.
    "ENUM_NAME_OVERRIDES": {
        "IncidentKindEnum": ["availability", "security", "data_exposure", "performance", "other"],
        # A communication's audience, and the audiences a recipient list may serve (incidents.comms).
        "CommunicationAudienceEnum": ["status_page", "internal", "customers", "regulators", "partners"],
        "RecipientListAudienceEnum": ["customers", "regulators", "partners"],
        # An alert source's payload format (incidents.alerts).
        "AlertSourceKindEnum": ["alertmanager", "grafana", "generic"],
        # An incident's `status` and the `from_status` a status change may carry.
        "IncidentStatusEnum": ["investigating", "identified", "monitoring", "resolved", "closed"],
        # A service's status and a status-page update's level for a service (incidents.comms.api).
        "ServiceStatusEnum": [
            "operational",
            "degraded_performance",
            "partial_outage",
            "major_outage",
            "under_maintenance",
        ],
    },
}

# Warroom's own knobs.
WARROOM_SECURITY_GROUP = env_str("WARROOM_SECURITY_GROUP", "security")
# The organisation-wide audit log keeps events this many days (0: for ever); an hourly task
# deletes older ones (incidents/auditlog.py).
WARROOM_AUDIT_RETENTION_DAYS = env_int("WARROOM_AUDIT_RETENTION_DAYS", 400)
# Superusers and the security group must sign in with a second factor (TOTP app or recovery
# code); until they have enrolled they are sent to enrolment and can do nothing else
# (incidents/twofactor.py). Anyone may enrol; whoever has enrolled is always asked.
WARROOM_2FA_REQUIRED = env_bool("WARROOM_2FA_REQUIRED", False)
# The issuer an authenticator app shows next to the account.
OTP_TOTP_ISSUER = env_str("WARROOM_2FA_ISSUER", "Warroom")
WARROOM_TIMELINE_POLL_SECONDS = env_int("WARROOM_TIMELINE_POLL_SECONDS", 2)
# How often each open page asks for the header's inbox and "To approve" counts (two cheap
# counts): an approver sees a submitted update within this many seconds.
WARROOM_INBOX_POLL_SECONDS = env_int("WARROOM_INBOX_POLL_SECONDS", 4)
# Panels other apps add to the war-room page: URL names taking the incident's pk. The core
# only knows their names, so it never imports those apps.
WARROOM_INCIDENT_PANELS = ["runbooks:panel", "incidents:security:clocks", "incidents:alerts:panel"]
# Annotations other wings add to incidents in lists and the war-room header: functions taking a
# queryset of incidents and returning it annotated (the core only knows their names).
WARROOM_INCIDENT_ANNOTATIONS = ["incidents.review.views.with_review_state"]
# Warnings other wings add to an incident's comms pages (its communications and the drafting
# form): functions taking the request and the incident and returning HTML, or "" when there is
# nothing to say (the comms wing only knows their names, through the core's `comms_notices` tag).
WARROOM_COMMS_NOTICES = ["incidents.alerts.views.status_drift_notice"]
# Where a recipient list that follows a private status page finds that page's subscribers: a
# module with `pages()` and `members(page_ids)` / `resolve(refs)` (incidents.comms.delivery says
# what they return). The status pages provide it; "" turns following a page off.
WARROOM_LIST_PAGE_SUBSCRIBERS = "statuspage.audiences"
# Dates (YYYY-MM-DD, comma-separated) that business-day legal deadlines skip, besides weekends.
WARROOM_HOLIDAYS = env_list("WARROOM_HOLIDAYS", [])

# Reminders and escalation (docs/reminders.md).
WARROOM_REMINDERS = {
    # Minutes from the last public update (or the declaration) until the next one is due, per
    # severity; a severity not listed (SEV4) has no cadence.
    "update_cadence_minutes": {1: 30, 2: 60, 3: 240},
    "update_escalation_minutes": 10,  # still no update this long after: commander and deputy
    "ack_after_minutes": 5,  # not acknowledged this long after declaration: page the on-call group
    "ack_severities": [1, 2],
    "ack_repeat_minutes": 5,
    "ack_max_repeats": 6,
    "step_escalation_minutes": 15,  # a step overdue this long after its reminder: the commander
    # Resolved this long without a published review: remind the review's owner (else the commander).
    "review_after_days": 5,
    # An open action item: its owner (else the commander) at this hour (site TIME_ZONE) of its due
    # date; still open, again every so many days to the owner and the commander, at most so many in all.
    "action_item_hour": 9,
    "action_item_repeat_days": 7,
    "action_item_max_repeats": 4,
    # Reminders sent per sweep at most, most severe first; a flood (the beat was down) goes out
    # over the next sweeps, 30 s apart. None: no limit.
    "sweep_max_reminders": 5000,
}
# The Django group paged when a SEV1/SEV2 incident is not acknowledged in time.
WARROOM_ONCALL_GROUP = env_str("WARROOM_ONCALL_GROUP", "oncall")
# What the sweep checks: functions taking the sweep context and yielding due reminders. Other
# apps' rules are named here so the core never imports them.
WARROOM_REMINDER_RULES = [
    "incidents.reminders.sweep.unacknowledged",
    "incidents.comms.reminders.update_cadence",
    "incidents.security.reminders.mitigation_review",
    "incidents.security.reminders.regulatory_deadlines",
    "incidents.review.reminders.review_due",
    "incidents.review.reminders.action_items_due",
    "runbooks.reminders.overdue_steps",
    "incidents.alerts.reminders.status_drift",
    "incidents.alerts.reminders.alerts_resolved",
]
# First retry delay of a failed reminder e-mail or webhook; doubles per attempt, capped at an hour.
WARROOM_NOTIFY_RETRY_BASE_SECONDS = env_int("WARROOM_NOTIFY_RETRY_BASE_SECONDS", 30)
# Incident webhooks to loopback and private addresses are refused (SSRF) unless DEBUG or this is True.
WARROOM_ALLOW_PRIVATE_WEBHOOKS = env_bool("WARROOM_ALLOW_PRIVATE_WEBHOOKS", False)

# The public status page.
STATUSPAGE_NAME = env_str("STATUSPAGE_NAME", "Warroom status")
# Hours a resolved incident stays on the page's front, with its last update, before only the
# history lists it: visitors who saw the outage also see that it ended.
STATUSPAGE_RESOLVED_HOURS = env_int("STATUSPAGE_RESOLVED_HOURS", 24)
STATUSPAGE_PAGE_ID = env_str("STATUSPAGE_PAGE_ID")  # 12 lowercase alphanumerics; derived from SITE_URL when empty
STATUSPAGE_EXPORT_DIR = env_str("STATUSPAGE_EXPORT_DIR")  # kept up to date with what is public (docs/statuspage.md)
# Subscriptions: attempts of the subscribe form per client address and window (seconds).
STATUSPAGE_SUBSCRIBE_RATE_LIMIT = env_int("STATUSPAGE_SUBSCRIBE_RATE_LIMIT", 5)
STATUSPAGE_SUBSCRIBE_RATE_WINDOW = env_int("STATUSPAGE_SUBSCRIBE_RATE_WINDOW", 600)
# Webhooks to loopback and private addresses are refused (SSRF) unless DEBUG or this is True.
STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS = env_bool("STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS", False)
# First retry delay of a failed delivery; it doubles per attempt, capped at an hour.
STATUSPAGE_RETRY_BASE_SECONDS = env_int("STATUSPAGE_RETRY_BASE_SECONDS", 30)
# Small teams may let an author approve their own status-page, customer and regulator updates.
WARROOM_COMMS_SELF_APPROVAL = env_bool("WARROOM_COMMS_SELF_APPROVAL", False)


def _comms_time_zones(items):
    """{language: zone} from "zh-hans=Asia/Shanghai" items; a typo stops the process."""
    zones = {}
    for item in items:
        language, sep, zone = (part.strip() for part in item.partition("="))
        try:
            if not (sep and language and zone):
                raise ValueError(item)
            zoneinfo.ZoneInfo(zone)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
            raise ImproperlyConfigured(
                f"WARROOM_COMMS_TIME_ZONES: {item!r} is not language=Zone/Name (e.g. zh-hans=Asia/Shanghai)"
            ) from exc
        zones[language.lower()] = zone
    return zones


# The time zone times in a communication's text are written in (its readers'), per language;
# a language not listed uses TIME_ZONE.
WARROOM_COMMS_TIME_ZONES = _comms_time_zones(env_list("WARROOM_COMMS_TIME_ZONES", ["zh-hans=Asia/Shanghai"]))


# Alerts from monitoring (docs/alerts.md): deliveries accepted per source and window (seconds)
# before 429, and the largest request body taken.
WARROOM_ALERT_RATE_LIMIT = env_int("WARROOM_ALERT_RATE_LIMIT", 600)
WARROOM_ALERT_RATE_WINDOW = env_int("WARROOM_ALERT_RATE_WINDOW", 60)
WARROOM_ALERT_MAX_BYTES = env_int("WARROOM_ALERT_MAX_BYTES", 1_000_000)
# With Redis, how often (milliseconds) a web process sends the counts of a storm's deliveries.
WARROOM_ALERT_COUNT_MS = env_int("WARROOM_ALERT_COUNT_MS", 200)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
