"""Health model validation: would this model have seen the churn coming? A backtest over past month starts.

For each month start D (the 1st of a month) in [start, end]:
- the customers active at D: ARR > 0 at D (the sum of their ARR movements effective on or before D, read through
  success.revenue.selectors.arr_outcomes);
- their band at D as the version computes it from the data as it was at D 00:00 UTC
  (success.health.inputs.gather_measures(at=D) then success.health.scoring.score_customer with the version's
  definition; no overrides: the model is judged, not the CSMs' corrections). A customer with nothing measurable
  is "unscored" and in no band;
- the outcome: churned (a churn movement effective in (D, D + 90 days]), else contracted (a contraction in that
  window), else kept.

One customer-month is one observation: a customer active at 12 month starts counts 12 times. Per band:
churn_rate = churned / customers, churn_or_contraction_rate = (churned + contracted) / customers (null without
customers); lift = red's churn rate / green's (null when green's is 0 or either band is empty): how many times
likelier a red customer was to churn than a green one. Misses: customers who churned within 90 days of a month
start at which the model called them green (each customer once, with the last such month).

The version scores every active customer, whatever its lifecycle stage (past stages are not kept per day).
A month whose 90-day window has not ended yet (`outcome_complete` false) can still gain churns.

Sampling keeps the report quick at 100,000 customers: when more than MAX_SCORED_PER_MONTH customers are active at
a month start, every n-th of them by id is scored (n the smallest step that fits; the same customers month after
month as far as the book allows); the month's `sample_every` says n (1: everyone). Rates are then estimates from
the sample, and the counts are the sample's.

Cost: per month start, one statement for the ARR outcomes, then gather_measures per chunk of 2,000 customers
(a fixed number of statements each) and the scoring in Python.
"""

import datetime
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Customer
from success.health.inputs import gather_measures
from success.health.models import Band, HealthModelVersion
from success.health.scoring import key_event_names, score_customer
from success.revenue.selectors import arr_outcomes, month_starts

WINDOW_DAYS = 90
MAX_MONTHS = 36
CHUNK = 2_000
MAX_SCORED_PER_MONTH = 4_000
MAX_MISSES_LISTED = 50
BANDS = (Band.RED.value, Band.YELLOW.value, Band.GREEN.value)
RATE_PLACES = Decimal("0.0001")


def validation_months(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """The month starts (1st of a month) in [start, end]. ValidationError on "end" when it is before "start",
    on "start" when the period holds no month start or more than MAX_MONTHS."""
    if end < start:
        raise ValidationError({"end": ["The end of the period cannot be before its start."]})
    months = [day for day in month_starts(start, end) if day >= start]
    if not months:
        raise ValidationError({"start": ["The period must include the 1st of a month: the model is tested there."]})
    if len(months) > MAX_MONTHS:
        raise ValidationError({"start": [f"At most {MAX_MONTHS} month starts; this period has {len(months)}."]})
    return months


def default_period(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last 12 full months before `today`'s month."""
    end = today.replace(day=1) - datetime.timedelta(days=1)
    start = end.replace(day=1)
    for _ in range(11):
        start = (start - datetime.timedelta(days=1)).replace(day=1)
    return start, end


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _empty_counts() -> dict[str, dict]:
    return {band: {"customers": 0, "churned": 0, "contracted": 0} for band in BANDS}


def _with_rates(counts: dict) -> dict:
    either = counts["churned"] + counts["contracted"]
    return {
        **counts,
        "churn_or_contraction": either,
        "churn_rate": _rate(counts["churned"], counts["customers"]),
        "churn_or_contraction_rate": _rate(either, counts["customers"]),
    }


def _lift(bands: dict) -> Decimal | None:
    """Red's churn rate over green's, from the counts (not the rounded rates)."""
    red, green = bands[Band.RED], bands[Band.GREEN]
    if not red["customers"] or not green["customers"] or not green["churned"]:
        return None
    ratio = Decimal(red["churned"] * green["customers"]) / Decimal(red["customers"] * green["churned"])
    return ratio.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def validate_model(
    *,
    version: HealthModelVersion,
    start: datetime.date,
    end: datetime.date,
    measures_fn: Callable[..., dict[int, dict]] | None = None,
    today: datetime.date | None = None,
    max_scored: int = MAX_SCORED_PER_MONTH,
) -> dict:
    """The backtest of `version` over the month starts in [start, end] (see the module docstring).

    `measures_fn(*, at, customer_ids, key_event_names) -> {customer id: measures}`: gather_measures (tests
    pass crafted measures). Raises ValidationError naming "start" or "end" on a bad period."""
    months = validation_months(start, end)
    measures_fn = measures_fn or gather_measures
    today = today or timezone.localdate()
    definition = version.definition
    key_events = {
        name
        for component in definition["components"]
        if component["input"] == "key_events_30d"
        for name in key_event_names(component)
    }
    totals, unscored_total = _empty_counts(), 0
    month_rows, misses = [], {}  # misses: customer id -> (last green month, churned on)
    for day in months:
        outcomes = arr_outcomes(day=day, window_days=WINDOW_DAYS)
        at = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
        counts, unscored = _empty_counts(), 0
        active = sorted(outcomes)
        every = max(1, -(-len(active) // max_scored))
        ids = active[::every]
        for offset in range(0, len(ids), CHUNK):
            chunk = ids[offset : offset + CHUNK]
            measures = measures_fn(at=at, customer_ids=chunk, key_event_names=frozenset(key_events))
            for customer_id in chunk:
                scored = score_customer(definition, measures[customer_id], at_day=day, overrides=None)
                if scored is None:
                    unscored += 1
                    continue
                outcome, row = outcomes[customer_id], counts[scored["band"]]
                row["customers"] += 1
                if outcome["churned_on"] is not None:
                    row["churned"] += 1
                    if scored["band"] == Band.GREEN:
                        misses[customer_id] = (day, outcome["churned_on"])
                elif outcome["contracted"]:
                    row["contracted"] += 1
        for band in BANDS:
            for key in ("customers", "churned", "contracted"):
                totals[band][key] += counts[band][key]
        unscored_total += unscored
        month_rows.append(
            {
                "month": day,
                "outcome_complete": day + datetime.timedelta(days=WINDOW_DAYS) < today,
                "active_customers": len(active),
                "sample_every": every,
                "scored_customers": len(ids) - unscored,
                "unscored": unscored,
                "bands": {band: _with_rates(counts[band]) for band in BANDS},
            }
        )
    bands = {band: _with_rates(totals[band]) for band in BANDS}
    return {
        "model": {"id": version.model_id, "name": definition["name"]},
        "version": version.number,
        "start": start,
        "end": end,
        "window_days": WINDOW_DAYS,
        "customer_months": sum(row["customers"] for row in bands.values()) + unscored_total,
        "sampled": any(row["sample_every"] > 1 for row in month_rows),
        "unscored": unscored_total,
        "bands": bands,
        "lift": _lift(bands),
        "misses": _misses(misses),
        "months": month_rows,
    }


def _misses(misses: dict[int, tuple]) -> dict:
    ordered = sorted(misses.items(), key=lambda item: (item[1][0], item[0]))[:MAX_MISSES_LISTED]
    names = dict(Customer.objects.filter(pk__in=[pk for pk, _ in ordered]).values_list("pk", "name"))
    return {
        "count": len(misses),
        "customers": [
            {"customer": pk, "name": names.get(pk, ""), "month": month, "churned_on": churned_on}
            for pk, (month, churned_on) in ordered
        ],
    }
