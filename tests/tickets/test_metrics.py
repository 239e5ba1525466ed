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
