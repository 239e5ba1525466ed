"""Demo ARR history for seed_demo: every seeded customer gets movements that add up to its ARR, so the retention
report has something to say. Bulk-inserted (like crm.demo_data), deterministic for a seed.

    every customer   "new" at its contract start
    each anniversary before today: an expansion (35 %), a contraction (12 %) or nothing
    at risk          half of them contracted in the last 90 days
    churned          a churn at their (missed) renewal date, with a reason; their ARR becomes 0
    a few churned    came back: a reactivation 30-90 days later (their ARR is the reactivated one)
"""

import datetime
import random
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from crm.churn import ChurnReason
from crm.demo_data import _add_years, _bulk_insert
from crm.models import Customer, LifecycleStage
from success.revenue.models import ArrMovement

Kind = ArrMovement.Kind
HUNDRED = Decimal("100")
REASONS = [
    (ChurnReason.PRICE, 30),
    (ChurnReason.ADOPTION, 25),
    (ChurnReason.COMPETITOR, 20),
    (ChurnReason.PRODUCT_FIT, 10),
    (ChurnReason.SUPPORT, 5),
    (ChurnReason.BUSINESS_CLOSED, 5),
    (ChurnReason.CHAMPION_LEFT, 5),
]
NOTES = {
    ChurnReason.PRICE: "Budget cut at renewal.",
    ChurnReason.ADOPTION: "Usage never took off after onboarding.",
    ChurnReason.COMPETITOR: "Moved to a cheaper competitor.",
}


@dataclass
class RevenueSeedResult:
    movements: int = 0
    churned: int = 0
    reactivated: int = 0
    seconds: float = 0.0


def _round(value: Decimal) -> Decimal:
    return max(HUNDRED, (value / HUNDRED).quantize(Decimal("1"), rounding=ROUND_HALF_UP) * HUNDRED)


def _history(rng: random.Random, row: dict, today: datetime.date) -> tuple[list[tuple], Decimal]:
    """(effective_date, amount, churn_reason, note) rows for one customer, and its ARR after them."""
    start, arr, stage = row["contract_start"] or today, row["arr"], row["lifecycle_stage"]
    churned = stage == LifecycleStage.CHURNED and row["renewal_date"] and row["renewal_date"] <= today
    end = row["renewal_date"] if churned else today
    anniversaries = []
    year = 1
    while (day := _add_years(start, year)) < end:
        anniversaries.append(day)
        year += 1
    # Walk back from the ARR the customer has (had, for a churned one) to the ARR it started with.
    changes, current = [], arr
    for day in reversed(anniversaries):
        draw = rng.random()
        if draw < 0.35:
            previous = _round(current / Decimal(str(1 + rng.uniform(0.1, 0.5))))
        elif draw < 0.47:
            previous = _round(current * Decimal(str(1 + rng.uniform(0.1, 0.3))))
        else:
            continue
        if previous != current:
            changes.append((day, current - previous, "", ""))
            current = previous
    rows = [(start, current, "", ""), *reversed(changes)]
    if stage == LifecycleStage.AT_RISK and rng.random() < 0.5 and arr > HUNDRED:
        cut = _round(arr * Decimal(str(rng.uniform(0.1, 0.4))))
        if cut < arr:
            # After every earlier movement, so the history stays in date order.
            day = max(rows[-1][0] + datetime.timedelta(days=1), today - datetime.timedelta(days=rng.randint(5, 90)))
            if day <= today:
                rows.append((day, -cut, "", "Seats reduced."))
                arr -= cut
    if churned:
        reason = rng.choices([r for r, _ in REASONS], [w for _, w in REASONS])[0]
        rows.append((end, -arr, reason, NOTES.get(reason, "")))
        arr = Decimal("0")
        if rng.random() < 0.1:
            back = end + datetime.timedelta(days=rng.randint(30, 90))
            if back <= today:
                arr = _round(row["arr"] * Decimal("0.8"))
                rows.append((back, arr, "", "Came back on a smaller plan."))
    return rows, arr


def demo_revenue_seed(*, seed: int, customers, batch_size: int = 5000) -> RevenueSeedResult:
    started = time.perf_counter()
    rng = random.Random(f"revenue-{seed}")
    today = timezone.localdate()
    result = RevenueSeedResult()
    fields = ("pk", "arr", "lifecycle_stage", "contract_start", "renewal_date")
    with transaction.atomic():
        movements, new_arr = [], {}
        for row in customers.filter(arr__gt=0).order_by("pk").values(*fields).iterator(chunk_size=batch_size):
            history, arr = _history(rng, row, today)
            balance, churned = Decimal("0"), False
            for day, amount, reason, note in history:
                before, balance = balance, balance + amount
                if before == 0:
                    kind = Kind.REACTIVATION if churned else Kind.NEW
                elif balance == 0:
                    kind, churned = Kind.CHURN, True
                else:
                    kind = Kind.EXPANSION if amount > 0 else Kind.CONTRACTION
                movements.append(
                    ArrMovement(
                        customer_id=row["pk"],
                        kind=kind,
                        amount=amount,
                        arr_after=balance,
                        effective_date=day,
                        churn_reason=reason,
                        churn_note=note,
                        source=ArrMovement.Source.IMPORT,
                    )
                )
            result.churned += churned
            result.reactivated += churned and arr > 0
            if arr != row["arr"]:
                new_arr[row["pk"]] = arr
            if len(movements) >= batch_size:
                _bulk_insert(ArrMovement, movements, batch_size)
                result.movements += len(movements)
                movements = []
        _bulk_insert(ArrMovement, movements, batch_size)
        result.movements += len(movements)
        by_value: dict[Decimal, list[int]] = {}
        for pk, arr in new_arr.items():
            by_value.setdefault(arr, []).append(pk)
        for arr, pks in by_value.items():
            for i in range(0, len(pks), batch_size):
                Customer.objects.filter(pk__in=pks[i : i + batch_size]).update(arr=arr)
    result.seconds = time.perf_counter() - started
    return result
