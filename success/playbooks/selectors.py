"""Reads of playbooks: list querysets with what a page needs, and a run's progress.

Progress of a run (computed from its steps, no query when they are prefetched):
    done / skipped / total, closed = done + skipped
    days_late: the most days any pending step is past its due date (calendar days, the customer's local date)
    state: "completed" / "cancelled" for a finished run, else "on_track" (nothing overdue), "at_risk" (overdue by
           at most PLAYBOOK_AT_RISK_DAYS, default 2) or "late" (more)
    next_step: the first pending step by due date
Time to value of a completed run (run_time_to_value_days): calendar days from `started_on` to the customer's local
date of `completed_at` (the reports' definition, success/playbooks/reports.py).
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)

from crm.models import LifecycleStage
from success.playbooks.models import PlaybookRun, PlaybookStep, PlaybookTemplate, PlaybookVersion, RunStep
from success.playbooks.services import customer_today


class RunState(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    LATE = "late", "Late"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


def at_risk_days() -> int:
    return int(getattr(settings, "PLAYBOOK_AT_RISK_DAYS", 2))


def playbook_list() -> QuerySet[PlaybookTemplate]:
    return PlaybookTemplate.objects.prefetch_related(
        Prefetch("steps", queryset=PlaybookStep.objects.order_by("position", "id")),
        Prefetch(
            "versions",
            queryset=PlaybookVersion.objects.only("id", "template_id", "number", "created_at").order_by("-number"),
        ),
    )


def run_list() -> QuerySet[PlaybookRun]:
    return PlaybookRun.objects.select_related("template", "version", "customer", "owner").prefetch_related(
        Prefetch("steps", queryset=RunStep.objects.select_related("assignee").order_by("position"))
    )


@dataclass(frozen=True)
class Progress:
    done: int
    skipped: int
    total: int
    days_late: int
    state: str
    next_step: RunStep | None

    @property
    def closed(self) -> int:
        return self.done + self.skipped


def run_progress(run: PlaybookRun, *, today: dt.date | None = None) -> Progress:
    steps = list(run.steps.all())
    today = today or customer_today(run.customer)
    pending = [s for s in steps if s.status == RunStep.Status.PENDING]
    done = sum(1 for s in steps if s.status == RunStep.Status.DONE)
    skipped = sum(1 for s in steps if s.status == RunStep.Status.SKIPPED)
    days_late = max([(today - s.due_date).days for s in pending if s.due_date < today] or [0])
    if run.status != PlaybookRun.Status.ACTIVE:
        state = run.status
    elif days_late == 0:
        state = "on_track"
    elif days_late <= at_risk_days():
        state = "at_risk"
    else:
        state = "late"
    next_step = min(pending, key=lambda s: (s.due_date, s.position), default=None)
    return Progress(done=done, skipped=skipped, total=len(steps), days_late=days_late, state=state, next_step=next_step)


def run_time_to_value_days(run: PlaybookRun) -> int | None:
    """Days from the run's start to its completion in the customer's zone; None while it is not completed."""
    if run.status != PlaybookRun.Status.COMPLETED or run.completed_at is None:
        return None
    try:
        zone = ZoneInfo(run.customer.timezone or "UTC")
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return (run.completed_at.astimezone(zone).date() - run.started_on).days


CUSTOMER_STATUS_RUNS = 10


def customer_playbook_status(*, customer_id: int, today: dt.date | None = None) -> list[dict]:
    """The customer's active and completed playbook runs, newest first (at most CUSTOMER_STATUS_RUNS), JSON-ready:
    template, version, status, progress done/total, state (on track / at risk / late / completed), days late, the
    next step and, for a completed run, its time to value. Three queries whatever the number of steps."""
    runs = (
        run_list()
        .filter(customer_id=customer_id, status__in=[PlaybookRun.Status.ACTIVE, PlaybookRun.Status.COMPLETED])
        .order_by("-started_at", "-pk")[:CUSTOMER_STATUS_RUNS]
    )
    rows = []
    for run in runs:
        progress = run_progress(run, today=today)
        next_step = progress.next_step
        rows.append(
            {
                "run_id": run.pk,
                "template": run.template.name,
                "version": run.version.number,
                "status": run.status,
                "started_on": run.started_on.isoformat(),
                "completed_at": run.completed_at.isoformat() if run.completed_at else None,
                "done": progress.done,
                "skipped": progress.skipped,
                "total": progress.total,
                "state": progress.state,
                "state_label": RunState(progress.state).label,
                "days_late": progress.days_late,
                "next_step": {"title": next_step.title, "due_date": next_step.due_date.isoformat()}
                if next_step
                else None,
                "time_to_value_days": run_time_to_value_days(run),
            }
        )
    return rows


# --- Per-customer expressions over Customer (the outreach audience composes these into one statement) --------
# "The active onboarding run": the latest started active run of a template bound to the onboarding stage.


def onboarding_done_share_subquery() -> Subquery:
    """For `Customer` querysets: the share (0-100) of done or skipped steps of the customer's active onboarding
    run; NULL without one."""
    share = (
        RunStep.objects.filter(
            run__customer_id=OuterRef("pk"),
            run__status=PlaybookRun.Status.ACTIVE,
            run__template__lifecycle_stage=LifecycleStage.ONBOARDING,
        )
        .values("run_id", "run__started_at")
        .annotate(
            share=ExpressionWrapper(
                Value(100.0) * Count("id", filter=~Q(status=RunStep.Status.PENDING)) / Count("id"),
                output_field=FloatField(),
            )
        )
        .order_by("-run__started_at", "-run_id")
        .values("share")[:1]
    )
    return Subquery(share, output_field=FloatField())


def onboarding_started_subquery() -> Subquery:
    """For `Customer` querysets: when the customer's active onboarding run started; NULL without one."""
    runs = PlaybookRun.objects.filter(
        customer_id=OuterRef("pk"),
        status=PlaybookRun.Status.ACTIVE,
        template__lifecycle_stage=LifecycleStage.ONBOARDING,
    ).order_by("-started_at", "-id")
    return Subquery(runs.values("started_at")[:1])


