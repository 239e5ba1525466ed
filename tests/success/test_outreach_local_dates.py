"""Outreach conditions and state events count days in each customer's LOCAL dates (Customer.timezone), not UTC's.

The clock: 2026-12-04 00:30 UTC. It is 13:30 on Friday 4 December in Pacific/Auckland (UTC+13) and 16:30 on
Thursday 3 December in America/Los_Angeles (UTC-8). Everything of interest happened at 2026-12-03 10:00 UTC:
23:00 on 3 December in Auckland (1 local day ago) and 02:00 on 3 December in Los Angeles (today, 0 days ago).
By the UTC date both are 1 day ago; by elapsed hours (14.5) both are 0: each gives one wrong answer.
"""

import datetime as dt

import pytest

from crm.models import Customer, Task
from crm.selectors import customer_time_zones
from crm.task_services import task_create
from crm.timeline import timeline_record
from success.models import UsageDaily
from success.outreach.conditions import rule_audience
from success.outreach.definitions import outreach_rule_save
from success.outreach.execution import rule_scan
from success.outreach.models import OutreachRecord
from success.outreach.preview import rule_preview

pytestmark = pytest.mark.django_db
UTC = dt.UTC
AT = dt.datetime(2026, 12, 4, 0, 30, tzinfo=UTC)
THEN = dt.datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
DEC3, DEC4, DEC5 = dt.date(2026, 12, 3), dt.date(2026, 12, 4), dt.date(2026, 12, 5)


@pytest.fixture
def pair(customer_factory):
    """{"akl": Auckland customer, "lax": Los Angeles customer}, both created, moved, touched and active at THEN."""
    akl = customer_factory(name="Kiwi", timezone="Pacific/Auckland", lifecycle_stage="adopting")
    lax = customer_factory(name="Surf", timezone="America/Los_Angeles", lifecycle_stage="adopting")
    Customer.objects.filter(pk__in=[akl.pk, lax.pk]).update(created_at=THEN, renewal_date=DEC3)
    for customer in (akl, lax):
        timeline_record(customer=customer.pk, kind="customer.stage_changed", summary="→ adopting", occurred_at=THEN)
        timeline_record(customer=customer.pk, kind="note.added", summary="call", occurred_at=THEN)
        UsageDaily.objects.create(customer=customer, day=DEC3, events=3)
    return {"akl": akl.pk, "lax": lax.pk}


def leaf(field, op, value):
    return {"field": field, "op": op, "value": value}


CASES = [
    # (condition, who matches by local dates)  -- by the UTC date / by elapsed hours the answer differs
    (leaf("days_since_created", "gte", 1), {"akl"}),
    (leaf("days_since_created", "gt", 0), {"akl"}),
    (leaf("days_since_created", "lt", 1), {"lax"}),
    (leaf("days_since_created", "lte", 0), {"lax"}),
    (leaf("days_in_stage", "gte", 1), {"akl"}),
    (leaf("days_in_stage", "lte", 0), {"lax"}),
    (leaf("days_since_last_touch", "gt", 0), {"akl"}),
    (leaf("days_since_last_touch", "lt", 1), {"lax"}),
    (leaf("days_since_last_usage", "gte", 1), {"akl"}),
    (leaf("days_since_last_usage", "lte", 0), {"lax"}),
    (leaf("renewal_within_days", "lte", 0), {"lax"}),  # renewal on 3 Dec: today in LA, yesterday in Auckland
    (leaf("renewal_within_days", "lte", 30), {"lax"}),
]


@pytest.mark.parametrize(("tree", "expected"), CASES, ids=[f"{t['field']}-{t['op']}-{t['value']}" for t, _ in CASES])
def test_date_conditions_use_the_customers_local_date(pair, tree, expected, django_assert_num_queries):
    with django_assert_num_queries(2):  # the distinct time zones, then the audience: one statement
        got = set(rule_audience(tree, at=AT).values_list("pk", flat=True))
    assert got == {pair[name] for name in expected}


