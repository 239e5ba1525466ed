"""`seed_demo` seeds history as history: the demo's tickets are dated in the past, marked imported and notify
nobody, so the first `make run` sends no "Ticket flagged" email and the timeline reads like a real account's."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import OutboundEmail, TimelineEvent
from tickets.escalation import sla_sweep
from tickets.models import Status, Ticket, TicketFlag
from tickets.tasks import evaluate_flags

pytestmark = pytest.mark.django_db


def test_seeded_tickets_are_imported_history_that_notifies_nobody(
    django_capture_on_commit_callbacks, mailoutbox, monkeypatch
):
    # The worker of `make run` runs the flag rules a ticket's opening or escalation queues: run them inline.
    monkeypatch.setattr(evaluate_flags, "delay", evaluate_flags.run)
    started = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--customers", 40, "--tickets", 120, "--seed", 7, stdout=StringIO())
        # What beat's sweep does next (the first minute of `make run`): nothing of the past is escalated.
        swept = sla_sweep(now=timezone.now())

    tickets = Ticket.objects.all()
    assert tickets.count() == 120 and tickets.filter(status__in=[Status.SOLVED, Status.CLOSED]).count() > 20
    assert not tickets.filter(imported_at__isnull=True).exists()  # every seeded ticket is an import
    # No ticket flagged to a CSM, no "Ticket flagged" email, no staff notification at all.
    assert not TicketFlag.objects.exists()
    assert not OutboundEmail.objects.filter(subject__startswith="Ticket flagged").exists()
    assert not OutboundEmail.objects.filter(kind="staff_notification").exists()
    assert not [m.subject for m in mailoutbox if "flagged" in m.subject or "SLA" in m.subject]
    assert swept == {"warned": 0, "breached": 0}
    assert not TimelineEvent.objects.filter(kind__in=["ticket.flagged", "ticket.escalated"]).exists()
    # The ticket timeline carries the historic dates: every row of a ticket's history is dated when it happened,
    # over weeks, not stamped at seed time.
    ticket_events = TimelineEvent.objects.filter(kind__startswith="ticket.")
    assert ticket_events.count() >= 120
    assert not ticket_events.filter(occurred_at__gte=started).exists()
    assert ticket_events.filter(occurred_at__lt=started - dt.timedelta(days=14)).exists()
    for ticket in tickets.filter(status=Status.CLOSED)[:10]:
        dates = list(TimelineEvent.objects.filter(payload__ticket_id=ticket.pk).values_list("occurred_at", flat=True))
        assert min(dates) == ticket.created_at and max(dates) == ticket.closed_at
