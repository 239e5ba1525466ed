"""Reads of product usage (health reads usage through these, never the tables)."""

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum

from crm.models import Customer
from success.usage.models import UsageDaily, UsageDailyName, UsageEvent


def usage_event_list() -> QuerySet[UsageEvent]:
    return UsageEvent.objects.select_related("customer", "contact")


def usage_daily_list(*, customer_id: int | None = None) -> QuerySet[UsageDaily]:
    queryset = UsageDaily.objects.select_related("customer")
    return queryset if customer_id is None else queryset.filter(customer_id=customer_id)


def usage_totals_by_customer(*, start: dt.date, end: dt.date, customer_ids=None) -> QuerySet:
    """Per customer over [start, end) (UTC days): days_active, events, quantity and user_days, in one
    set-based query (the shape health's adoption input needs for 'last 30 days against the 30 before')."""
    queryset = UsageDaily.objects.filter(day__gte=start, day__lt=end)
    if customer_ids is not None:
        queryset = queryset.filter(customer_id__in=customer_ids)
    return (
        queryset.values("customer_id")
        .annotate(
            days_active=Count("id", filter=Q(events__gt=0)),
            events=Sum("events"),
            quantity=Sum("quantity"),
            user_days=Sum("active_users"),  # active users summed over the days
        )
        .order_by("customer_id")
    )


def usage_events_by_name(*, start: dt.date, end: dt.date, names=None, customer_ids=None) -> QuerySet:
    """Per customer and event name over [start, end): events and quantity (key events for adoption)."""
    queryset = UsageDailyName.objects.filter(day__gte=start, day__lt=end)
    if names is not None:
        queryset = queryset.filter(name__in=names)
    if customer_ids is not None:
        queryset = queryset.filter(customer_id__in=customer_ids)
    return (
        queryset.values("customer_id", "name")
        .annotate(events=Sum("events"), quantity=Sum("quantity"))
        .order_by("customer_id", "name")
    )


def usage_windows_by_customer(*, customer_ids: list[int], last_day: dt.date, days: int = 30) -> dict[int, dict]:
    """{customer id: {"events", "user_days", "days_active", "events_prev", "user_days_prev"}} over the `days`
    UTC days ending with `last_day` (inclusive) and the `days` before them, in one statement. Customers with no
    rollup in either window are left out."""
    first_current = last_day - dt.timedelta(days=days - 1)
    first_previous = first_current - dt.timedelta(days=days)
    current = Q(day__gte=first_current)
    previous = Q(day__lt=first_current)
    rows = (
        UsageDaily.objects.filter(customer_id__any_of=customer_ids, day__gte=first_previous, day__lte=last_day)
        .values("customer_id")
        .annotate(
            w_events=Sum("events", filter=current),
            w_user_days=Sum("active_users", filter=current),
            w_days_active=Count("id", filter=current & Q(events__gt=0)),
            w_events_prev=Sum("events", filter=previous),
            w_user_days_prev=Sum("active_users", filter=previous),
        )
        .order_by()
    )
    fields = ("events", "user_days", "days_active", "events_prev", "user_days_prev")
    return {row["customer_id"]: {f: row[f"w_{f}"] or 0 for f in fields} for row in rows}


def usage_customers_ever(*, customer_ids: list[int], last_day: dt.date) -> set[int]:
    """The customers (of those given) with any usage rollup on or before `last_day`, in one statement: an
    index probe per customer on (customer, day), not a scan of their history."""
    ever = UsageDaily.objects.filter(customer_id=OuterRef("pk"), day__lte=last_day)
    return set(Customer.objects.filter(pk__any_of=customer_ids).filter(Exists(ever)).values_list("pk", flat=True))


def last_usage_day_subquery() -> Subquery:
    """For `Customer` querysets: the last UTC day with any usage (NULL when never); an index probe on the
    (customer, day) unique index."""
    latest = UsageDaily.objects.filter(customer_id=OuterRef("pk"), events__gt=0).order_by("-day")
    return Subquery(latest.values("day")[:1])


def customer_usage_summary(*, customer_id: int, last_day: dt.date, days: int = 90, top: int = 5) -> dict:
    """One customer's usage for the customer page: the `days` UTC days ending with `last_day` (each day's active
    users and events, 0 where nothing was rolled up), the last 30 days against the 30 before, the last day with
    usage, and the `top` features (event names) of the last 30 days. Four statements."""
    first = last_day - dt.timedelta(days=days - 1)
    rows = {
        row["day"]: row
        for row in UsageDaily.objects.filter(customer_id=customer_id, day__gte=first, day__lte=last_day).values(
            "day", "active_users", "events"
        )
    }
    series = [
        {
            "day": day,
            "active_users": rows[day]["active_users"] if day in rows else 0,
            "events": rows[day]["events"] if day in rows else 0,
        }
        for day in (first + dt.timedelta(days=n) for n in range(days))
    ]
    window = usage_windows_by_customer(customer_ids=[customer_id], last_day=last_day).get(customer_id, {})
    last_used = (
        UsageDaily.objects.filter(customer_id=customer_id, day__lte=last_day, events__gt=0)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    features = list(
        usage_events_by_name(
            start=last_day - dt.timedelta(days=29), end=last_day + dt.timedelta(days=1), customer_ids=[customer_id]
        )
        .order_by("-events", "name")
        .values_list("name", "events")[:top]
    )
    return {"series": series, "window": window, "last_used": last_used, "features": features}
