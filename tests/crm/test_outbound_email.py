"""Outbound email, once: against a real SMTP server on localhost (tests/smtp.py).

Celery tasks run in this process: the broker is replaced by a recorder of `send_email.apply_async` calls
(what would have been published, with its countdown), and a "delivery" is `send_email.apply(...)`.
"""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone

from config.celery import app as celery_app
from crm.models import OutboundEmail, TimelineEvent
from crm.outbound_email import email_queue, email_resend, email_send, email_sweep
from crm.selectors import email_delivery_state
from crm.tasks import send_email, send_email_batch

Status = OutboundEmail.Status


class Broker:
    """Stands in for the broker: records what was published; `deliver()` runs it like a worker would."""

    def __init__(self, capture_on_commit):
        self.published: list[tuple[int, int | None]] = []  # (email id, countdown)
        self.batches: list[tuple[list[int], int | None]] = []  # (email ids, countdown) of crm.send_email_batch
        self.capture_on_commit = capture_on_commit
        self.down = False

    def apply_async(self, args=None, kwargs=None, countdown=None, **options):
        if self.down:
            raise ConnectionError("broker down")
        self.published.append((args[0], countdown))

    def apply_async_batch(self, args=None, kwargs=None, countdown=None, **options):
        if self.down:
            raise ConnectionError("broker down")
        self.batches.append((list(args[0]), countdown))

    def deliver(self):
        """Run every published message once, in order, and forget them."""
        published, self.published = self.published, []
        batches, self.batches = self.batches, []
        for email_id, _countdown in published:
            # The test's transaction never commits: run what the task queued on commit (a retry) ourselves.
            with self.capture_on_commit(execute=True):
                send_email.apply((email_id,))
        for email_ids, _countdown in batches:
            with self.capture_on_commit(execute=True):
                send_email_batch.apply((email_ids,))
        return published + batches


@pytest.fixture
def broker(monkeypatch, django_capture_on_commit_callbacks):
    broker = Broker(django_capture_on_commit_callbacks)
    monkeypatch.setattr(celery_app.tasks["crm.send_email"], "apply_async", broker.apply_async)
    monkeypatch.setattr(celery_app.tasks["crm.send_email_batch"], "apply_async", broker.apply_async_batch)
    return broker


