"""seed_demo's product usage: a history that fits each customer's stage (steady in healthy accounts, declining
before churn), and raw events of the last week whose rollups are the ingestion service's own."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.utils import timezone

from crm.models import Customer, LifecycleStage
from success.models import ArrMovement, UsageDaily, UsageEvent
from success.usage.demo_data import RAW_DAYS, SURPRISE_REASONS

pytestmark = pytest.mark.django_db


def users_between(customer, start_days_ago: int, end_days_ago: int) -> int:
    today = timezone.now().date()
    return (
        UsageDaily.objects.filter(
            customer=customer,
            day__gt=today - dt.timedelta(days=start_days_ago),
            day__lte=today - dt.timedelta(days=end_days_ago),
        ).aggregate(total=Sum("active_users"))["total"]
        or 0
    )


def test_seeded_usage_follows_the_stage():
    out = StringIO()
    call_command(
        "seed_demo", "--customers", 60, "--tickets", 0, "--surveys", 0, "--health-days", 0, "--seed", 5, stdout=out
    )
    assert "Seeded product usage for 60 customers" in out.getvalue()
    by_stage = {}
    for customer in Customer.objects.all():
        by_stage.setdefault(customer.lifecycle_stage, []).append(customer)
    assert by_stage.get(LifecycleStage.CHURNED) and by_stage.get(LifecycleStage.AT_RISK)
    for customer in by_stage.get(LifecycleStage.MATURE, []) + by_stage.get(LifecycleStage.ADOPTING, []):
        assert users_between(customer, 30, 0) > 0
    for customer in by_stage[LifecycleStage.AT_RISK]:
        assert users_between(customer, 30, 0) < users_between(customer, 150, 120)  # declining
    surprises = set(
        ArrMovement.objects.filter(kind="churn", churn_reason__in=SURPRISE_REASONS).values_list("customer", flat=True)
    )
    for customer in by_stage[LifecycleStage.CHURNED]:
        renewal = customer.renewal_date
        assert not UsageDaily.objects.filter(customer=customer, day__gte=renewal, active_users__gt=0).exists()
        if customer.pk in surprises:  # the business closed or the champion left: steady up to the end
            continue
        if (timezone.now().date() - renewal).days < 40:  # its last months are in the history: fading
            assert users_between(customer, (timezone.now().date() - renewal).days + 30, 0) < users_between(
                customer, 180, 150
            )
    # The last week is raw events recorded through the service; its rollups match them.
    since = timezone.now().date() - dt.timedelta(days=RAW_DAYS - 1)
    assert UsageEvent.objects.exists()
    assert not UsageEvent.objects.filter(occurred_at__date__lt=since).exists()
    raw = dict(UsageEvent.objects.values_list("customer_id").annotate(n=Count("id")).values_list("customer_id", "n"))
    rolled = dict(
        UsageDaily.objects.filter(day__gte=since)
        .values_list("customer_id")
        .annotate(n=Sum("events"))
        .values_list("customer_id", "n")
    )
    assert raw == {customer_id: n for customer_id, n in rolled.items() if n}


def test_usage_can_be_left_out():
    call_command(
        "seed_demo",
        "--customers",
        5,
        "--tickets",
        0,
        "--surveys",
        0,
        "--usage",
        0,
        "--health-days",
        0,
        stdout=StringIO(),
    )
    assert not UsageDaily.objects.exists()
