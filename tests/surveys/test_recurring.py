"""Recurring NPS: one invitation per contact and period, on a weekday morning in the contact's own time zone,
spread so that a big audience does not all go out on one day, never twice, never to unreachable contacts."""

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.ledger import contact_mark_bounced, contact_mark_complained, contact_unsubscribe
from surveys.models import Invitation
from surveys.scheduling import FIRST_CYCLE_WEEKDAYS, dispatch_scan, period_key, recurring_scan
from surveys.services import survey_create
from tests.surveys.test_tasks import broker_fixture, clock_fixture  # noqa: F401  (fixtures: broker, clock)

FRIDAY_EVENING = dt.datetime(2026, 3, 6, 23, 30, tzinfo=dt.UTC)  # Saturday 08:30 in Tokyo, Friday 15:30 in LA


@pytest.fixture
def recurring(db):
    return survey_create(name="Relationship NPS", kind="nps", recurring_months=3)


def local(invitation, zone):
    return invitation.scheduled_for.astimezone(ZoneInfo(zone))


def assert_weekday_morning(moment):
    assert moment.weekday() < 5, f"{moment:%A %Y-%m-%d %H:%M} is a weekend"
    assert dt.time(9) <= moment.time() < dt.time(11), f"{moment:%A %Y-%m-%d %H:%M} is not 09:00-11:00"


@pytest.mark.django_db
def test_invitations_land_on_a_weekday_morning_in_each_contacts_time_zone(
    recurring, contact_factory, customer_factory
):
    tokyo = contact_factory(email="aiko@tokyo.example", timezone="Asia/Tokyo")
    los_angeles = contact_factory(
        email="lee@la.example", timezone="America/Los_Angeles"
    )  # DST starts 8 March
    paris = contact_factory(email="zoe@paris.example", customer=customer_factory(timezone="Europe/Paris"))

    assert recurring_scan(now=FRIDAY_EVENING) == 3
    by_contact = {i.contact_id: i for i in Invitation.objects.filter(survey=recurring)}
    for contact, zone in (
        (tokyo, "Asia/Tokyo"),
        (los_angeles, "America/Los_Angeles"),
        (paris, "Europe/Paris"),
    ):
        invitation = by_contact[contact.pk]
        assert (invitation.trigger, invitation.trigger_key, invitation.status) == (
            "recurring",
            "recurring:2026-01",
            "scheduled",
        )
        assert invitation.customer_id == contact.customer_id
        moment = local(invitation, zone)
        assert_weekday_morning(moment)
        # After now, within the first cycle's spread (three weeks of weekdays, plus the weekend to start on).
        assert FRIDAY_EVENING < invitation.scheduled_for < FRIDAY_EVENING + dt.timedelta(days=24)


@pytest.mark.django_db
def test_a_big_audience_is_spread_over_weekdays_and_the_morning(recurring, customer_factory, contact_factory):
    customer = customer_factory(timezone="America/New_York")
    for n in range(300):
        contact_factory(customer=customer, email=f"p{n}@ny.example")
    assert recurring_scan(now=FRIDAY_EVENING, batch=64) == 300
    moments = [local(i, "America/New_York") for i in Invitation.objects.filter(survey=recurring)]
    assert len(moments) == 300
    for moment in moments:
        assert_weekday_morning(moment)
    per_day = Counter(m.date() for m in moments)
    assert len(per_day) == FIRST_CYCLE_WEEKDAYS
    assert max(per_day.values()) < 300 * 0.15  # no day takes much more than its 1/15 share
    assert len({(m.hour, m.minute) for m in moments}) > 60  # spread over the two hours, not all at 09:00
    assert recurring_scan(now=FRIDAY_EVENING + dt.timedelta(hours=1), batch=64) == 0
    assert Invitation.objects.count() == 300


