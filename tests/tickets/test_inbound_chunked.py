"""A chunked POST (Transfer-Encoding: chunked, no Content-Length) to the inbound endpoint, against a real gunicorn
started by the test: the body is read from the stream up to the size cap (413 beyond), not taken as empty.
(The development server does not support chunked request bodies; gunicorn sets `wsgi.input_terminated`.)"""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.test_celery_live import database_url
from tickets.models import InboundEmail

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/inbound/email/"
MAX_BYTES = 200_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "TICKETS_INBOUND_EMAIL_MAX_BYTES": str(MAX_BYTES),
        "MEDIA_ROOT": str(tmp_path),
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text())
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def post_chunked(port: int, raw: bytes, key: str, content_type: str = "message/rfc822"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunks = (raw[i : i + 4096] for i in range(0, len(raw), 4096))
    connection.request(
        "POST",
        URL,
        body=chunks,  # an iterable and no Content-Length: http.client sends Transfer-Encoding: chunked
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type, "Host": "127.0.0.1"},
        encode_chunked=True,
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, json.loads(body or b"{}")


def raw_email(size: int = 0) -> bytes:
    return (
        "From: Dana <dana@unknown.example>\r\nTo: support@example.com\r\nSubject: Chunked\r\n"
        "Message-ID: <chunked-1@unknown.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "The export fails.\r\n" + "x" * size
    ).encode()


def test_a_chunked_post_is_read_up_to_the_size_cap(api_client_for, gunicorn):
    key = api_client_for("support_agent").raw_key
    raw = raw_email(20_000)
    code, body = post_chunked(gunicorn, raw, key)
    assert code == 202, body
    assert body["status"] == "unmatched"  # read whole: no customer matches dana@unknown.example
    assert bytes(InboundEmail.objects.get(pk=body["id"]).raw) == raw

    code, body = post_chunked(gunicorn, raw_email(MAX_BYTES), key)
    assert code == 413, body
    assert f"limit of {MAX_BYTES} bytes" in body["detail"]
    assert InboundEmail.objects.count() == 1

    code, body = post_chunked(gunicorn, b'{"raw": "..."}', key, content_type="application/json")
    assert code == 415, body
    assert InboundEmail.objects.count() == 1
