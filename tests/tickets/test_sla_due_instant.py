"""The due instant itself: PRODUCT.md says a target is met when the reply comes at or before its due time. The clock
(a reply), the sweep (breach notifications), the breached filter of the API and the admin, and the API's
`breached` flag apply the one rule of tickets.sla: breached only strictly after the due time."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm.models import OutboundEmail
from tickets.api.serializers import target_breached
from tickets.escalation import sla_sweep
from tickets.models import SlaTarget, Ticket
from tickets.selectors import ticket_breached_filter
from tickets.services import ticket_create, ticket_reply

PARIS = ZoneInfo("Europe/Paris")
DUE = dt.datetime(2026, 11, 23, 10, tzinfo=PARIS)  # created Monday 09:00, first response within 60 business minutes
JUST_AFTER = DUE + dt.timedelta(microseconds=1)


@pytest.fixture
def ticket(standard_policy, contact_factory, make_staff):
    requester = contact_factory()
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        subject="Broken",
        body="It broke",
        assignee=make_staff("support_agent", email="agent@example.com"),
        created_at=DUE - dt.timedelta(hours=1),
    )


def first_response(ticket):
    return SlaTarget.objects.get(ticket=ticket, metric="first_response")


def breached_tickets(now):
    return list(ticket_breached_filter(Ticket.objects.all(), True, now).values_list("pk", flat=True))


@pytest.mark.django_db
def test_a_reply_exactly_at_the_due_time_is_met(ticket):
    assert first_response(ticket).due_at == DUE
    ticket_reply(ticket=ticket, body="On it", at=DUE, send_email=False)
    target = first_response(ticket)
    assert (target.state, target.breached, target.elapsed_seconds) == ("met", False, 3600)


@pytest.mark.django_db
def test_a_reply_a_microsecond_after_the_due_time_is_breached(ticket):
    ticket_reply(ticket=ticket, body="On it", at=JUST_AFTER, send_email=False)
    target = first_response(ticket)
    assert (target.state, target.breached, target.due_at) == ("breached", True, DUE)


@pytest.mark.django_db
def test_the_sweep_and_the_breached_filters_call_the_due_instant_not_breached_and_a_microsecond_later_breached(
    ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        at_due = sla_sweep(now=DUE)
    assert at_due["breached"] == 0
    target = first_response(ticket)
    assert not target.breached and target.breach_notified_at is None
    assert not OutboundEmail.objects.filter(idempotency_key__startswith="sla-breach:").exists()
    # The API's and the admin's "breached" filter, and the API's per-target flag, agree with the sweep.
    assert breached_tickets(DUE) == []
    assert target_breached(target, DUE) is False

    assert breached_tickets(JUST_AFTER) == [ticket.pk]
    assert target_breached(target, JUST_AFTER) is True
    with django_capture_on_commit_callbacks():
        just_after = sla_sweep(now=JUST_AFTER)
    assert just_after["breached"] == 1
    assert first_response(ticket).breached
    breach_emails = OutboundEmail.objects.filter(idempotency_key__startswith="sla-breach:")
    assert list(breach_emails.values_list("to_email", flat=True)) == ["agent@example.com"]
