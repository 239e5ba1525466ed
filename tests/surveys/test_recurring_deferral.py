"""A recurring survey stopped by survey spacing alone waits for the spacing to allow it (in the contact's next
weekday morning from then) instead of skipping its whole cycle; consent and deliverability still suppress it at
once, and so does spacing that would hold it for more than half a cycle."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from crm.ledger import contact_unsubscribe
from crm.models import LedgerEntry, TimelineEvent
from surveys.models import Invitation
from surveys.scheduling import recurring_schedule
from surveys.services import invitation_create, invitation_dispatch, survey_create

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday
PARIS = ZoneInfo("Europe/Paris")


def days(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


@pytest.fixture
def nps(db):
    return survey_create(name="Relationship NPS", kind="nps", recurring_months=6)


@pytest.fixture
def contact(contact_factory, customer_factory):
    """Surveyed by a CSAT on T0 (sent)."""
    contact = contact_factory(email="zoe@paris.example", customer=customer_factory(timezone="Europe/Paris"))
    csat = survey_create(name="Support CSAT", kind="csat")
    invitation, _ = invitation_create(
        survey=csat, contact=contact, trigger="ticket_solved", trigger_key="ticket:1", scheduled_for=T0
    )
    assert invitation_dispatch(invitation_id=invitation.pk, now=T0).status == "sent"
    return contact


def recurring_invitation(nps, contact, now) -> Invitation:
    assert recurring_schedule(survey=nps, now=now) == 1
    invitation = Invitation.objects.get(survey=nps, contact=contact)
    Invitation.objects.filter(pk=invitation.pk).update(created_at=now)  # made by the scan at `now`
    invitation.refresh_from_db()
    return invitation


@pytest.mark.django_db
def test_a_recurring_survey_held_by_spacing_waits_and_goes_out_when_it_may(nps, contact):
    invitation = recurring_invitation(nps, contact, days(10))
    due = invitation.scheduled_for
    deferred = invitation_dispatch(invitation_id=invitation.pk, now=due)

    assert deferred.status == "scheduled"  # not suppressed: waiting
    local = deferred.scheduled_for.astimezone(PARIS)
    assert deferred.scheduled_for >= days(30)  # 30 days after the CSAT
    assert local.weekday() < 5 and dt.time(9) <= local.time() < dt.time(11)
    assert deferred.queued_at is None  # the dispatch scan publishes it again when it is due
    assert not LedgerEntry.objects.filter(contact=contact, outcome="suppressed").exists()
    event = TimelineEvent.objects.get(kind="survey.deferred")
    assert event.payload["reason"] == f"surveyed {(due - T0).days} days ago"
    assert "Relationship NPS to zoe@paris.example waits until" in event.summary

    # A second delivery of the same task before the new time does nothing.
    assert invitation_dispatch(invitation_id=invitation.pk, now=due) is None
    sent = invitation_dispatch(invitation_id=invitation.pk, now=deferred.scheduled_for)
    assert sent.status == "sent"
    assert LedgerEntry.objects.filter(contact=contact, subkind="nps", outcome="sent").count() == 1


@pytest.mark.django_db
def test_an_unsubscribed_contact_is_suppressed_not_deferred(nps, contact):
    invitation = recurring_invitation(nps, contact, days(10))
    contact_unsubscribe(contact=contact)
    suppressed = invitation_dispatch(invitation_id=invitation.pk, now=invitation.scheduled_for)
    assert (suppressed.status, suppressed.suppressed_reason) == ("suppressed", "unsubscribed")
    assert not TimelineEvent.objects.filter(kind="survey.deferred").exists()


@pytest.mark.django_db
def test_spacing_longer_than_half_a_cycle_suppresses_as_before(nps, contact, settings):
    settings.LEDGER_SURVEY_MIN_DAYS_BY_KIND = {"nps": 120}
    old = survey_create(name="Old NPS", kind="nps")
    invitation, _ = invitation_create(
        survey=old, contact=contact, trigger="campaign", trigger_key="c:1", scheduled_for=days(31)
    )
    assert invitation_dispatch(invitation_id=invitation.pk, now=days(31)).status == "sent"
    # 120 days from day 31 is day 151: more than 90 days (half of 6 months) after the invitation was made.
    recurring = recurring_invitation(nps, contact, days(40))
    suppressed = invitation_dispatch(invitation_id=recurring.pk, now=recurring.scheduled_for)
    ago = (recurring.scheduled_for - days(31)).days  # the global 30-day rule speaks first
    assert (suppressed.status, suppressed.suppressed_reason) == ("suppressed", f"surveyed {ago} days ago")
    assert not TimelineEvent.objects.filter(kind="survey.deferred").exists()


@pytest.mark.django_db
def test_a_campaign_held_by_spacing_is_suppressed_as_before(contact):
    campaign = survey_create(name="Onboarding CES", kind="ces")
    invitation, _ = invitation_create(
        survey=campaign, contact=contact, trigger="campaign", trigger_key="campaign:1", scheduled_for=days(5)
    )
    suppressed = invitation_dispatch(invitation_id=invitation.pk, now=days(5))
    assert (suppressed.status, suppressed.suppressed_reason) == ("suppressed", "surveyed 5 days ago")
