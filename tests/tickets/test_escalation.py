import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.models import OutboundEmail, TimelineEvent
from crm.services import customer_update
from tickets.escalation import sla_sweep, tickets_auto_close
from tickets.models import FlagRule, SlaTarget, Ticket, TicketFlag
from tickets.services import ticket_change_status, ticket_create

PARIS = ZoneInfo("Europe/Paris")


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def setup(standard_policy, contact_factory, make_staff):
    csm = make_staff("csm", email="csm@example.com")
    agent = make_staff("support_agent", email="agent@example.com")
    requester = contact_factory()
    customer_update(customer=requester.customer, owner=csm)
    requester.customer.refresh_from_db()
    return requester, agent, csm


def open_ticket(requester, agent, at, **kw):
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        subject="Broken",
        body="It broke",
        assignee=agent,
        created_at=at,
        **kw,
    )


@pytest.mark.django_db
def test_warning_then_breach_each_sent_once(setup, django_capture_on_commit_callbacks):
    requester, agent, _csm = setup
    ticket = open_ticket(requester, agent, paris(2026, 11, 23, 9))
    with django_capture_on_commit_callbacks():
        assert sla_sweep(now=paris(2026, 11, 23, 9, 30))["warned"] == 0
        assert sla_sweep(now=paris(2026, 11, 23, 9, 50))["warned"] == 1  # 80 % of 60 min = 09:48
        assert sla_sweep(now=paris(2026, 11, 23, 9, 55)) == {"warned": 0, "breached": 0}
        assert sla_sweep(now=paris(2026, 11, 23, 10, 1))["breached"] == 1
        assert sla_sweep(now=paris(2026, 11, 23, 10, 2))["breached"] == 0
    warnings = OutboundEmail.objects.filter(idempotency_key__startswith="sla-warning:")
    assert [e.to_email for e in warnings] == ["agent@example.com"]
    breaches = OutboundEmail.objects.filter(idempotency_key__startswith="sla-breach:")
    assert sorted(e.to_email for e in breaches) == ["agent@example.com", "csm@example.com"]
    ticket.refresh_from_db()
    assert ticket.escalation_level == 1
    target = SlaTarget.objects.get(ticket=ticket, metric="first_response")
    assert target.breached and target.state == "running"
    assert TimelineEvent.objects.filter(kind="ticket.sla_breached", customer=requester.customer).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("count", [3, 40])
def test_sweep_queries_do_not_grow_with_tickets(setup, count):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    requester, _, _ = setup
    for _ in range(count):  # unassigned: nobody to warn
        open_ticket(requester, None, paris(2026, 11, 23, 9))
    with CaptureQueriesContext(connection) as queries:
        result = sla_sweep(now=paris(2026, 11, 23, 9, 50))
    assert result["warned"] == count
    assert len(queries) <= 13


