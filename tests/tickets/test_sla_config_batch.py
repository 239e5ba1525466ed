"""A calendar or policy change recounts the open clocks of its tickets in batches: the statements of the
request grow per batch of 1,000 tickets, not per ticket (100,000 open tickets in one change)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tickets.configuration import business_calendar_update, sla_policy_update
from tickets.models import SlaTarget, Ticket
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_tickets(standard_policy, contact_factory):
    requester = contact_factory()
    started = timezone.now() - dt.timedelta(minutes=5)

    def make(count):
        return [
            ticket_create(
                customer=requester.customer, requester=requester, subject="s", body="b", created_at=started
            ).pk
            for _ in range(count)
        ]

    return make


@pytest.mark.parametrize("count", [5, 50])
def test_policy_change_statements_do_not_grow_with_tickets(open_tickets, standard_policy, count):
    ids = open_tickets(count)
    due_before = dict(Ticket.objects.filter(pk__in=ids).values_list("pk", "next_sla_due_at"))
    with CaptureQueriesContext(connection) as queries:
        sla_policy_update(policy=standard_policy, first_response_minutes=600, resolution_minutes=1200)
    assert len(queries) <= 23, "\n".join(q["sql"][:150] for q in queries)
    first = SlaTarget.objects.filter(ticket_id__in=ids, metric="first_response")
    assert set(first.values_list("target_seconds", "state")) == {(36000, "running")}
    for pk, due in Ticket.objects.filter(pk__in=ids).values_list("pk", "next_sla_due_at"):
        assert due > due_before[pk]  # the nearest target is now resolution or first response, both later
    # Time counted before the change stays counted: every clock went on from where it was.
    assert all(t.counted_until > t.started_at for t in first)


@pytest.mark.parametrize("count", [5, 50])
def test_calendar_change_statements_do_not_grow_with_tickets(open_tickets, paris_office, count):
    ids = open_tickets(count)
    with CaptureQueriesContext(connection) as queries:
        business_calendar_update(calendar=paris_office, always_open=True)
    assert len(queries) <= 21, "\n".join(q["sql"][:150] for q in queries)
    first = SlaTarget.objects.filter(ticket_id__in=ids, metric="first_response", state="running")
    assert first.count() == count
    # 24/7 now: first response falls due an hour of wall time after it started, less what was counted already.
    for target in first:
        assert target.due_at == target.counted_until + dt.timedelta(seconds=3600 - target.elapsed_seconds)
