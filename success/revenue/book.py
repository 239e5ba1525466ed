"""A CSM's book of business: what they own, its ARR, its customers per health band and lifecycle stage, the
renewals coming (with their health band, and counted by 30/60/90-day window) and the open risk tasks. A team
lead's book is their team's (`owner_ids`: crm.home.home_owner_ids). A fixed number of queries whatever the size
of the book."""

import datetime
from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from crm.models import Customer, LifecycleStage, Task
from success.health.selectors import health_band_counts

RENEWAL_WINDOW_DAYS = 90
RENEWAL_WINDOWS = (30, 60, 90)


def book(
    *,
    owner,
    today: datetime.date,
    owner_ids: list[int] | None = None,
    customer_ids: list[int] | None = None,
    limit: int | None = None,
) -> dict:
    """`limit`: at most that many renewal and risk-task rows (the home page shows a few; the counts stay whole).
    `customer_ids`: the book's customers when the caller has them (crm.home.home_customer_ids): the risk tasks are
    then read by customer id, not joined to every customer."""
    owner_ids = owner_ids or [owner.pk]
    owned = (
        Customer.objects.filter(owner_id__in=owner_ids)
        if len(owner_ids) > 1
        else Customer.objects.filter(owner_id=owner_ids[0])
    )
    renewing = {
        f"renewals_{days}": Count(
            "pk",
            filter=Q(renewal_date__gte=today, renewal_date__lte=today + datetime.timedelta(days=days), arr__gt=0),
        )
        for days in RENEWAL_WINDOWS
    }
    stages = {f"stage_{value}": Count("pk", filter=Q(lifecycle_stage=value)) for value in LifecycleStage.values}
    totals = owned.aggregate(customers=Count("pk"), total_arr=Coalesce(Sum("arr"), Decimal("0")), **renewing, **stages)
    horizon = today + datetime.timedelta(days=RENEWAL_WINDOW_DAYS)
    renewals = (
        owned.filter(renewal_date__gte=today, renewal_date__lte=horizon, arr__gt=0)
        .order_by("renewal_date", "pk")
        .values("id", "name", "renewal_date", "arr", band=F("health__band"))
    )
    risks = Task.objects.filter(type=Task.Type.RISK, status=Task.Status.OPEN)
    risks = (
        risks.filter(customer_id__any_of=customer_ids)
        if customer_ids is not None
        else risks.filter(customer__owner_id__in=owner_ids)
    )
    risk_tasks = (
        risks.annotate(customer_name=F("customer__name"))
        .order_by("due_date", "pk")
        .values("id", "customer_id", "customer_name", "reason", "due_date", "priority")
    )
    if limit is not None:
        renewals, risk_tasks = renewals[:limit], risk_tasks[:limit]
    renewals, risk_tasks = list(renewals), list(risk_tasks)
    risk_count = risks.count() if limit is not None else len(risk_tasks)
    return {
        "owner": owner.email,
        "customers": totals.pop("customers"),
        "total_arr": totals.pop("total_arr"),
        "stages": {value: totals.pop(f"stage_{value}") for value in LifecycleStage.values},
        "renewals_by_window": {days: totals.pop(f"renewals_{days}") for days in RENEWAL_WINDOWS},
        "health": health_band_counts(owned),
        "renewals_next_90_days": renewals,
        "open_risk_tasks": risk_tasks,
        "open_risk_task_count": risk_count,
    }


def unowned_customer_count() -> int:
    """Customers nobody owns (not churned): what a team lead or an admin hands out."""
    return Customer.objects.filter(owner__isnull=True).exclude(lifecycle_stage=LifecycleStage.CHURNED).count()
