"""Health writes: recomputing scores (nightly, on request, backfill), recompute requests, and manual overrides.

Rules:
- `health_recompute` scores customers in chunks of CHUNK_SIZE ordered by id. Each chunk takes a fixed number of
  statements whatever its size (gather the measures, the active overrides, the scores already stored that day,
  one upsert of HealthScore; unless backfill: lock-and-read CustomerHealth, one upsert of it, one insert of the
  band-change events), plus one task (crm.task_services.task_create) per customer that dropped to red.
- Which model scores a customer: the latest version of the active model of its lifecycle stage, else the default
  (`versions_by_stage`). Churned customers with no ARR are not scored (they keep their last score).
- A customer with nothing measurable (every input missing) gets no row. Running twice on a day leaves one
  HealthScore per customer for that day (the later computation wins; an older one never overwrites a newer one).
- Unless backfill: CustomerHealth follows the score (band_since kept while the band is unchanged). A change of
  band records `health.band_changed` on the timeline; a change to red opens one high-priority risk task for the
  owner CSM, due in RED_TASK_DUE_DAYS days (task_create never opens a second one while it is open). A customer's
  first score records no event: there is no band to change from. A second run with the same data changes nothing.
- Event-driven recompute: receivers (success.health.receivers) call `health_request_recompute`;
  `health_recompute_pending` (every 30 seconds) drains up to PENDING_BATCH requests. A request re-made while its
  customer was being recomputed survives (its requested_at moved on) and is processed on the next run.
- Overrides apply from their creation until they are ended or their expiry day has passed.
"""

import datetime as dt
import json
import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import Customer, LifecycleStage, Task, TimelineEvent
from crm.task_services import task_create
from crm.timeline import timeline_record, timeline_record_many
from success.health.definitions import version_for_stage, versions_by_stage
from success.health.inputs import gather_measures
from success.health.models import (
    Band,
    CustomerHealth,
    HealthModelVersion,
    HealthOverride,
    HealthRecomputeRequest,
    HealthScore,
)
from success.health.scoring import key_event_names, score_customer

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
PENDING_BATCH = 5000
FORGET_BATCH = 400  # (customer, requested_at) pairs per DELETE statement: 800 parameters, under SQLite's 999
RED_TASK_REASON = "Health dropped to red"
RED_TASK_DUE_DAYS = 2
SCORE_FIELDS = ["score", "band", "computed_score", "model_version", "components", "override", "computed_at"]
CURRENT_FIELDS = ["score", "band", "band_since", "day", "model_version", "computed_at"]


