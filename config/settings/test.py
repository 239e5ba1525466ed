import os

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Tests read Django's in-memory outbox; a test that starts a real Celery worker points that subprocess at its
# own SMTP server with TEST_EMAIL_URL (never EMAIL_URL, which a developer's .env may aim at a real server).
_test_email_url = env("TEST_EMAIL_URL", default="")
if _test_email_url:
    vars().update({"EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False, **env.email_url_config(_test_email_url)})
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
EMAIL_TIMEOUT = 5
BEAT_LOCK_RETRY_SECONDS = 1  # a standby beat (config/celery.py) checks the lock every second in tests

if DATABASES["default"]["ENGINE"] == "config.sqlite3":
    # A file, not ":memory:", so that the Celery worker and beat a live test starts can open the test database.
    # One file per test run (pid), so two runs on the same checkout do not destroy each other's database.
    DATABASES["default"]["TEST"] = {
        "NAME": env("DJANGO_TEST_SQLITE_NAME", default=str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))
    }
    # A throwaway database: no fsync (the file is deleted after the run anyway).
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["init_command"] = _options.get("init_command", "") + "PRAGMA synchronous=OFF;"

if CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    # Its own folders, so messages of tests and of a local `make run` never meet.
    _broker_dir = VAR_DIR / "celery-broker-test"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
