"""Reads on ARR movements: the movement list, retention over a period (GRR, NRR, logo churn, renewals) and a CSM's
book. Retention is one SQL statement per period (one pass over the movements grouped by customer, summed per
group), whatever the number of customers: no per-customer Python loop.

Definitions (PRODUCT.md "Metric definitions"), for a period [start, end], both dates included:
- the cohort: the customers (after the tier / owner filters) whose ARR at the start was > 0, the ARR at a date
  being the sum of the movements effective before it; starting ARR: the sum of their ARR at the start;
- expansion, contraction, churn: the cohort's movements effective in the period, by kind (a reactivation of a
  cohort customer that churned in the period counts as expansion: it brings back revenue of the cohort);
  contraction and churn are reported as positive amounts;
- GRR = (starting ARR - churn - contraction) / starting ARR; NRR = (starting ARR - churn - contraction +
  expansion) / starting ARR; both null when the starting ARR is 0;
- logo churn = cohort customers with a churn movement in the period / cohort customers;
- renewals due: customers with movements up to the end (i.e. that paid at some point) whose renewal date (the
  current one or any earlier value in the customer's history) fell in the period; renewed: those of them with
  ARR > 0 at the period's end whose renewal date has since moved past the period's end; churned: those with ARR 0
  at the period's end.
- new business: ARR at the end of the customers outside the cohort (new and reactivated during the period),
  reported apart: it is in neither GRR nor NRR.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, DecimalField, F, Max, Min, Q, QuerySet, Sum, Value, When

from crm.models import Customer
from success.revenue.models import ArrMovement

Kind = ArrMovement.Kind
CENTS = Decimal("0.01")
RATIO_PLACES = Decimal("0.0001")


def arr_movement_list() -> QuerySet[ArrMovement]:
    return ArrMovement.objects.annotate(customer_name=F("customer__name"), created_by_email=F("created_by__email"))


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


def _money(value) -> Decimal:
    # PostgreSQL answers Decimal; SQLite a float or an int: back to cents either way.
    return Decimal(str(value or 0)).quantize(CENTS, rounding=ROUND_HALF_UP)


# One pass over the movements grouped by customer (per_customer), joined to the customers for the filters and the
# renewal dates, then summed per group. Plain SQL: the ORM cannot aggregate over a grouped subquery per group.
RETENTION_SQL = """
WITH per_customer AS (
    SELECT m.customer_id,
        SUM(CASE WHEN m.effective_date < %(start)s THEN m.amount ELSE 0 END) AS start_arr,
        SUM(CASE WHEN m.effective_date <= %(end)s THEN m.amount ELSE 0 END) AS end_arr,
        SUM(CASE WHEN m.effective_date >= %(start)s AND m.effective_date <= %(end)s
                  AND m.kind IN ('expansion', 'reactivation') THEN m.amount ELSE 0 END) AS expansion,
        SUM(CASE WHEN m.effective_date >= %(start)s AND m.effective_date <= %(end)s
                  AND m.kind = 'contraction' THEN -m.amount ELSE 0 END) AS contraction,
        SUM(CASE WHEN m.effective_date >= %(start)s AND m.effective_date <= %(end)s
                  AND m.kind = 'churn' THEN -m.amount ELSE 0 END) AS churn,
        MAX(CASE WHEN m.effective_date >= %(start)s AND m.effective_date <= %(end)s
                  AND m.kind = 'churn' THEN 1 ELSE 0 END) AS churned
    FROM {movements} m
    WHERE m.effective_date <= %(end)s
    GROUP BY m.customer_id
), rows AS (
    SELECT {key} AS group_key, pc.*,
        CASE WHEN (c.renewal_date >= %(start)s AND c.renewal_date <= %(end)s) OR EXISTS (
            SELECT 1 FROM {history} h
            WHERE h.id = c.id AND h.renewal_date >= %(start)s AND h.renewal_date <= %(end)s
        ) THEN 1 ELSE 0 END AS due,
        CASE WHEN c.renewal_date > %(end)s THEN 1 ELSE 0 END AS moved_on
    FROM per_customer pc
    JOIN {customers} c ON c.id = pc.customer_id
    LEFT JOIN {users} u ON u.id = c.owner_id
    WHERE 1 = 1 {where}
)
SELECT group_key,
    SUM(CASE WHEN start_arr > 0 THEN 1 ELSE 0 END),
    SUM(CASE WHEN start_arr > 0 THEN start_arr ELSE 0 END),
    SUM(CASE WHEN start_arr > 0 THEN expansion ELSE 0 END),
    SUM(CASE WHEN start_arr > 0 THEN contraction ELSE 0 END),
    SUM(CASE WHEN start_arr > 0 THEN churn ELSE 0 END),
    SUM(CASE WHEN start_arr > 0 THEN churned ELSE 0 END),
    SUM(CASE WHEN start_arr > 0 THEN 0 ELSE end_arr END),
    SUM(due),
    SUM(CASE WHEN due = 1 AND end_arr > 0 AND moved_on = 1 THEN 1 ELSE 0 END),
    SUM(CASE WHEN due = 1 AND end_arr = 0 THEN 1 ELSE 0 END)
