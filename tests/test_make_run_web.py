"""The web process of `make run` (Procfile.dev's `web:` line, started as honcho starts it) on the test database:
it serves a burst of concurrent requests without a 5xx while holding a bounded number of database connections
(the development server opened one per request thread and kept it: PostgreSQL's "too many clients already"), and
serves static files (whitenoise)."""

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from django.conf import settings
from django.db import connection

from tests.test_celery_live import database_url

pytestmark = pytest.mark.django_db

WORKERS, THREADS, REQUESTS = 1, 4, 60


def procfile_command(name: str) -> str:
    for line in (Path(settings.BASE_DIR) / "Procfile.dev").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name}: line in Procfile.dev")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> int:
    try:
        with urlopen(url, timeout=30) as response:  # noqa: S310 (a local URL)
            response.read()
            return response.status
    except HTTPError as error:
        return error.code


@pytest.fixture
def web(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",  # what `make run` runs: DEBUG on
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PORT": str(port),
        "WEB_WORKERS": str(WORKERS),
        "WEB_THREADS": str(THREADS),
    }
    log = (tmp_path / "web.log").open("wb")
    # honcho runs each Procfile line with the shell, in the caller's process group (config.devrun).
    process = subprocess.Popen(
        ["/bin/sh", "-c", procfile_command("web")],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "web.log").read_text()
            try:
                get(f"{base}/healthz/")
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "web.log").read_text()
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


def web_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_make_run_web_process_serves_concurrent_requests_with_bounded_connections(web):
    assert "gunicorn" in procfile_command("web")  # not runserver: one connection per request thread
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:  # /healthz/ queries the database and the broker
        statuses = list(pool.map(get, [f"{web}/healthz/"] * REQUESTS))
    assert statuses == [200] * REQUESTS
    if connection.vendor == "postgresql":
        # Connections are kept (CONN_MAX_AGE), at most one per worker thread.
        assert 1 <= web_connections() <= WORKERS * THREADS
    assert get(f"{web}/static/admin/css/base.css") == 200
    assert get(f"{web}/api/v1/customers/") in (401, 403)