def onboarding_finished_counts(*, start, end, days: int = 30) -> dict[str, int]:
    """Onboarding runs started in [start, end): how many, and how many completed within `days` of their start
    (one query; the outreach results compare the periods before and after a play was enabled)."""
    runs = PlaybookRun.objects.filter(
        template__lifecycle_stage=LifecycleStage.ONBOARDING, started_at__gte=start, started_at__lt=end
    )
    return runs.aggregate(
        started=Count("id"),
        finished=Count(
            "id",
            filter=Q(
                completed_at__isnull=False,
                completed_at__lte=F("started_at") + dt.timedelta(days=days),
            ),
        ),
    )


def overdue_step_subquery(*, due_before) -> Subquery:
    """For `Customer` querysets: the id of the customer's oldest pending step of an active run due before
    `due_before` (a date, or an OuterRef to a per-customer date) (NULL when none): the outreach event "playbook
    step overdue" fires once per such step."""
    steps = RunStep.objects.filter(
        run__customer_id=OuterRef("pk"),
        run__status=PlaybookRun.Status.ACTIVE,
        status=RunStep.Status.PENDING,
        due_date__lt=due_before,
    ).order_by("due_date", "pk")
    return Subquery(steps.values("pk")[:1])


def runs_behind(*, customer_ids: list[int], today: dt.date, limit: int) -> tuple[list[PlaybookRun], int]:
    """Active runs of the book's customers with a pending step past its due date (at risk or late), the most
    overdue first: at most `limit` with their steps prefetched (run_progress is then query-free), and the count.
    Three queries. `today` is the server's date; run_progress refines it with the customer's."""
    from django.db.models import Exists, Min

    overdue = RunStep.objects.filter(run_id=OuterRef("pk"), status=RunStep.Status.PENDING, due_date__lt=today)
    runs = PlaybookRun.objects.filter(customer_id__any_of=customer_ids, status=PlaybookRun.Status.ACTIVE).filter(
        Exists(overdue)
    )
    rows = list(
        runs.select_related("template", "customer")
        .prefetch_related(Prefetch("steps", queryset=RunStep.objects.order_by("position")))
        .annotate(
            oldest_due=Min("steps__due_date", filter=Q(steps__status=RunStep.Status.PENDING)),
        )
        .order_by("oldest_due", "pk")[:limit]
    )
    return rows, runs.count()
