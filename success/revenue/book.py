"""A CSM's book of business: what they own, its ARR, its customers per health band, the renewals coming (with
their health band) and the open risk tasks. A fixed number of queries whatever the size of the book."""

import datetime
from decimal import Decimal

from django.db.models import Count, F, Sum
from django.db.models.functions import Coalesce

from crm.models import Customer, Task
from success.health.selectors import health_band_counts

RENEWAL_WINDOW_DAYS = 90


def book(*, owner, today: datetime.date) -> dict:
    owned = Customer.objects.filter(owner=owner)
    totals = owned.aggregate(customers=Count("pk"), total_arr=Coalesce(Sum("arr"), Decimal("0")))
    horizon = today + datetime.timedelta(days=RENEWAL_WINDOW_DAYS)
    renewals = list(
        owned.filter(renewal_date__gte=today, renewal_date__lte=horizon, arr__gt=0)
        .order_by("renewal_date", "pk")
        .values("id", "name", "renewal_date", "arr", band=F("health__band"))
    )
    risk_tasks = list(
        Task.objects.filter(customer__owner=owner, type=Task.Type.RISK, status=Task.Status.OPEN)
        .annotate(customer_name=F("customer__name"))
        .order_by("due_date", "pk")
        .values("id", "customer_id", "customer_name", "reason", "due_date", "priority")
    )
    return {
        "owner": owner.email,
        **totals,
        "health": health_band_counts(owned),
        "renewals_next_90_days": renewals,
        "open_risk_tasks": risk_tasks,
    }
