"""Reads of playbooks: list querysets with what a page needs, and a run's progress.

Progress of a run (computed from its steps, no query when they are prefetched):
    done / skipped / total, closed = done + skipped
    days_late: the most days any pending step is past its due date (calendar days, the customer's local date)
    state: "completed" / "cancelled" for a finished run, else "on_track" (nothing overdue), "at_risk" (overdue by
           at most PLAYBOOK_AT_RISK_DAYS, default 2) or "late" (more)
    next_step: the first pending step by due date
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import (
    Count,
    ExpressionWrapper,
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
