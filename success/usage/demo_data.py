"""Demo product usage for `manage.py seed_demo`: a history that fits each customer's stage.

- adopting and mature accounts: steady usage (fewer users at weekends), a few of them slowly slipping;
- onboarding accounts: ramping up from their contract start;
- at-risk accounts: usage declining over the last three months, with more and more days without any;
- churned accounts: usage fading in the months before their (missed) renewal, then nothing; except the ones
  that left for a reason usage cannot show (the business closed, the champion left: read from their churn
  movement, seeded before), whose usage stays steady up to the churn: the surprises a health model misses.

Days older than RAW_DAYS are written straight into the daily rollups (UsageDaily, UsageDailyName) with bulk
inserts, as if their raw events had been rolled up; the last RAW_DAYS days go through the real ingestion service
(usage_events_record) as raw events, so the rollups of those days are the service's own.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.churn import ChurnReason
from crm.models import Contact, LifecycleStage
from success.revenue.models import ArrMovement
from success.usage.models import UsageDaily, UsageDailyName
from success.usage.services import bulk_insert_rows, usage_events_record

HISTORY_DAYS = 300  # covers every month start whose 90 days can hold a demo churn (renewals up to 180 days ago)
RAW_DAYS = 7
DEFAULT_MAX_CUSTOMERS = 1_000
USERS_BY_TIER = {"smb": 6, "mid_market": 20, "enterprise": 60}
# Event names and how many times an active user does each a day (on average).
EVENTS_PER_USER = {"login": 1.0, "report_viewed": 1.5, "report_exported": 0.3, "dashboard_shared": 0.1}


@dataclass
class UsageSeedResult:
    customers: int = 0
    days: int = 0
    raw_events: int = 0
    seconds: float = 0.0


def default_customer_count(customers: int) -> int:
    return min(customers, DEFAULT_MAX_CUSTOMERS)


SURPRISE_REASONS = (ChurnReason.BUSINESS_CLOSED, ChurnReason.CHAMPION_LEFT)


def _level(stage: str, days_ago: int, customer, rng: random.Random, slipping: bool, surprise: bool = False) -> float:
    """Share of the user base active on a day (0-1) for a customer in `stage`, `days_ago` days back."""
    if stage == LifecycleStage.ONBOARDING:
        started = customer.contract_start or (timezone.now().date() - dt.timedelta(days=30))
        since = (timezone.now().date() - dt.timedelta(days=days_ago) - started).days
        return 0.0 if since < 0 else min(0.7, 0.15 + since / 60)
    if stage == LifecycleStage.AT_RISK:
        if days_ago > 90:
            return 0.65
        # Falling over the last 90 days: fewer users, and more and more days when nobody logs in at all (up to
        # one weekday in two by today), as when a team quietly moves back to its spreadsheets.
        return 0.0 if rng.random() < 0.5 * (1 - days_ago / 90) else 0.2 + 0.45 * days_ago / 90
    if stage == LifecycleStage.CHURNED:
        renewal = customer.renewal_date or timezone.now().date()
        days_to_end = (renewal - (timezone.now().date() - dt.timedelta(days=days_ago))).days
        if days_to_end <= 0:
            return 0.0
        if surprise:
            return 0.7
        if days_to_end > 120:
            return 0.6
        fade = days_to_end / 120  # fading before the end: fewer users, and more and more days without any
        return 0.0 if rng.random() > 0.25 + 0.75 * fade else 0.05 + 0.55 * fade
    if slipping:
        return 0.7 if days_ago > 60 else 0.45 + 0.25 * days_ago / 60
    return 0.7


def demo_usage_seed(*, seed: int, customers: QuerySet, max_customers: int | None = None) -> UsageSeedResult:
    started = time.monotonic()
    rng = random.Random(seed * 7919 + 17)
    today = timezone.now().date()
    result = UsageSeedResult()
    chosen = list(customers.order_by("pk")[: max_customers if max_customers is not None else DEFAULT_MAX_CUSTOMERS])
    contacts: dict[int, list[str]] = {}
    for customer_id, email in Contact.objects.filter(customer__in=[c.pk for c in chosen]).values_list(
        "customer_id", "email"
    ):
        contacts.setdefault(customer_id, []).append(email.lower())
    surprises = set(
        ArrMovement.objects.filter(
            customer__in=[c.pk for c in chosen], kind=ArrMovement.Kind.CHURN, churn_reason__in=SURPRISE_REASONS
        ).values_list("customer_id", flat=True)
    )
    daily, by_name, raw = [], [], []
    for customer in chosen:
        users = [*contacts.get(customer.pk, [])]
        base = USERS_BY_TIER.get(customer.tier, 10)
        domain = customer.domain or f"customer{customer.pk}.example.com"
        users += [f"user{n}@{domain}" for n in range(max(0, base - len(users)))]
        slipping = customer.lifecycle_stage in (LifecycleStage.ADOPTING, LifecycleStage.MATURE) and rng.random() < 0.1
        result.customers += 1
        for days_ago in range(HISTORY_DAYS, -1, -1):
            day = today - dt.timedelta(days=days_ago)
            share = _level(customer.lifecycle_stage, days_ago, customer, rng, slipping, customer.pk in surprises)
            if day.weekday() >= 5:
                share *= 0.25
            expected = share * len(users)
            if not expected:  # not a customer yet, or gone: no usage at all
                continue
            n_active = max(0, min(len(users), round(rng.gauss(expected, max(0.5, expected**0.5 / 2)))))
            if not n_active:
                continue
            active = users[:n_active] if days_ago < RAW_DAYS else None
            counts = {
                name: max(0, round(n_active * rate * rng.uniform(0.7, 1.3))) for name, rate in EVENTS_PER_USER.items()
            }
            counts["login"] = max(counts["login"], n_active)
            if days_ago < RAW_DAYS:
                for name, n in counts.items():
                    for i in range(n):
                        moment = dt.datetime.combine(
                            day, dt.time(rng.randint(7, 19), rng.randint(0, 59)), tzinfo=dt.UTC
                        )
                        raw.append(
                            {
                                "id": f"demo-{customer.pk}-{day.isoformat()}-{name}-{i}",
                                "customer": customer.pk,
                                "contact_email": active[i % len(active)],
                                "name": name,
                                "occurred_at": min(moment, timezone.now()).isoformat(),
                                "quantity": 1,
                            }
                        )
                continue
            total = sum(counts.values())
            day_value = connection.ops.adapt_datefield_value(day)
            daily.append((customer.pk, day_value, n_active, total, total))
            by_name += [(customer.pk, day_value, name, n, n) for name, n in counts.items() if n]
            result.days += 1
    # Plain multi-row INSERTs (arrays per column on PostgreSQL): the ORM's bulk_create spent most of the seed
    # time preparing hundreds of thousands of model instances.
    chunk = 20_000 if connection.vendor == "postgresql" else 2_000
    daily_columns = [
        ("customer_id", "bigint"),
        ("day", "date"),
        ("active_users", "integer"),
        ("events", "integer"),
        ("quantity", "bigint"),
    ]
    name_columns = [
        ("customer_id", "bigint"),
        ("day", "date"),
        ("name", "text"),
        ("events", "integer"),
        ("quantity", "bigint"),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for model, columns, rows in ((UsageDaily, daily_columns, daily), (UsageDailyName, name_columns, by_name)):
            for start in range(0, len(rows), chunk):
                bulk_insert_rows(cursor, model, columns, rows[start : start + chunk], "ON CONFLICT DO NOTHING")
    for start in range(0, len(raw), 1000):
        result.raw_events += usage_events_record(events=raw[start : start + 1000]).accepted
    result.seconds = time.monotonic() - started
    return result
