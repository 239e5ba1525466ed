"""`seed_demo` seeds the support desk: its configuration, demo tickets through the ticket services, and scale
tickets through bulk inserts. The seeded data must hold every rule the services keep, and the queue and the
API must work on it."""

import datetime as dt
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team
from crm.models import Customer, OutboundEmail, TimelineEvent
from tickets.demo_data import ALWAYS, PARIS, POLICIES, french_holidays
from tickets.escalation import sla_sweep
from tickets.metrics import ticket_metrics
from tickets.models import (
    BusinessCalendar,
    FlagRule,
    SlaPolicy,
    SlaTarget,
    Status,
    Ticket,
    TicketMessage,
    TicketStatusChange,
)
from tickets.sla import policy_for

pytestmark = pytest.mark.django_db

UNSOLVED = {Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD}
CHANGELIST = reverse("admin:tickets_ticket_changelist")


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *map(str, args), "--surveys", "0", stdout=out)
    return out.getvalue()


def full_clean_all(*querysets):
    for queryset in querysets:
        for obj in queryset:
            obj.full_clean()


def test_french_holidays_follow_easter():
    days = {h["date"]: h["name"] for h in french_holidays(2026)}
    assert len(days) == 11
    assert days[dt.date(2026, 4, 6)] == "Lundi de Pâques"  # Easter Sunday 2026 is 5 April
    assert days[dt.date(2026, 5, 14)] == "Ascension"
    assert days[dt.date(2026, 5, 25)] == "Lundi de Pentecôte"
    assert dt.date(2027, 3, 29) in {h["date"] for h in french_holidays(2027)}  # Easter 2027: 28 March


def test_services_path_seeds_configuration_and_tickets_with_real_history():
    started = timezone.now()
    output = seed("--customers", 20, "--tickets", 40, "--seed", 3)
    now = timezone.now()

    assert "Seeded 40 tickets" in output and "services path" in output
    # Configuration: two calendars (Paris with two ranges a day and holidays), the policies, flag rules, team.
    paris = BusinessCalendar.objects.get(name=PARIS)
    assert paris.timezone == "Europe/Paris" and not paris.always_open
    assert paris.opening_hours.count() == 10
    assert paris.holidays.filter(date=dt.date(now.year, 7, 14)).exists()
    assert BusinessCalendar.objects.get(name=ALWAYS).always_open
    assert set(SlaPolicy.objects.values_list("name", flat=True)) == {p["name"] for p in POLICIES}
    tight = SlaPolicy.objects.get(name="Enterprise urgent & high (24/7)")
    assert tight.calendar.name == ALWAYS and tight.first_response_minutes == 30
    assert set(FlagRule.objects.values_list("name", flat=True)) == {
        "Onboarding or at-risk customers",
        "Renewal within 60 days",
    }
    team = Team.objects.get(name="Support")
    assert team.lead is not None and team.lead.groups.filter(name="support_agent").exists()
    assert team.members.count() >= 3

    tickets = list(Ticket.objects.select_related("customer", "requester", "sla_policy").order_by("pk"))
    assert len(tickets) == 40
    assert [t.created_at for t in tickets] == sorted(t.created_at for t in tickets)  # numbered in time order
    assert len({t.status for t in tickets}) >= 4
    assert len({t.channel for t in tickets}) >= 3
    assert len({t.priority for t in tickets}) >= 3
    assert len({t.category for t in tickets}) >= 3
    assert {t.status for t in tickets} & {Status.SOLVED, Status.CLOSED}
    for ticket in tickets:
        assert ticket.requester.customer_id == ticket.customer_id
        assert ticket.sla_policy == policy_for(ticket)  # the policy the services matched
        assert ticket.created_at <= started
        messages = list(ticket.messages.all())
        assert messages[0].author_contact_id == ticket.requester_id
        assert messages[0].created_at == ticket.created_at
        assert [m.created_at for m in messages] == sorted(m.created_at for m in messages)
        changes = list(ticket.status_changes.all())
        assert (changes[0].from_status, changes[0].to_status, changes[0].at) == ("", "new", ticket.created_at)
        assert changes[-1].to_status == ticket.status
        assert all(a.to_status == b.from_status for a, b in pairwise(changes))
        assert all(c.at <= started for c in changes)
        metrics = set(ticket.sla_targets.values_list("metric", flat=True))
        assert {"first_response", "resolution"} <= metrics
        if ticket.status in (Status.SOLVED, Status.CLOSED):
            assert ticket.solved_at is not None and ticket.first_response_at is not None
            assert ticket.first_response_seconds is not None and ticket.resolution_seconds is not None
            assert ticket.first_response_at <= ticket.solved_at
        if ticket.status == Status.CLOSED:
            assert ticket.closed_at >= ticket.solved_at + dt.timedelta(days=4)
        # The queue's denormalised due time is the earliest running target's.
        running = ticket.sla_targets.filter(state="running", due_at__isnull=False).order_by("due_at")
        assert ticket.next_sla_due_at == (running[0].due_at if running else None)

    # Every event is on the customer's timeline; the history was not emailed to the customers.
    assert TimelineEvent.objects.filter(kind="ticket.opened").count() == 40
    changes = TicketStatusChange.objects.exclude(from_status="").count()
    assert TimelineEvent.objects.filter(kind="ticket.status_changed").count() == changes
    assert not OutboundEmail.objects.filter(kind="ticket_reply").exists()
    assert not OutboundEmail.objects.exclude(kind="staff_notification").exists()
    full_clean_all(Ticket.objects.all(), TicketMessage.objects.all(), SlaTarget.objects.all())

    report = ticket_metrics(start=now - dt.timedelta(days=365), end=now)
    assert report["volume"] == 40
    assert report["solved"] >= 1
    assert report["first_response_seconds"]["count"] >= 1
    assert report["sla_attainment"]["first_response"]["targets"] >= 1


