"""Playbook reports: time to value and friction.

Time to value (TTV) of a completed run: calendar days from its start (`started_on`, the customer's local date)
to the day its run completed (the final milestone, or its last step) in the customer's time zone. A
distribution over runs: count, median, p90 (nearest rank: the ceil(0.9 n)-th smallest value) and the share
finished within 30 days, whose denominator is the runs that are *decided*: finished, or started at least 30 days
ago (a run younger than that and still going may yet make it, so it counts in neither part).

Friction, per step of a template (grouped by position and title, over all its runs and versions):
    runs      runs that had the step
    late      done after its due date, or still pending past it (runs still active only)
    skipped   skipped by a person (steps closed because their run ended are not counted)
    redated   re-dated at least once
    median_delay   median of max(0, done day - due day) in days over the steps done
"""

import datetime as dt
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.utils import timezone

from success.playbooks.models import PlaybookRun, PlaybookTemplate, RunStep
from success.playbooks.selectors import run_time_to_value_days
from success.playbooks.services import RUN_COMPLETED

WITHIN_DAYS = 30


def _local_date(moment: dt.datetime, zone: str) -> dt.date:
    try:
        return moment.astimezone(ZoneInfo(zone or "UTC")).date()
    except (ValueError, KeyError):
        return moment.astimezone(dt.UTC).date()


def _p90(values: list[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.9 * len(ordered)), 1) - 1]


@dataclass
class Distribution:
    finished: int = 0
    median_days: float | None = None
    p90_days: int | None = None
    decided: int = 0
    within_30: int = 0
    days: list[int] = field(default_factory=list, repr=False)

    @property
    def share_within_30(self) -> float | None:
        return round(self.within_30 / self.decided, 4) if self.decided else None


def _distribution(rows: list[tuple[int | None, bool]]) -> Distribution:
    """rows: (ttv days or None when not finished, decided)."""
    days = [d for d, _ in rows if d is not None]
    result = Distribution(finished=len(days), days=days)
    result.median_days = statistics.median(days) if days else None
    result.p90_days = _p90(days)
    result.decided = sum(1 for _, decided in rows if decided)
    result.within_30 = sum(1 for d, decided in rows if decided and d is not None and d <= WITHIN_DAYS)
    return result


@dataclass
class TimeToValue:
    per_run: list[dict]
    by_template: dict[str, Distribution]
    by_csm: dict[str, Distribution]
    overall: Distribution


def time_to_value(
    *,
    template: PlaybookTemplate | None = None,
    today: dt.date | None = None,
    started_from: dt.date | None = None,
    started_to: dt.date | None = None,
    owner_email: str | None = None,
) -> TimeToValue:
    """Over the runs (not cancelled) of `template` (default every template) started in [started_from,
    started_to] (the customer's local dates, both included) and owned by the CSM of `owner_email`; one query."""
    runs = PlaybookRun.objects.exclude(status=PlaybookRun.Status.CANCELLED).select_related(
        "template", "customer", "owner"
    )
    if template is not None:
        runs = runs.filter(template=template)
    if started_from is not None:
        runs = runs.filter(started_on__gte=started_from)
    if started_to is not None:
        runs = runs.filter(started_on__lte=started_to)
    if owner_email:
        runs = runs.filter(owner__email__iexact=owner_email)
    today = today or timezone.localdate()
    per_run, by_template, by_csm, overall = [], defaultdict(list), defaultdict(list), []
    for run in runs.order_by("pk").iterator(chunk_size=2000):
        days = run_time_to_value_days(run)
        completed_on = run.started_on + dt.timedelta(days=days) if days is not None else None
        decided = days is not None or (today - run.started_on).days >= WITHIN_DAYS
        row = (days, decided)
        per_run.append(
            {
                "run": run.pk,
                "customer": run.customer.name,
                "customer_id": run.customer_id,
                "template": run.template.name,
                "owner": run.owner.email if run.owner else None,
                "status": run.status,
                "started_on": run.started_on,
                "completed_on": completed_on,
                "days": days,
                "within_30": None if not decided else days is not None and days <= WITHIN_DAYS,
            }
        )
        by_template[run.template.name].append(row)
        by_csm[run.owner.email if run.owner else ""].append(row)
        overall.append(row)
    return TimeToValue(
        per_run=per_run,
        by_template={name: _distribution(rows) for name, rows in sorted(by_template.items())},
        by_csm={email: _distribution(rows) for email, rows in sorted(by_csm.items())},
        overall=_distribution(overall),
    )


@dataclass
class StepFriction:
    position: int
    title: str
    runs: int = 0
    late: int = 0
    skipped: int = 0
    redated: int = 0
    median_delay: float | None = None


def friction(*, template: PlaybookTemplate, today: dt.date | None = None) -> list[StepFriction]:
    rows = (
        RunStep.objects.filter(run__template=template)
        .exclude(run__status=PlaybookRun.Status.CANCELLED)
        .values_list(
            "position",
            "title",
            "status",
            "due_date",
            "completed_at",
            "redated_count",
            "skip_reason",
            "run__status",
            "run__customer__timezone",
        )
        .order_by("position", "title")
    )
    steps: dict[tuple[int, str], StepFriction] = {}
    delays: dict[tuple[int, str], list[int]] = defaultdict(list)
    for position, title, status, due, completed_at, redated, reason, run_status, zone in rows.iterator(chunk_size=5000):
        key = (position, title)
        entry = steps.setdefault(key, StepFriction(position=position, title=title))
        entry.runs += 1
        entry.redated += redated > 0
        local_today = today or _local_date(timezone.now(), zone)
        if status == RunStep.Status.DONE and completed_at:
            delay = (_local_date(completed_at, zone) - due).days
            delays[key].append(max(delay, 0))
            entry.late += delay > 0
        elif status == RunStep.Status.SKIPPED and reason != RUN_COMPLETED:
            entry.skipped += 1
        elif status == RunStep.Status.PENDING and run_status == PlaybookRun.Status.ACTIVE and due < local_today:
            entry.late += 1
    for key, entry in steps.items():
        entry.median_delay = statistics.median(delays[key]) if delays[key] else None
    return list(steps.values())
