"""Demo health scores for `manage.py seed_demo`: once the tickets, surveys, ARR movements and product usage of
the demo customers are in, score them as the product would have every day of the last `days` days (backfill:
HealthScore history only, no band-change events or risk tasks for the past), then one live recompute that sets
their current health, band-change timeline events and red risk tasks.

Every score goes through success.health.services.health_recompute, the one scoring path.
"""

import datetime as dt
import time
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from success.health.definitions import ensure_default_model
from success.health.services import health_recompute

DEFAULT_DAYS = 90
# The backfill scores each customer once per day: at scale (seed_demo --customers 100000) only the first ones
# (the same as get a usage history) get the daily history; every customer gets the live recompute.
MAX_BACKFILL_CUSTOMERS = 1_000


@dataclass
class HealthSeedResult:
    customers: int = 0
    backfilled: int = 0
    days: int = 0
    scores: int = 0
    seconds: float = 0.0


def demo_health_seed(
    *,
    customers: QuerySet,
    days: int = DEFAULT_DAYS,
    now: dt.datetime | None = None,
    max_backfill: int = MAX_BACKFILL_CUSTOMERS,
) -> HealthSeedResult:
    """Backfill `days` days of daily scores (each scored at the end of its UTC day, from the data as it was
    then) for the first `max_backfill` of `customers`, then recompute all of them live at `now`."""
    started = time.monotonic()
    now = now or timezone.now()
    result = HealthSeedResult()
    ensure_default_model()
    ids = list(customers.order_by("pk").values_list("pk", flat=True))
    result.customers = len(ids)
    if not ids:
        return result
    today = now.astimezone(dt.UTC).date()
    backfilled = ids[:max_backfill]
    result.backfilled = len(backfilled)
    for back in range(days, 0, -1):
        day_end = dt.datetime.combine(today - dt.timedelta(days=back), dt.time(23, 59, 59), tzinfo=dt.UTC)
        outcome = health_recompute(customer_ids=backfilled, at=day_end, backfill=True)
        result.days += 1
        result.scores += _scored(outcome)
    result.scores += _scored(health_recompute(customer_ids=ids, at=now))
    result.seconds = time.monotonic() - started
    return result


def _scored(outcome) -> int:
    if isinstance(outcome, dict):
        return int(outcome.get("scored", 0) or 0)
    return 0
