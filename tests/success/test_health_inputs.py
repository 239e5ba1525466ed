"""Health inputs: what each customer's measures are at an instant, counting only what existed before it, in a
fixed number of statements whatever the number of customers."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.timeline import timeline_record
from success.health.definitions import ensure_default_model, versions_by_stage
from success.health.inputs import TOUCH_KINDS, gather_measures, usage_last_day
from success.health.scoring import score_customer
from success.models import UsageDaily, UsageDailyName
from surveys.models import Response
from surveys.services import invitation_create, survey_create
from tickets.models import SlaTarget
from tickets.services import ticket_change_status, ticket_create, ticket_merge

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
_keys = itertools.count()


def at(days=0, hours=0):
    return AT + dt.timedelta(days=days, hours=hours)


def open_ticket(customer, contact, *, created, priority="normal"):
    return ticket_create(
        customer=customer,
        requester=contact,
        subject="Help",
        body="It does not work",
        priority=priority,
        created_at=created,
        imported=True,
    )


@pytest.fixture
def surveys():
    return {kind: survey_create(name=f"{kind} survey", kind=kind) for kind in ("nps", "csat", "ces")}


def answer(surveys, contact, kind, score, answered_at):
    invitation, _ = invitation_create(
        survey=surveys[kind], contact=contact, trigger="api", trigger_key=f"test:{next(_keys)}"
    )
    return Response.objects.create(
        invitation=invitation,
        survey=surveys[kind],
        customer=contact.customer,
        contact=contact,
        kind=kind,
        score=score,
        answered_at=answered_at,
        updated_at=answered_at,
    )


def breach(ticket, *, due, breached=True):
    return SlaTarget.objects.create(
        ticket=ticket,
        metric=SlaTarget.Metric.NEXT_REPLY,
        cycle=100 + next(_keys),
        target_seconds=3600,
        started_at=due - dt.timedelta(hours=1),
        counted_until=due,
        due_at=due,
        state=SlaTarget.State.BREACHED if breached else SlaTarget.State.MET,
        breached=breached,
    )


def usage_day(customer, day, *, events, users):
    UsageDaily.objects.create(customer=customer, day=day, events=events, active_users=users, quantity=events)


@pytest.fixture
def busy(customer_factory, contact_factory, surveys):
    """A customer with a bit of everything, before and after AT, inside and outside every window."""
    customer = customer_factory(contract_start=dt.date(2026, 1, 1), renewal_date=dt.date(2027, 1, 1))
    contact = contact_factory(customer=customer)
    # Tickets: open at AT -> t1, t2 (urgent), late_solve (urgent, solved after AT), reopened.
    t1 = open_ticket(customer, contact, created=at(-10))
    open_ticket(customer, contact, created=at(-5), priority="urgent")
    solved = open_ticket(customer, contact, created=at(-20), priority="urgent")
    ticket_change_status(ticket=solved, status="solved", at=at(-1))
    late_solve = open_ticket(customer, contact, created=at(-20), priority="urgent")
    ticket_change_status(ticket=late_solve, status="solved", at=at(1))
    closed = open_ticket(customer, contact, created=at(-25))
    ticket_change_status(ticket=closed, status="solved", at=at(-20))
    ticket_change_status(ticket=closed, status="closed", at=at(-15))
    reopened = open_ticket(customer, contact, created=at(-40))
    ticket_change_status(ticket=reopened, status="solved", at=at(-30))
    ticket_change_status(ticket=reopened, status="open", at=at(-1))
    open_ticket(customer, contact, created=at(hours=1), priority="urgent")  # after AT
    duplicate = open_ticket(customer, contact, created=at(-3), priority="urgent")
    ticket_merge(source=duplicate, target=t1)  # merged: lives on in t1, never counted
    # SLA: breached 10 days before (30 and 90), 60 days before (90), 100 days before (neither), due after AT
    # (neither), met (neither).
    for due, breached in ((at(-10), True), (at(-60), True), (at(-100), True), (at(1), True), (at(-5), False)):
        breach(t1, due=due, breached=breached)
    # Surveys: the latest NPS before AT is 4; CSAT in 90 days: 5 and 2; CES: 6.
    answer(surveys, contact, "nps", 9, at(-200))
    answer(surveys, contact, "nps", 4, at(-20))
    answer(surveys, contact, "nps", 10, at(hours=1))
    answer(surveys, contact, "csat", 5, at(-10))
    answer(surveys, contact, "csat", 2, at(-80))
    answer(surveys, contact, "csat", 1, at(-100))
    answer(surveys, contact, "csat", 3, at(hours=1))
    answer(surveys, contact, "ces", 6, at(-1))
    # Usage: the last 30 days are 2026-05-17 .. 2026-06-15 (AT's day), the 30 before 2026-04-17 .. 2026-05-16.
    usage_day(customer, dt.date(2026, 6, 15), events=5, users=2)
    usage_day(customer, dt.date(2026, 6, 1), events=0, users=0)  # a day with no events is not an active day
    usage_day(customer, dt.date(2026, 5, 17), events=10, users=3)
    usage_day(customer, dt.date(2026, 5, 16), events=7, users=1)
    usage_day(customer, dt.date(2026, 4, 17), events=3, users=1)
    usage_day(customer, dt.date(2026, 4, 16), events=100, users=9)  # before both windows
    usage_day(customer, dt.date(2026, 6, 16), events=1000, users=9)  # after AT
    for day, name, events in (
        (dt.date(2026, 6, 10), "report_exported", 4),
        (dt.date(2026, 5, 10), "report_exported", 9),
        (dt.date(2026, 6, 16), "report_exported", 50),
        (dt.date(2026, 6, 12), "login", 7),
    ):
        UsageDailyName.objects.create(customer=customer, day=day, name=name, events=events, quantity=events)
    # Touches: the latest before AT is the note 3 days before; an email sent is not a touch.
    timeline_record(customer=customer, kind="task.done", summary="Called", occurred_at=at(-10))
    timeline_record(customer=customer, kind="note.added", summary="Met them", occurred_at=at(-3))
    timeline_record(customer=customer, kind="email.sent", summary="Newsletter", occurred_at=at(-1))
    timeline_record(customer=customer, kind="note.added", summary="Later", occurred_at=at(hours=2))
    return customer


def test_a_busy_customer_measures_only_what_existed_before_the_instant(busy):
    measures = gather_measures(at=AT, customer_ids=[busy.pk], key_event_names={"report_exported", "invite_sent"})
    assert measures == {
        busy.pk: {
            "open_tickets": 4,
            "urgent_open_tickets": 2,
            "sla_breaches_30d": 1,
            "sla_breaches_90d": 2,
            "nps_latest": 4,
            "nps_latest_at": at(-20).isoformat(),
            "csat_90d_mean": 3.5,
            "csat_90d_count": 2,
            "ces_90d_mean": 6.0,
            "ces_90d_count": 1,
            "usage_ever": True,
            "events_30d": 15,
            "events_prev_30d": 10,
            "user_days_30d": 5,
            "user_days_prev_30d": 2,
            "days_active_30d": 2,
            "key_events_30d": {"report_exported": 4, "invite_sent": 0},
            "last_touch_on": dt.date(2026, 6, 12),
            "last_touch_kind": "note.added",
            "customer_since": dt.date(2026, 1, 1),
            "renewal_date": dt.date(2027, 1, 1),
        }
    }


def test_a_later_instant_sees_what_happened_meanwhile(busy):
    later = gather_measures(at=at(2), customer_ids=[busy.pk])[busy.pk]
    # late_solve was solved, the ticket opened an hour after AT counts; the NPS 10 and the later note are seen.
    assert (later["open_tickets"], later["urgent_open_tickets"]) == (4, 2)
    assert later["nps_latest"] == 10
    assert (later["csat_90d_mean"], later["csat_90d_count"]) == (pytest.approx(10 / 3), 3)
    assert (later["last_touch_on"], later["last_touch_kind"]) == (dt.date(2026, 6, 15), "note.added")
    assert later["events_30d"] == 1015 - 10  # 2026-06-16 joins, 2026-05-17 leaves the last 30 days
    assert later["sla_breaches_30d"] == 2


def test_usage_at_midnight_counts_the_days_before_it_only(busy):
    midnight = dt.datetime(2026, 6, 16, tzinfo=dt.UTC)
    assert usage_last_day(midnight) == dt.date(2026, 6, 15)
    assert usage_last_day(midnight + dt.timedelta(microseconds=1)) == dt.date(2026, 6, 16)
    measures = gather_measures(at=midnight, customer_ids=[busy.pk], key_event_names={"report_exported"})[busy.pk]
    assert measures["events_30d"] == 15 and measures["key_events_30d"] == {"report_exported": 4}
    before_any = gather_measures(at=dt.datetime(2026, 4, 16, tzinfo=dt.UTC), customer_ids=[busy.pk])[busy.pk]
    assert before_any["usage_ever"] is False and before_any["events_prev_30d"] == 0


def test_a_customer_with_nothing_and_one_with_old_usage_only(customer_factory):
    nothing = customer_factory(contract_start=None, renewal_date=None)
    old_usage = customer_factory()
    usage_day(old_usage, dt.date(2025, 1, 1), events=3, users=1)
    timeline_record(customer=nothing, kind="ticket.opened", summary="not a touch", occurred_at=at(-1))
    measures = gather_measures(at=AT, customer_ids=[nothing.pk, old_usage.pk], key_event_names={"login"})
    assert measures[nothing.pk] == {
        "open_tickets": 0,
        "urgent_open_tickets": 0,
        "sla_breaches_30d": 0,
        "sla_breaches_90d": 0,
        "nps_latest": None,
        "nps_latest_at": None,
        "csat_90d_mean": None,
        "csat_90d_count": 0,
        "ces_90d_mean": None,
        "ces_90d_count": 0,
        "usage_ever": False,
        "events_30d": 0,
        "events_prev_30d": 0,
        "user_days_30d": 0,
        "user_days_prev_30d": 0,
        "days_active_30d": 0,
        "key_events_30d": {"login": 0},
        "last_touch_on": None,
        "last_touch_kind": None,
        "customer_since": nothing.created_at.astimezone(dt.UTC).date(),
        "renewal_date": None,
    }
    assert measures[old_usage.pk]["usage_ever"] is True
    assert measures[old_usage.pk]["events_30d"] == measures[old_usage.pk]["events_prev_30d"] == 0
    assert gather_measures(at=AT, customer_ids=[]) == {}


def test_tickets_reopened_after_the_instant_and_solved_without_a_time(customer_factory, contact_factory):
    customer = customer_factory()
    contact = contact_factory(customer=customer)
    reopened_later = open_ticket(customer, contact, created=at(-10))
    ticket_change_status(ticket=reopened_later, status="solved", at=at(-5))
    assert gather_measures(at=AT, customer_ids=[customer.pk])[customer.pk]["open_tickets"] == 0
    ticket_change_status(ticket=reopened_later, status="open", at=at(1))
    # Reopening clears the solved time: the ticket counts as open at AT too (documented in open_ticket_counts).
    assert gather_measures(at=AT, customer_ids=[customer.pk])[customer.pk]["open_tickets"] == 1
    odd = open_ticket(customer, contact, created=at(-3))
    type(odd).objects.filter(pk=odd.pk).update(status="closed")  # no closed time: never open
    assert gather_measures(at=at(2), customer_ids=[customer.pk])[customer.pk]["open_tickets"] == 1


def test_every_id_asked_is_in_the_result_even_a_deleted_customer(customer_factory):
    customer = customer_factory()
    measures = gather_measures(at=AT, customer_ids=[customer.pk, customer.pk + 1000])
    assert set(measures) == {customer.pk, customer.pk + 1000}
    assert measures[customer.pk + 1000]["customer_since"] is None


def test_a_naive_instant_is_refused(customer_factory):
    with pytest.raises(ValueError, match="aware"):
        gather_measures(at=dt.datetime(2026, 6, 15), customer_ids=[customer_factory().pk])


def test_touch_kinds_are_the_csm_touches():
    assert frozenset({"note.added", "task.done", "qbr.held", "ticket.customer_replied", "email.replied"}) == TOUCH_KINDS


def _customers_with_everything(n, customer_factory, contact_factory, surveys):
    ids = []
    for _ in range(n):
        customer = customer_factory()
        contact = contact_factory(customer=customer)
        ticket = open_ticket(customer, contact, created=at(-5), priority="urgent")
        breach(ticket, due=at(-2))
        answer(surveys, contact, "nps", 8, at(-3))
        answer(surveys, contact, "csat", 4, at(-3))
        usage_day(customer, dt.date(2026, 6, 10), events=5, users=1)
        UsageDailyName.objects.create(customer=customer, day=dt.date(2026, 6, 10), name="login", events=2)
        timeline_record(customer=customer, kind="note.added", summary="Hello", occurred_at=at(-4))
        ids.append(customer.pk)
    return ids


@pytest.mark.parametrize("size", [5, 50])
def test_statements_do_not_grow_with_the_number_of_customers(
    size, customer_factory, contact_factory, surveys, django_assert_max_num_queries
):
    ids = _customers_with_everything(size, customer_factory, contact_factory, surveys)
    with django_assert_max_num_queries(8):
        measures = gather_measures(at=AT, customer_ids=ids, key_event_names={"login"})
    assert len(measures) == size
    assert all(m["urgent_open_tickets"] == 1 and m["key_events_30d"] == {"login": 2} for m in measures.values())
    assert all(m["sla_breaches_30d"] == 1 and m["nps_latest"] == 8 for m in measures.values())


def test_the_same_statements_for_5_and_50_customers(customer_factory, contact_factory, surveys):
    ids = _customers_with_everything(50, customer_factory, contact_factory, surveys)
    counts = []
    for chunk in (ids[:5], ids):
        with CaptureQueriesContext(connection) as queries:
            gather_measures(at=AT, customer_ids=chunk, key_event_names={"login"})
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1] == 8


def test_default_model_scores_the_gathered_measures_as_computed_by_hand(busy):
    ensure_default_model()
    definition = versions_by_stage()[""].definition
    measures = gather_measures(at=AT, customer_ids=[busy.pk])[busy.pk]
    result = score_customer(definition, measures, at_day=AT.date(), overrides={})
    by_name = {c["name"]: c["score"] for c in result["components"]}
    # By hand, from the default model (weights out of 100) and the busy customer's data at AT:
    expected = {
        "Open tickets": (50.0, 5),  # 4 open: up to 5 -> 50; 50 x 5 = 250
        "Urgent open tickets": (0.0, 5),  # 2 urgent: above 1 -> 0; 0 x 5 = 0
        "SLA breaches (90 days)": (60.0, 5),  # 2 breaches: up to 2 -> 60; 60 x 5 = 300
        "Latest NPS": (0.0, 20),  # 4, a detractor: up to 6 -> 0; 0 x 20 = 0
        "CSAT (90 days)": (62.5, 10),  # mean 3.5 on 1..5 -> 62.5; 62.5 x 10 = 625
        "CES (90 days)": (83.3, 5),  # 6 on 1..7 -> 83.33 -> 83.3; 83.3 x 5 = 416.5
        "Usage trend": (100.0, 25),  # 15 events against 10: +50 %, above the best (0 %) -> 100; x 25 = 2500
        "Active days (30 days)": (10.0, 5),  # 2 of 20 -> 10; 10 x 5 = 50
        "CSM engagement": (100.0, 10),  # 3 days since the note, better than 14 -> 100; x 10 = 1000
        "Renewal proximity": (100.0, 10),  # 200 days to 2027-01-01 -> 100; x 10 = 1000
    }
    assert by_name == {name: score for name, (score, _) in expected.items()}
    # (250 + 0 + 300 + 0 + 625 + 416.5 + 2500 + 50 + 1000 + 1000) / 100 = 6141.5 / 100 = 61.415 -> 61.4
    total = sum(Decimal(str(score)) * weight for score, weight in expected.values()) / 100
    assert total == Decimal("61.415")
    assert result["score"] == Decimal("61.4") and result["band"] == "yellow"