def utc_day(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


# --- recompute ---------------------------------------------------------------------------------------------------


def health_recompute(
    *, customer_ids: list[int] | None = None, at: dt.datetime | None = None, backfill: bool = False
) -> dict:
    """Score `customer_ids` (None: every customer) as of `at` (default now) for at's UTC day and store the scores.

    backfill=True writes only HealthScore (history): no current health, no event, no task. Returns counts:
    customers (looked at), scored, unscored (nothing measurable), skipped (churned without ARR), band_changes,
    risk_tasks (opened), day."""
    at = at or timezone.now()
    day = utc_day(at)
    versions = versions_by_stage()
    key_events = _key_event_names(versions.values())
    stats = {
        "customers": 0,
        "scored": 0,
        "unscored": 0,
        "skipped": 0,
        "band_changes": 0,
        "risk_tasks": 0,
        "day": day.isoformat(),
    }
    for rows in _customer_chunks(customer_ids, at):
        _recompute_chunk(rows, at=at, day=day, versions=versions, key_events=key_events, backfill=backfill, stats=stats)
    return stats


def health_customer_chunks(*, at: dt.datetime | None = None) -> list[list[int]]:
    """The ids of every customer, in chunks of CHUNK_SIZE (the nightly task queues one recompute per chunk)."""
    return [[pk for pk, _, _ in rows] for rows in _customer_chunks(None, at or timezone.now())]


def _key_event_names(versions) -> set[str]:
    names: set[str] = set()
    for version in versions:
        for component in version.definition["components"]:
            if component["input"] == "key_events_30d":
                names.update(key_event_names(component))
    return names


def _customer_chunks(customer_ids, at):
    """Chunks of (id, lifecycle stage, ARR) of customers that existed at `at`, ordered by id; one query each."""
    base = Customer.objects.filter(created_at__lte=at).order_by("pk")
    fields = ("pk", "lifecycle_stage", "arr")
    if customer_ids is not None:
        ids = sorted({int(pk) for pk in customer_ids})
        for start in range(0, len(ids), CHUNK_SIZE):
            rows = list(base.filter(pk__in=ids[start : start + CHUNK_SIZE]).values_list(*fields))
            if rows:
                yield rows
        return
    last = 0
    while True:
        rows = list(base.filter(pk__gt=last).values_list(*fields)[:CHUNK_SIZE])
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _recompute_chunk(rows, *, at, day, versions, key_events, backfill, stats) -> None:
    stats["customers"] += len(rows)
    stages = {}
    for pk, stage, arr in rows:
        if stage == LifecycleStage.CHURNED and arr == 0:
            stats["skipped"] += 1
        else:
            stages[pk] = stage
    if not stages:
        return
    ids = list(stages)
    with transaction.atomic():
        measures = gather_measures(at=at, customer_ids=ids, key_event_names=frozenset(key_events))
        overrides = _active_overrides(ids, at=at, day=day)
        newer = set(
            HealthScore.objects.filter(customer_id__in=ids, day=day, computed_at__gt=at).values_list(
                "customer_id", flat=True
            )
        )
        results = {}
        for pk, stage in stages.items():
            if measures[pk].get("customer_since") is None:  # deleted since its chunk was read
                continue
            version = version_for_stage(versions, stage)
            result = score_customer(version.definition, measures[pk], at_day=day, overrides=overrides.get(pk))
            if result is None:
                stats["unscored"] += 1
                continue
            results[pk] = (version, result)
        stats["scored"] += len(results)
        _upsert_scores(
            [
                {
                    "customer_id": pk,
                    "day": day,
                    "score": result["score"],
                    "band": result["band"],
                    "computed_score": result["computed_score"],
                    "model_version_id": version.pk,
                    "components": _jsonable(result["components"]),
                    "override": _jsonable(result["override"]),
                    "computed_at": at,
                }
                for pk, (version, result) in results.items()
                if pk not in newer
            ]
        )
        if not backfill and results:
            _update_current(results, at=at, day=day, stats=stats)


# PostgreSQL: the rows travel as ONE json document expanded by jsonb_to_recordset. Django's bulk_create sends one
# array per column instead, and quoting kilobytes of JSON per row into a text array costs twice the insert itself.
_UPSERT_SCORES_SQL = """
INSERT INTO success_healthscore
    (customer_id, day, score, band, computed_score, model_version_id, components, override, computed_at)
SELECT customer_id, day, score, band, computed_score, model_version_id, components, override, computed_at
FROM jsonb_to_recordset(%s::jsonb) AS r(
    customer_id bigint, day date, score numeric, band text, computed_score numeric, model_version_id bigint,
    components jsonb, override jsonb, computed_at timestamptz
)
ON CONFLICT (customer_id, day) DO UPDATE SET
    score = EXCLUDED.score, band = EXCLUDED.band, computed_score = EXCLUDED.computed_score,
    model_version_id = EXCLUDED.model_version_id, components = EXCLUDED.components, override = EXCLUDED.override,
    computed_at = EXCLUDED.computed_at
"""


def _upsert_scores(rows: list[dict]) -> None:
    """One statement: insert the day's scores, or replace the ones of the same customer and day."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        document = [
            {
                **row,
                "day": row["day"].isoformat(),
                "score": str(row["score"]),
                "computed_score": str(row["computed_score"]),
                "computed_at": row["computed_at"].isoformat(),
            }
            for row in rows
        ]
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT_SCORES_SQL, [json.dumps(document)])
        return
    HealthScore.objects.bulk_create(
        [HealthScore(**row) for row in rows],
        update_conflicts=True,
        unique_fields=["customer", "day"],
        update_fields=SCORE_FIELDS,
    )


def _jsonable(value):
    """Scores are Decimals in scoring; the stored explanation holds plain JSON numbers."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _active_overrides(ids, *, at, day) -> dict[int, dict[str, dict]]:
    """{customer id: {component name or "": {"score", "reason", "expires_on", "by"}}} applying at `at`."""
    rows = (
        HealthOverride.objects.filter(customer_id__in=ids, created_at__lte=at, expires_on__gte=day)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=at))
        .order_by("created_at", "id")
        .values("customer_id", "component", "score", "reason", "expires_on", "created_by__email")
    )
    found: dict[int, dict[str, dict]] = {}
    for row in rows:  # the latest of a (customer, component) wins
        found.setdefault(row["customer_id"], {})[row["component"]] = {
            "score": row["score"],
            "reason": row["reason"],
            "expires_on": row["expires_on"].isoformat(),
            "by": row["created_by__email"],
        }
    return found


