"""Health model validation end to end: real usage rollups read by gather_measures at each month start, and the
seeded demo, on which the default model's red customers churn more often than its green ones.

Crafted history (usage events per day; the model: one component, the usage trend, -50 % scores 0, flat scores
100; red < 50 <= yellow < 75 <= green). Months 2025-01-01 .. 2025-04-01; window 90 days.

    Fading    100/day to 2024-12-31, then 60/day in Jan, 30 in Feb, 10 in Mar, 5 in Apr; churns 2025-04-15
              Jan 1: Dec 2-31 = 3000 vs Nov 2-Dec 1 = 3000: 0 %, green; churn after Jan's window (to 04-01)
              Feb 1: Jan 2-31 = 1800 vs Dec 3-Jan 1 = 2960: -39.2 % -> 21.6, red, churned
              Mar 1: Jan 30-Feb 28 = 960 vs Dec 31-Jan 29 = 1840: -47.8 % -> 4.3, red, churned
              Apr 1: Mar 2-31 = 300 vs Jan 31-Mar 1 = 910: -67 % -> 0, red, churned
    Steady    100/day, never churns                         -> green x4
    Surprise  100/day, churns 2025-04-20 (business closed)  -> green x4, churned in Feb's, Mar's, Apr's windows
    Silent    no usage ever                                 -> unscored x4

red 3 (3 churned): 100 %; green 9 (Fading Jan, Steady 4, Surprise 4), 3 churned: 33.33 %; lift 3.00;
misses: Surprise, last green at 2025-04-01.
"""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import Customer
from crm.services import customer_create
from success.health.definitions import ensure_default_model, health_model_save, latest_version
from success.health.validation import default_period, validate_model
from success.models import HealthScore, UsageDaily
from success.revenue.services import arr_movement_create

pytestmark = pytest.mark.django_db

D = datetime.date
TREND = {"name": "Usage trend", "input": "usage_change", "weight": 1, "method": "linear", "worst": -50, "best": 0}


def usage(customer, start: datetime.date, end: datetime.date, per_day) -> None:
    rows, day = [], start
    while day <= end:
        events = per_day(day)
        if events:
            rows.append(UsageDaily(customer=customer, day=day, active_users=5, events=events, quantity=events))
        day += datetime.timedelta(days=1)
    UsageDaily.objects.bulk_create(rows)


def fading(day: datetime.date) -> int:
    if day.year == 2024:
        return 100
    return {1: 60, 2: 30, 3: 10}.get(day.month, 5 if day < D(2025, 4, 15) else 0)


def test_declining_usage_before_a_churn_is_seen_red_at_the_month_starts_before_it():
    _, version = health_model_save(name="Usage only", lifecycle_stage="adopting", components=[TREND])
    c = {
        name: customer_create(name=name, arr=Decimal("1000"), contract_start=D(2024, 1, 1))
        for name in ("Fading", "Steady", "Surprise", "Silent")
    }
    usage(c["Fading"], D(2024, 10, 1), D(2025, 4, 30), fading)
    usage(c["Steady"], D(2024, 10, 1), D(2025, 4, 30), lambda day: 100)
    usage(c["Surprise"], D(2024, 10, 1), D(2025, 4, 19), lambda day: 100)
    arr_movement_create(customer=c["Fading"], amount=Decimal("-1000"), effective_date=D(2025, 4, 15),
                        churn_reason="adoption")  # fmt: skip
    arr_movement_create(customer=c["Surprise"], amount=Decimal("-1000"), effective_date=D(2025, 4, 20),
                        churn_reason="business_closed")  # fmt: skip

    report = validate_model(version=version, start=D(2025, 1, 1), end=D(2025, 4, 30))

    bands = report["bands"]
    assert (bands["red"]["customers"], bands["red"]["churned"], bands["red"]["churn_rate"]) == (3, 3, Decimal("1"))
    assert (bands["yellow"]["customers"], bands["green"]["customers"], bands["green"]["churned"]) == (0, 9, 3)
    assert bands["green"]["churn_rate"] == Decimal("0.3333")
    assert report["lift"] == Decimal("3.00")
    assert report["unscored"] == 4
    assert report["misses"]["count"] == 1
    assert report["misses"]["customers"][0]["name"] == "Surprise"
    assert report["misses"]["customers"][0]["month"] == D(2025, 4, 1)
    red_months = [row["month"] for row in report["months"] if row["bands"]["red"]["customers"]]
    assert red_months == [D(2025, 2, 1), D(2025, 3, 1), D(2025, 4, 1)]


def test_on_the_seeded_demo_red_customers_churn_more_often_than_green_ones():
    pytest.importorskip("success.health.services")  # helper "engine": the backfill
    out = StringIO()
    # 100 tickets rather than the default 300 (2 a customer): a third of the seeding time. Over seeds 1-4 and 11
    # the red band (30-45 customers) churned 66-74 %, the green one (830-920 customer-months) 0-0.7 %.
    call_command("seed_demo", "--customers", 150, "--tickets", 100, "--seed", 11, "--health-days", 3, stdout=out)
    assert "Scored 150 customers: 3 days of daily health scores backfilled for 150 of them" in out.getvalue()
    live = Customer.objects.filter(arr__gt=0).order_by("pk").first()
    days = sorted(HealthScore.objects.filter(customer=live).values_list("day", flat=True))
    today = timezone.now().astimezone(datetime.UTC).date()
    assert days == [today - datetime.timedelta(days=n) for n in (3, 2, 1, 0)]  # the backfill, then live
    version = latest_version(ensure_default_model())
    start, end = default_period(timezone.localdate())
    report = validate_model(version=version, start=start, end=end)
    red, green = report["bands"]["red"], report["bands"]["green"]
    assert red["customers"] and green["customers"]
    assert red["churned"] > 0
    assert red["churn_rate"] > (green["churn_rate"] or 0)
    assert report["lift"] is None or report["lift"] > 1
