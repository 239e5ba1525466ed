import os
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_EMAIL", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)


def run():
    out = StringIO()
    call_command("ensure_admin", stdout=out, stderr=StringIO())
    return out.getvalue()


def snapshot(user):
    user.refresh_from_db()
    groups = sorted(user.groups.values_list("name", flat=True))
    return (user.password, user.is_staff, user.is_superuser, user.is_active, groups)


@override_settings(DEBUG=True, DEMO_ADMIN_EMAIL="demo-admin@example.com", DEMO_ADMIN_PASSWORD="demo password 123")
def test_creates_the_demo_admin_once(client):
    output = run()
    assert "demo-admin@example.com" in output and "created" in output
    user = User.objects.get(email="demo-admin@example.com")
    assert user.is_superuser and user.is_staff and user.is_active and not user.is_service_account
    assert user.check_password("demo password 123")
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]
    before = snapshot(user)

    output = run()
    assert "already exists and is up to date" in output
    assert snapshot(user) == before
    assert User.objects.count() == 1
    # The login really works, through allauth.
    response = client.post("/accounts/login/", {"login": "demo-admin@example.com", "password": "demo password 123"})
    assert response.status_code == 302 and response["Location"] == "/admin/"


@override_settings(DEBUG=True, DEMO_ADMIN_EMAIL="demo-admin@example.com", DEMO_ADMIN_PASSWORD="demo password 123")
def test_existing_password_is_kept_unless_the_env_sets_one(monkeypatch, user_factory):
    user = user_factory(email="demo-admin@example.com", is_superuser=False)
    user.set_password("my own secret phrase")
    user.save()

    output = run()
    assert "password" not in output.split(":", 1)[1]
    user.refresh_from_db()
    assert user.check_password("my own secret phrase")
    assert user.is_superuser
    assert "admin" in user.groups.values_list("name", flat=True)

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "rotated by the operator 1")
    output = run()
    assert "password reset" in output
    user.refresh_from_db()
    assert user.check_password("rotated by the operator 1")


@override_settings(DEBUG=False)
def test_refuses_the_published_demo_credentials_when_debug_is_off(monkeypatch):
    with pytest.raises(CommandError, match="DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD"):
        run()
    assert not User.objects.exists()
    # A password alone does not make the published demo address acceptable either.
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "ops passphrase 2024")
    with pytest.raises(CommandError, match="DEBUG is off"):
        run()
    assert not User.objects.exists()


@override_settings(DEBUG=False)
def test_env_credentials_work_when_debug_is_off(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "ops passphrase 2024")
    assert "created" in run()
    assert User.objects.get(email="ops@example.com").check_password("ops passphrase 2024")
    assert not User.objects.filter(email__iexact="admin@example.com").exists()


def test_make_run_settings_have_debug_on():
    # `make run` calls manage.py, whose default settings module is config.settings.local: the demo admin works there.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG")}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.conf import settings; print(settings.DEBUG)"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "True"


def test_env_credentials_win(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "Ops@Example.com")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "ops passphrase 2024")
    output = run()
    assert "ops@example.com" in output and "DJANGO_SUPERUSER_EMAIL" in output
    user = User.objects.get(email="ops@example.com")
    assert user.is_superuser and user.check_password("ops passphrase 2024")
    assert not User.objects.filter(email__iexact="admin@example.com").exists()
    before = snapshot(user)
    assert "up to date" in run()
    assert snapshot(user) == before


def test_env_email_without_password_creates_no_usable_password(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    output = run()
    assert "without a usable password" in output
    assert not User.objects.get(email="ops@example.com").has_usable_password()


def test_reactivates_and_restores_a_demoted_admin(monkeypatch, user_factory):
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "ops@example.com")
    user = user_factory(email="ops@example.com", is_staff=False, is_active=False)
    output = run()
    assert "is_staff" in output and "is_active" in output
    user.refresh_from_db()
    assert user.is_staff and user.is_active and user.is_superuser
