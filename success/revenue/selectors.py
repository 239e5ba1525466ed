"""Reads on ARR movements: the movement list, retention over a period (GRR, NRR, logo churn, renewals) and a CSM's
book. Retention is computed in one SQL statement per period (correlated aggregates over the movements), whatever
the number of customers: no per-customer Python loop.

Definitions (PRODUCT.md "Metric definitions"), for a period [start, end], both dates included:
- the cohort: the customers (after the tier / owner filters) whose ARR at the start was > 0, the ARR at a date
  being the sum of the movements effective before it; starting ARR: the sum of their ARR at the start;
- expansion, contraction, churn: the cohort's movements effective in the period, by kind (a reactivation of a
  cohort customer that churned in the period counts as expansion: it brings back revenue of the cohort);
  contraction and churn are reported as positive amounts;
- GRR = (starting ARR - churn - contraction) / starting ARR; NRR = (starting ARR - churn - contraction +
  expansion) / starting ARR; both null when the starting ARR is 0;
- logo churn = cohort customers with a churn movement in the period / cohort customers;
- renewals due: customers whose renewal date (the current one or any earlier value in the customer's history)
  fell in the period; renewed: those of them with ARR > 0 at the period's end whose renewal date has since moved
  past the period's end; churned: those with ARR 0 at the period's end.
- new business: ARR at the end of the customers outside the cohort (new and reactivated during the period),
  reported apart: it is in neither GRR nor NRR.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from crm.models import Customer
from success.revenue.models import ArrMovement

Kind = ArrMovement.Kind
ZERO = Decimal("0")
MONEY = DecimalField(max_digits=16, decimal_places=2)
RATIO_PLACES = Decimal("0.0001")
GROUPS = {"tier": "tier", "owner": "owner__email"}


def arr_movement_list() -> QuerySet[ArrMovement]:
    return ArrMovement.objects.annotate(
        customer_name=F("customer__name"), created_by_email=F("created_by__email")
    )


def _movement_sum(**filters) -> Coalesce:
    movements = (
        ArrMovement.objects.filter(customer=OuterRef("pk"), **filters)
        .order_by()
        .values("customer")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(movements, output_field=MONEY), Value(ZERO), output_field=MONEY)


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


def _customers(*, tier: list[str] | None = None, owner=None) -> QuerySet[Customer]:
    customers = Customer.objects.all()
    if tier:
        customers = customers.filter(tier__in=tier)
    if owner is not None:
        customers = customers.filter(owner=owner)
    return customers


def _annotated(customers: QuerySet[Customer], start: datetime.date, end: datetime.date) -> QuerySet[Customer]:
    in_period = {"effective_date__gte": start, "effective_date__lte": end}
    history = Customer.history.model.objects.filter(id=OuterRef("pk"), renewal_date__gte=start, renewal_date__lte=end)
    return customers.annotate(
        m_start_arr=_movement_sum(effective_date__lt=start),
        m_end_arr=_movement_sum(effective_date__lte=end),
        m_expansion=_movement_sum(kind__in=[Kind.EXPANSION, Kind.REACTIVATION], **in_period),
        m_contraction=_movement_sum(kind=Kind.CONTRACTION, **in_period),
        m_churn=_movement_sum(kind=Kind.CHURN, **in_period),
        m_churned=Exists(ArrMovement.objects.filter(customer=OuterRef("pk"), kind=Kind.CHURN, **in_period)),
        m_renewal_in_history=Exists(history),
    )


def _aggregates(start: datetime.date, end: datetime.date) -> dict:
    # The per-customer figures are annotated as m_*: an aggregate may not share its name with an annotation.
    cohort = Q(m_start_arr__gt=0)
    due = Q(renewal_date__gte=start, renewal_date__lte=end) | Q(m_renewal_in_history=True)
    return {
        "starting_customers": Count("pk", filter=cohort),
        "starting_arr": Coalesce(Sum("m_start_arr", filter=cohort), Value(ZERO), output_field=MONEY),
        "expansion": Coalesce(Sum("m_expansion", filter=cohort), Value(ZERO), output_field=MONEY),
        "contraction": Coalesce(-Sum("m_contraction", filter=cohort), Value(ZERO), output_field=MONEY),
        "churn": Coalesce(-Sum("m_churn", filter=cohort), Value(ZERO), output_field=MONEY),
        "churned_customers": Count("pk", filter=cohort & Q(m_churned=True)),
        "new_business_arr": Coalesce(Sum("m_end_arr", filter=~cohort), Value(ZERO), output_field=MONEY),
        "renewals_due": Count("pk", filter=due),
        "renewals_renewed": Count("pk", filter=due & Q(m_end_arr__gt=0, renewal_date__gt=end)),
        "renewals_churned": Count("pk", filter=due & Q(m_end_arr=0)),
    }


def _finish(row: dict) -> dict:
    start_arr = row["starting_arr"] or ZERO
    lost = row["churn"] + row["contraction"]
    row["ending_arr"] = start_arr - lost + row["expansion"]
    row["grr"] = _ratio(start_arr - lost, start_arr)
    row["nrr"] = _ratio(start_arr - lost + row["expansion"], start_arr)
    row["logo_churn"] = _ratio(row["churned_customers"], row["starting_customers"])
    return row


def retention(
    *, start: datetime.date, end: datetime.date, tier: list[str] | None = None, owner=None, group_by: str | None = None
) -> dict:
    """Retention over [start, end] (see the module docstring), with `groups` per tier or per owner's email when
    `group_by` is "tier" or "owner". One statement for the totals, one for the groups."""
    customers = _annotated(_customers(tier=tier, owner=owner), start, end)
    totals = _finish(customers.aggregate(**_aggregates(start, end)))
    result = {"start": start, "end": end, **totals}
    if group_by:
        key = GROUPS[group_by]
        rows = customers.values(key).annotate(**_aggregates(start, end)).order_by(key)
        result["groups"] = [
            {"key": row.pop(key), **_finish(row)} for row in rows
        ]
    return result


def month_starts(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    months, day = [], start.replace(day=1)
    while day <= end:
        months.append(day)
        day = (day + datetime.timedelta(days=32)).replace(day=1)
    return months


def retention_by_month(*, start: datetime.date, end: datetime.date, tier=None, owner=None) -> list[dict]:
    """One retention row per calendar month overlapping [start, end] (clipped to it): one statement per month."""
    rows = []
    for month in month_starts(start, end):
        month_end = (month + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
        rows.append(retention(start=max(month, start), end=min(month_end, end), tier=tier, owner=owner))
    return rows
