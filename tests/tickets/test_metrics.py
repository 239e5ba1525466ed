import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tickets.metrics import ticket_metrics
from tickets.models import Ticket
from tickets.services import ticket_change_status, ticket_create, ticket_customer_message, ticket_reply

PARIS = ZoneInfo("Europe/Paris")


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def tickets(standard_policy, contact_factory):
    requester = contact_factory()

    def make(created, replies=(), solved=None, reopen=None, resolve_again=None):
        t = ticket_create(customer=requester.customer, requester=requester, subject="s", body="b", created_at=created)
        for at in replies:
            ticket_reply(ticket=t, body="r", at=at, send_email=False)
        if solved:
            ticket_change_status(ticket=t, status="solved", at=solved)
        if reopen:
            ticket_customer_message(ticket=t, contact=requester, body="again", at=reopen)
        if resolve_again:
            ticket_reply(ticket=t, body="fixed", at=resolve_again, send_email=False)
            ticket_change_status(ticket=t, status="solved", at=resolve_again)
        return t

    # Monday 23 Nov 2026, Paris office 9-17, first response target 60 min, resolution 480 min.
    make(paris(2026, 11, 23, 9), replies=[paris(2026, 11, 23, 9, 10)], solved=paris(2026, 11, 23, 10))
    make(paris(2026, 11, 23, 9), replies=[paris(2026, 11, 23, 9, 30)], solved=paris(2026, 11, 23, 11))
    make(
        paris(2026, 11, 23, 9),
        replies=[paris(2026, 11, 23, 11)],  # 120 min: breached
        solved=paris(2026, 11, 23, 12),
        reopen=paris(2026, 11, 23, 13),
        resolve_again=paris(2026, 11, 23, 14),
    )
    make(paris(2026, 11, 23, 16))  # unsolved, no reply yet
    return requester


@pytest.mark.django_db
def test_metrics_follow_the_definitions(tickets):
    m = ticket_metrics(start=paris(2026, 11, 23), end=paris(2026, 11, 24), now=paris(2026, 11, 26, 12))
    assert m["volume"] == 4
    assert m["first_response_seconds"]["count"] == 3
    assert m["first_response_seconds"]["median"] == 30 * 60
    assert m["solved"] == 3
    # Resolution: 60, 120 and 240 min (9:00-12:00 + 13:00-14:00; the hour it sat solved is not counted).
    assert m["resolution_seconds"]["median"] == 120 * 60
    # FCR: exactly one public staff reply and never reopened -> the first two of three.
    assert m["first_contact_resolution_pct"] == pytest.approx(66.67)
    assert m["reopen_rate_pct"] == pytest.approx(33.33)
    fr = m["sla_attainment"]["first_response"]
    assert (fr["targets"], fr["met"], fr["breached"]) == (3, 2, 1)
    assert m["backlog"] == {"total": 1, "by_age": {"<1d": 0, "1-3d": 1, "3-7d": 0, "7-30d": 0, ">30d": 0}}


@pytest.mark.django_db
def test_metrics_scope_and_empty_period(tickets):
    m = ticket_metrics(start=paris(2026, 12, 1), end=paris(2026, 12, 2), scope=Ticket.objects.none())
    assert m["volume"] == 0 and m["first_contact_resolution_pct"] is None
    assert m["first_response_seconds"] == {"median": None, "p90": None, "count": 0}