@pytest.mark.django_db
@pytest.mark.parametrize("count", [5, 50])
def test_sweep_with_notifications_queries_do_not_grow_with_tickets(
    setup, make_staff, count, django_capture_on_commit_callbacks
):
    """Assigned tickets in a team with a lead, a customer with a CSM: the warnings (assignee) and breaches
    (assignee, lead, CSM) of every ticket are stored in a few statements per batch, not per ticket or email."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Team

    requester, agent, _csm = setup
    team = Team.objects.create(name="Tier 1", lead=make_staff("support_agent", email="lead@example.com"))
    for _ in range(count):
        open_ticket(requester, agent, paris(2026, 11, 23, 9), team=team)
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks() as callbacks:
        result = sla_sweep(now=paris(2026, 11, 23, 10, 1))  # first responses past their warning and due times
    assert result == {"warned": count, "breached": count}
    assert len(queries) <= 25, "\n".join(q["sql"][:120] for q in queries)
    emails = OutboundEmail.objects.filter(status="queued")
    assert emails.filter(idempotency_key__startswith="sla-warning:", to_email=agent.email).count() == count
    assert set(emails.filter(idempotency_key__startswith="sla-breach:").values_list("to_email", flat=True)) == {
        "agent@example.com",
        "csm@example.com",
        "lead@example.com",
    }
    assert emails.count() == 4 * count
    assert TimelineEvent.objects.filter(kind="ticket.sla_breached").count() == count
    assert set(Ticket.objects.values_list("escalation_level", flat=True)) == {1}
    # The tasks of each batch's emails, published together; one health recompute request for the batch's breaches
    # (crm.signals.timeline_recorded, success.health.receivers); a signal per ticket.
    assert len(callbacks) == 3 + count


@pytest.mark.django_db
def test_paused_tickets_are_not_warned(setup):
    requester, agent, _ = setup
    ticket = open_ticket(requester, agent, paris(2026, 11, 23, 9))
    ticket_change_status(ticket=ticket, status="pending", at=paris(2026, 11, 23, 9, 10))
    assert sla_sweep(now=paris(2026, 11, 23, 12)) == {"warned": 0, "breached": 0}


@pytest.mark.django_db
def test_auto_close_after_n_days_once(setup, settings):
    settings.TICKETS_AUTO_CLOSE_DAYS = 4
    requester, agent, _ = setup
    ticket = open_ticket(requester, agent, paris(2026, 11, 2, 9))
    ticket_change_status(ticket=ticket, status="solved", at=paris(2026, 11, 2, 10))
    assert tickets_auto_close(now=paris(2026, 11, 5, 10)) == 0
    assert tickets_auto_close(now=paris(2026, 11, 6, 11)) == 1
    assert tickets_auto_close(now=paris(2026, 11, 6, 12)) == 0
    ticket.refresh_from_db()
    assert ticket.status == "closed"
    assert ticket.status_changes.filter(to_status="closed").count() == 1


@pytest.mark.django_db
def test_flag_rule_notifies_csm_once_on_open_and_on_escalation(
    setup, django_capture_on_commit_callbacks, flag_worker
):
    requester, agent, csm = setup
    FlagRule.objects.create(name="Onboarding customers", lifecycle_stages=["onboarding"])
    FlagRule.objects.create(name="Enterprise only", tiers=["enterprise"])
    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_ticket(requester, agent, timezone.now())
    flags = list(TicketFlag.objects.filter(ticket=ticket).values_list("rule__name", "trigger"))
    assert flags == [("Onboarding customers", "opened")]
    assert OutboundEmail.objects.filter(idempotency_key__startswith="ticket-flag:", to_email=csm.email).count() == 1
    assert TimelineEvent.objects.filter(kind="ticket.flagged", customer=requester.customer).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        sla_sweep(now=timezone.now() + dt.timedelta(days=10))
    assert TicketFlag.objects.filter(ticket=ticket, trigger="escalated:1").exists()
    assert flag_worker == [(ticket.pk, "opened"), (ticket.pk, "escalated:1")]  # in the worker, once each


@pytest.mark.django_db
def test_flags_are_not_queued_without_a_rule_and_run_inline_when_the_broker_is_down(
    setup, django_capture_on_commit_callbacks, monkeypatch
):
    from tickets.tasks import evaluate_flags

    requester, agent, csm = setup
    published = []
    monkeypatch.setattr(evaluate_flags, "delay", lambda *args: published.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        open_ticket(requester, agent, timezone.now())
    assert published == []  # no active rule: nothing to evaluate
    FlagRule.objects.create(name="Onboarding customers", lifecycle_stages=["onboarding"])

    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(evaluate_flags, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_ticket(requester, agent, timezone.now())
    assert list(TicketFlag.objects.filter(ticket=ticket).values_list("trigger", flat=True)) == ["opened"]
    assert OutboundEmail.objects.filter(idempotency_key__startswith="ticket-flag:", to_email=csm.email).count() == 1


@pytest.mark.django_db
def test_renewal_window_rule(setup, django_capture_on_commit_callbacks, flag_worker):
    requester, agent, _ = setup
    FlagRule.objects.create(name="Renewal soon", renewal_within_days=30)
    customer = requester.customer
    customer_update(customer=customer, renewal_date=timezone.now().date() + dt.timedelta(days=90))
    with django_capture_on_commit_callbacks(execute=True):
        far = open_ticket(requester, agent, timezone.now())
    customer_update(customer=customer, renewal_date=timezone.now().date() + dt.timedelta(days=10))
    with django_capture_on_commit_callbacks(execute=True):
        near = open_ticket(requester, agent, timezone.now())
    assert not TicketFlag.objects.filter(ticket=far).exists()
    assert TicketFlag.objects.filter(ticket=near).exists()
    assert Ticket.objects.count() == 2
