#!/usr/bin/env python
"""`make bench` (email): one worker's bulk email rate against a bare smtplib loop to the same SMTP server.

A plain script (not collected by pytest). Its own database, BENCH_EMAIL_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/crm_bench_email; DATABASE_URL is ignored), migrated if needed; the previous
run's emails are deleted first. The SMTP server (aiosmtpd) runs in its own process, so it does not share this
process's interpreter with the senders; both senders below talk to that same server, one after the other.

(1) Baseline: a bare smtplib loop: one connection, BENCH_EMAILS (5,000) messages (text + HTML), built once
    with the standard library's EmailMessage and copied with a new Message-ID and recipient, sendmail each.
    Run before and after (2); the faster of the two runs is the baseline.
(2) Ours: BENCH_EMAILS emails stored with crm.outbound_email.email_queue_bulk (not timed), then one worker in
    this process runs every `crm.send_email_batch` task they published (FIFO, like a worker with prefetch 1):
    claim, one SMTP connection per batch, rows marked sent and timeline events written in bulk.

Printed: both rates, the ratio (target >= 0.5, BENCH_EMAIL_MIN_RATIO) and SQL statements per email. Exit status 1
when an email did not arrive, an email is not "sent", or the ratio is below the target.
"""

import os
import smtplib
import subprocess
import sys
import time
from collections import deque
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path

os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_EMAIL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench_email"
)
os.environ["CELERY_BROKER_URL"] = "memory://"  # nothing reaches a real queue
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import setup_django

EMAILS = int(os.environ.get("BENCH_EMAILS", "5000"))
MIN_RATIO = float(os.environ.get("BENCH_EMAIL_MIN_RATIO", "0.5"))
KIND = "bench_email"
TEXT = "Hello Pat,\n\nhow did the onboarding go? One click tells us.\n\nThe Customer Success team\n" * 3
HTML = (
    "<p>Hello Pat,</p>\n<p>how did the onboarding go? One click tells us.</p>\n<p>The Customer Success team</p>\n" * 3
)

SERVER = r"""
import sys, threading, logging
from aiosmtpd.controller import Controller
logging.getLogger("mail.log").setLevel(logging.WARNING)
count = 0
lock = threading.Lock()
class Handler:
    async def handle_DATA(self, server, session, envelope):
        global count
        with lock:
            count += 1
        return "250 Message accepted for delivery"
class C(Controller):
    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()
c = C(Handler(), hostname="127.0.0.1", port=0, ready_timeout=10)
c.start()
print(c.port, flush=True)
for line in sys.stdin:
    print(count, flush=True)
"""


class SmtpProcess:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.port = int(self.proc.stdout.readline())

    def received(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def baseline(port: int) -> float:
    """The SMTP conversation alone: the message is built once, each copy differs only by its Message-ID and
    recipient (a byte replace), so this is the fastest a sender in Python can go against this server."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = "A quick question"
    message["From"] = "success@example.com"
    message["To"] = "RCPT"
    message["Message-ID"] = "MSGID"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    template = message.as_bytes()
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    start = time.perf_counter()
    for n in range(EMAILS):
        rcpt = f"pat{n}@customer.example.com"
        data = template.replace(b"MSGID", make_msgid(domain="bench.localhost").encode()).replace(b"RCPT", rcpt.encode())
        smtp.sendmail("success@example.com", [rcpt], data)
    elapsed = time.perf_counter() - start
    smtp.quit()
    return EMAILS / elapsed


class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def ours(port: int) -> tuple[float, int, dict]:
    from django.conf import settings
    from django.db import connection

    from config.celery import app
    from crm.models import Contact, Customer, OutboundEmail, TimelineEvent
    from crm.outbound_email import email_queue_bulk
    from crm.tasks import send_email_batch

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    TimelineEvent.objects.filter(kind="email.sent", payload__kind=KIND).delete()
    OutboundEmail.objects.filter(kind=KIND).delete()
    customer, _ = Customer.objects.get_or_create(name="Email bench", defaults={"domain": "emailbench.example.com"})
    contact, _ = Contact.objects.get_or_create(customer=customer, email="pat@emailbench.example.com")

    queue: deque = deque()
    task = app.tasks["crm.send_email_batch"]
    task.apply_async = lambda args=None, kwargs=None, **options: queue.append(list(args[0]))
    stamp = time.time_ns()
    ids = email_queue_bulk(
        {
            "idempotency_key": f"{KIND}:{stamp}:{n}",
            "kind": KIND,
            "to_email": f"pat{n}@customer.example.com",
            "subject": f"A quick question {n}",
            "text_body": TEXT,
            "html_body": HTML,
            "customer": customer,
            "contact": contact,
        }
        for n in range(EMAILS)
    )
    assert len(ids) == EMAILS
    counter = StatementCounter()
    counts: dict[str, int] = {}
    start = time.perf_counter()
    with connection.execute_wrapper(counter):
        while queue:
            for key, value in send_email_batch.apply((queue.popleft(),)).get().items():
                counts[key] = counts.get(key, 0) + value
    elapsed = time.perf_counter() - start
    counts["rows_sent"] = OutboundEmail.objects.filter(kind=KIND, status="sent").count()
    return EMAILS / elapsed, counter.count, counts


def main() -> int:
    setup_django()
    import logging

    from django.conf import settings

    logging.getLogger("celery").setLevel(logging.WARNING)  # a line per task otherwise
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    server = SmtpProcess()
    failures = []
    try:
        first = baseline(server.port)
        after_baseline = server.received()
        rate, statements, counts = ours(server.port)
        received = server.received() - after_baseline
        base_rate = max(first, baseline(server.port))
    finally:
        server.stop()
    ratio = rate / base_rate
    print(
        f"{EMAILS:,} emails to a local SMTP server (aiosmtpd in its own process), "
        f"batches of {settings.EMAIL_BATCH_SIZE}"
    )
    print(f"{'sender':<58} {'emails/s':>10}")
    print("-" * 70)
    print(f"{'bare smtplib loop (one connection, the best of two runs)':<58} {base_rate:>10.0f}")
    print(f"{'one worker: crm.send_email_batch (claim, send, mark, timeline)':<58} {rate:>10.0f}")
    print(f"{'ratio (target >= ' + str(MIN_RATIO) + ')':<58} {ratio:>10.2f}")
    print(f"{'SQL statements per email (sending)':<58} {statements / EMAILS:>10.3f}")
    print(f"outcome: {counts}")
    if after_baseline != EMAILS:
        failures.append(f"baseline: the server received {after_baseline} of {EMAILS}")
    if received != EMAILS or counts["rows_sent"] != EMAILS:
        failures.append(f"ours: the server received {received}, {counts['rows_sent']} rows sent, of {EMAILS}")
    if ratio < MIN_RATIO:
        failures.append(f"ratio {ratio:.2f} below {MIN_RATIO}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
