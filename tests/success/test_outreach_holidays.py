"""Quiet hours skip the holidays of a rule's business calendar, each read as a date in the CUSTOMER'S zone: work
due on a holiday is deferred to the next local business day that is not one (kept pending, never dropped). The
calendar is a field of the rule in the service, the admin and the API; holidays are read once per scan.

Christmas 2026 is a Friday. 2026-12-24 20:00 UTC is 09:00 on Friday 25 December in Pacific/Auckland (UTC+13) and
12:00 on Thursday 24 December in America/Los_Angeles (UTC-8): Auckland's work waits for Monday 28 December
09:00 Auckland time (the UTC date, the 24th, is no holiday); Los Angeles' goes now.
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from crm.models import Task
from success.outreach.definitions import outreach_rule_save
from success.outreach.execution import outreach_tick, rule_scan
from success.outreach.models import OutreachRecord, OutreachRule
from success.outreach.perform import records_perform
from success.outreach.timing import next_business_moment
from tickets.models import BusinessCalendar, Holiday

pytestmark = pytest.mark.django_db
UTC = dt.UTC
AKL, LAX = ZoneInfo("Pacific/Auckland"), ZoneInfo("America/Los_Angeles")


@pytest.fixture
def calendar():
    calendar = BusinessCalendar.objects.create(name="Public holidays", timezone="Europe/London")
    for day in (dt.date(2026, 12, 25), dt.date(2026, 12, 28)):  # Christmas; the 28th: a substitute day
        Holiday.objects.create(calendar=calendar, date=day, name="Holiday")
    return calendar


def rule_with(calendar, **fields):
    rule = outreach_rule_save(
        name="Holiday-aware",
        enabled=True,
        trigger="schedule",
        schedule="0 * * * *",
        actions=[{"action": "task", "title": "Check in", "type": "activity"}],
        quiet_hours=True,
        holiday_calendar=calendar,
        cooldown_days=0,
        **fields,
    )
    OutreachRule.objects.filter(pk=rule.pk).update(enabled_at=dt.datetime(2026, 12, 1, tzinfo=UTC))
    return rule


def test_next_business_moment_skips_local_holidays():
    holidays = frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)})
    at = dt.datetime(2026, 12, 24, 20, 0, tzinfo=UTC)  # Fri 25 Dec 09:00 in Auckland, Thu 24 Dec 12:00 in LA
    assert next_business_moment("Pacific/Auckland", at) == at  # no holidays: a business hour
    assert next_business_moment("Pacific/Auckland", at, holidays) == dt.datetime(2026, 12, 29, 9, tzinfo=AKL)
    assert next_business_moment("America/Los_Angeles", at, holidays) == at


def test_an_action_due_on_a_local_holiday_is_deferred_not_dropped(
    calendar, customer_factory, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    kiwi = customer_factory(name="Kiwi", timezone="Pacific/Auckland")
    surf = customer_factory(name="Surf", timezone="America/Los_Angeles")
    rule = rule_with(calendar)
    at = dt.datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=False):
        with django_assert_max_num_queries(12) as captured:
            summary = rule_scan(rule_id=rule.pk, at=at)
        holiday_reads = [q for q in captured.captured_queries if '"tickets_holiday"' in q["sql"]]
        assert len(holiday_reads) == 1  # once per scan, whatever the number of customers
        assert summary["deferred"] == 1 and summary["due_now"] == 1
        assert records_perform(now=at) == 1  # Los Angeles: Thursday 24th, a business day
        kiwi_record = OutreachRecord.objects.get(customer=kiwi)
        assert kiwi_record.result == "pending"
        # Friday 25th (holiday), the weekend, Monday 28th (holiday): Tuesday 29th 09:00 in Auckland.
        assert kiwi_record.due_at == dt.datetime(2026, 12, 29, 9, 0, tzinfo=AKL)
        assert outreach_tick(at=kiwi_record.due_at - dt.timedelta(minutes=1))["due"] == 0
        assert outreach_tick(at=kiwi_record.due_at)["due"] == 1
        assert records_perform(now=kiwi_record.due_at) == 1
    kiwi_record.refresh_from_db()
    assert kiwi_record.result == "sent"
    assert Task.objects.filter(customer__in=[kiwi, surf], reason="Check in").count() == 2


def test_without_a_calendar_the_holiday_is_a_business_day(
    calendar, customer_factory, django_capture_on_commit_callbacks
):
    kiwi = customer_factory(name="Kiwi", timezone="Pacific/Auckland")
    rule = rule_with(None)
    at = dt.datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=False):
        rule_scan(rule_id=rule.pk, at=at)
    assert OutreachRecord.objects.get(customer=kiwi).due_at == at


def test_the_calendar_needs_quiet_hours_and_must_exist(calendar):
    with pytest.raises(ValidationError) as refused:
        outreach_rule_save(
            name="Loud",
            trigger="schedule",
            schedule="0 9 * * *",
            actions=[{"action": "task", "title": "Call"}],
            quiet_hours=False,
            holiday_calendar=calendar,
        )
    assert "holiday_calendar" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        outreach_rule_save(
            name="Ghost",
            trigger="schedule",
            schedule="0 9 * * *",
            actions=[{"action": "task", "title": "Call"}],
            holiday_calendar=calendar.pk + 100,
        )
    assert "holiday_calendar" in refused.value.message_dict
    assert not OutreachRule.objects.filter(name__in=["Loud", "Ghost"]).exists()
    rule = outreach_rule_save(
        name="By id",
        trigger="schedule",
        schedule="0 9 * * *",
        actions=[{"action": "task", "title": "Call"}],
        holiday_calendar=calendar.pk,
    )
    assert OutreachRule.objects.get(pk=rule.pk).holiday_calendar == calendar


def test_the_api_reads_and_writes_the_calendar(api_client_for, calendar):
    admin = api_client_for("admin")
    body = {"name": "Api", "crontab": "0 9 * * 1-5", "actions": [{"action": "task", "title": "Call"}]}
    created = admin.post("/api/v1/outreach-rules/", body | {"holiday_calendar": calendar.pk}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["holiday_calendar"] == calendar.pk
    url = f"/api/v1/outreach-rules/{created.json()['id']}/"
    refused = admin.patch(url, {"quiet_hours": False}, format="json")
    assert refused.status_code == 400 and "holiday_calendar" in refused.json()
    missing = admin.patch(url, {"holiday_calendar": calendar.pk + 100}, format="json")
    assert missing.status_code == 400 and "holiday_calendar" in missing.json()
    cleared = admin.patch(url, {"holiday_calendar": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["holiday_calendar"] is None


def test_the_admin_editor_sets_the_calendar(admin_client, calendar):
    data = {
        "name": "Admin rule",
        "description": "",
        "trigger": "schedule",
        "crontab": "0 9 * * 1-5",
        "event": "",
        "event_params": "{}",
        "conditions": "{}",
        "actions": json.dumps([{"action": "task", "title": "Call"}]),
        "cooldown_days": "30",
        "cap_per_run": "",
        "quiet_hours": "on",
        "holiday_calendar": str(calendar.pk),
    }
    response = admin_client.post("/admin/success/outreachrule/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert OutreachRule.objects.get(name="Admin rule").holiday_calendar == calendar
    loud = admin_client.post("/admin/success/outreachrule/add/", data | {"name": "Loud", "quiet_hours": ""})
    assert loud.status_code == 200 and "holiday_calendar" in loud.context["adminform"].form.errors
    assert not OutreachRule.objects.filter(name="Loud").exists()
