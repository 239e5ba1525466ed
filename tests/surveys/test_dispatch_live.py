"""The fault drill of a survey campaign, in CI: real `celery worker` processes against the configured broker
and the test database, a real SMTP server (tests/smtp.py), and a worker's process group killed with SIGKILL in
the middle of the batch.

Each test gives its workers queues of their own (CELERY_QUEUE_BULK_EMAIL / CELERY_QUEUE_DEFAULT in their
environment and in this process's settings), so stale messages of earlier runs neither interfere nor steal
its tasks. PostgreSQL runs the drill with prefork workers; SQLite (one writer, the embedded filesystem broker)
runs the campaign end to end with one solo worker and skips the kill.
"""

import datetime as dt
import os
import time
import uuid
from collections import defaultdict

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from crm.models import Heartbeat, OutboundEmail
from crm.outbound_email import email_sweep
from surveys.models import Campaign, Invitation
from surveys.scheduling import campaign_scan, campaign_start, dispatch_scan
from surveys.selectors import campaign_email_counts
from surveys.services import survey_create
from tests.factories import ContactFactory, CustomerFactory
from tests.test_celery_live import Process, database_url, delete_queue

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]

CAMPAIGN = 400
WAIT_SECONDS = 120
GRACE_SECONDS = 15


class Worker(Process):
    """`celery worker` on the given queues, in a process group of its own (kill_group() reaches its pool)."""

    STOP_SECONDS = 20

    def __init__(self, name, queues, env, log_dir, pool_args):
        args = ["worker", "-Q", ",".join(queues), "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "-l", "INFO"]
        args += [*pool_args, "--without-mingle", "--without-gossip", "--without-heartbeat"]
        super().__init__(name, args, env, log_dir, own_group=True)


@pytest.fixture
def drill(settings, monkeypatch, smtp_server, tmp_path):
    """Queues of this test's own, the environment of its workers, and what the test process publishes there."""
    tag = uuid.uuid4().hex[:8]
    bulk, default = f"live-bulk-{tag}", f"live-default-{tag}"
    settings.CELERY_QUEUE_BULK_EMAIL, settings.CELERY_QUEUE_DEFAULT = bulk, default
    settings.SURVEYS_DISPATCH_CHUNK = 100
    settings.SURVEYS_REQUEUE_MINUTES = 0  # a chunk the killed worker had taken is published again at once
    # The sweep runs here: "sending" for longer than a whole batch's conversation (50 emails, a loaded CI
    # machine) is unknown. Shorter, the sweep would call a live batch's rows unknown and send them twice.
    settings.EMAIL_REQUEUE_GRACE = dt.timedelta(seconds=GRACE_SECONDS)
    settings.EMAIL_UNKNOWN_RESEND_AFTER = dt.timedelta(0)
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 10}
    monkeypatch.setitem(celery_app.conf, "task_default_queue", default)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE_BULK_EMAIL": bulk,
        "CELERY_QUEUE_DEFAULT": default,
        "CELERY_BROKER_VISIBILITY_TIMEOUT": "10",  # the killed worker's unacknowledged messages come back
        "EMAIL_BATCH_SIZE": "50",
        "EMAIL_REQUEUE_GRACE_SECONDS": str(GRACE_SECONDS),
        "TEST_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "PYTHONUNBUFFERED": "1",
    }
    workers: list[Worker] = []

    def start(name, pool_args=("--pool", "prefork", "--concurrency", "2")) -> Worker:
        worker = Worker(name, [bulk, default], env, tmp_path, list(pool_args))
        workers.append(worker)
        return worker

    start.workers = workers
    try:
        yield start
    finally:
        for worker in workers:
            worker.stop()
        delete_queue(bulk)
        delete_queue(default)


