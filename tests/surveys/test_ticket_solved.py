"""CSAT after a solved ticket, through the real ticket services, the dispatch scan and a real SMTP server on
localhost: sent after the survey's delay, not at all when the ticket was reopened meanwhile, asked again for a
new solve only as the contact ledger allows, and throttled across different surveys."""

import datetime as dt
import re

import pytest

from crm.models import LedgerEntry, TimelineEvent
from surveys.models import Invitation
from surveys.scheduling import campaign_start, dispatch_scan
from surveys.services import survey_create
from tests.surveys.test_tasks import broker_fixture, clock_fixture  # noqa: F401  (fixtures: broker, clock)
from tickets.services import ticket_change_status, ticket_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def csat(db):
    return survey_create(name="Support CSAT", kind="csat", send_after_ticket_solved=True)


@pytest.fixture
def requester(contact_factory):
    return contact_factory(email="ana@globex.example", first_name="Ana")


@pytest.fixture
def desk(broker, clock, smtp_settings, smtp_server):
    """Ticket actions at the clock's time; `tick()` is a beat tick of the dispatch scan and a worker running
    everything it publishes (each message twice)."""

    class Desk:
        def open(self, requester, subject="Export fails"):
            return broker.run(
                ticket_create,
                customer=requester.customer,
                requester=requester,
                subject=subject,
                body="The CSV export times out.",
            )

        def status(self, ticket, status):
            return broker.run(ticket_change_status, ticket=ticket, status=status)

        def tick(self):
            published = broker.run(dispatch_scan)
            broker.deliver(times=2)
            return published

    return Desk()


def invitations(survey):
    return list(Invitation.objects.filter(survey=survey).order_by("pk"))


def test_a_solved_ticket_gets_one_csat_email_after_the_delay(desk, clock, csat, requester, smtp_server):
    ticket = desk.open(requester)
    desk.status(ticket, "solved")
    [invitation] = invitations(csat)
    assert (invitation.trigger, invitation.trigger_key, invitation.ticket_id, invitation.status) == (
        "ticket_solved",
        f"ticket:{ticket.pk}:r0",
        ticket.pk,
        "scheduled",
    )
    assert invitation.scheduled_for == clock.now + dt.timedelta(hours=24)

    clock.advance(hours=23, minutes=59)
    assert desk.tick() == 0
    assert smtp_server.messages == []
    clock.advance(minutes=1)
    assert desk.tick() == 1
    assert desk.tick() == 0
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ana@globex.example"]
    assert received.message["Subject"] == csat.question
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Both parts carry one link per CSAT score (1..5), with the real token (not the stored placeholder).
    for body in (received.text, received.html):
        scores = re.findall(r"/s/[A-Za-z0-9_\-]{40,}/\?score=(\d)", body)
        assert sorted(set(scores)) == ["1", "2", "3", "4", "5"]
        assert "{{survey_token}}" not in body
    invitation.refresh_from_db()
    assert (invitation.status, invitation.sent_at) == ("sent", clock.now)


def test_no_email_when_the_ticket_was_reopened_before_the_delay(desk, clock, csat, requester, smtp_server):
    ticket = desk.open(requester)
    desk.status(ticket, "solved")
    clock.advance(hours=5)
    desk.status(ticket, "open")  # the customer wrote back: not solved after all
    clock.advance(hours=20)
    desk.tick()
    assert smtp_server.messages == []
    [invitation] = invitations(csat)
    assert (invitation.status, invitation.suppressed_reason) == ("cancelled", "ticket reopened")
    assert not LedgerEntry.objects.filter(contact=requester).exists()  # nothing was sent, nothing counted

    # Solved again later: a new invitation for the new solve, sent after its own delay.
    desk.status(ticket, "solved")
    clock.advance(hours=24)
    assert desk.tick() == 1
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ana@globex.example"]
    first, second = invitations(csat)
    assert (first.status, second.status, second.trigger_key) == (
        "cancelled",
        "sent",
        f"ticket:{ticket.pk}:r1",
    )


def test_a_reopened_ticket_solved_again_within_30_days_of_its_survey_is_suppressed(
    desk, clock, csat, requester, smtp_server
):
    ticket = desk.open(requester)
    desk.status(ticket, "solved")
    clock.advance(hours=24)
    desk.tick()
    assert len(smtp_server.messages) == 1
    clock.advance(days=2)
    desk.status(ticket, "open")
    clock.advance(hours=3)
    desk.status(ticket, "solved")
    clock.advance(hours=24)
    assert desk.tick() == 1
    assert len(smtp_server.messages) == 1
    first, second = invitations(csat)
    assert (first.status, second.status, second.suppressed_reason) == (
        "sent",
        "suppressed",
        "surveyed 3 days ago",
    )
    reasons = list(
        LedgerEntry.objects.filter(contact=requester).order_by("created_at").values_list("outcome", "reason")
    )
    assert reasons == [("sent", ""), ("suppressed", "surveyed 3 days ago")]


def test_throttling_across_surveys_an_nps_campaign_then_a_csat_after_a_ticket(
    desk,
    broker,
    clock,
    csat,
    requester,
    smtp_server,
):
    nps = survey_create(name="Quarterly NPS", kind="nps")
    broker.run(campaign_start, survey=nps, audience={"contacts": [requester.pk]})
    broker.deliver()
    desk.tick()
    [nps_email] = smtp_server.messages
    assert "recommend" in nps_email.message["Subject"]

    clock.advance(days=11)
    ticket = desk.open(requester)
    desk.status(ticket, "solved")
    clock.advance(hours=24)
    desk.tick()
    assert len(smtp_server.messages) == 1  # no CSAT: the contact was surveyed 12 days ago
    [invitation] = invitations(csat)
    assert (invitation.status, invitation.suppressed_reason) == ("suppressed", "surveyed 12 days ago")
    event = TimelineEvent.objects.get(kind="survey.suppressed")
    assert event.customer_id == requester.customer_id and "surveyed 12 days ago" in event.summary

    # 30 days after the NPS the next solved ticket is asked again.
    clock.advance(days=19)
    later = desk.open(requester, subject="Another question")
    desk.status(later, "solved")
    clock.advance(hours=24)
    desk.tick()
    assert [m.message["Subject"] for m in smtp_server.messages[1:]] == [csat.question]


def test_only_active_csat_and_ces_surveys_that_ask_after_a_solve_are_sent(desk, clock, csat, requester):
    survey_create(name="NPS", kind="nps", send_after_ticket_solved=True)
    survey_create(name="Old CES", kind="ces", send_after_ticket_solved=True, is_active=False)
    survey_create(name="Campaign CES", kind="ces")
    desk.status(desk.open(requester), "solved")
    assert [i.survey_id for i in Invitation.objects.all()] == [csat.pk]