@pytest.fixture
def contact(contact_factory):
    return contact_factory(email="ada@customer.example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def queue(django_capture_on_commit_callbacks):
    """queue(contact, key=..., **email_queue arguments) -> the row, committed (its task published)."""

    def make(contact, key="welcome:1", **overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return make_row(contact, key, **overrides)

    return make


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """email_sweep() and what it publishes on commit."""

    def run():
        with django_capture_on_commit_callbacks(execute=True):
            return email_sweep()

    return run


def make_row(contact, key="welcome:1", **overrides):
    fields = {
        "idempotency_key": key,
        "kind": "outreach",
        "to_email": contact.email,
        "subject": "Welcome aboard",
        "text_body": "Hello Ada,\nwelcome aboard.",
        "html_body": "<p>Hello Ada,</p><p>welcome aboard.</p>",
        "contact": contact,
    }
    return email_queue(**{**fields, **overrides})


def time_passes(email, seconds):
    """Move the row's schedule back instead of sleeping: as if `seconds` had gone by."""
    OutboundEmail.objects.filter(pk=email.pk).update(
        next_attempt_at=email.next_attempt_at - timedelta(seconds=seconds),
        claimed_at=(email.claimed_at - timedelta(seconds=seconds)) if email.claimed_at else None,
    )
    email.refresh_from_db()


def kinds(customer):
    return list(TimelineEvent.objects.filter(customer=customer).order_by("id").values_list("kind", flat=True))


pytestmark = pytest.mark.django_db


def test_queued_email_is_sent_on_commit_once_with_both_parts_and_our_message_id(
    smtp_settings, smtp_server, broker, contact, django_capture_on_commit_callbacks
):
    unsubscribe = {
        "List-Unsubscribe": "<https://crm.example.com/u/abc>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with django_capture_on_commit_callbacks(execute=True):
        email = make_row(contact, headers=unsubscribe, from_email="Success Team <success@example.com>")
        assert broker.published == []  # nothing leaves before the transaction commits
    assert broker.published == [(email.pk, None)]
    assert email.status == Status.QUEUED
    assert email.customer == contact.customer

    broker.deliver()

    [received] = smtp_server.messages
    assert received.mail_from == "success@example.com"
    assert received.rcpt_tos == ["ada@customer.example.com"]
    message = received.message
    assert message["Message-ID"] == email.message_id
    assert email.message_id.endswith("@crm.localhost>")
    assert message["Subject"] == "Welcome aboard"
    assert message["From"] == "Success Team <success@example.com>"
    assert message["To"] == "ada@customer.example.com"
    assert message["List-Unsubscribe"] == "<https://crm.example.com/u/abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    assert received.text.strip() == "Hello Ada,\nwelcome aboard."
    assert received.html.strip() == "<p>Hello Ada,</p><p>welcome aboard.</p>"

    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (Status.SENT, 1, "")
    assert email.sent_at is not None
    event = TimelineEvent.objects.get(customer=contact.customer, kind="email.sent")
    assert event.payload == {"email_id": email.pk, "kind": "outreach", "message_id": email.message_id}
    assert event.source == email


def test_text_only_email_has_no_html_part(smtp_settings, smtp_server, broker, contact, queue):
    email = queue(contact, html_body="")
    email_send(email_id=email.pk)
    [received] = smtp_server.messages
    assert received.message.get_content_type() == "text/plain"
    assert received.html is None
    assert received.message["Message-ID"] == email.message_id


def test_a_task_delivered_twice_sends_one_email(smtp_settings, smtp_server, broker, contact, queue):
    email = queue(contact)
    send_email.apply((email.pk,))
    send_email.apply((email.pk,))  # redelivered (acks_late after a lost ack, a duplicate publish, ...)
    email_send(email_id=email.pk)

    assert len(smtp_server.messages) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Status.SENT, 1)
    assert kinds(contact.customer).count("email.sent") == 1


def test_reused_idempotency_key_returns_the_same_row_and_sends_once(
    smtp_settings, smtp_server, broker, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = make_row(contact, key="survey-invite:7")
    with django_capture_on_commit_callbacks(execute=True):
        second = make_row(contact, key="survey-invite:7", subject="A different subject")

    assert second.pk == first.pk
    assert second.subject == "Welcome aboard"
    assert OutboundEmail.objects.filter(idempotency_key="survey-invite:7").count() == 1
    assert broker.published == [(first.pk, None)]
    broker.deliver()
    assert [m.message["Subject"] for m in smtp_server.messages] == ["Welcome aboard"]


def test_transient_451_is_retried_with_backoff_then_sent(smtp_settings, smtp_server, broker, contact, queue):
    smtp_settings.EMAIL_RETRY_BASE_SECONDS = 30
    email = queue(contact)
    smtp_server.fail_next(1, code=451)
    before = timezone.now()

    broker.deliver()

    email.refresh_from_db()
    assert smtp_server.messages == []
    assert [code for code, _ in smtp_server.refused] == [451]
    assert (email.status, email.attempts) == (Status.QUEUED, 1)
    assert "451" in email.last_error
    assert broker.published == [(email.pk, 30)]  # retried with a countdown ...
    assert before + timedelta(seconds=29) <= email.next_attempt_at <= timezone.now() + timedelta(seconds=31)

    send_email.apply((email.pk,))  # ... and a copy arriving early does nothing
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Status.QUEUED, 1)

    time_passes(email, 30)
    broker.deliver()

    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (Status.SENT, 2, "")
    [received] = smtp_server.messages
    assert received.message["Message-ID"] == email.message_id
    assert kinds(contact.customer).count("email.sent") == 1


def test_permanent_550_fails_at_once_and_keeps_the_error(smtp_settings, smtp_server, broker, contact, queue):
    email = queue(contact)
    smtp_server.fail_next(1, code=550)

    broker.deliver()

    email.refresh_from_db()
    assert email.status == Status.FAILED
    assert email.attempts == 1
    assert "550" in email.last_error and "no such user" in email.last_error
    assert broker.published == []  # not retried
    assert smtp_server.messages == []
    event = TimelineEvent.objects.get(customer=contact.customer, kind="email.failed")
    assert "550" in event.summary

    send_email.apply((email.pk,))  # a late duplicate does not resurrect it
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Status.FAILED, 1)
    assert smtp_server.messages == []


def test_connection_refused_is_retried_with_growing_delays_then_fails(
    smtp_settings, smtp_server, broker, contact, queue
):
    smtp_settings.EMAIL_MAX_ATTEMPTS = 4
    smtp_settings.EMAIL_RETRY_BASE_SECONDS = 10
    email = queue(contact)
    smtp_server.stop()

    countdowns = []
    for _ in range(10):
        [(_, countdown)] = broker.deliver()
        countdowns.append(countdown)
        email.refresh_from_db()
        if email.status != Status.QUEUED:
            break
        time_passes(email, retry_delay_of(broker))

    assert countdowns == [None, 10, 20, 40]
    assert (email.status, email.attempts) == (Status.FAILED, 4)
    assert "ConnectionRefusedError" in email.last_error
    assert broker.published == []
    assert kinds(contact.customer) == ["email.failed"]


def retry_delay_of(broker):
    [(_, countdown)] = broker.published
    return countdown


@pytest.mark.parametrize(("code", "status", "attempts"), [(550, Status.FAILED, 1), (450, Status.QUEUED, 1)])
def test_a_refused_recipient_fails_for_good_on_5xx_and_is_retried_on_4xx(
    smtp_settings, smtp_server, broker, contact, queue, code, status, attempts
):
    email = queue(contact)
    smtp_server.fail_next(1, code=code, at="rcpt")
    broker.deliver()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (status, attempts)
    assert "SMTPRecipientsRefused" in email.last_error and str(code) in email.last_error
    assert smtp_server.messages == []
    assert bool(broker.published) is (status == Status.QUEUED)


def test_smtp_errors_are_told_apart_permanent_or_transient():
    import smtplib

    from crm.outbound_email import _is_permanent

    assert _is_permanent(smtplib.SMTPDataError(550, b"no"))
    assert _is_permanent(smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"no")}))
    assert not _is_permanent(smtplib.SMTPRecipientsRefused({"a@b.c": (450, b"later")}))
    assert not _is_permanent(smtplib.SMTPDataError(451, b"later"))
    assert not _is_permanent(smtplib.SMTPAuthenticationError(535, b"bad credentials"))
    assert not _is_permanent(smtplib.SMTPServerDisconnected("gone"))
    assert not _is_permanent(ConnectionRefusedError(111, "refused"))