def test_bulk_path_seeds_history_and_an_open_queue_due_soon():
    before = timezone.now()
    output = seed("--customers", 30, "--tickets", 300, "--ticket-path", "bulk", "--seed", 5, "--batch-size", 70)
    after = timezone.now()

    assert "Seeded 300 tickets" in output and "bulk path" in output
    assert Ticket.objects.count() == 300
    open_tickets = Ticket.objects.filter(status__in=UNSOLVED)
    assert open_tickets.count() == 30  # 10%
    assert set(open_tickets.values_list("status", flat=True)) <= {Status.NEW, Status.OPEN}
    for ticket in open_tickets:
        (target,) = ticket.sla_targets.all()
        assert target.state == SlaTarget.State.RUNNING and target.target_seconds > 0
        assert before - dt.timedelta(hours=2, minutes=1) <= target.due_at <= after + dt.timedelta(hours=8)
        assert ticket.created_at <= target.warn_at <= target.due_at
        assert ticket.next_sla_due_at == target.due_at
        assert (ticket.first_response_at is not None) == (ticket.status == Status.OPEN)
    history = Ticket.objects.exclude(status__in=UNSOLVED)
    assert not SlaTarget.objects.filter(ticket__in=history).exists()
    for ticket in history:
        assert ticket.created_at <= ticket.first_response_at <= ticket.solved_at <= after
        assert ticket.resolution_seconds >= ticket.first_response_seconds > 0
        assert (ticket.closed_at is not None) == (ticket.status == Status.CLOSED)
        assert ticket.next_sla_due_at is None
    for ticket in Ticket.objects.select_related("requester"):
        assert ticket.requester.customer_id == ticket.customer_id
        assert ticket.sla_policy == policy_for(ticket)
        messages = list(ticket.messages.all())
        assert messages[0].author_contact_id == ticket.requester_id
        assert messages[0].created_at == ticket.created_at
        staff = [m for m in messages if m.author_user_id]
        if ticket.first_response_at:
            assert [m.created_at for m in staff] == [ticket.first_response_at]
    # What the bulk path skips, as documented: no status log and no timeline per ticket.
    assert not TicketStatusChange.objects.exists()
    assert not TimelineEvent.objects.filter(kind__startswith="ticket.").exists()
    full_clean_all(Ticket.objects.all(), TicketMessage.objects.all(), SlaTarget.objects.all())

    # The sweep has work: a day later every open target is warned and breached, once.
    assert sla_sweep(now=after + dt.timedelta(days=1)) == {"warned": 30, "breached": 30}
    assert sla_sweep(now=after + dt.timedelta(days=1)) == {"warned": 0, "breached": 0}


def test_if_empty_keeps_working_and_reseeding_reuses_the_configuration():
    seed("--customers", 4, "--tickets", 6, "--seed", 1)
    assert Ticket.objects.count() == 6

    assert "nothing seeded" in seed("--customers", 4, "--if-empty")
    assert Ticket.objects.count() == 6

    # An admin's change to the configuration survives a second seed; nothing is duplicated.
    SlaPolicy.objects.filter(name="Standard (business hours)").update(first_response_minutes=99)
    seed("--customers", 3, "--tickets", 5, "--seed", 2)
    assert Ticket.objects.count() == 11
    newest = set(Customer.objects.order_by("-pk").values_list("pk", flat=True)[:3])
    assert set(Ticket.objects.order_by("-pk").values_list("customer_id", flat=True)[:5]) <= newest
    assert BusinessCalendar.objects.count() == 2
    assert SlaPolicy.objects.count() == len(POLICIES)
    assert SlaPolicy.objects.get(name="Standard (business hours)").first_response_minutes == 99
    assert Team.objects.filter(name="Support").count() == 1


def test_default_is_two_tickets_per_customer_and_zero_seeds_no_support_desk():
    output = seed("--customers", 3, "--seed", 4)
    assert "Seeded 6 tickets" in output
    Ticket.objects.all().delete()

    seed("--customers", 2, "--tickets", 0)
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("--customers", 2, "--tickets", -1),
        ("--customers", 2, "--tickets", 2001, "--ticket-path", "services"),
    ],
)
def test_bad_ticket_arguments_are_refused_and_write_nothing(args):
    with pytest.raises(CommandError):
        seed(*args)
    assert not Customer.objects.exists()
    assert not Ticket.objects.exists()