def _update_current(results, *, at, day, stats) -> None:
    """Upsert CustomerHealth; record band changes; open a risk task on a change to red."""
    before = {
        health.customer_id: health
        for health in CustomerHealth.objects.select_for_update()
        .filter(customer_id__in=list(results))
        .order_by("customer_id")  # one lock order: concurrent runs wait for each other instead of deadlocking
    }
    current, events, reds = [], [], []
    for pk, (version, result) in results.items():
        old = before.get(pk)
        if old is not None and (old.day, old.computed_at) > (day, at):
            continue  # a newer computation is already current
        band = result["band"]
        current.append(
            CustomerHealth(
                customer_id=pk,
                score=result["score"],
                band=band,
                band_since=old.band_since if old is not None and old.band == band else day,
                day=day,
                model_version=version,
                computed_at=at,
            )
        )
        if old is None or old.band == band:
            continue
        events.append(_band_event(pk, old=old, band=band, score=result["score"], version=version, at=at))
        if band == Band.RED:
            reds.append(pk)
    CustomerHealth.objects.bulk_create(
        current, update_conflicts=True, unique_fields=["customer"], update_fields=CURRENT_FIELDS
    )
    timeline_record_many(events)
    stats["band_changes"] += len(events)
    for customer in Customer.objects.filter(pk__in=reds).select_related("owner").order_by("pk"):
        _, created = task_create(
            customer=customer,
            reason=RED_TASK_REASON,
            type=Task.Type.RISK,
            priority=Task.Priority.HIGH,
            due_date=day + dt.timedelta(days=RED_TASK_DUE_DAYS),
        )
        stats["risk_tasks"] += int(created)


def _band_event(pk, *, old: CustomerHealth, band: str, score, version: HealthModelVersion, at) -> TimelineEvent:
    return TimelineEvent(
        customer_id=pk,
        kind="health.band_changed",
        occurred_at=at,
        summary=f"Health {old.band} → {band} ({score})",
        payload={
            "old_band": old.band,
            "new_band": band,
            "old_score": float(old.score),
            "new_score": float(score),
            "model_version_id": version.pk,
            "model_version": version.number,
            "model": version.definition.get("name"),
        },
    )


# --- recompute requests ------------------------------------------------------------------------------------------


def health_request_recompute(customer_ids, *, at: dt.datetime | None = None) -> int:
    """Ask for these customers to be recomputed by the next `health_recompute_pending` (within a minute).
    One statement; a request already waiting is moved to now. Returns the number of customers asked."""
    ids = sorted({int(pk) for pk in customer_ids if pk})
    if not ids:
        return 0
    at = at or timezone.now()
    HealthRecomputeRequest.objects.bulk_create(
        [HealthRecomputeRequest(customer_id=pk, requested_at=at) for pk in ids],
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=["requested_at"],
    )
    return len(ids)


def health_recompute_pending(*, customer_ids: list[int] | None = None, limit: int = PENDING_BATCH) -> dict:
    """Recompute the customers waiting for it (the oldest `limit` requests; or only `customer_ids`), then delete
    exactly the requests processed: one made again meanwhile has a newer requested_at and stays."""
    requests = HealthRecomputeRequest.objects.order_by("requested_at", "customer_id")
    if customer_ids is not None:
        requests = requests.filter(customer_id__in=list(customer_ids))
    taken = list(requests.values_list("customer_id", "requested_at")[:limit])
    if not taken:
        return {"requests": 0}
    stats = health_recompute(customer_ids=[pk for pk, _ in taken])
    for start in range(0, len(taken), FORGET_BATCH):
        condition = Q()
        for pk, requested_at in taken[start : start + FORGET_BATCH]:
            condition |= Q(customer_id=pk, requested_at=requested_at)
        HealthRecomputeRequest.objects.filter(condition).delete()
    return {"requests": len(taken), **stats}


