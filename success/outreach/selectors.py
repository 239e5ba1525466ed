"""Reads of outreach rules and records (the API, the admin, the preview; the execution's cooldown test)."""

import datetime as dt

from django.db.models import Exists, OuterRef, QuerySet

from success.outreach.models import RESULTS_ACTED, OutreachRecord, OutreachRule


def rule_list() -> QuerySet[OutreachRule]:
    return OutreachRule.objects.select_related("schedule", "created_by")


def record_list() -> QuerySet[OutreachRecord]:
    return OutreachRecord.objects.select_related("rule", "customer", "contact")


def acted_within(*, rule: OutreachRule, since: dt.datetime) -> Exists:
    """For `Customer` querysets: the rule acted on the customer (a record of RESULTS_ACTED: sent, resent, unknown)
    at or after `since`. The cooldown: since = at - cooldown_days."""
    return Exists(
        OutreachRecord.objects.filter(
            rule_id=rule.pk, customer_id=OuterRef("pk"), result__in=RESULTS_ACTED, created_at__gte=since
        )
    )


def results_since(*, customer_ids: list[int], since: dt.datetime) -> dict[str, int]:
    """Outreach records of the book's customers (`customer_ids`) since `since`, counted by result. One query."""
    from django.db.models import Count

    return dict(
        OutreachRecord.objects.filter(customer_id__any_of=customer_ids, created_at__gte=since)
        .values_list("result")
        .annotate(n=Count("pk"))
        .order_by()
    )
