"""The periodic playbook scan (`success.playbook_scan`, every 5 minutes), each part idempotent:

1. automatic starts the on-commit receiver missed: the latest stage entry (customer.created or
   customer.stage_changed timeline event, last PLAYBOOK_AUTOSTART_LOOKBACK_DAYS) of customers in a bound stage
   without a run for that entry -> playbook_autostart (keyed by the event, so never twice for one entry);
2. email and survey steps due in the customer's time zone -> one `success.playbook_step_execute` task each;
3. milestones with a usage event name that the customer's usage shows since the run started -> completed;
4. staff steps whose CSM task was marked done -> completed;
5. overdue steps -> a nudge to the step's owner (at most one per step per day: the customer's local day), sent
   in the owner's business hours (NUDGE_HOURS on weekdays, in their own time zone);
6. runs more than PLAYBOOK_RISK_AFTER_DAYS late -> a risk task for the owner CSM (once per run).
"""

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Case, F, When
from django.utils import timezone

from crm.models import Task, TimelineEvent
from success.playbooks.models import PlaybookRun, PlaybookTemplate, RunStep, StepKind
from success.playbooks.selectors import run_progress
from success.playbooks.services import (
    SENDING_KINDS,
    customer_today,
    nudge_recipient,
    playbook_autostart,
    risk_after_days,
    run_nudge,
    run_risk_task,
    run_step_complete,
)
from success.usage.selectors import usage_events_by_name

logger = logging.getLogger(__name__)
BATCH = 1000
ENTRY_KINDS = ("customer.created", "customer.stage_changed")
NUDGE_HOURS = (9, 17)  # nudges go out from 9:00 to 17:00, Monday to Friday, in the recipient's time zone


def entry_key(event_id: int) -> str:
    return f"timeline:{event_id}"


def autostart_sweep(now: dt.datetime) -> int:
    stages = set(
        PlaybookTemplate.objects.filter(is_active=True)
        .exclude(lifecycle_stage="")
        .values_list("lifecycle_stage", flat=True)
    )
    if not stages:
        return 0
    since = now - dt.timedelta(days=int(getattr(settings, "PLAYBOOK_AUTOSTART_LOOKBACK_DAYS", 2)))
    events = (
        TimelineEvent.objects.filter(kind__in=ENTRY_KINDS, occurred_at__gte=since, customer__lifecycle_stage__in=stages)
        .order_by("customer_id", "-occurred_at", "-id")
        .values_list("id", "customer_id", "customer__lifecycle_stage")
    )
    latest: dict[int, tuple[int, str]] = {}
    for event_id, customer_id, stage in events[: BATCH * 10]:
        latest.setdefault(customer_id, (event_id, stage))
    keys = {customer_id: entry_key(event_id) for customer_id, (event_id, _) in latest.items()}
    done = set(
        PlaybookRun.objects.filter(customer_id__in=list(keys), entry_key__in=list(keys.values())).values_list(
            "customer_id", "entry_key"
        )
    )
    started = 0
    for customer_id, (_event_id, stage) in latest.items():
        if (customer_id, keys[customer_id]) in done:
            continue
        started += len(playbook_autostart(customer_id=customer_id, stage=stage, entry_key=keys[customer_id]))
    return started


def due_sending_steps(now: dt.datetime) -> list[int]:
    """Ids of email and survey steps due today or earlier in their customer's time zone."""
    horizon = (now + dt.timedelta(days=1)).date()  # no zone is more than a day ahead of UTC
    rows = (
        RunStep.objects.filter(
            status=RunStep.Status.PENDING,
            executed_at__isnull=True,
            kind__in=SENDING_KINDS,
            run__status=PlaybookRun.Status.ACTIVE,
            due_date__lte=horizon,
        )
        .select_related("run__customer")
        .only("id", "due_date", "run__customer__timezone")
        # Steps waiting for a contact come last, so they never hold back the others.
        .order_by(Case(When(result__startswith="waiting", then=1), default=0), "due_date", "id")[:BATCH]
    )
    return [step.pk for step in rows if step.due_date <= customer_today(step.run.customer, now)]


