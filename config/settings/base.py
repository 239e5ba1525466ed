"""Settings shared by every environment. Everything comes from the environment, with embedded
defaults that run the whole product on a laptop (SQLite and Celery's filesystem broker under var/)."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me-in-production-0123456789")
# Rotating the key: put the old one here (comma-separated) so links in emails already written keep working.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "crm.admin_site.CrmAdminConfig",  # django.contrib.admin with the home page's grouped list (crm/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: the docs work offline
    "django_celery_beat",
    "import_export",
    "anymail",
    "simple_history",
    "csp",
    "accounts",  # before allauth: its templates override allauth's
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "crm",
    "tickets",
    "success",
    "surveys",
]

MIDDLEWARE = [
    "config.middleware.HealthCheckMiddleware",  # first: /healthz/ answers whatever the Host (load balancer probes)
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.CommonMiddleware",  # Django's; writes to a URL without its trailing slash are 404s
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.TimeZoneMiddleware",  # pages show times in the user's time zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.mfa.MfaSetupRequiredMiddleware",  # staff who must use MFA set up TOTP before anything else
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
        },
    },
]

# --- Content-Security-Policy (django-csp) -----------------------------------------------------
# Every page we serve (admin, login, survey, unsubscribe, API docs) runs only scripts from our own origin or inline
# ones carrying the request's nonce (`<script nonce="{{ request.csp_nonce }}">`): no inline event handlers, no
# 'unsafe-inline' for scripts. Styles may stay inline (the admin and allauth use style attributes).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],  # the TOTP QR code and Swagger UI's icons are data: URIs
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'crm.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend with SQLite's real bound-variable limit (config/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "config.sqlite3"
    # Web, worker and beat share one file: wait for locks instead of failing, WAL for concurrent readers.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth (django-allauth, email as login, MFA) ---------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Django's and allauth's backends, refusing service accounts (API key identities) any interactive login.
    "accounts.backends.StaffModelBackend",
    "accounts.backends.StaffAuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
ACCOUNT_ADAPTER = "accounts.adapters.StaffAccountAdapter"  # staff accounts are created by admins, no sign-up
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False  # staff-only site: no "you have no account" mails to strangers
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# allauth's login limits also count failures per client address (10 a minute): behind a reverse proxy that
# address is the proxy's unless the proxies we run are counted, and X-Forwarded-For is read past them.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("DJANGO_TRUSTED_PROXY_COUNT", default=0)
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", default="Customer Success CRM")
# Who must use TOTP ("nobody", "admins" or "staff"): the initial value of the admin's Security settings, which
# the admin can change afterwards (accounts.mfa). Production defaults to admins.
MFA_REQUIRED_FOR = env("MFA_REQUIRED_FOR", default="nobody")
if MFA_REQUIRED_FOR not in ("nobody", "admins", "staff"):
    raise ValueError(f"MFA_REQUIRED_FOR must be nobody, admins or staff, not {MFA_REQUIRED_FOR!r}")

# --- I18N / time ------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # the default zone of pages; each staff user can pick their own (accounts.User.time_zone)
FORMAT_MODULE_PATH = ["config.formats"]  # every date-time shown says its zone
USE_I18N = True
USE_TZ = True
COMPANY_NAME = env("COMPANY_NAME", default="Acme Software")
REPORTING_CURRENCY = env("REPORTING_CURRENCY", default="USD")

# --- Static -----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- Email ------------------------------------------------------------------------------------
# Without EMAIL_URL, emails are written as files under var/mail. (django-environ reads the path of a
# "filemail:///abs/path" URL as relative, so the default is set directly, not as a URL.)
if env("EMAIL_URL", default=""):
    EMAIL_CONFIG = env.email_url("EMAIL_URL")
else:
    EMAIL_CONFIG = {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}
if EMAIL_CONFIG["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
    EMAIL_CONFIG["EMAIL_FILE_PATH"] = EMAIL_CONFIG.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Customer Success <success@example.com>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Domain of the Message-IDs we generate; replies thread by them.
EMAIL_MESSAGE_ID_DOMAIN = env("EMAIL_MESSAGE_ID_DOMAIN", default="crm.localhost")
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=5)
EMAIL_RETRY_BASE_SECONDS = env.int("EMAIL_RETRY_BASE_SECONDS", default=30)
# A row still "queued" this long after its due time lost its task (e.g. a broker restart): re-queue it.
EMAIL_REQUEUE_GRACE = timedelta(seconds=env.int("EMAIL_REQUEUE_GRACE_SECONDS", default=300))
# A row whose worker died mid-send is "unknown" after EMAIL_REQUEUE_GRACE; this long after that it is resent
# automatically with the same Message-ID (providers collapse identical Message-IDs), at most this many times.
EMAIL_UNKNOWN_RESEND_AFTER = timedelta(seconds=env.int("EMAIL_UNKNOWN_RESEND_AFTER_SECONDS", default=0))
EMAIL_UNKNOWN_MAX_RESENDS = env.int("EMAIL_UNKNOWN_MAX_RESENDS", default=1)
# Bulk email (crm.send_email_batch): emails per task, each batch over one SMTP connection.
EMAIL_BATCH_SIZE = env.int("EMAIL_BATCH_SIZE", default=100)
# Emails per minute across every worker (a token bucket in the database); 0 = no limit.
EMAIL_RATE_LIMIT_PER_MINUTE = env.int("EMAIL_RATE_LIMIT_PER_MINUTE", default=0)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Keep countdowns (email retries) well under the visibility timeout.
    # A message a worker took and never acknowledged (the worker was killed) is delivered again after this long.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600)}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True  # every task is idempotent (see ARCHITECTURE), so redelivery is safe
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's DatabaseScheduler behind the one-beat lock, reading the schedule once it holds it.
CELERY_BEAT_SCHEDULER = "config.beat:LockedDatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# One queue per kind of work (config/celery.py `route_task`), so that a campaign's backlog of bulk email delays
# neither the periodic scans nor interactive email. A worker consumes what `-Q` names: `make run`'s worker all
# three (Makefile WORKER_QUEUES), production a worker (pool) per queue (README, "How it scales out").
# Celery's own default name: messages queued before an upgrade are still consumed. (Environment overrides let a
# live test give its workers queues of their own.)
CELERY_QUEUE_DEFAULT = env("CELERY_QUEUE_DEFAULT", default="celery")
CELERY_QUEUE_BULK_EMAIL = env("CELERY_QUEUE_BULK_EMAIL", default="email_bulk")
CELERY_QUEUE_PERIODIC = env("CELERY_QUEUE_PERIODIC", default="periodic")
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_DEFAULT
CELERY_TASK_ROUTES = ["config.celery.route_task"]

# --- Cache ------------------------------------------------------------------------------------
# One cache shared by every process (each gunicorn worker, Celery): allauth's rate limits, which the admin login
# goes through too, count failed logins there, so a lockout holds across workers, and a used TOTP code cannot be
# replayed on another worker. CACHE_URL if set (e.g. redis://host:6379/2), else the Redis of the broker (keys under
# their own prefix), else the database (the table "django_cache", made by accounts' migrations).
if env("CACHE_URL", default=""):
    _default_cache = env.cache_url("CACHE_URL")
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _default_cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CELERY_BROKER_URL}
else:
    _default_cache = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}
if _default_cache["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Django's default (300 entries, then a third is culled) would let a spray of logins from many addresses cull
    # the counts of the account actually attacked.
    _default_cache.setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)
if _default_cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    _default_cache["BACKEND"] = "config.cache.RedisCache"  # its clear() leaves the broker's keys alone
    _default_cache.setdefault("KEY_PREFIX", "crm-cache")
CACHES = {
    "default": _default_cache,
    # Per process, for what each process may keep a moment without asking anyone (a role's permissions).
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "crm-local"},
}

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RolePermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "crm.api.filtering.FilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only: a view that takes files (ticket messages) or raw email (inbound) names its own parsers, so the
    # schema offers one request body per operation and generated clients send JSON (a 415 otherwise).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "crm.api.negotiation.ContentNegotiation",
    "DEFAULT_VERSIONING_CLASS": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Customer Success CRM API",
    "DESCRIPTION": "Customers, contacts, timelines and CSM tasks for integrations. "
    "Authenticate with `Authorization: Bearer <api key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents its error answers; time fields are local times (config/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.document_errors",
    ],
    # One component name per choice set shared by several models/fields.
    "ENUM_NAME_OVERRIDES": {
        "LifecycleStageEnum": "crm.models.LifecycleStage",
        "TierEnum": "crm.models.Tier",
        "ContactRoleEnum": "crm.models.ContactRole",
        "TicketStatusEnum": "tickets.models.Status",
        "PriorityEnum": "tickets.models.Priority",
        "CategoryEnum": "tickets.models.Category",
        "ChannelEnum": "tickets.models.Channel",
        "TaskStatusEnum": "crm.models.TaskStatus",
        "TaskTypeEnum": "crm.models.TaskType",
        "SurveyKindEnum": "surveys.models.Kind",
        "InboundEmailStatusEnum": "tickets.api.serializers.INBOUND_RESULT_STATUSES",
        "ArrMovementKindEnum": "success.revenue.models.ArrMovementKind",
        "ArrMovementSourceEnum": "success.revenue.models.ArrMovementSource",
        "ChurnReasonEnum": "crm.churn.ChurnReason",
        "PlaybookStepKindEnum": "success.playbooks.models.StepKind",
        "PlaybookAssigneeEnum": "success.playbooks.models.AssigneeKind",
        "PlaybookOffsetFromEnum": "success.playbooks.models.OffsetFrom",
        "PlaybookRunStatusEnum": "success.playbooks.models.RunStatus",
        "PlaybookRunStepStatusEnum": "success.playbooks.models.RunStepStatus",
        "PlaybookRunStateEnum": "success.playbooks.selectors.RunState",
        "SurveyTriggerEnum": "surveys.models.Invitation.Trigger",
        "OutreachTriggerEnum": "success.outreach.models.OutreachTrigger",
        "OutreachEventEnum": "success.outreach.models.OutreachEvent",
        "OutreachResultEnum": "success.outreach.models.OutreachResult",
    },
}

# --- History ----------------------------------------------------------------------------------
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- Import / export --------------------------------------------------------------------------
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False

# --- Admin ------------------------------------------------------------------------------------
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "demo-admin-password"  # noqa: S105  (local demo only; documented in README)

LOG_LEVEL_TASKS = env("LOG_LEVEL_TASKS", default="WARNING")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Celery's "Task ... received" and "Task ... succeeded in ..." lines: two per task, 24,000 lines for a
        # campaign of 12,000 emails. Off (WARNING) unless LOG_LEVEL_TASKS=INFO; failures are logged at ERROR
        # either way, and campaigns log their progress per batch.
        "celery.app.trace": {"level": LOG_LEVEL_TASKS},
        "celery.worker.strategy": {"level": LOG_LEVEL_TASKS},
    },
}

# --- Tickets ----------------------------------------------------------------------------------
TICKETS_AUTO_CLOSE_DAYS = env.int("TICKETS_AUTO_CLOSE_DAYS", default=4)
TICKETS_ATTACHMENT_MAX_BYTES = env.int("TICKETS_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
TICKETS_INBOUND_EMAIL_MAX_BYTES = env.int("TICKETS_INBOUND_EMAIL_MAX_BYTES", default=30 * 1024 * 1024)
# The address customers write to; mail from it (or from DEFAULT_FROM_EMAIL) is a loop and never becomes a ticket.
SUPPORT_EMAIL = env("SUPPORT_EMAIL", default="support@example.com")

# --- Product usage (success/usage) --------------------------------------------------------------
# Raw usage events are kept this many days (and events older than that are refused); daily rollups two years.
USAGE_RAW_RETENTION_DAYS = env.int("USAGE_RAW_RETENTION_DAYS", default=90)
USAGE_ROLLUP_RETENTION_DAYS = env.int("USAGE_ROLLUP_RETENTION_DAYS", default=730)
USAGE_MAX_BATCH = 1000

# Email provider webhooks (django-anymail): inbound mail and delivery tracking. Served only when a secret is set,
# as HTTP basic auth "user:password" that the provider is configured with.
ANYMAIL = {"WEBHOOK_SECRET": env("ANYMAIL_WEBHOOK_SECRET", default="")}

# --- Contact ledger (consent and fatigue for customer email) ----------------------------------
LEDGER_SURVEY_MIN_DAYS = env.int("LEDGER_SURVEY_MIN_DAYS", default=30)  # across every survey and trigger
# Extra spacing per survey kind on top of the global rule (0: only the global rule), e.g. NPS every 90 days.
LEDGER_SURVEY_MIN_DAYS_BY_KIND = {
    kind: env.int(f"LEDGER_{kind.upper()}_MIN_DAYS", default=0) for kind in ("nps", "ces", "csat")
}
LEDGER_OUTREACH_MIN_DAYS = env.int("LEDGER_OUTREACH_MIN_DAYS", default=7)