FROM rows
GROUP BY group_key
"""
FIGURES = (
    "starting_customers",
    "starting_arr",
    "expansion",
    "contraction",
    "churn",
    "churned_customers",
    "new_business_arr",
    "renewals_due",
    "renewals_renewed",
    "renewals_churned",
)
COUNTS = {"starting_customers", "churned_customers", "renewals_due", "renewals_renewed", "renewals_churned"}


def _rows(*, start, end, tier, owner, group_by) -> list[tuple]:
    quote = connection.ops.quote_name
    key = {None: "NULL", "tier": "c.tier", "owner": "u.email"}[group_by]
    where, params = "", {"start": start, "end": end}
    if tier:
        names = []
        for i, value in enumerate(tier):
            params[f"tier{i}"] = value
            names.append(f"%(tier{i})s")
        where += f" AND c.tier IN ({', '.join(names)})"
    if owner is not None:
        where += " AND c.owner_id = %(owner)s"
        params["owner"] = owner.pk
    sql = RETENTION_SQL.format(
        movements=quote(ArrMovement._meta.db_table),
        history=quote(Customer.history.model._meta.db_table),
        customers=quote(Customer._meta.db_table),
        users=quote(get_user_model()._meta.db_table),
        key=key,
        where=where,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _figures(values) -> dict:
    row = {
        name: int(value or 0) if name in COUNTS else _money(value) for name, value in zip(FIGURES, values, strict=True)
    }
    start_arr = row["starting_arr"]
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
    totals = _rows(start=start, end=end, tier=tier, owner=owner, group_by=None)
    result = {"start": start, "end": end, **_figures(totals[0][1:] if totals else (0,) * len(FIGURES))}
    if group_by:
        rows = _rows(start=start, end=end, tier=tier, owner=owner, group_by=group_by)
        result["groups"] = sorted(
            ({"key": row[0], **_figures(row[1:])} for row in rows), key=lambda g: (g["key"] is None, g["key"] or "")
        )
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


def arr_outcomes(*, day: datetime.date, window_days: int = 90) -> dict[int, dict]:
    """The customers with ARR > 0 at `day` (the sum of their movements effective on or before it) and what
    happened to their revenue in the window (day, day + window_days]: {customer id: {"arr", "churned_on"
    (the first churn in the window or None), "contracted" (a contraction in the window)}}.

    One statement (one pass over the movements up to the window's end, grouped by customer), whatever the number
    of customers. Health model validation reads it once per month start."""
    window_end = day + datetime.timedelta(days=window_days)
    in_window = Q(effective_date__gt=day)
    rows = (
        ArrMovement.objects.filter(effective_date__lte=window_end)
        .values("customer_id")
        .annotate(
            arr=Sum(
                Case(When(effective_date__lte=day, then=F("amount")), default=Value(Decimal("0"))),
                output_field=DecimalField(max_digits=16, decimal_places=2),
            ),
            churned_on=Min(Case(When(in_window & Q(kind=Kind.CHURN), then=F("effective_date")), default=None)),
            contracted=Max(Case(When(in_window & Q(kind=Kind.CONTRACTION), then=Value(1)), default=Value(0))),
        )
        .filter(arr__gt=0)
        .order_by()
    )
    return {
        row["customer_id"]: {
            "arr": _money(row["arr"]),
            "churned_on": _as_date(row["churned_on"]),
            "contracted": bool(row["contracted"]),
        }
        for row in rows
    }


def _as_date(value) -> datetime.date | None:
    # SQLite may answer the aggregated date as a string.
    if value is None or isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))
