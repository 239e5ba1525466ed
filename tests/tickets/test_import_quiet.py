"""A historical import through the API (a 2023 ticket, a dated staff reply, a dated solve) is recorded and
measured from its dates, and notifies nobody: no flag to the CSM, no reply email, no CSAT survey, and the SLA
sweep neither warns nor escalates its long-past targets. The same steps on a live ticket do notify (control)."""

import datetime as dt

import pytest

from crm.models import OutboundEmail
from crm.services import contact_create, customer_create, customer_update
from surveys.models import Invitation
from surveys.services import survey_create
from tickets.models import FlagRule, SlaTarget, Ticket, TicketFlag
from tickets.services import ticket_create, ticket_reply
from tickets.tasks import run_sla_sweep

pytestmark = pytest.mark.django_db


def utc(*args) -> str:
    return dt.datetime(*args, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def desk(standard_policy, make_staff, flag_worker, django_capture_on_commit_callbacks):
    """A customer with a CSM, a flag rule matching every opened or escalated ticket, a CSAT after every solve,
    an agent; `call(...)` runs a request or task and then what it queued on commit (signals, flag workers)."""
    csm = make_staff("csm", email="csm@example.com")
    agent = make_staff("support_agent", email="agent@example.com")
    customer = customer_create(name="Acme", domain="acme.example", lifecycle_stage="onboarding")
    customer_update(customer=customer, owner=csm)
    ann = contact_create(customer=customer, email="ann@acme.example")
    FlagRule.objects.create(name="Every ticket", on_open=True, on_escalation=True)
    survey_create(name="Support CSAT", kind="csat", send_after_ticket_solved=True)

    class Desk:
        def call(self, function, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return function(*args, **kwargs)

    desk = Desk()
    desk.ann, desk.agent, desk.csm = ann, agent, csm
    return desk


def ok(response, code=201):
    assert response.status_code == code, response.json()
    return response.json()


def test_an_imported_ticket_notifies_nobody_and_is_measured_from_its_dates(api_client_for, desk):
    """Paris office 9-17 Mon-Fri (UTC+1 in March 2023). Monday 6 March 2023 09:00 Paris = 08:00 UTC."""
    assert dt.date(2023, 3, 6).weekday() == 0
    api = api_client_for("admin")
    created = ok(
        desk.call(
            api.post,
            "/api/v1/tickets/",
            {
                "customer": desk.ann.customer_id,
                "requester": desk.ann.pk,
                "subject": "Export fails",
                "body": "Error 500 on export.",
                "assignee": desk.agent.email,
                "created_at": "2023-03-06T09:00:00+01:00",
            },
            format="json",
        )
    )
    ticket_id = created["id"]
    assert created["imported_at"] is not None  # shown, read-only
    assert created["created_at"] == utc(2023, 3, 6, 8)
    # The sweep runs while the import is under way: the 2023 first response is long overdue.
    desk.call(run_sla_sweep.apply)
    assert list(OutboundEmail.objects.values_list("kind", "to_email")) == []

    messages = f"/api/v1/tickets/{ticket_id}/messages/"
    changes = f"/api/v1/tickets/{ticket_id}/status-changes/"
    ok(
        desk.call(
            api.post,
            messages,
            {"body": "Looking into it.", "created_at": utc(2023, 3, 6, 8, 45), "author": desk.agent.email},
            format="json",
        )
    )
    desk.call(run_sla_sweep.apply)
    ok(desk.call(api.post, changes, {"status": "solved", "at": utc(2023, 3, 7, 9, 30)}, format="json"))
    desk.call(run_sla_sweep.apply)

    assert list(OutboundEmail.objects.values_list("kind", "to_email")) == []  # no flag, reply, CSAT or SLA email
    assert not Invitation.objects.exists()  # no CSAT scheduled for a 2023 solve
    assert not TicketFlag.objects.exists()
    ticket = Ticket.objects.get(pk=ticket_id)
    assert ticket.escalation_level == 0
    assert not SlaTarget.objects.filter(ticket=ticket, state__in=["running", "paused"]).exists()

    # Measured from the dates: first response 45 business minutes; resolution Monday 09:00-17:00 Paris (8 h)
    # plus Tuesday 09:00-10:30 Paris (1 h 30), over its 8-hour target.
    detail = api.get(f"/api/v1/tickets/{ticket_id}/").json()
    assert (detail["status"], detail["first_response_at"], detail["solved_at"]) == (
        "solved",
        utc(2023, 3, 6, 8, 45),
        utc(2023, 3, 7, 9, 30),
    )
    metrics = ok(api.get("/api/v1/tickets/metrics/", {"start": "2023-03-06", "end": "2023-03-12"}), 200)
    assert (metrics["volume"], metrics["solved"]) == (1, 1)
    assert metrics["first_response_seconds"] == {"median": 2700.0, "p90": 2700.0, "count": 1}
    assert metrics["resolution_seconds"] == {"median": 34200.0, "p90": 34200.0, "count": 1}
    assert metrics["sla_attainment"]["first_response"] == {
        "targets": 1,
        "met": 1,
        "breached": 0,
        "attainment_pct": 100.0,
    }
    assert metrics["sla_attainment"]["resolution"]["breached"] == 1


def test_the_same_steps_on_a_live_ticket_do_notify(api_client_for, desk):
    """Control: a ticket opened now flags the CSM, the reply is emailed, the solve schedules a CSAT."""
    api = api_client_for("admin")
    created = ok(
        desk.call(
            api.post,
            "/api/v1/tickets/",
            {
                "customer": desk.ann.customer_id,
                "requester": desk.ann.pk,
                "subject": "Export fails",
                "body": "Error 500 on export.",
                "assignee": desk.agent.email,
                # A live integration a few minutes late is not an import.
                "created_at": (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat(),
            },
            format="json",
        )
    )
    assert created["imported_at"] is None
    ticket_id = created["id"]
    ok(desk.call(api.post, f"/api/v1/tickets/{ticket_id}/messages/", {"body": "On it."}, format="json"))
    ok(desk.call(api.post, f"/api/v1/tickets/{ticket_id}/status-changes/", {"status": "solved"}, format="json"))
    assert sorted(OutboundEmail.objects.values_list("kind", "to_email")) == [
        ("staff_notification", "csm@example.com"),
        ("ticket_reply", "ann@acme.example"),
    ]
    assert Invitation.objects.filter(ticket_id=ticket_id).count() == 1


def test_a_dated_reply_on_an_imported_ticket_is_not_emailed_a_reply_today_is(desk):
    ticket = desk.call(
        ticket_create,
        customer=desk.ann.customer,
        requester=desk.ann,
        subject="Old question",
        body="How do I export?",
        created_at=dt.datetime(2023, 3, 6, 8, tzinfo=dt.UTC),
        imported=True,
    )
    desk.call(ticket_reply, ticket=ticket, body="Like this.", at=dt.datetime(2023, 3, 6, 9, tzinfo=dt.UTC))
    assert not OutboundEmail.objects.exists()
    desk.call(ticket_reply, ticket=ticket, body="Following up today.")  # a live reply on an imported ticket
    assert list(OutboundEmail.objects.values_list("kind", "to_email")) == [("ticket_reply", "ann@acme.example")]
