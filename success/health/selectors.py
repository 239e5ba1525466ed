"""Reads of health scores: one customer's health with its explanation and history (the API, the customer page),
counts per band (a CSM's book), the models with their versions (the API), a customer's overrides.

Rules:
- The current score is the customer's `CustomerHealth`; its explanation is the `HealthScore` of the same day.
- `trend` = the current score minus the score of 30 days before the current one (the latest score on or before
  that day, at most a week older); null when there is none.
- History: one point per scored day, oldest first, over the `history_days` up to the current day.
- A fixed number of queries whatever the history length.
"""

import datetime
from decimal import Decimal

from django.db.models import CharField, Count, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce

from success.health.models import (
    Band,
    CustomerHealth,
    HealthModel,
    HealthModelVersion,
    HealthOverride,
    HealthScore,
)

TREND_DAYS = 30
TREND_TOLERANCE_DAYS = 7
COMPONENT_KEYS = (
    "name",
    "input",
    "score",
    "weight",
    "effective_weight",
    "contribution",
    "inputs",
    "missing",
    "overridden",
)


def _float(value) -> float | None:
    return None if value is None else float(value)


def version_summary(version: HealthModelVersion) -> dict:
    return {"model": version.model.name, "number": version.number, "id": version.pk}


def customer_health(customer, *, history_days: int = 90) -> dict | None:
    """The customer's current health with its explanation and history, or None when never scored. 3 queries."""
    current = CustomerHealth.objects.select_related("model_version__model").filter(customer_id=customer.pk).first()
    if current is None:
        return None
    reach = max(history_days, TREND_DAYS + TREND_TOLERANCE_DAYS)
    scores = list(
        HealthScore.objects.filter(
            customer_id=customer.pk,
            day__gte=current.day - datetime.timedelta(days=reach),
            day__lte=current.day,
        )
        .order_by("day")
        .values_list("day", "score", "band")
    )
    explained = (
        HealthScore.objects.filter(customer_id=customer.pk, day=current.day)
        .only("computed_score", "components", "override", "computed_at")
        .first()
    )
    history_from = current.day - datetime.timedelta(days=history_days)
    history = [{"day": day, "score": float(score), "band": band} for day, score, band in scores if day >= history_from]
    trend_day = current.day - datetime.timedelta(days=TREND_DAYS)
    earlier = [
        score
        for day, score, _band in scores
        if trend_day - datetime.timedelta(days=TREND_TOLERANCE_DAYS) <= day <= trend_day
    ]
    trend = float(Decimal(current.score) - earlier[-1]) if earlier else None
    components = []
    for row in (explained.components if explained else []) or []:
        component = {key: row.get(key) for key in COMPONENT_KEYS}
        component["missing"] = bool(component["missing"])
        components.append(component)
    return {
        "score": float(current.score),
        "band": current.band,
        "band_since": current.band_since,
        "day": current.day,
        "trend": trend,
        "model_version": version_summary(current.model_version),
        "bands": current.model_version.definition.get("bands") or {},
        "computed_at": explained.computed_at if explained else current.computed_at,
        "computed_score": _float(explained.computed_score) if explained else float(current.score),
        "override": explained.override if explained else None,
        "components": components,
        "history": history,
    }


def health_band_counts(customers_queryset) -> dict[str, int]:
    """{"red": n, "yellow": n, "green": n, "none": n} over the customers (none: never scored). One query."""
    counts = customers_queryset.order_by().aggregate(
        **{band: Count("pk", filter=Q(health__band=band)) for band in Band.values},
        none=Count("pk", filter=Q(health__isnull=True)),
    )
    return {key: counts[key] or 0 for key in (*Band.values, "none")}


def health_model_list():
    """Models with their versions (newest first) and their working-copy components. 3 queries."""
    return HealthModel.objects.prefetch_related(
        Prefetch("versions", queryset=HealthModelVersion.objects.select_related("created_by").order_by("-number")),
        "components",
    ).order_by("lifecycle_stage", "name")


def health_override_list(*, customer_id: int):
    """A customer's overrides, newest first (open and ended)."""
    return (
        HealthOverride.objects.filter(customer_id=customer_id)
        .select_related("created_by", "ended_by")
        .order_by("-created_at", "-id")
    )


# --- Per-customer expressions over Customer (the outreach audience composes these into one statement) --------


def health_band_subquery():
    """For `Customer` querysets: the customer's current health band (red / yellow / green), "none" when never
    scored."""
    band = CustomerHealth.objects.filter(customer_id=OuterRef("pk")).values("band")[:1]
    return Coalesce(Subquery(band, output_field=CharField()), Value("none"))


def health_score_subquery():
    """For `Customer` querysets: the customer's current health score (0-100), NULL when never scored."""
    return Subquery(CustomerHealth.objects.filter(customer_id=OuterRef("pk")).values("score")[:1])


def customer_health_at(*, customer_id: int, at: datetime.datetime) -> dict | None:
    """The customer's health on the last day scored on or before `at` (UTC day): {"score", "band", "day"}
    (JSON-ready), or None when it was not scored by then. One query."""
    row = (
        HealthScore.objects.filter(customer_id=customer_id, day__lte=at.astimezone(datetime.UTC).date())
        .order_by("-day")
        .values("score", "band", "day")
        .first()
    )
    if row is None:
        return None
    return {"score": float(row["score"]), "band": row["band"], "day": row["day"].isoformat()}


def band_drops(*, customer_ids: list[int], since, limit: int) -> tuple[list, int]:
    """`health.band_changed` timeline events since `since` where a customer of the book dropped a band (green to
    yellow or red, yellow to red), newest first: at most `limit`, with the count. Two queries."""
    from django.db.models import Q

    from crm.models import TimelineEvent

    drops = TimelineEvent.objects.filter(
        kind="health.band_changed", occurred_at__gte=since, customer_id__any_of=customer_ids
    ).filter(
        Q(payload__old_band="green", payload__new_band__in=["yellow", "red"])
        | Q(payload__old_band="yellow", payload__new_band="red")
    )
    rows = list(
        drops.select_related("customer")
        .only("pk", "occurred_at", "payload", "customer__name")
        .order_by("-occurred_at", "-pk")[:limit]
    )
    return rows, drops.count()