def wait_until(condition, workers, what, timeout=WAIT_SECONDS, every=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if every is not None:
            every()
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    logs = "\n".join(w.tail() for w in workers)
    pytest.fail(f"{what} did not happen within {timeout}s\n{logs}")


def start_campaign(count: int):
    survey = survey_create(name="Drill NPS", kind="nps")
    customers = CustomerFactory.create_batch(8)
    contacts = [ContactFactory(customer=customers[i % 8], email=f"drill{i}@customer.example") for i in range(count)]
    campaign, started = campaign_start(survey=survey, audience={"contacts": [c.pk for c in contacts]})
    assert started
    return survey, campaign


def received_by_message_id(smtp_server) -> dict[str, list]:
    by_id = defaultdict(list)
    for message in smtp_server.messages:
        by_id[message.message["Message-ID"]].append(message)
    return by_id


def sweep():
    dispatch_scan()  # publishes again the chunks still scheduled (SURVEYS_REQUEUE_MINUTES = 0), closes campaigns
    email_sweep()  # "sending" past the grace: unknown, then resent with the same Message-ID


def test_a_campaign_survives_a_worker_killed_mid_batch_and_a_batch_delivered_twice(drill, smtp_server):
    if connection.vendor != "postgresql":
        pytest.skip("the kill -9 drill needs PostgreSQL: prefork workers writing at once (SQLite has one writer)")
    survey, campaign = start_campaign(CAMPAIGN)
    smtp_server.delay = 0.01  # about 100 emails a second at most: the kill lands in the middle of the batch
    first = drill("first")
    invitations = Invitation.objects.filter(survey=survey)
    wait_until(lambda: invitations.count() == CAMPAIGN, drill.workers, "the campaign's invitations")
    dispatch_scan()
    wait_until(lambda: len(smtp_server.messages) >= CAMPAIGN // 4, drill.workers, "a quarter of the emails")
    first.kill_group()
    time.sleep(1)  # the server finishes the message it was reading when the connection died
    received_at_kill = {m.message["Message-ID"] for m in smtp_server.messages}
    assert len(received_at_kill) < CAMPAIGN, "the batch finished before the kill: nothing was tested"
    # Accepted by the server while their row still said "sending" (a batch marks its sent rows every
    # MARK_EVERY messages): the only emails a resend may duplicate, always with the same Message-ID.
    in_flight = set(
        OutboundEmail.objects.filter(status="sending", message_id__in=received_at_kill).values_list(
            "message_id", flat=True
        )
    )

    drill("second")
    wait_until(
        lambda: (
            len(received_by_message_id(smtp_server)) == CAMPAIGN
            and not OutboundEmail.objects.exclude(status="sent").exists()
        ),
        drill.workers,
        "every invitation's email at the SMTP server",
        every=sweep,
    )
    emails = OutboundEmail.objects.filter(kind="survey_invite")
    assert emails.count() == CAMPAIGN  # one email row per invitation: never a second one
    by_id = received_by_message_id(smtp_server)
    assert set(by_id) == set(emails.values_list("message_id", flat=True))
    duplicated = {message_id for message_id, copies in by_id.items() if len(copies) > 1}
    assert duplicated <= in_flight, "only an email accepted but not yet recorded at the kill is sent again"
    assert all(len(by_id[m]) == 2 for m in duplicated)
    recipients = {m.rcpt_tos[0] for copies in by_id.values() for m in copies}
    assert recipients == {f"drill{i}@customer.example" for i in range(CAMPAIGN)}  # every contact, one email
    assert set(invitations.values_list("status", flat=True)) == {"sent"}
    assert not invitations.filter(email__isnull=True).exists()

    # The campaign and its invitations show what happened: sent, and resent (same Message-ID) after the kill.
    resent = set(emails.filter(resends__gt=0).values_list("message_id", flat=True))
    assert resent, "the killed worker left emails whose delivery was unknown: the sweep resent them"
    assert duplicated <= resent
    counts = campaign_email_counts([Campaign.objects.get(pk=campaign.pk)])[campaign.pk]
    assert counts["sent"] + counts["resent"] == CAMPAIGN and counts["resent"] == len(resent)
    assert counts["unknown"] == counts["failed"] == counts["pending"] == 0
    assert {Invitation.objects.get(email__message_id=m).email.resends for m in resent} == {1}
    campaign_scan()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.invited) == ("done", CAMPAIGN)

    # The same batch task delivered again (apply_async with the same ids): no new email.
    before = len(smtp_server.messages)
    ids = sorted(emails.values_list("pk", flat=True))
    celery_app.tasks["crm.send_email_batch"].apply_async((ids[:50],))
    celery_app.tasks["crm.send_email_batch"].apply_async((ids[:50],))
    celery_app.tasks["surveys.dispatch_invitations"].apply_async((sorted(invitations.values_list("pk", flat=True)),))
    time.sleep(5)
    assert len(smtp_server.messages) == before
    assert emails.count() == CAMPAIGN


def test_a_campaign_goes_out_once_through_one_worker(drill, smtp_server):
    """What runs on SQLite too: one solo worker sends a campaign, once, and a batch delivered twice sends
    nothing more."""
    count = 60
    survey, campaign = start_campaign(count)
    drill("solo", pool_args=("--pool", "solo"))
    invitations = Invitation.objects.filter(survey=survey)
    wait_until(lambda: invitations.count() == count, drill.workers, "the campaign's invitations")
    dispatch_scan()
    wait_until(
        lambda: len(smtp_server.messages) == count and not OutboundEmail.objects.exclude(status="sent").exists(),
        drill.workers,
        "every invitation's email at the SMTP server",
    )
    by_id = received_by_message_id(smtp_server)
    emails = OutboundEmail.objects.filter(kind="survey_invite")
    assert set(by_id) == set(emails.values_list("message_id", flat=True)) and len(by_id) == count
    ids = sorted(emails.values_list("pk", flat=True))
    celery_app.tasks["crm.send_email_batch"].apply_async((ids,))
    celery_app.tasks["crm.send_email_batch"].apply_async((ids,))
    # Behind them on their queue: the solo worker runs its tasks one at a time, in order, so once this one has
    # run, both batches have.
    celery_app.tasks["crm.heartbeat"].apply_async(queue=settings.CELERY_QUEUE_BULK_EMAIL)
    wait_until(lambda: Heartbeat.objects.filter(name="celery").exists(), drill.workers, "the batches delivered twice")
    assert len(smtp_server.messages) == count
    dispatch_scan()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.invited) == ("done", count)
