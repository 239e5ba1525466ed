"""The contact ledger: one answer to "may we email this contact now?" for surveys, outreach, QBR invites and
ticket replies; fatigue across every survey and trigger; reasons recorded with each suppression."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from crm.ledger import (
    contact_mark_bounced,
    contact_mark_complained,
    contact_resubscribe,
    contact_unsubscribe,
    ledger_check,
    ledger_claim,
)
from crm.models import Contact, LedgerEntry
from surveys.models import Invitation
from surveys.services import invitation_create, invitation_dispatch, survey_create

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def days(n):
    return T0 + dt.timedelta(days=n)


def invite(survey, contact, key, now):
    invitation, _ = invitation_create(
        survey=survey, contact=contact, trigger="campaign", trigger_key=key, scheduled_for=now
    )
    return invitation_dispatch(invitation_id=invitation.pk, now=now)


@pytest.fixture
def surveys(db):
    return {
        "nps": survey_create(name="Quarterly NPS", kind="nps"),
        "csat": survey_create(name="Support CSAT", kind="csat"),
        "ces": survey_create(name="Onboarding CES", kind="ces"),
    }


@pytest.mark.django_db
def test_one_survey_per_30_days_across_surveys_with_the_reason(surveys, contact_factory):
    contact = contact_factory()
    assert invite(surveys["nps"], contact, "campaign:1", T0).status == "sent"
    twelve = invite(surveys["csat"], contact, "ticket:7", days(12))
    assert (twelve.status, twelve.suppressed_reason) == ("suppressed", "surveyed 12 days ago")
    one = invite(surveys["ces"], contact, "campaign:2", days(1))
    assert one.suppressed_reason == "surveyed 1 day ago"
    same_day = invite(surveys["ces"], contact, "campaign:3", T0 + dt.timedelta(hours=5))
    assert same_day.suppressed_reason == "surveyed today"
    assert (
        invite(surveys["csat"], contact, "ticket:8", days(29) + dt.timedelta(hours=23)).status == "suppressed"
    )
    # 30 days later the next survey goes, and starts a new 30 days.
    assert invite(surveys["csat"], contact, "ticket:9", days(30)).status == "sent"
    assert invite(surveys["nps"], contact, "campaign:4", days(31)).suppressed_reason == "surveyed 1 day ago"
    # Another contact of the same customer is not throttled by this one.
    assert (
        invite(surveys["csat"], contact_factory(customer=contact.customer), "ticket:7", days(12)).status
        == "sent"
    )

    log = list(
        LedgerEntry.objects.filter(contact=contact)
        .order_by("created_at")
        .values_list("outcome", "reason", "subkind")
    )
    assert log == [
        ("sent", "", "nps"),
        ("suppressed", "surveyed today", "ces"),
        ("suppressed", "surveyed 1 day ago", "ces"),
        ("suppressed", "surveyed 12 days ago", "csat"),
        ("suppressed", "surveyed 29 days ago", "csat"),
        ("sent", "", "csat"),
        ("suppressed", "surveyed 1 day ago", "nps"),
    ]
    entry = LedgerEntry.objects.get(contact=contact, reason="surveyed 12 days ago")
    assert entry.source == Invitation.objects.get(trigger_key="ticket:7", contact=contact)


@pytest.mark.django_db
def test_spacing_is_configurable_globally_and_per_kind(surveys, contact_factory, settings):
    settings.LEDGER_SURVEY_MIN_DAYS = 7
    settings.LEDGER_SURVEY_MIN_DAYS_BY_KIND = {"nps": 90}
    contact = contact_factory()
    assert invite(surveys["nps"], contact, "campaign:1", T0).status == "sent"
    assert invite(surveys["csat"], contact, "ticket:1", days(6)).suppressed_reason == "surveyed 6 days ago"
    assert invite(surveys["csat"], contact, "ticket:2", days(7)).status == "sent"
    # NPS at most every 90 days, whatever was sent in between.
    assert (
        invite(surveys["nps"], contact, "campaign:2", days(45)).suppressed_reason
        == "NPS survey sent 45 days ago"
    )
    assert invite(surveys["ces"], contact, "ticket:3", days(45)).status == "sent"
    assert invite(surveys["nps"], contact, "campaign:3", days(90)).status == "sent"
    # 0 turns the global rule off.
    settings.LEDGER_SURVEY_MIN_DAYS = 0
    assert invite(surveys["csat"], contact, "ticket:4", days(90)).status == "sent"


@pytest.mark.django_db
def test_suppressed_invitations_record_nothing_as_sent(surveys, contact_factory):
    """A suppression does not count as a survey: it does not push the next allowed date back."""
    contact = contact_factory()
    invite(surveys["nps"], contact, "campaign:1", T0)
    invite(surveys["csat"], contact, "ticket:1", days(20))  # suppressed
    assert invite(surveys["csat"], contact, "ticket:2", days(30)).status == "sent"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mark", "reason"),
    [(contact_mark_bounced, "bounced"), (contact_mark_complained, "complained (marked as spam)")],
)
def test_bounced_and_complained_stop_everything(surveys, contact_factory, mark, reason):
    contact = contact_factory()
    assert mark(contact=contact, detail="550 5.1.1") is True
    assert mark(contact=contact, detail="550 5.1.1") is False  # idempotent
    for kind in ("survey", "outreach", "qbr_invite", "ticket_reply"):
        assert ledger_check(contact=contact, kind=kind, subkind="nps") == reason
    invitation = invite(surveys["nps"], contact, "campaign:1", T0)
    assert (invitation.status, invitation.suppressed_reason, invitation.email_id) == (
        "suppressed",
        reason,
        None,
    )
    # The ledger, not the order of checks, decides: bounced wins over unsubscribed.
    contact_unsubscribe(contact=contact)
    contact.refresh_from_db()
    assert ledger_check(contact=contact, kind="survey") == reason


@pytest.mark.django_db
def test_unsubscribed_stops_marketing_not_ticket_replies(surveys, contact_factory):
    contact = contact_factory()
    contact_unsubscribe(contact=contact)
    assert ledger_check(contact=contact, kind="survey", subkind="csat") == "unsubscribed"
    assert ledger_check(contact=contact, kind="outreach") == "unsubscribed"
    # A QBR invite is a meeting the contact is invited to, not marketing (README "QBR invites and unsubscribes").
    assert ledger_check(contact=contact, kind="qbr_invite") is None
    assert ledger_check(contact=contact, kind="ticket_reply") is None
    # Ticket replies never count towards survey fatigue, and are never throttled.
    for n in range(3):
        assert ledger_claim(contact=contact, kind="ticket_reply", now=days(n)) is None
    contact_resubscribe(contact=contact)
    contact.refresh_from_db()
    assert invite(surveys["csat"], contact, "ticket:1", days(3)).status == "sent"


@pytest.mark.django_db
def test_outreach_has_its_own_spacing(contact_factory, surveys, settings):
    settings.LEDGER_OUTREACH_MIN_DAYS = 7
    contact = contact_factory()
    assert ledger_claim(contact=contact, kind="outreach", now=T0) is None
    assert ledger_claim(contact=contact, kind="outreach", now=days(3)) == "contacted 3 days ago"
    # A survey is not outreach: it still goes.
    assert invite(surveys["nps"], contact, "campaign:1", days(3)).status == "sent"
    assert ledger_claim(contact=contact, kind="outreach", now=days(7)) is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_for_one_contact_let_one_survey_through(contact_factory):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL: SQLite serialises writers and ignores SELECT ... FOR UPDATE")
    contact = contact_factory()
    first_claimed, results, errors = threading.Event(), {}, []

    def first():
        try:
            with transaction.atomic():
                results["first"] = ledger_claim(contact=contact, kind="survey", subkind="nps")
                first_claimed.set()
                # Hold the lock a moment: without it the second claim would read before this one commits.
                threading.Event().wait(0.5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            first_claimed.set()
            connection.close()

    def second():
        try:
            first_claimed.wait(5)
            results["second"] = ledger_claim(contact=contact, kind="survey", subkind="csat")
        except Exception as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors
    assert results == {"first": None, "second": "surveyed today"}
    assert sorted(LedgerEntry.objects.filter(contact=contact).values_list("outcome", flat=True)) == [
        "sent",
        "suppressed",
    ]


@pytest.mark.django_db(transaction=True)
def test_two_surveys_dispatched_at_once_to_one_contact_send_one(contact_factory):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL: SQLite serialises writers and ignores SELECT ... FOR UPDATE")
    contact = contact_factory()
    invitations = []
    for kind in ("nps", "csat", "ces"):
        survey = survey_create(name=f"{kind} survey", kind=kind)
        invitations.append(
            invitation_create(
                survey=survey, contact=contact, trigger="campaign", trigger_key=f"campaign:{kind}"
            )[0]
        )
    barrier = threading.Barrier(len(invitations))

    def dispatch(pk):
        try:
            barrier.wait(timeout=5)
            invitation_dispatch(invitation_id=pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch, args=(inv.pk,)) for inv in invitations]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    statuses = sorted(Invitation.objects.filter(contact=contact).values_list("status", "suppressed_reason"))
    assert statuses == [("sent", ""), ("suppressed", "surveyed today"), ("suppressed", "surveyed today")]
    assert Contact.objects.get(pk=contact.pk).ledger_entries.filter(outcome="sent").count() == 1


@pytest.mark.django_db
def test_check_is_flat_in_queries(contact_factory, django_assert_max_num_queries):
    """One query per spacing rule, however long the contact's history."""
    contact = contact_factory()
    for n in range(3):
        ledger_claim(contact=contact, kind="outreach", now=timezone.now() - dt.timedelta(days=40 + n))
    with django_assert_max_num_queries(1):
        ledger_check(contact=contact, kind="survey", subkind="nps")
    for n in range(50):
        ledger_claim(contact=contact, kind="survey", now=timezone.now() - dt.timedelta(days=60 + n))
    with django_assert_max_num_queries(1):
        ledger_check(contact=contact, kind="survey", subkind="nps")