@pytest.mark.django_db
def test_resolution_time_excludes_only_waiting_on_the_customer(standard_policy, contact_factory):
    """PRODUCT.md: resolution time is business time from creation to solved, excluding time the ticket waited
    on the customer. On hold pauses the resolution *target* (the policy's pause_on_hold), not the metric."""
    from tickets.sla import sla_explain

    assert standard_policy.pause_on_hold
    requester = contact_factory()
    ticket = ticket_create(
        customer=requester.customer, requester=requester, subject="s", body="b", created_at=paris(2026, 11, 23, 9)
    )
    ticket_reply(ticket=ticket, body="r", at=paris(2026, 11, 23, 9, 10), send_email=False)
    ticket_change_status(ticket=ticket, status="on_hold", at=paris(2026, 11, 23, 10))  # 2 h on hold
    ticket_change_status(ticket=ticket, status="pending", at=paris(2026, 11, 23, 12))  # 1 h on the customer
    ticket_customer_message(ticket=ticket, contact=requester, body="here", at=paris(2026, 11, 23, 13))
    ticket_change_status(ticket=ticket, status="solved", at=paris(2026, 11, 23, 14))

    ticket.refresh_from_db()
    assert ticket.resolution_seconds == 4 * 3600  # 09:00-14:00 minus the pending hour; on hold counts
    m = ticket_metrics(start=paris(2026, 11, 23), end=paris(2026, 11, 24), now=paris(2026, 11, 24))
    assert m["resolution_seconds"]["median"] == 4 * 3600
    # The SLA target still paused on hold, as its policy says.
    [resolution] = [t for t in sla_explain(ticket, now=paris(2026, 11, 24)) if t["metric"] == "resolution"]
    assert resolution["elapsed_seconds"] == 2 * 3600
    paused = [(i["reason"], i["counted"]) for i in resolution["intervals"] if not i["counted"]]
    assert ("on hold", False) in paused and ("pending: waiting on the customer", False) in paused


@pytest.mark.django_db
def test_resolution_time_of_a_reopened_ticket_leaves_out_the_time_it_sat_solved(standard_policy, contact_factory):
    requester = contact_factory()
    ticket = ticket_create(
        customer=requester.customer, requester=requester, subject="s", body="b", created_at=paris(2026, 11, 23, 9)
    )
    ticket_reply(ticket=ticket, body="r", at=paris(2026, 11, 23, 9, 10), send_email=False)
    ticket_change_status(ticket=ticket, status="on_hold", at=paris(2026, 11, 23, 10))
    ticket_change_status(ticket=ticket, status="solved", at=paris(2026, 11, 23, 11))
    ticket_customer_message(ticket=ticket, contact=requester, body="still broken", at=paris(2026, 11, 23, 13))
    ticket_change_status(ticket=ticket, status="solved", at=paris(2026, 11, 23, 14))
    ticket.refresh_from_db()
    # 09:00-11:00 (its hour on hold included) + 13:00-14:00; 11:00-13:00 solved is not resolution time.
    assert ticket.resolution_seconds == 3 * 3600


@pytest.mark.django_db
def test_a_merged_duplicate_is_not_in_the_solved_metrics_nor_sla_attainment(standard_policy, contact_factory):
    from django.utils import timezone

    from tickets.services import ticket_merge

    requester = contact_factory()

    def open_ticket():
        return ticket_create(
            customer=requester.customer, requester=requester, subject="s", body="b", created_at=paris(2026, 11, 23, 9)
        )

    kept, duplicate = open_ticket(), open_ticket()
    ticket_reply(ticket=kept, body="r", at=paris(2026, 11, 23, 9, 10), send_email=False)
    # The duplicate's first response breached at 10:00 (nobody answered it), then it is merged.
    ticket_merge(source=duplicate, target=kept)
    ticket_change_status(ticket=kept, status="solved", at=paris(2026, 11, 23, 12))
    end = timezone.now() + dt.timedelta(days=1)
    m = ticket_metrics(start=paris(2026, 11, 23), end=end, now=end)
    assert m["volume"] == 2
    assert (m["solved"], m["resolution_seconds"]["count"], m["first_contact_resolution_pct"]) == (1, 1, 100.0)
    fr = m["sla_attainment"]["first_response"]
    assert (fr["targets"], fr["met"], fr["breached"]) == (1, 1, 0)
    assert m["sla_attainment"]["resolution"]["targets"] == 1