@pytest.mark.django_db
def test_running_again_adds_nothing_until_the_contacts_period_has_passed(recurring, contact_factory):
    contact = contact_factory(timezone="Asia/Tokyo")
    assert recurring_scan(now=FRIDAY_EVENING) == 1
    assert recurring_scan(now=FRIDAY_EVENING) == 0
    first = Invitation.objects.get(survey=recurring)
    for later in (dt.timedelta(hours=1), dt.timedelta(days=30), dt.timedelta(days=85)):
        assert recurring_scan(now=FRIDAY_EVENING + later) == 0
    # Three months after the first invitation's time it is due again: the next weekday morning, not spread.
    due_again = first.scheduled_for.replace(month=first.scheduled_for.month + 3) + dt.timedelta(minutes=1)
    assert recurring_scan(now=due_again) == 1
    assert recurring_scan(now=due_again + dt.timedelta(hours=1)) == 0
    second = Invitation.objects.filter(survey=recurring).exclude(pk=first.pk).get()
    assert second.contact_id == contact.pk
    assert second.trigger_key == period_key(due_again, 3) == "recurring:2026-04"
    assert_weekday_morning(local(second, "Asia/Tokyo"))
    assert due_again < second.scheduled_for < due_again + dt.timedelta(days=4)


@pytest.mark.django_db
def test_an_invitation_already_holding_the_periods_key_is_not_duplicated(recurring, contact_factory):
    contact = contact_factory()
    # An odd leftover: this period's key but scheduled long ago, so the contact looks due again.
    Invitation.objects.create(
        survey=recurring,
        contact=contact,
        customer=contact.customer,
        trigger="recurring",
        trigger_key="recurring:2026-01",
        token_nonce="x",
        token_hash="y",
        scheduled_for=FRIDAY_EVENING - dt.timedelta(days=200),
    )
    recurring_scan(now=FRIDAY_EVENING)  # the unique constraint ignores the conflicting row; no error
    assert Invitation.objects.filter(survey=recurring, contact=contact).count() == 1


@pytest.mark.django_db
def test_unsubscribed_bounced_and_complained_contacts_and_other_surveys_are_skipped(
    recurring, contact_factory
):
    keep = contact_factory(email="keep@globex.example")
    for mark in (contact_unsubscribe, contact_mark_bounced, contact_mark_complained):
        mark(contact=contact_factory())
    survey_create(name="Paused NPS", kind="nps", recurring_months=6, is_active=False)
    survey_create(name="One-off NPS", kind="nps")
    assert recurring_scan(now=FRIDAY_EVENING) == 1
    assert list(Invitation.objects.values_list("survey_id", "contact_id")) == [(recurring.pk, keep.pk)]


@pytest.mark.django_db
def test_recurring_scan_query_count_does_not_grow_with_the_number_of_contacts(recurring, contact_factory):
    def queries_for(count, when):
        for _ in range(count):
            contact_factory()
        with CaptureQueriesContext(connection) as captured:
            assert recurring_scan(now=when) == count
        return len(captured.captured_queries)

    # (40: SQLite's bulk INSERT holds at most 999 parameters, about 60 invitations, before it splits.)
    assert queries_for(4, FRIDAY_EVENING) == queries_for(40, FRIDAY_EVENING + dt.timedelta(hours=1))


@pytest.mark.django_db
def test_a_recurring_invitation_is_sent_at_its_time_through_the_dispatch_scan(
    broker,
    clock,
    recurring,
    contact_factory,
):
    contact = contact_factory(email="aiko@tokyo.example", timezone="Asia/Tokyo")
    clock.set(FRIDAY_EVENING)
    broker.run(recurring_scan)
    invitation = Invitation.objects.get(survey=recurring)
    clock.set(invitation.scheduled_for - dt.timedelta(seconds=1))
    assert broker.run(dispatch_scan) == 0
    clock.set(invitation.scheduled_for)
    assert broker.run(dispatch_scan) == 1
    broker.deliver(times=2)
    [message] = mail.outbox
    assert message.to == [contact.email]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.sent_at) == ("sent", clock.now)


@pytest.mark.django_db
def test_churned_customers_get_no_recurring_nps(contact_factory):
    from crm.services import customer_update
    from surveys.models import Invitation
    from surveys.services import survey_create

    survey = survey_create(name="Relationship NPS", kind="nps", recurring_months=6)
    active, churned = contact_factory(), contact_factory()
    customer_update(customer=churned.customer, lifecycle_stage="churned")
    recurring_scan()
    assert list(Invitation.objects.filter(survey=survey).values_list("contact_id", flat=True)) == [active.pk]
