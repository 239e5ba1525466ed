"""Settings read from the environment, checked in a fresh interpreter so each case sees only its own variables."""

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'backend': s.EMAIL_BACKEND, 'path': getattr(s, 'EMAIL_FILE_PATH', ''), "
    "'host': s.EMAIL_HOST, 'port': s.EMAIL_PORT, 'by_kind': s.LEDGER_SURVEY_MIN_DAYS_BY_KIND, "
    "'site_url': s.SITE_URL, 'csrf_origins': s.CSRF_TRUSTED_ORIGINS}))"
)


def read_settings(**environ: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "LEDGER_"))
           and k not in ("PORT", "SITE_URL", "DJANGO_CSRF_TRUSTED_ORIGINS")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", **environ)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_email_url_emails_are_files_under_var_mail_of_the_project():
    got = read_settings()
    assert got["backend"] == "django.core.mail.backends.filebased.EmailBackend"
    # An absolute path inside the project, whatever the current directory (not "work/main/var/mail").
    assert got["path"] == str(BASE_DIR / "var" / "mail")


def test_email_url_configures_smtp():
    got = read_settings(EMAIL_URL="smtp://127.0.0.1:2525")
    assert got["backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (got["host"], got["port"]) == ("127.0.0.1", 2525)


def test_survey_spacing_is_configurable_for_every_kind():
    assert read_settings()["by_kind"] == {"nps": 0, "ces": 0, "csat": 0}
    got = read_settings(LEDGER_NPS_MIN_DAYS="90", LEDGER_CES_MIN_DAYS="60", LEDGER_CSAT_MIN_DAYS="14")
    assert got["by_kind"] == {"nps": 90, "ces": 60, "csat": 14}


def test_under_make_run_site_url_follows_port_unless_set():
    # `PORT=8100 make run` (the Makefile exports PORT): survey and unsubscribe links must not say :8000.
    got = read_settings(PORT="8100")
    assert got["site_url"] == "http://127.0.0.1:8100"
    assert got["csrf_origins"] == ["http://127.0.0.1:8100"]
    assert read_settings()["site_url"] == "http://127.0.0.1:8000"
    # An explicit SITE_URL (a tunnel, a proxy) wins over PORT.
    got = read_settings(PORT="8100", SITE_URL="https://crm.example.com/")
    assert got["site_url"] == "https://crm.example.com"
