"""A real SMTP server on localhost for tests (aiosmtpd), registered in tests/conftest.py via `pytest_plugins`.

def test_x(smtp_settings, smtp_server):
    ...send through Django...
    [received] = smtp_server.messages
    received.message["Message-ID"], received.mail_from, received.rcpt_tos, received.text, received.html

smtp_server.fail_next(2, code=451)   # the next two messages get "451 ..." at end of DATA
smtp_server.stop()                   # the port is closed now: connecting is refused
smtp_server.delay = 0.01             # each message accepted after this many seconds (a slower server)
"""

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO

SMTP_REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    450: "450 4.2.0 Mailbox unavailable, try again later",
    451: "451 4.3.0 Local error in processing, try again later",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 Mailbox unavailable: no such user",
    552: "552 5.3.4 Message size exceeds fixed limit",
    554: "554 5.7.1 Message rejected as spam",
}


@dataclass
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage = field(repr=False)

    def _part(self, content_type: str) -> str | None:
        part = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        if part is None or part.get_content_type() != content_type:
            return None
        return part.get_content()

    @property
    def text(self) -> str | None:
        return self._part("text/plain")

    @property
    def html(self) -> str | None:
        return self._part("text/html")


class _Handler:
    """aiosmtpd handler: keeps every accepted message; answers the next N messages with an error."""

    def __init__(self, server: "SmtpServer"):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.server._refusal("rcpt", envelope)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        return self.server._refusal("data", envelope) or self.server._receive(envelope)


class _Controller(Controller):
    def _trigger_server(self):
        # Bound to port 0: learn the port the OS chose before aiosmtpd connects to check it is up.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    def __init__(self):
        self.messages: list[ReceivedEmail] = []
        self.delay = 0.0
        self.refused: list[tuple[int, str]] = []  # (code, envelope sender) of messages answered with an error
        self._failures: list[tuple[str, int]] = []  # (stage, code)
        self._replies: dict[int, str] = dict(SMTP_REPLIES)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=0, ready_timeout=10)
        self.host = "127.0.0.1"
        self.port = 0

    def start(self) -> "SmtpServer":
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        """Close the port (what a down mail server looks like: connection refused)."""
        if self._controller._thread is not None:
            self._controller.stop()

    def fail_next(self, count: int = 1, *, code: int = 451, at: str = "data", reply: str | None = None) -> None:
        """Answer the next `count` messages with this SMTP error instead of accepting them: at the end of DATA
        (the message is refused) or at RCPT TO (the recipient is refused)."""
        assert at in ("data", "rcpt")
        with self._lock:
            self._failures.extend([(at, code)] * count)
            if reply:
                self._replies[code] = reply

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedEmail]:
        """Wait until at least `count` messages arrived (for senders in another thread or process)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)

    def _refusal(self, stage: str, envelope) -> str | None:
        with self._lock:
            if not self._failures or self._failures[0][0] != stage:
                return None
            _, code = self._failures.pop(0)
            self.refused.append((code, envelope.mail_from))
            return self._replies.get(code, f"{code} Error")

    def _receive(self, envelope) -> str:
        with self._lock:
            raw = envelope.original_content or envelope.content
            self.messages.append(
                ReceivedEmail(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    raw=raw,
                    # Parsed with "\n" line ends (the wire has "\r\n"), so bodies compare as plain Python text.
                    message=message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default),
                )
            )
            self._arrived.notify_all()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A running SMTP server on 127.0.0.1 and a free port; stopped after the test."""
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Point Django's email at `smtp_server` (plain SMTP, no TLS, no auth, short timeout)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    return settings
