"""Integrations sync with GET /api/v1/tickets/?updated_after=: every change they can see must move updated_at,
including the ones written in bulk (auto-close, escalation, due times recomputed after a calendar change)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tickets.configuration import sla_policy_update
from tickets.escalation import sla_sweep, tickets_auto_close
from tickets.services import ticket_change_status, ticket_create

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tickets/"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def ticket(standard_policy, contact_factory):
    requester = contact_factory()
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        subject="Broken",
        body="It broke",
        created_at=dt.datetime(2026, 11, 23, 9, tzinfo=PARIS),
    )


def updated_since(api, before: dt.datetime) -> dict[int, dict]:
    response = api.get(LIST, {"updated_after": before.isoformat()})
    assert response.status_code == 200
    return {row["id"]: row for row in response.json()["results"]}


def test_auto_closed_ticket_is_returned_by_updated_after(api_client_for, ticket, settings):
    settings.TICKETS_AUTO_CLOSE_DAYS = 4
    ticket_change_status(ticket=ticket, status="solved", at=dt.datetime(2026, 11, 23, 10, tzinfo=PARIS))
    api = api_client_for("read_only")
    before = timezone.now()
    assert updated_since(api, before) == {}
    assert tickets_auto_close(now=dt.datetime(2026, 11, 28, 10, tzinfo=PARIS)) == 1
    rows = updated_since(api, before)
    assert rows[ticket.pk]["status"] == "closed"


def test_escalated_ticket_is_returned_by_updated_after(api_client_for, ticket):
    api = api_client_for("read_only")
    before = timezone.now()
    assert sla_sweep(now=dt.datetime(2026, 11, 23, 10, 1, tzinfo=PARIS))["breached"] == 1
    assert updated_since(api, before)[ticket.pk]["escalation_level"] == 1


def test_due_times_moved_by_a_policy_change_are_returned_by_updated_after(
    api_client_for, standard_policy, contact_factory
):
    requester = contact_factory()
    ticket = ticket_create(customer=requester.customer, requester=requester, subject="Broken", body="It broke")
    api = api_client_for("read_only")
    due_before = api.get(f"{LIST}{ticket.pk}/").json()["next_sla_due_at"]
    before = timezone.now()
    sla_policy_update(policy=standard_policy, first_response_minutes=600)
    row = updated_since(api, before)[ticket.pk]
    assert row["next_sla_due_at"] != due_before
