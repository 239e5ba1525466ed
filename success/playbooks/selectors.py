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
from django.db.models import Prefetch, QuerySet

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
