import logging
import socket

import pytest
from django.test import override_settings

from config.celery import app as celery_app


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def broker_down(monkeypatch):
    """Point the Celery app at a broker that refuses connections (the producer side reads broker_write_url)."""
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", f"redis://127.0.0.1:{closed_port()}/0")


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_needs_no_login_and_ignores_a_bad_session(client):
    client.cookies["sessionid"] = "garbage"
    assert client.get("/healthz/").status_code == 200
    assert client.head("/healthz/").status_code == 200


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_unreachable_and_not_logged_as_an_error(client, broker_down, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    assert "127.0.0.1" not in body["broker"]  # a public endpoint: no hosts or ports in the body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in caplog.records if r.levelno == logging.WARNING] == ["config.health"]


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    from django.db import connections

    def refuse(*args, **kwargs):
        raise connections["default"].Database.OperationalError("connection refused")

    monkeypatch.setattr(connections["default"], "cursor", refuse)
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "error: OperationalError", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_quickly_when_the_broker_is_down(client, broker_down):
    import time

    started = time.monotonic()
    assert client.get("/healthz/").status_code == 503
    assert time.monotonic() - started < 5


def test_healthz_refuses_writes(client):
    assert client.post("/healthz/").status_code == 405


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["crm.example.com"])
def test_healthz_answers_a_load_balancer_probing_by_ip(client):
    response = client.get("/healthz/", HTTP_HOST="192.0.2.10:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert client.head("/healthz/", HTTP_HOST="192.0.2.10").status_code == 200
    assert client.post("/healthz/", HTTP_HOST="192.0.2.10").status_code == 405
    # Only that exact path: every other page still refuses a Host that is not allowed.
    for path in ("/healthz", "/healthz/x", "/admin/login/", "/api/v1/customers/"):
        assert client.get(path, HTTP_HOST="192.0.2.10").status_code == 400, path
    assert client.get("/accounts/login/", HTTP_HOST="crm.example.com").status_code == 200


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["crm.example.com"], SECURE_SSL_REDIRECT=True, SECURE_REDIRECT_EXEMPT=[])
def test_healthz_is_not_redirected_to_https(client):
    # Production redirects plain HTTP to HTTPS; the health probe (plain HTTP to the instance) gets its answer.
    assert client.get("/healthz/", HTTP_HOST="192.0.2.10").status_code == 200
    response = client.get("/admin/login/", HTTP_HOST="crm.example.com")
    assert response.status_code == 301 and response["Location"].startswith("https://crm.example.com/")