def test_a_zone_the_audience_was_not_told_about_falls_back_to_the_utc_date(pair):
    """zones= given by a caller that read them before a customer in a new zone appeared: UTC, never an error."""
    got = set(rule_audience(leaf("days_since_created", "gte", 1), at=AT, zones=["UTC"]).values_list("pk", flat=True))
    assert got == {pair["akl"], pair["lax"]}  # both are 1 UTC day old


def test_the_preview_lists_the_same_local_audience(pair):
    rule = outreach_rule_save(
        name="Fresh",
        trigger="schedule",
        schedule="0 9 * * *",
        conditions=leaf("days_since_created", "lte", 0),
        actions=[{"action": "task", "title": "Welcome call"}],
    )
    preview = rule_preview(rule, at=AT)
    assert [row["customer"] for row in preview["customers"]] == [pair["lax"]]
    assert preview["totals"]["matching"] == 1


def _event_rule(event, params):
    return outreach_rule_save(
        name=f"State {event} {params}",
        enabled=True,
        trigger="event",
        event=event,
        event_params=params,
        actions=[{"action": "task", "title": "Look", "type": "risk"}],
        quiet_hours=False,
        cooldown_days=0,
    )


def _claimed(rule, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        rule_scan(rule_id=rule.pk, at=AT)
    return set(OutreachRecord.objects.filter(rule=rule).values_list("customer_id", flat=True))


def test_renewal_in_days_counts_from_the_local_date(pair, django_capture_on_commit_callbacks):
    """Renewal on 5 December: 1 day away in Auckland (4 Dec), 2 days away in Los Angeles (3 Dec)."""
    Customer.objects.filter(pk__in=pair.values()).update(renewal_date=DEC5)
    assert _claimed(_event_rule("renewal_in_days", {"days": 2}), django_capture_on_commit_callbacks) == {pair["lax"]}
    assert _claimed(_event_rule("renewal_in_days", {"days": 1}), django_capture_on_commit_callbacks) == {pair["akl"]}


def test_no_usage_and_task_overdue_count_from_the_local_date(pair, django_capture_on_commit_callbacks):
    """Last usage on 3 December: 1 local day ago in Auckland, today in LA. A task due on 3 December is overdue in
    Auckland (4 Dec) and not yet in LA (3 Dec)."""
    assert _claimed(_event_rule("no_usage_days", {"days": 1}), django_capture_on_commit_callbacks) == {pair["akl"]}
    for pk in pair.values():
        task, *_ = task_create(customer=Customer.objects.get(pk=pk), reason="Setup call")
        Task.objects.filter(pk=task.pk).update(due_date=DEC3)
    assert _claimed(_event_rule("task_overdue", {}), django_capture_on_commit_callbacks) == {pair["akl"]}


def test_a_scan_reads_the_time_zones_once_for_conditions_and_schedule(
    pair, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    assert customer_time_zones() == ["America/Los_Angeles", "Pacific/Auckland"]
    Customer.objects.filter(pk__in=pair.values()).update(renewal_date=DEC5)
    rule = outreach_rule_save(
        name="Old enough",
        enabled=True,
        trigger="schedule",
        schedule="30 * * * *",
        conditions={"all": [leaf("days_since_created", "gte", 1), leaf("renewal_within_days", "lte", 5)]},
        actions=[{"action": "task", "title": "Call"}],
        quiet_hours=False,
        cooldown_days=0,
    )
    with django_capture_on_commit_callbacks(execute=False), django_assert_max_num_queries(20) as captured:
        rule_scan(rule_id=rule.pk, at=AT)
    zone_reads = [q["sql"] for q in captured.captured_queries if 'DISTINCT "crm_customer"."timezone"' in q["sql"]]
    assert len(zone_reads) == 1
    assert set(OutreachRecord.objects.filter(rule=rule).values_list("customer_id", flat=True)) == {pair["akl"]}