def test_sweep_requeues_an_email_whose_publish_failed_once(
    settings, smtp_settings, smtp_server, broker, contact, queue
):
    broker.down = True  # the broker refused the task: the row records that nothing was published
    lost = queue(contact, key="lost")
    broker.down = False
    recent = queue(contact, key="recent")
    broker.published.clear()
    lost.refresh_from_db()
    assert lost.published_at is None
    time_passes(lost, settings.EMAIL_REQUEUE_GRACE.total_seconds() + 1)

    assert email_sweep() == {"requeued": 1, "unknown": 0, "resent": 0}
    assert broker.batches == [([lost.pk], None)]
    assert email_sweep() == {"requeued": 0, "unknown": 0, "resent": 0}  # published now: not again

    broker.deliver()
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.status == Status.SENT
    assert recent.status == Status.QUEUED
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [lost.message_id]


def test_sweep_leaves_a_backlog_alone_and_requeues_a_message_lost_in_the_broker(settings, broker, contact, queue):
    waiting = queue(contact, key="waiting")
    lost = queue(contact, key="lost")
    broker.published.clear()
    # Both are long overdue: one was published recently (it waits behind a backlog in the broker), the other
    # longer ago than the broker's visibility timeout + grace (the message itself is gone).
    grace = settings.EMAIL_REQUEUE_GRACE.total_seconds()
    time_passes(waiting, grace * 3)
    time_passes(lost, grace * 3)
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    OutboundEmail.objects.filter(pk=lost.pk).update(
        published_at=timezone.now() - timedelta(seconds=visibility + grace * 2 + 1)
    )

    assert email_sweep() == {"requeued": 1, "unknown": 0, "resent": 0}
    assert broker.batches == [([lost.pk], None)]
    assert broker.published == []
    assert email_sweep()["requeued"] == 0


