"""SLA warnings and breaches reach people exactly once, through a real SMTP server (tests/smtp.py), however
often the sweep runs and however often its email tasks are delivered.

Celery runs in this process: the broker is replaced by a recorder of `crm.send_email` publications, and each
delivery is `send_email.apply(...)`, done twice per publication (a redelivered task, as with acks_late).
"""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections

from accounts.models import Team
from config.celery import app as celery_app
from crm.models import OutboundEmail, TimelineEvent
from crm.services import customer_update
from crm.tasks import send_email
from tickets.escalation import sla_sweep
from tickets.models import FlagRule, SlaTarget, Ticket, TicketFlag
from tickets.services import ticket_create

PARIS = ZoneInfo("Europe/Paris")


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


class Broker:
    """Stands in for the broker: records the email ids published; `deliver()` runs each task like a worker,
    `times` times (a task the broker delivers again after a lost acknowledgement)."""

    def __init__(self, capture_on_commit):
        self.published: list[int] = []
        self.capture_on_commit = capture_on_commit
        self.lock = threading.Lock()

    def apply_async(self, args=None, kwargs=None, countdown=None, **options):
        with self.lock:
            self.published.append(args[0])

    def deliver(self, times=2):
        published, self.published = self.published, []
        for email_id in published:
            for _ in range(times):
                with self.capture_on_commit(execute=True):
                    send_email.apply((email_id,))
        return published


@pytest.fixture
def broker(monkeypatch, django_capture_on_commit_callbacks):
    broker = Broker(django_capture_on_commit_callbacks)
    monkeypatch.setattr(celery_app.tasks["crm.send_email"], "apply_async", broker.apply_async)
    return broker


@pytest.fixture
def people(standard_policy, contact_factory, make_staff):
    """An agent in a team led by a lead; the customer's CSM. Standard policy: first response 60 min,
    resolution 480 min, warnings at 80 %, Monday to Friday 09:00-17:00 Paris."""
    agent = make_staff("support_agent", email="agent@example.com")
    lead = make_staff("support_agent", email="lead@example.com")
    csm = make_staff("csm", email="csm@example.com")
    team = Team.objects.create(name="Tier 1", lead=lead)
    team.members.add(agent)
    requester = contact_factory(email="ana@globex.example")
    customer_update(customer=requester.customer, owner=csm)
    requester.customer.refresh_from_db()
    return {"agent": agent, "lead": lead, "csm": csm, "team": team, "requester": requester}


def open_ticket(people, at, subject="Export fails"):
    requester = people["requester"]
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        subject=subject,
        body="The CSV export fails with error 500.",
        assignee=people["agent"],
        team=people["team"],
        created_at=at,
    )


def arrived(smtp_server):
    return sorted((m.rcpt_tos[0], m.message["Subject"]) for m in smtp_server.messages)