def milestone_sweep(now: dt.datetime) -> int:
    steps = list(
        RunStep.objects.filter(
            status=RunStep.Status.PENDING, kind=StepKind.MILESTONE, run__status=PlaybookRun.Status.ACTIVE
        )
        .exclude(spec__milestone_event="")
        .select_related("run")
        .order_by("id")[:BATCH]
    )
    steps = [s for s in steps if s.spec.get("milestone_event")]
    if not steps:
        return 0
    start = min(s.run.started_on for s in steps)
    seen = {
        (row["customer_id"], row["name"])
        for row in usage_events_by_name(
            start=start,
            end=now.date() + dt.timedelta(days=2),
            names={s.spec["milestone_event"] for s in steps},
            customer_ids={s.run.customer_id for s in steps},
        )
        if row["events"]
    }
    completed = 0
    for step in steps:
        if (step.run.customer_id, step.spec["milestone_event"]) in seen:
            # Usage rollups are per UTC day: an event on the run's start day counts.
            run_step_complete(step=step, now=now)
            completed += 1
    return completed


def task_sweep(now: dt.datetime) -> int:
    completed = 0
    for step in RunStep.objects.filter(
        status=RunStep.Status.PENDING, task__status=Task.Status.DONE, run__status=PlaybookRun.Status.ACTIVE
    ).order_by("id")[:BATCH]:
        run_step_complete(step=step, actor=None, now=now)
        completed += 1
    return completed


def nudge_sweep(now: dt.datetime) -> int:
    horizon = (now + dt.timedelta(days=1)).date()  # no zone is more than a day ahead of UTC
    steps = (
        RunStep.objects.filter(
            status=RunStep.Status.PENDING, run__status=PlaybookRun.Status.ACTIVE, due_date__lt=horizon
        )
        .select_related("run__customer__owner", "run__template", "run__owner", "assignee")
        # Least recently nudged first: steps nudged today (skipped below) never hold back the others.
        .order_by(F("last_nudged_on").asc(nulls_first=True), "due_date", "id")
    )
    nudged = 0
    for step in steps[:BATCH]:
        today = customer_today(step.run.customer, now)
        if step.due_date >= today or step.last_nudged_on == today:
            continue
        recipient = nudge_recipient(step)
        if recipient is None or not in_business_hours(recipient, now):
            continue
        nudged += run_nudge(step=step, today=today)
    return nudged


def in_business_hours(user, now: dt.datetime) -> bool:
    """Monday to Friday, NUDGE_HOURS in the user's own time zone (their profile's, else the server's)."""
    local = now.astimezone(user.zone)
    return local.weekday() < 5 and NUDGE_HOURS[0] <= local.hour < NUDGE_HOURS[1]


def risk_sweep(now: dt.datetime) -> int:
    limit = risk_after_days()
    cutoff = (now - dt.timedelta(days=limit)).date()
    runs = (
        PlaybookRun.objects.filter(
            status=PlaybookRun.Status.ACTIVE,
            risk_task__isnull=True,
            steps__status=RunStep.Status.PENDING,
            steps__due_date__lt=cutoff,
        )
        .distinct()
        .select_related("customer")
        .prefetch_related("steps")
        .order_by("id")
    )
    opened = 0
    for run in runs[:BATCH]:
        progress = run_progress(run, today=customer_today(run.customer, now))
        if progress.days_late > limit and run_risk_task(run=run, days_late=progress.days_late):
            opened += 1
    return opened


def playbook_scan(now: dt.datetime | None = None) -> dict[str, int]:
    from success.playbooks.tasks import execute_step

    now = now or timezone.now()
    result = {"started": autostart_sweep(now)}
    due = due_sending_steps(now)
    for step_id in due:
        execute_step.apply_async((step_id,))
    result["due"] = len(due)
    result["milestones"] = milestone_sweep(now)
    result["tasks_done"] = task_sweep(now)
    result["nudged"] = nudge_sweep(now)
    result["risk_tasks"] = risk_sweep(now)
    return result