def test_sweep_marks_a_stuck_email_unknown_then_resends_it_once_with_the_same_message_id(
    settings, smtp_settings, smtp_server, broker, contact, queue, sweep
):
    stuck = queue(contact, key="stuck")
    busy = queue(contact, key="busy")
    now = timezone.now()
    # Claimed by workers; the first one's worker died mid-conversation a while ago, the second is at work.
    OutboundEmail.objects.filter(pk__in=[stuck.pk, busy.pk]).update(status=Status.SENDING, claimed_at=now, attempts=1)
    stuck.refresh_from_db()
    time_passes(stuck, settings.EMAIL_REQUEUE_GRACE.total_seconds() + 1)
    broker.published.clear()

    assert sweep() == {"requeued": 0, "unknown": 1, "resent": 1}
    assert sweep() == {"requeued": 0, "unknown": 0, "resent": 0}  # twice: resent once

    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.status, stuck.resends) == (Status.QUEUED, 1)
    assert stuck.unknown_at is not None and stuck.resent_at is not None
    assert busy.status == Status.SENDING
    assert broker.batches == [([stuck.pk], None)]
    send_email.apply((stuck.pk,))  # the dead worker's task redelivered: it claims the row, once
    broker.deliver()  # the resend's batch then finds it sent: nothing more
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [stuck.message_id]
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts, stuck.resends) == (Status.SENT, 2, 1)
    assert kinds(contact.customer) == ["email.unknown", "email.resent", "email.sent"]
    assert email_delivery_state(stuck) == "resent"


def test_an_email_lost_again_after_its_resend_stays_unknown_for_a_person(
    settings,
    smtp_settings,
    smtp_server,
    broker,
    contact,
    queue,
    sweep,
    user_factory,
    django_capture_on_commit_callbacks,
):
    email = queue(contact)
    grace = settings.EMAIL_REQUEUE_GRACE.total_seconds() + 1
    for _ in range(2):  # the worker dies mid-send, twice
        OutboundEmail.objects.filter(pk=email.pk).update(
            status=Status.SENDING, claimed_at=timezone.now() - timedelta(seconds=grace)
        )
        sweep()
    email.refresh_from_db()
    assert (email.status, email.resends) == (Status.UNKNOWN, 1)
    assert email_delivery_state(email) == "unknown"
    assert sweep() == {"requeued": 0, "unknown": 0, "resent": 0}
    broker.published.clear()
    broker.batches.clear()

    # A person checks and decides to send it again: same row, same Message-ID.
    staff = user_factory()
    with django_capture_on_commit_callbacks(execute=True):
        resent = email_resend(email=email, actor=staff)
    assert resent.status == Status.QUEUED
    assert TimelineEvent.objects.get(kind="email.resent", actor=staff)
    broker.deliver()
    email.refresh_from_db()
    assert email.status == Status.SENT
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [email.message_id]


def test_resend_of_a_sent_email_does_nothing(
    smtp_settings, smtp_server, broker, contact, queue, django_capture_on_commit_callbacks
):
    email = queue(contact)
    broker.deliver()
    with django_capture_on_commit_callbacks(execute=True):
        email_resend(email=email)
    assert broker.published == []
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to_email": "not an address"}, "to_email"),
        ({"headers": {"X-Evil": "a\r\nBcc: victim@example.com"}}, "headers"),
        ({"headers": {"Message-Id": "<mine@example.com>"}}, "headers"),
        ({"headers": {"Bad Name": "x"}}, "headers"),
        ({"subject": "x" * 999}, "subject"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(broker, contact, overrides, field):
    with pytest.raises(ValidationError) as error:
        make_row(contact, **overrides)
    assert field in error.value.message_dict
    assert not OutboundEmail.objects.exists()
    assert broker.published == []


def test_a_multi_line_subject_becomes_one_line(smtp_settings, smtp_server, broker, contact, queue):
    email = queue(contact, subject="Hello\r\nBcc: victim@example.com")
    broker.deliver()
    assert email.subject == "Hello Bcc: victim@example.com"
    [received] = smtp_server.messages
    assert received.rcpt_tos == [contact.email]
    assert received.message["Bcc"] is None


def test_sending_a_missing_email_is_quietly_nothing(smtp_settings, smtp_server):
    assert email_send(email_id=987654) is None
    send_email.apply((987654,))
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_the_same_emails_send_each_once(smtp_settings, smtp_server, broker, contact, queue):
    """Several workers get the same task at the same moment (real concurrent transactions)."""
    emails = [queue(contact, key=f"race:{n}") for n in range(5)]
    workers = 4
    errors = []

    def worker(barrier, email_id):
        try:
            barrier.wait(timeout=10)
            send_email.apply((email_id,), throw=True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    for email in emails:
        barrier = threading.Barrier(workers)
        threads = [threading.Thread(target=worker, args=(barrier, email.pk)) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert sorted(m.message["Message-ID"] for m in smtp_server.messages) == sorted(e.message_id for e in emails)
    assert list(OutboundEmail.objects.order_by().values_list("status", "attempts").distinct()) == [(Status.SENT, 1)]
    assert kinds(contact.customer).count("email.sent") == 5