def _recompute_on_commit(customer_id: int) -> None:
    """The request row is written in the caller's transaction (durable); the recompute runs right after commit.
    If that fails, it is logged and the pending task retries within a minute."""
    health_request_recompute([customer_id])
    transaction.on_commit(lambda: health_recompute_pending(customer_ids=[customer_id]), robust=True)


# --- overrides ---------------------------------------------------------------------------------------------------


def _whole_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return False
    try:
        return int(value) == value
    except (ValueError, OverflowError):  # NaN, infinity
        return False


def _override_errors(*, customer, score, reason, expires_on, component) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = ["Say why the score is overridden."]
    elif len(reason.strip()) > 500:
        errors["reason"] = ["Ensure this field has no more than 500 characters."]
    if not _whole_number(score) or not 0 <= score <= 100:
        errors["score"] = ["A whole number from 0 to 100."]
    if not isinstance(expires_on, dt.date) or isinstance(expires_on, dt.datetime):
        errors["expires_on"] = ["A date (YYYY-MM-DD)."]
    elif expires_on < utc_day(timezone.now()):
        errors["expires_on"] = ["The expiry date cannot be in the past."]
    if not isinstance(component, str):
        errors["component"] = ["The name of a component, or empty for the whole score."]
    elif component.strip():
        version = version_for_stage(versions_by_stage(), customer.lifecycle_stage)
        names = [c["name"] for c in version.definition["components"]]
        if component.strip() not in names:
            errors["component"] = [f"Not a component of the customer's health model; one of: {', '.join(names)}."]
    return errors


@transaction.atomic
def health_override_create(
    *, customer: Customer, score: int, reason: str, expires_on: dt.date, component: str = "", actor
) -> HealthOverride:
    """Override the customer's whole score (component "") or one component's score until `expires_on` (included).
    Replaces (ends) the open override of the same component, records `health.overridden`, and recomputes the
    customer right after commit. Bad input raises ValidationError naming the field and changes nothing."""
    errors = _override_errors(customer=customer, score=score, reason=reason, expires_on=expires_on, component=component)
    if errors:
        raise ValidationError(errors)
    component, reason, score = component.strip(), reason.strip(), int(score)
    Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one override change at a time
    now = timezone.now()
    actor = actor if getattr(actor, "pk", None) else None
    replaced = list(
        HealthOverride.objects.filter(customer=customer, component=component, ended_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    HealthOverride.objects.filter(pk__in=replaced).update(ended_at=now, ended_by=actor)
    override = HealthOverride(
        customer=customer, component=component, score=score, reason=reason, expires_on=expires_on, created_by=actor
    )
    override.full_clean()
    override.save()
    what = f"component {component}" if component else "score"
    timeline_record(
        customer=customer,
        kind="health.overridden",
        summary=f"Health {what} overridden to {score} until {expires_on.isoformat()}: {reason}",
        actor=actor,
        source=override,
        payload={
            "override_id": override.pk,
            "component": component,
            "score": score,
            "reason": reason,
            "expires_on": expires_on.isoformat(),
            "replaced": replaced,
        },
    )
    _recompute_on_commit(customer.pk)
    return override


@transaction.atomic
def health_override_end(*, override: HealthOverride, actor) -> HealthOverride:
    """End an override now (records `health.override_ended`) and recompute its customer after commit. Ending an
    ended override changes nothing."""
    override = HealthOverride.objects.select_for_update().get(pk=override.pk)
    if override.ended_at is not None:
        return override
    override.ended_at = timezone.now()
    override.ended_by = actor if getattr(actor, "pk", None) else None
    override.save(update_fields=["ended_at", "ended_by"])
    what = f"component {override.component}" if override.component else "score"
    timeline_record(
        customer=override.customer_id,
        kind="health.override_ended",
        summary=f"Health {what} override ended ({override.score}: {override.reason})",
        actor=actor,
        source=override,
        payload={"override_id": override.pk, "component": override.component, "score": override.score},
    )
    _recompute_on_commit(override.customer_id)
    return override
