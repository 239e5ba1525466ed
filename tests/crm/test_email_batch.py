"""Bulk email (crm.send_email_batch) against a real SMTP server on localhost: one claim, one connection, each
email once, a bounded number of statements per batch, and the rate limit shared by concurrent senders."""

import smtplib
import threading
import time

import pytest
from django.db import connections

from config.celery import app as celery_app
from crm.email_rate import rate_acquire, rate_capacity
from crm.models import OutboundEmail, TimelineEvent
from crm.outbound_batch import email_send_batch
from crm.outbound_email import email_queue_bulk
from crm.tasks import send_email_batch  # noqa: F401 (registers the task)

Status = OutboundEmail.Status
pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """What crm.send_email_batch / crm.send_email would have published: [(ids, countdown)]."""
    calls = []

    def batch(args=None, kwargs=None, countdown=None, **options):
        calls.append((list(args[0]), countdown))

    def single(args=None, kwargs=None, countdown=None, **options):
        calls.append(([args[0]], countdown))

    monkeypatch.setattr(celery_app.tasks["crm.send_email_batch"], "apply_async", batch)
    monkeypatch.setattr(celery_app.tasks["crm.send_email"], "apply_async", single)
    return calls


def queue_many(contact, count, django_capture_on_commit_callbacks, prefix="camp"):
    emails = [
        {
            "idempotency_key": f"{prefix}:{n}",
            "kind": "outreach",
            "to_email": f"person{n}@customer.example.com",
            "subject": f"Hello {n}",
            "text_body": "Hello,\nhow is it going?",
            "html_body": "<p>Hello,</p>",
            "contact": contact,
        }
        for n in range(count)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        return email_queue_bulk(emails)


def test_bulk_queue_publishes_batches_and_one_batch_sends_all_once_over_one_connection(
    settings, smtp_settings, smtp_server, published, contact_factory, django_capture_on_commit_callbacks
):
    settings.EMAIL_BATCH_SIZE = 20
    contact = contact_factory()
    ids = queue_many(contact, 45, django_capture_on_commit_callbacks)
    assert [len(batch) for batch, _ in published] == [20, 20, 5]
    assert OutboundEmail.objects.filter(published_at__isnull=False).count() == 45

    opened = []
    original = smtplib.SMTP.connect

    def connect(self, *args, **kwargs):
        opened.append(1)
        return original(self, *args, **kwargs)

    smtplib.SMTP.connect = connect
    try:
        for batch, _ in published:
            assert email_send_batch(email_ids=batch)["sent"] == len(batch)
        assert email_send_batch(email_ids=ids) == dict.fromkeys(
            ("sent", "failed", "retry", "released", "in_flight", "deferred"), 0
        )  # delivered again: nothing to claim
    finally:
        smtplib.SMTP.connect = original
    assert len(opened) == 3  # one connection per batch
    messages = smtp_server.messages
    assert sorted(m.message["Message-ID"] for m in messages) == sorted(
        OutboundEmail.objects.values_list("message_id", flat=True)
    )
    assert set(OutboundEmail.objects.values_list("status", "attempts")) == {(Status.SENT, 1)}
    assert TimelineEvent.objects.filter(kind="email.sent").count() == 45


@pytest.mark.parametrize("size", [10, 60])
def test_a_batch_costs_a_bounded_number_of_statements_flat_in_its_size(
    settings,
    smtp_settings,
    smtp_server,
    published,
    contact_factory,
    django_capture_on_commit_callbacks,
    size,
    django_assert_max_num_queries,
):
    settings.EMAIL_BATCH_SIZE = 100
    contact = contact_factory()
    ids = queue_many(contact, size, django_capture_on_commit_callbacks)
    # claim 1, load 1, then per 25 sent: savepoint + UPDATE + INSERT + release (ContentType is cached)
    with django_assert_max_num_queries(3 + 4 * (60 // 25 + 1)):
        assert email_send_batch(email_ids=ids)["sent"] == size
    assert len(smtp_server.messages) == size


def test_a_slow_server_gets_its_sent_rows_marked_within_mark_within_seconds(
    settings, smtp_settings, smtp_server, published, contact_factory, django_capture_on_commit_callbacks, monkeypatch
):
    """Accepted messages are marked sent every MARK_EVERY, or once the oldest waited MARK_WITHIN seconds: against a
    slow server, a worker killed mid-batch leaves only the last fraction of a second's messages to resend."""
    from crm import outbound_batch

    monkeypatch.setattr(outbound_batch, "MARK_WITHIN", 0.08)
    smtp_server.delay = 0.05
    contact = contact_factory()
    ids = queue_many(contact, 10, django_capture_on_commit_callbacks)
    original = smtplib.SMTP.sendmail
    accepted, unmarked = [], []

    def sendmail(self, *args, **kwargs):
        unmarked.append(len(accepted) - OutboundEmail.objects.filter(status=Status.SENT).count())
        result = original(self, *args, **kwargs)
        accepted.append(1)
        return result

    monkeypatch.setattr(smtplib.SMTP, "sendmail", sendmail)
    assert email_send_batch(email_ids=ids)["sent"] == 10
    assert len(unmarked) == 10 and max(unmarked) <= 3  # not the 9 of MARK_EVERY = 25
    assert OutboundEmail.objects.filter(status=Status.SENT).count() == 10


def test_one_refused_message_does_not_fail_the_others(
    settings, smtp_settings, smtp_server, published, contact_factory, django_capture_on_commit_callbacks
):
    contact = contact_factory()
    ids = queue_many(contact, 5, django_capture_on_commit_callbacks)
    published.clear()
    smtp_server.fail_next(1, code=550, at="rcpt")  # the first recipient is refused for good
    counts = email_send_batch(email_ids=ids)
    assert (counts["sent"], counts["failed"]) == (4, 1)
    statuses = dict(OutboundEmail.objects.values_list("pk", "status"))
    assert statuses[ids[0]] == Status.FAILED
    assert [statuses[pk] for pk in ids[1:]] == [Status.SENT] * 4
    assert len(smtp_server.messages) == 4


def test_a_connection_lost_mid_batch_leaves_the_rest_queued_and_the_one_in_flight_to_the_unknown_rule(
    settings, smtp_settings, smtp_server, published, contact_factory, django_capture_on_commit_callbacks, monkeypatch
):
    contact = contact_factory()
    ids = queue_many(contact, 6, django_capture_on_commit_callbacks)
    published.clear()
    original = smtplib.SMTP.sendmail
    sent = []

    def sendmail(self, *args, **kwargs):
        if len(sent) == 2:
            self.close()
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        sent.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "sendmail", sendmail)
    counts = email_send_batch(email_ids=ids)

    assert (counts["sent"], counts["in_flight"], counts["released"]) == (2, 1, 3)
    rows = dict(OutboundEmail.objects.values_list("pk", "status"))
    assert [rows[pk] for pk in ids] == [Status.SENT] * 2 + [Status.SENDING] + [Status.QUEUED] * 3
    assert dict(OutboundEmail.objects.filter(pk__in=ids[3:]).values_list("pk", "attempts")) == dict.fromkeys(ids[3:], 0)
    assert published == [(ids[3:], None)]  # the untried rows are published again
    monkeypatch.setattr(smtplib.SMTP, "sendmail", original)
    assert email_send_batch(email_ids=ids[3:])["sent"] == 3
    assert len(smtp_server.messages) == 5


def test_a_server_that_cannot_be_reached_retries_the_batch_with_backoff(
    settings, smtp_settings, smtp_server, published, contact_factory, django_capture_on_commit_callbacks
):
    settings.EMAIL_RETRY_BASE_SECONDS = 30
    contact = contact_factory()
    ids = queue_many(contact, 3, django_capture_on_commit_callbacks)
    published.clear()
    smtp_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        assert email_send_batch(email_ids=ids)["retry"] == 3
    assert set(OutboundEmail.objects.values_list("status", "attempts")) == {(Status.QUEUED, 1)}
    assert published == [(ids, 30)]


def test_the_rate_limit_defers_what_has_no_token(
    settings, smtp_settings, smtp_server, published, contact_factory, django_capture_on_commit_callbacks, monkeypatch
):
    settings.EMAIL_RATE_LIMIT_PER_MINUTE = 6  # one token, then one every 10 seconds
    monkeypatch.setattr("crm.outbound_email.MAX_RATE_SLEEP", 0)
    contact = contact_factory()
    ids = queue_many(contact, 4, django_capture_on_commit_callbacks)
    published.clear()
    counts = email_send_batch(email_ids=ids)
    assert (counts["sent"], counts["deferred"]) == (1, 3)
    [(deferred, countdown)] = published
    assert deferred == ids[1:] and 9 <= countdown <= 10
    assert OutboundEmail.objects.filter(status=Status.QUEUED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_together_stay_within_the_limit(settings):
    settings.EMAIL_RATE_LIMIT_PER_MINUTE = 600  # 10 a second, a burst of 10
    granted = []
    start = time.monotonic()
    stop = start + 1.5

    def sender():
        try:
            while time.monotonic() < stop:
                got, wait = rate_acquire(3)
                if got:
                    granted.append((time.monotonic(), got))
                else:
                    time.sleep(min(wait, 0.05))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - start
    total = sum(n for _, n in granted)
    assert total <= rate_capacity() + 10 * elapsed + 1
    assert total >= 10  # they did send: the burst at least
    assert len({t for t, _ in granted}) > 1
