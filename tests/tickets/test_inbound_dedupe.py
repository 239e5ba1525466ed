"""The same email delivered twice (a provider retrying its webhook, even concurrently) is processed once: one
ticket, one reply, one entry in the triage queue; every delivery's raw bytes are kept, the repeats flagged as
duplicates. A delivery that failed does not stop the next one from being processed."""

import threading

import pytest
from django.db import connection

from crm.services import contact_create, customer_create
from tests.tickets.test_inbound_email import sample
from tickets import inbound_email
from tickets.inbound_email import inbound_email_assign, inbound_email_process, inbound_email_receive
from tickets.models import InboundEmail, Ticket, TicketMessage


def deliver_concurrently(monkeypatch, raw: bytes) -> list[InboundEmail]:
    """Two deliveries of `raw` on two threads (two database connections). Each waits for the other just before
    threading the message, so without a guard both pass the duplicate check before either writes; with the
    Message-ID lock the second waits for the first instead, and the first goes on after a short wait."""
    barrier = threading.Barrier(2, timeout=3)
    original = inbound_email._thread

    def thread_after_the_other(*args, **kwargs):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return original(*args, **kwargs)

    monkeypatch.setattr(inbound_email, "_thread", thread_after_the_other)
    results, errors = [], []

    def deliver():
        try:
            results.append(inbound_email_receive(raw=raw, source="anymail:postmark"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_one_message_open_one_ticket(monkeypatch):
    customer = customer_create(name="Globex", domain="globex.example")
    contact_create(customer=customer, email="ana@globex.example")
    results = deliver_concurrently(monkeypatch, sample("gmail_multipart.eml"))
    assert sorted(r.status for r in results) == ["ignored", "processed"]
    assert Ticket.objects.count() == 1
    assert TicketMessage.objects.filter(email_message_id="<CAF3u8Jx+bq2e1@mail.gmail.com>").count() == 1
    rows = list(InboundEmail.objects.order_by("pk"))
    assert len(rows) == 2 and all(bytes(row.raw).startswith(b"Return-Path:") for row in rows)  # both kept
    assert sorted(row.reason for row in rows) == ["", "duplicate of <CAF3u8Jx+bq2e1@mail.gmail.com>"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_an_unmatched_message_wait_once_in_triage(monkeypatch):
    results = deliver_concurrently(monkeypatch, sample("gmail_multipart.eml"))
    assert sorted(r.status for r in results) == ["ignored", "unmatched"]
    assert InboundEmail.objects.filter(status="unmatched").count() == 1


@pytest.mark.django_db
def test_a_redelivered_unmatched_message_is_in_triage_once_and_assigning_it_opens_one_ticket():
    first = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    again = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    assert (first.status, again.status, again.reason) == (
        "unmatched",
        "ignored",
        "duplicate of <CAF3u8Jx+bq2e1@mail.gmail.com>",
    )
    assert InboundEmail.objects.filter(status="unmatched").count() == 1
    assert InboundEmail.objects.count() == 2  # the redelivery is kept, flagged

    globex = customer_create(name="Globex", domain="globex.example")
    assigned = inbound_email_assign(inbound=first, customer=globex)
    assert (assigned.status, assigned.created_ticket) == ("processed", True)
    assert Ticket.objects.filter(customer=globex).count() == 1


@pytest.mark.django_db
def test_after_a_failed_delivery_the_next_one_is_processed(monkeypatch):
    customer = customer_create(name="Globex", domain="globex.example")
    contact_create(customer=customer, email="ana@globex.example")

    def broken(*args, **kwargs):
        raise RuntimeError("storage unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(inbound_email, "ticket_create", broken)
        failed = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    assert (failed.status, failed.error) == ("failed", "RuntimeError: storage unavailable")
    retried = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    assert (retried.status, retried.created_ticket) == ("processed", True)
    # The failed row, processed again later, is now a duplicate of the delivery that went through.
    assert inbound_email_process(inbound=failed).status == "ignored"
    assert Ticket.objects.count() == 1
