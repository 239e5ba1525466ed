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
    "'host': s.EMAIL_HOST, 'port': s.EMAIL_PORT, 'by_kind': s.LEDGER_SURVEY_MIN_DAYS_BY_KIND}))"
)


def read_settings(**environ: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "LEDGER_"))}
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


def test_under_make_run_every_process_gets_site_url_on_the_web_port_unless_set(tmp_path):
    """`PORT=8100 make run` runs config.devrun -p 8100: survey and unsubscribe links (written by the worker, which
    honcho gives PORT=8200) must say :8100, not :8000; an explicit SITE_URL wins."""
    procfile = tmp_path / "Procfile"
    probe = "import json, os, django; django.setup(); from django.conf import settings as s; "
    probe += "print(json.dumps([os.environ['PORT'], s.SITE_URL, s.CSRF_TRUSTED_ORIGINS])); import time; time.sleep(3)"
    procfile.write_text(f'web: {sys.executable} -c "{probe}"\nworker: {sys.executable} -c "{probe}"\n')

    def run(**environ: str) -> list:
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "SITE_URL", "DJANGO_CSRF_TRUSTED_ORIGINS")}
        env.update(DJANGO_SETTINGS_MODULE="config.settings.local", STOP_GRACE_SECONDS="2", **environ)
        out = subprocess.run(
            [sys.executable, "-m", "config.devrun", "-f", str(procfile), "-p", "8100"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return sorted(json.loads(line.split("| ", 1)[1]) for line in out.splitlines() if '| ["' in line)

    assert run() == [
        ["8100", "http://127.0.0.1:8100", ["http://127.0.0.1:8100"]],
        ["8200", "http://127.0.0.1:8100", ["http://127.0.0.1:8100"]],
    ]
    assert [got[1] for got in run(SITE_URL="https://crm.example.com/")] == ["https://crm.example.com"] * 2
