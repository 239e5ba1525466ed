"""The QBR planner and reminders are set-based: their statement count does not grow with the number of customers
(10 vs 50), and what they write is right for every customer (one proposal each, stale proposals moved ahead, one
timeline event per change, one reminder per QBR)."""

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import OutboundEmail, Tier, TimelineEvent
from success.qbrs import services
from success.qbrs.models import Qbr
from tests.factories import CustomerFactory

NOW = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)  # a Monday
ZONES = ["America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"]


def make_book(csm, n: int, first: int = 0) -> list:
    """n enterprise customers whose 3-monthly QBR is due soon (contract start 2025-12-20); every other one has a
    proposal left from before whose time has passed."""
    customers = [
        CustomerFactory(
            name=f"Book {first + i:03d}",
            tier=Tier.ENTERPRISE,
            owner=csm,
            timezone=ZONES[i % len(ZONES)],
            contract_start=dt.date(2025, 12, 20),
            renewal_date=dt.date(2027, 6, 1),
        )
        for i in range(n)
    ]
    Qbr.objects.bulk_create(
        Qbr(customer=c, owner=csm, starts_at=NOW - dt.timedelta(days=3), timezone=c.timezone, status="proposed")
        for c in customers[::2]
    )
    return customers


def count_plan(now=NOW) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        result = services.qbr_plan(now=now)
    return len(queries), result


@pytest.mark.django_db
def test_planner_statement_count_is_flat_in_the_number_of_customers(make_staff, django_assert_max_num_queries):
    csm = make_staff("csm", email="csm@example.com")
    small = make_book(csm, 10)
    queries_small, result = count_plan()
    # Stale proposals (every other customer) are moved ahead and meet the cadence; the others get a new proposal.
    assert result == {"proposed": 5, "failed": 0}
    Qbr.objects.all().delete()  # start over: the first 10 without proposals, 20 of the 40 new ones with stale ones
    TimelineEvent.objects.filter(kind__startswith="qbr.").delete()
    big = small + make_book(csm, 40, first=10)
    with django_assert_max_num_queries(queries_small):
        result = services.qbr_plan(now=NOW)
    assert result == {"proposed": 30, "failed": 0}
    for customer in big:
        [qbr] = Qbr.objects.filter(customer=customer)  # exactly one, proposed ahead for the owner
        local = qbr.starts_at.astimezone(ZoneInfo(customer.timezone))
        # 10:00 customer time unless the CSM is busy then with another of these customers (12 or 13 per zone):
        # then another planning hour (services.PLAN_HOURS), never overlapping (test below).
        assert (qbr.status, qbr.owner, qbr.timezone) == ("proposed", csm, customer.timezone)
        assert local.hour in services.PLAN_HOURS
        assert qbr.starts_at > NOW + dt.timedelta(days=6) and local.weekday() < 5
    assert TimelineEvent.objects.filter(kind="qbr.proposed").count() == 30
    moved = TimelineEvent.objects.filter(kind="qbr.rescheduled")
    assert moved.count() == 20
    assert all(e.payload["changes"]["starts_at"][0] == (NOW - dt.timedelta(days=3)).isoformat() for e in moved)
    # Idempotent: a second run the same day proposes nothing, within the same statement budget.
    with django_assert_max_num_queries(queries_small):
        assert services.qbr_plan(now=NOW) == {"proposed": 0, "failed": 0}
    assert Qbr.objects.count() == 50


@pytest.mark.django_db
def test_planner_skips_a_customer_whose_owner_left_and_plans_the_others(make_staff):
    csm, gone = make_staff("csm"), make_staff("csm")
    make_book(csm, 3)
    orphan = CustomerFactory(tier=Tier.ENTERPRISE, owner=gone, contract_start=dt.date(2025, 12, 20))
    gone.is_active = False
    gone.save()
    assert services.qbr_plan(now=NOW) == {"proposed": 1, "failed": 1}
    assert not Qbr.objects.filter(customer=orphan).exists()


@pytest.mark.django_db
def test_reminders_statement_count_is_flat(make_staff, customer_factory, django_assert_max_num_queries):
    csm = make_staff("csm", email="csm@example.com")

    def qbrs_in_14_days(n):
        for _ in range(n):
            customer = customer_factory(owner=csm, timezone="UTC")
            services.qbr_propose(customer=customer, starts_at=NOW + dt.timedelta(days=14, hours=1), now=NOW)

    qbrs_in_14_days(10)
    with CaptureQueriesContext(connection) as queries:
        assert services.qbr_remind(now=NOW) == {"reminders": 10}
    OutboundEmail.objects.all().delete()
    qbrs_in_14_days(40)
    with django_assert_max_num_queries(len(queries)):
        assert services.qbr_remind(now=NOW) == {"reminders": 50}
    with django_assert_max_num_queries(len(queries)):
        assert services.qbr_remind(now=NOW) == {"reminders": 0}  # once each
    emails = OutboundEmail.objects.filter(kind="qbr_reminder")
    assert emails.count() == 50 and {e.to_email for e in emails} == {"csm@example.com"}
    assert all(e.idempotency_key.endswith(":14:2026-03-16") for e in emails)


@pytest.mark.django_db
def test_planner_does_not_double_book_a_csm_across_customers(make_staff):
    """Twelve customers of one CSM in one time zone, all due the same day: their proposals never overlap each other
    (other hours of that day first, then the next weekdays), and none lands on a QBR the CSM already has."""
    csm = make_staff("csm")
    customers = [
        CustomerFactory(
            tier=Tier.ENTERPRISE,
            owner=csm,
            timezone="Europe/Berlin",
            contract_start=dt.date(2025, 12, 20),
            renewal_date=dt.date(2027, 6, 1),
        )
        for _ in range(12)
    ]
    other = CustomerFactory(tier=Tier.SMB, owner=csm, timezone="Europe/Berlin")  # SMB: no cadence of its own
    # The CSM's QBR with another customer at 10:00 Berlin on the day the planner aims at: the 3-monthly cadence from
    # the contract start (2025-12-20) falls on Friday 2026-03-20.
    target = dt.datetime(2026, 3, 20, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    Qbr.objects.create(customer=other, owner=csm, starts_at=target, timezone="Europe/Berlin", status="scheduled")
    assert services.qbr_plan(now=NOW) == {"proposed": 12, "failed": 0}
    mine = sorted(Qbr.objects.filter(owner=csm).exclude(status="cancelled"), key=lambda q: q.starts_at)
    assert len(mine) == 13
    for first, second in itertools.pairwise(mine):
        assert first.ends_at <= second.starts_at, f"{first} overlaps {second}"
    for qbr in Qbr.objects.filter(customer__in=customers):
        local = qbr.starts_at.astimezone(ZoneInfo("Europe/Berlin"))
        assert local.weekday() < 5 and local.hour in services.PLAN_HOURS and local.minute == 0
    # Six hours a day: 10:00 taken, Friday holds five more, Monday six, Tuesday one.
    days = sorted({q.starts_at.astimezone(ZoneInfo("Europe/Berlin")).date() for q in mine})
    assert days == [dt.date(2026, 3, 20), dt.date(2026, 3, 23), dt.date(2026, 3, 24)]
