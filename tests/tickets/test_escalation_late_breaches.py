"""A breach that happened is notified once, even when the target stopped running before a sweep saw it: first
response sent late but before the next sweep, or a target found breached at a checkpoint and paused with it.
Breaches of targets that stopped long ago (more than a day) are left alone, so a deploy does not replay them."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm.models import OutboundEmail, TimelineEvent
from crm.services import customer_update
from tickets.escalation import sla_sweep
from tickets.models import SlaTarget, Ticket
from tickets.services import ticket_change_status, ticket_create, ticket_reply

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def ticket(standard_policy, contact_factory, make_staff):
    """Opened Monday 09:00 Paris; first response due 10:00 (60 business minutes)."""
    csm = make_staff("csm", email="csm@example.com")
    agent = make_staff("support_agent", email="agent@example.com")
    requester = contact_factory()
    customer_update(customer=requester.customer, owner=csm)
    requester.customer.refresh_from_db()
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        subject="Broken",
        body="It broke",
        assignee=agent,
        created_at=paris(2026, 11, 23, 9),
    )


def breach_emails(ticket):
    return sorted(
        OutboundEmail.objects.filter(
            idempotency_key__startswith="sla-breach:", subject__endswith=ticket.reference
        ).values_list("to_email", "subject")
    )


def test_first_response_sent_late_between_two_sweeps_is_escalated_once(ticket):
    assert sla_sweep(now=paris(2026, 11, 23, 9, 59)) == {"warned": 1, "breached": 0}
    ticket_reply(ticket=ticket, body="Looking into it", actor=ticket.assignee, at=paris(2026, 11, 23, 10, 0, 30))
    target = SlaTarget.objects.get(ticket=ticket, metric="first_response")
    assert target.state == "breached" and target.breach_notified_at is None

    assert sla_sweep(now=paris(2026, 11, 23, 10, 1)) == {"warned": 0, "breached": 1}
    assert sla_sweep(now=paris(2026, 11, 23, 10, 2)) == {"warned": 0, "breached": 0}
    subject = f"SLA breached: First response on {ticket.reference}"
    assert breach_emails(ticket) == [("agent@example.com", subject), ("csm@example.com", subject)]
    body = OutboundEmail.objects.filter(idempotency_key__startswith="sla-breach:").first().text_body
    assert "was breached (stopped at 2026-11-23 09:00 UTC). Escalation level 1." in body
    assert Ticket.objects.get(pk=ticket.pk).escalation_level == 1
    events = TimelineEvent.objects.filter(customer=ticket.customer, kind="ticket.sla_breached")
    assert list(events.values_list("payload__metric", flat=True)) == ["first_response"]


def test_target_breached_at_a_checkpoint_then_paused_is_escalated_at_the_next_sweep(ticket):
    # 10:30: the agent asks the customer a question (pending): the checkpoint finds first response breached at
    # 10:00, then the clock pauses. The breach is notified now, not when the customer answers.
    ticket_change_status(ticket=ticket, status="pending", at=paris(2026, 11, 23, 10, 30))
    target = SlaTarget.objects.get(ticket=ticket, metric="first_response")
    assert (target.state, target.breached) == ("paused", True)

    assert sla_sweep(now=paris(2026, 11, 23, 10, 31))["breached"] == 1
    assert sla_sweep(now=paris(2026, 11, 23, 10, 32))["breached"] == 0
    subject = f"SLA breached: First response on {ticket.reference}"
    assert breach_emails(ticket) == [("agent@example.com", subject), ("csm@example.com", subject)]
    assert (
        "and is breached. Escalation level 1."
        in OutboundEmail.objects.get(idempotency_key__startswith="sla-breach:", to_email="csm@example.com").text_body
    )
    # When the customer answers, the clock runs again: the same breach is not notified a second time.
    ticket_change_status(ticket=ticket, status="open", at=paris(2026, 11, 23, 11))
    assert sla_sweep(now=paris(2026, 11, 23, 11, 1))["breached"] == 0
    assert Ticket.objects.get(pk=ticket.pk).escalation_level == 1


def test_breaches_of_targets_stopped_more_than_a_day_ago_are_not_replayed(ticket):
    ticket_reply(ticket=ticket, body="Fixed", actor=ticket.assignee, at=paris(2026, 11, 23, 10, 0, 30))
    ticket_change_status(ticket=ticket, status="solved", at=paris(2026, 11, 23, 10, 0, 40))
    assert sla_sweep(now=paris(2026, 11, 24, 10, 1))["breached"] == 0  # breached at 10:00 the day before
    assert SlaTarget.objects.get(ticket=ticket, metric="first_response").breach_notified_at is None
    assert breach_emails(ticket) == []
    assert Ticket.objects.get(pk=ticket.pk).escalation_level == 0


def test_a_breach_in_an_imported_tickets_history_notifies_nobody(ticket):
    from django.utils import timezone

    # Imported with its history: the first response was answered late, before the import.
    ticket_reply(ticket=ticket, body="Looking into it", actor=ticket.assignee, at=paris(2026, 11, 23, 10, 0, 30))
    Ticket.objects.filter(pk=ticket.pk).update(imported_at=timezone.now())
    assert sla_sweep(now=paris(2026, 11, 23, 10, 1))["breached"] == 0
    assert breach_emails(ticket) == []
