"""Reads of product usage (health reads usage through these, never the tables)."""

import datetime as dt

from django.db.models import Count, Q, QuerySet, Sum

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
