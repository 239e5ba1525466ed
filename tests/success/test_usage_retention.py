"""Retention of product usage: raw events (and the per-day active-user rows) older than USAGE_RAW_RETENTION_DAYS,
rollups older than two years, deleted by the periodic task in batches."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from success.models import UsageDaily, UsageDailyName, UsageDailyUser, UsageEvent
from success.tasks import prune_usage
from success.usage.services import usage_events_record, usage_prune

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def _events(customer, start: dt.datetime, n: int, prefix: str):
    return [
        {
            "id": f"{prefix}{i}",
            "customer": customer.pk,
            "contact_email": f"u{i}@x.example",
            "name": "login",
            "occurred_at": (start + dt.timedelta(minutes=i)).isoformat(),
        }
        for i in range(n)
    ]


def test_prune_keeps_the_window_and_deletes_in_batches(customer_factory, settings):
    settings.USAGE_RAW_RETENTION_DAYS = 30
    customer = customer_factory()
    old_day = dt.datetime(2026, 5, 15, 8, tzinfo=dt.UTC)  # the window starts 2026-05-16 00:00 UTC
    kept_day = dt.datetime(2026, 5, 16, 0, tzinfo=dt.UTC)
    # Recorded while still inside the window (now = the old day), then time passes.
    usage_events_record(events=_events(customer, old_day, 7, "old"), now=old_day)
    result = usage_events_record(events=_events(customer, kept_day, 3, "new"), now=NOW)
    assert result.accepted == 3
    UsageDaily.objects.create(customer=customer, day=dt.date(2024, 6, 14), events=1, quantity=1)
    UsageDailyName.objects.create(customer=customer, day=dt.date(2024, 6, 14), name="login", events=1, quantity=1)
    UsageDaily.objects.create(customer=customer, day=dt.date(2024, 6, 16), events=2, quantity=2)

    with CaptureQueriesContext(connection) as queries:
        pruned = usage_prune(now=NOW, batch=3)

    assert pruned == {"events": 7, "active_users": 7, "daily": 1, "daily_by_name": 1}
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE") and "usageevent" in q["sql"]]
    assert len(deletes) == 3  # 3 + 3 + 1 rows: one statement per batch
    assert set(UsageEvent.objects.values_list("external_id", flat=True)) == {"new0", "new1", "new2"}
    assert UsageDailyUser.objects.count() == 3
    # Rollups are kept two years: the old raw day is still summarised; the day from 2024-06-14 is gone.
    assert set(UsageDaily.objects.values_list("day", flat=True)) == {
        dt.date(2024, 6, 16),
        old_day.date(),
        kept_day.date(),
    }
    assert UsageDaily.objects.get(day=old_day.date()).events == 7
    # An event of the pruned day is now refused (it could not be deduplicated any more).
    late = usage_events_record(events=_events(customer, old_day, 1, "old"), now=NOW)
    assert late.accepted == 0 and "retention" in late.errors[0]["errors"]["occurred_at"][0]
    assert usage_prune(now=NOW, batch=3) == {"events": 0, "active_users": 0, "daily": 0, "daily_by_name": 0}


def test_prune_task_is_scheduled_and_runs(customer_factory):
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    task = PeriodicTask.objects.get(name="Usage retention")
    assert task.task == "success.usage_prune" and task.crontab is not None
    assert prune_usage() == {"events": 0, "active_users": 0, "daily": 0, "daily_by_name": 0}