@pytest.mark.django_db
def test_sweeps_run_twice_and_tasks_delivered_twice_send_each_notification_once(
    people, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_ticket(people, paris(2026, 11, 23, 9))  # Monday 09:00
    ref = f"[#{ticket.pk}]"
    # First response: warning at 09:48 (80 % of 60 min), due 10:00. Resolution: warning 15:24, due 17:00.

    for now in (paris(2026, 11, 23, 9, 50), paris(2026, 11, 23, 9, 50)):  # twice for the same instant
        with django_capture_on_commit_callbacks(execute=True):
            sla_sweep(now=now)
    assert len(broker.published) == 1
    broker.deliver(times=2)
    assert arrived(smtp_server) == [("agent@example.com", f"SLA warning: First response due soon on {ref}")]
    [warning] = smtp_server.messages
    assert "is due at 2026-11-23 09:00 UTC" in warning.text  # 10:00 Paris
    assert f"/admin/tickets/ticket/{ticket.pk}/change/" in warning.text

    results = []
    for now in (paris(2026, 11, 23, 10, 1), paris(2026, 11, 23, 10, 1)):
        with django_capture_on_commit_callbacks(execute=True):
            results.append(sla_sweep(now=now))
    assert results == [{"warned": 0, "breached": 1}, {"warned": 0, "breached": 0}]
    assert len(broker.published) == 3
    broker.deliver(times=2)
    breach = f"SLA breached: First response on {ref}"
    assert arrived(smtp_server) == [
        ("agent@example.com", breach),
        ("agent@example.com", f"SLA warning: First response due soon on {ref}"),
        ("csm@example.com", breach),
        ("lead@example.com", breach),
    ]
    assert "Escalation level 1." in smtp_server.messages[-1].text
    ticket.refresh_from_db()
    assert ticket.escalation_level == 1
    events = TimelineEvent.objects.filter(customer=ticket.customer, kind="ticket.sla_breached")
    assert list(events.values_list("payload__metric", "payload__level")) == [("first_response", 1)]

    # The resolution target: its warning and breach, each once more, however often the sweep runs.
    for now in (paris(2026, 11, 23, 15, 30), paris(2026, 11, 23, 17, 1), paris(2026, 11, 23, 17, 1)):
        with django_capture_on_commit_callbacks(execute=True):
            sla_sweep(now=now)
    broker.deliver(times=2)
    resolution_breach = f"SLA breached: Resolution on {ref}"
    assert arrived(smtp_server) == sorted(
        [
            ("agent@example.com", breach),
            ("agent@example.com", f"SLA warning: First response due soon on {ref}"),
            ("csm@example.com", breach),
            ("lead@example.com", breach),
            ("agent@example.com", resolution_breach),
            ("agent@example.com", f"SLA warning: Resolution due soon on {ref}"),
            ("csm@example.com", resolution_breach),
            ("lead@example.com", resolution_breach),
        ]
    )
    assert len(smtp_server.messages) == 8
    assert OutboundEmail.objects.filter(status="sent").count() == 8
    assert Ticket.objects.get(pk=ticket.pk).escalation_level == 2
    assert events.count() == 2


@pytest.mark.django_db
def test_each_person_is_notified_once_when_they_wear_several_hats(
    people, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    # The agent also leads the team and is the customer's CSM: one breach email, not three.
    agent = people["agent"]
    Team.objects.filter(pk=people["team"].pk).update(lead=agent)
    customer_update(customer=people["requester"].customer, owner=agent)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_ticket(people, paris(2026, 11, 23, 9))
        sla_sweep(now=paris(2026, 11, 23, 10, 1))
        sla_sweep(now=paris(2026, 11, 23, 10, 1))
    broker.deliver(times=2)
    ref = f"[#{ticket.pk}]"
    assert arrived(smtp_server) == [
        ("agent@example.com", f"SLA breached: First response on {ref}"),
        ("agent@example.com", f"SLA warning: First response due soon on {ref}"),
    ]


@pytest.mark.django_db
def test_escalation_flags_the_ticket_to_the_csm_once_per_level(
    people, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks, flag_worker
):
    FlagRule.objects.create(name="Onboarding customers", lifecycle_stages=["onboarding"], on_open=False)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_ticket(people, paris(2026, 11, 23, 9))
    for now in (paris(2026, 11, 23, 10, 1), paris(2026, 11, 23, 10, 1)):
        with django_capture_on_commit_callbacks(execute=True):
            sla_sweep(now=now)
    broker.deliver(times=2)
    flagged = [m for m in smtp_server.messages if m.message["Subject"].startswith("Ticket flagged")]
    assert [(m.rcpt_tos, m.message["Subject"]) for m in flagged] == [
        (["csm@example.com"], f"Ticket flagged for {ticket.customer.name}: Export fails [#{ticket.pk}]")
    ]
    assert list(TicketFlag.objects.filter(ticket=ticket).values_list("trigger", flat=True)) == ["escalated:1"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_claim_each_target_once(people, broker, smtp_settings, smtp_server):
    if connection.vendor != "postgresql":
        pytest.skip("needs real row locks (SELECT ... FOR UPDATE SKIP LOCKED): PostgreSQL only")
    count = 12
    tickets = [open_ticket(people, paris(2026, 11, 23, 9), subject=f"Problem {n}") for n in range(count)]
    # 10:01: every first response is both past its warning (09:48) and its due time (10:00).
    now = paris(2026, 11, 23, 10, 1)
    results, errors = [], []
    barrier = threading.Barrier(3)

    def sweep():
        try:
            barrier.wait(timeout=10)
            results.append(sla_sweep(now=now))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r["warned"] for r in results) == count
    assert sum(r["breached"] for r in results) == count
    targets = SlaTarget.objects.filter(ticket__in=tickets, metric="first_response")
    assert targets.filter(breached=True, warned_at=now, breach_notified_at=now).count() == count
    assert set(
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).values_list("escalation_level", flat=True)
    ) == {1}
    assert TimelineEvent.objects.filter(kind="ticket.sla_breached").count() == count
    # One warning (agent) and three breach emails (agent, lead, CSM) per ticket, each published once.
    assert len(broker.published) == 4 * count == len(set(broker.published))
    broker.deliver(times=2)
    received = arrived(smtp_server)
    assert len(received) == 4 * count == len(set(received))
    assert OutboundEmail.objects.filter(status="sent").count() == 4 * count
