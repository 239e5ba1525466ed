"""Demo playbook runs for `manage.py seed_demo`: the default onboarding playbook started, through the real
service, on the onboarding demo customers at their contract start; most have done every step due so far on
time (those who started long enough ago have finished and moved to adopting), about a third stalled at some step
and are late. Email and survey steps are recorded as sent without sending anything (demo data sends no email)."""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Customer, LifecycleStage
from success.playbooks.defaults import ensure_default_playbook
from success.playbooks.models import PlaybookRun, RunStep
from success.playbooks.services import SENDING_KINDS, customer_today, playbook_start, run_step_complete

DEFAULT_MAX_RUNS = 300
STALLED_SHARE = 0.35


@dataclass
class PlaybookSeedResult:
    runs: int = 0
    completed: int = 0
    stalled: int = 0
    seconds: float = 0.0


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def demo_playbooks_seed(*, seed: int, customers: QuerySet[Customer], max_runs: int = DEFAULT_MAX_RUNS):
    started = time.monotonic()
    rng = random.Random(seed)
    result = PlaybookSeedResult()
    template = ensure_default_playbook()
    onboarding = (
        customers.filter(lifecycle_stage=LifecycleStage.ONBOARDING)
        .exclude(playbook_runs__template=template)
        .select_related("owner")
        .order_by("pk")[:max_runs]
    )
    for customer in onboarding:
        start = customer.contract_start or timezone.localdate()
        with transaction.atomic():
            run = playbook_start(template=template, customer=customer, now=_at(start, 10))
            today = customer_today(customer)
            stalled = rng.random() < STALLED_SHARE
            stall_at = rng.randint(1, 4) if stalled else None
            for step in run.steps.order_by("position"):
                if step.due_date >= today or (stall_at is not None and step.position >= stall_at):
                    break
                done_at = _at(step.due_date, rng.randint(9, 16))
                if step.kind in SENDING_KINDS:
                    RunStep.objects.filter(pk=step.pk).update(
                        status=RunStep.Status.DONE, executed_at=done_at, completed_at=done_at, result="demo: not sent"
                    )
                else:
                    run_step_complete(step=step, actor=customer.owner, now=done_at)
            run.refresh_from_db()
        result.runs += 1
        result.completed += run.status == PlaybookRun.Status.COMPLETED
        result.stalled += stalled and run.status == PlaybookRun.Status.ACTIVE
    result.seconds = time.monotonic() - started
    return result
