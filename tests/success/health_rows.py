"""Health score rows for tests of what users see (API, admin), scored by the real `score_customer` from given
measures, without running the recompute (success.health.services, tested on its own)."""

import datetime

from django.utils import timezone

from success.health.definitions import ensure_default_model, latest_version
from success.health.models import CustomerHealth, HealthScore
from success.health.scoring import score_customer

MEASURES = {
    "open_tickets": 1,
    "urgent_open_tickets": 0,
    "sla_breaches_30d": 0,
    "sla_breaches_90d": 0,
    "nps_latest": 9,
    "nps_latest_at": "2026-11-01T10:00:00+00:00",
    "csat_90d_mean": 4.5,
    "csat_90d_count": 4,
    "ces_90d_mean": None,
    "ces_90d_count": 0,
    "usage_ever": True,
    "events_30d": 90,
    "events_prev_30d": 100,
    "user_days_30d": 60,
    "user_days_prev_30d": 60,
    "days_active_30d": 15,
    "key_events_30d": {},
    "last_touch_on": None,
    "last_touch_kind": None,
    "customer_since": datetime.date(2026, 1, 1),
    "renewal_date": None,
}


def default_version():
    return latest_version(ensure_default_model())


def put_score(customer, *, day: datetime.date, version=None, current: bool = True, overrides=None, **measures):
    """Score `customer` on `day` from MEASURES updated with `measures` (a HealthScore row; with `current`, also
    its CustomerHealth). Returns the HealthScore."""
    version = version or default_version()
    result = score_customer(version.definition, {**MEASURES, **measures}, at_day=day, overrides=overrides)
    now = timezone.now()
    components = [{k: v for k, v in row.items() if k != "value"} for row in result["components"]]
    row, _ = HealthScore.objects.update_or_create(
        customer=customer,
        day=day,
        defaults={
            "score": result["score"],
            "band": result["band"],
            "computed_score": result["computed_score"],
            "model_version": version,
            "components": components,
            "override": result["override"],
            "computed_at": now,
        },
    )
    if current:
        CustomerHealth.objects.update_or_create(
            customer=customer,
            defaults={
                "score": result["score"],
                "band": result["band"],
                "band_since": day,
                "day": day,
                "model_version": version,
                "computed_at": now,
            },
        )
    return row
