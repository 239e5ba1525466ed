"""Writes on playbook runs. Each service is one transaction and records its timeline event.

    playbook_start(template, customer)   a run of the template's latest version; refuses a churned customer, a
                                         second active run of the template, an inactive template (naming the field)
    playbook_autostart(customer_id, ...)  the runs a customer's entry into a lifecycle stage starts, once per entry
    run_step_execute(step_id)            an email or survey step that is due goes out, exactly once
    run_step_complete / run_step_skip / run_step_reassign / run_step_redate   a person's (or a usage event's) say
    run_cancel(run, reason)

Due dates: business days (Monday to Friday) counted from the customer's local date at the start, or from the
previous step's due date. A step due on day D is due from the start of D in the customer's time zone.

Staff steps (task, meeting; assigned to the owner CSM or a support agent) become CSM tasks linked to the run
step (`source`) when the run starts. A support agent's steps go to the agent `success.playbooks.assignment`
picks (who handled the customer's tickets most, else the least loaded agent, else the owner CSM), each with a
"playbook.step_assigned" timeline event saying who and why. Completing or skipping the step closes its task,
and the periodic scan completes a step whose task was marked done. Steps the customer does (assignee
"customer") have no task: the CSM completes them, or a milestone's usage event does. Finishing the final
milestone completes the run (any step still open is skipped "run completed") and moves the customer to the
template's next stage.
"""

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.email_templates import template_render
from crm.ledger import ledger_claim
from crm.models import Contact, Customer, EmailTemplate, LedgerEntry, LifecycleStage, Task
from crm.outbound_email import email_queue
from crm.services import customer_update
from crm.task_services import task_close, task_create, task_update
from crm.timeline import timeline_record
from crm.unsubscribe import unsubscribe_headers
from success.playbooks.assignment import AgentPick, pick_support_agent
from success.playbooks.definitions import check_definition, latest_version, playbook_version
from success.playbooks.models import (
    AssigneeKind,
    OffsetFrom,
    PlaybookRun,
    PlaybookTemplate,
    RunStep,
    StepKind,
)
from surveys.models import Invitation, Survey
from surveys.services import invitation_create, invitation_dispatch

logger = logging.getLogger(__name__)

STAFF_KINDS = (StepKind.TASK, StepKind.MEETING)
SENDING_KINDS = (StepKind.EMAIL, StepKind.SURVEY)
RUN_COMPLETED = "run completed"
MAX_REDATE_AHEAD = dt.timedelta(days=730)


def risk_after_days() -> int:
    """A run more than this many days late opens a risk task for its owner CSM."""
    return int(getattr(settings, "PLAYBOOK_RISK_AFTER_DAYS", 5))


# --- Dates ---------------------------------------------------------------------------------------------------


def add_business_days(day: dt.date, days: int) -> dt.date:
    """`days` business days (Monday to Friday) after `day`; 0 on a weekend is the next Monday."""
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def customer_today(customer: Customer, now: dt.datetime | None = None) -> dt.date:
    try:
        zone = ZoneInfo(customer.timezone or "UTC")
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return (now or timezone.now()).astimezone(zone).date()


def due_dates(steps: list[dict], start: dt.date) -> list[dt.date]:
    dates: list[dt.date] = []
    for step in steps:
        base = dates[-1] if dates and step["offset_from"] == OffsetFrom.PREVIOUS else start
        dates.append(add_business_days(base, step["offset_days"]))
    return dates


# --- Start ---------------------------------------------------------------------------------------------------


def _task_reason(run: PlaybookRun, step: RunStep) -> str:
    return f"{run.template.name}: {step.title}"[:300]


def _staff_assignee(customer: Customer, assignee_kind: str, agent: AgentPick | None):
    """The owner CSM, the support agent picked for the run (success.playbooks.assignment), or None (customer)."""
    if assignee_kind == AssigneeKind.SUPPORT_AGENT and agent is not None:
        return agent.user
    return customer.owner if assignee_kind in (AssigneeKind.OWNER, AssigneeKind.SUPPORT_AGENT) else None


@transaction.atomic
def playbook_start(
    *,
    template: PlaybookTemplate,
    customer: Customer,
    actor=None,
    entry_key: str = "",
    now: dt.datetime | None = None,
) -> PlaybookRun:
    """Start `template`'s latest version for `customer`. Raises ValidationError naming `customer` or `playbook`
    (nothing is changed then)."""
    now = now or timezone.now()
    customer = Customer.objects.select_for_update(of=("self",)).select_related("owner").get(pk=customer.pk)
    template = PlaybookTemplate.objects.get(pk=template.pk)
    if customer.lifecycle_stage == LifecycleStage.CHURNED:
        raise ValidationError({"customer": f"{customer.name} has churned: no playbook can start for it."})
    if not template.is_active:
        raise ValidationError({"playbook": f"The playbook {template.name} is inactive."})
    version = latest_version(template)
    if version is None:
        version, _ = playbook_version(template=template)
    definition = version.definition
    if not definition["steps"]:
        raise ValidationError({"playbook": f"The playbook {template.name} has no steps."})
    try:
        check_definition(definition)
    except ValidationError as exc:
        messages = [f"The playbook {template.name} cannot start: {m}" for m in exc.messages]
        raise ValidationError({"playbook": messages}) from exc
    active = PlaybookRun.objects.filter(template=template, customer=customer, status=PlaybookRun.Status.ACTIVE)
    if active.exists():
        raise ValidationError(
            {"playbook": f"{customer.name} already has an active run of {template.name} (#{active.first().pk})."}
        )
    start = customer_today(customer, now)
    run = PlaybookRun(
        template=template,
        version=version,
        customer=customer,
        owner=customer.owner,
        started_on=start,
        started_at=now,
        entry_key=entry_key[:100],
        started_by=actor if getattr(actor, "pk", None) else None,
    )
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"playbook": f"{customer.name} already has a run of {template.name} for this stage entry."}
        ) from exc
    agent = None
    if any(spec["assignee"] == AssigneeKind.SUPPORT_AGENT for spec in definition["steps"]):
        agent = pick_support_agent(customer=customer, now=now)
    steps = []
    for index, (spec, due) in enumerate(zip(definition["steps"], due_dates(definition["steps"], start), strict=True)):
        steps.append(
            RunStep(
                run=run,
                position=index,
                title=spec["title"],
                kind=spec["kind"],
                assignee_kind=spec["assignee"],
                assignee=_staff_assignee(customer, spec["assignee"], agent),
                spec=spec,
                due_date=due,
                planned_due_date=due,
            )
        )
    RunStep.objects.bulk_create(steps)
    steps = list(run.steps.order_by("position"))
    for step in steps:
        if step.kind in STAFF_KINDS and step.assignee_kind != AssigneeKind.CUSTOMER:
            task, _ = task_create(
                customer=customer,
                reason=_task_reason(run, step),
                type=Task.Type.LIFECYCLE,
                owner=step.assignee,
                due_date=step.due_date,
                source=step,
                actor=actor,
            )
            step.task = task
            step.save(update_fields=["task"])
    timeline_record(
        customer=customer,
        kind="playbook.started",
        summary=f"Playbook {template.name} started (v{version.number}, {len(steps)} steps)",
        actor=actor,
        source=run,
        payload={"run_id": run.pk, "template_id": template.pk, "version": version.number, "entry_key": entry_key},
    )
    for step in steps:
        if agent is not None and step.assignee_kind == AssigneeKind.SUPPORT_AGENT:
            who = agent.user.email if agent.user else "nobody (no owner CSM)"
            _event(
                step,
                "playbook.step_assigned",
                f"{step.title} assigned to {who}: {agent.why}",
                actor=actor,
                now=now,
                to=agent.user.email if agent.user else None,
                rule=agent.rule,
            )
    due_now = [s.pk for s in steps if s.kind in SENDING_KINDS and s.due_date <= start]
    if due_now:
        _enqueue_steps_on_commit(due_now)
    return run


def _enqueue_steps_on_commit(step_ids: list[int]) -> None:
    from success.playbooks.tasks import execute_step

    def enqueue():
        for step_id in step_ids:
            try:
                execute_step.apply_async((step_id,))
            except Exception:  # broker down: the periodic scan finds the step due
                logger.exception("could not enqueue playbook step %s; the scan will retry", step_id)
                return

    transaction.on_commit(enqueue)


def playbook_autostart(*, customer_id: int, stage: str, entry_key: str) -> list[PlaybookRun]:
    """Start every active template bound to `stage` for a customer that entered it (and is still in it), once
    per entry (`entry_key` names the entry, e.g. "timeline:<event id>"). A template that cannot start (an
    active run of it exists) is skipped and logged, never raised: the stage change itself stands."""
    runs = []
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None or customer.lifecycle_stage != stage or not stage:
        return runs
    for template in PlaybookTemplate.objects.filter(lifecycle_stage=stage, is_active=True).order_by("pk"):
        if PlaybookRun.objects.filter(template=template, customer_id=customer_id, entry_key=entry_key).exists():
            continue
        try:
            runs.append(playbook_start(template=template, customer=customer, entry_key=entry_key))
        except ValidationError as exc:
            logger.info("playbook %s not started for customer %s: %s", template.pk, customer_id, exc.messages)
    return runs


# --- Email and survey steps ----------------------------------------------------------------------------------


def _recipients(run: PlaybookRun, step: RunStep) -> list[Contact]:
    contacts = Contact.objects.filter(customer_id=run.customer_id).select_related("customer")
    role = step.spec.get("contact_role") or ""
    if role:
        return list(contacts.filter(role=role).order_by("pk"))
    primary = contacts.order_by("-is_primary", "pk").first()
    return [primary] if primary else []


def run_step_execute(*, step_id: int, now: dt.datetime | None = None) -> RunStep | None:
    """Send a due email or survey step once: the step is claimed (pending, not executed) under a row lock, its
    emails are keyed by step and contact, its invitations by step. None when there is nothing to do."""
    now = now or timezone.now()
    with transaction.atomic():
        step = (
            RunStep.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("run__customer__owner", "run__template")
            .filter(
                pk=step_id,
                status=RunStep.Status.PENDING,
                executed_at__isnull=True,
                kind__in=SENDING_KINDS,
                run__status=PlaybookRun.Status.ACTIVE,
            )
            .first()
        )
        if step is None or step.due_date > customer_today(step.run.customer, now):
            return None
        run = step.run
        contacts = _recipients(run, step)
        if not contacts:
            # A new customer's contacts often arrive after it: the step waits (the scan tries again) and, once
            # overdue, its owner is nudged to add a contact or skip it.
            role = step.spec.get("contact_role") or "primary"
            result = f"waiting: no {role.replace('_', ' ')} contact yet"
            if step.result != result:
                step.result = result
                step.save(update_fields=["result"])
            return None
        sent, suppressed = (
            _send_emails(run, step, contacts, now)
            if step.kind == StepKind.EMAIL
            else _send_surveys(step, contacts, now)
        )
        step.executed_at = now
        step.result = (f"sent to {', '.join(sent)}" if sent else "nobody") + (
            f"; not sent: {'; '.join(suppressed)}" if suppressed else ""
        )
        step.result = step.result[:300]
        step.save(update_fields=["executed_at", "result"])
        _close(step, RunStep.Status.DONE, actor=None, now=now)
        _after_step_closed(step, actor=None, now=now)
        return step


def _send_emails(run: PlaybookRun, step: RunStep, contacts: list[Contact], now) -> tuple[list[str], list[str]]:
    template = EmailTemplate.objects.get(pk=step.spec["email_template"])
    sent, suppressed = [], []
    for contact in contacts:
        reason = ledger_claim(contact=contact, kind=LedgerEntry.Kind.PLAYBOOK, subkind="email", source=step, now=now)
        if reason:
            suppressed.append(f"{contact.email} ({reason})")
            continue
        rendered = template_render(template=template, customer=run.customer, contact=contact)
        email_queue(
            idempotency_key=f"playbook-step:{step.pk}:{contact.pk}",
            kind="playbook_email",
            to_email=contact.email,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            contact=contact,
            customer=run.customer,
            headers=unsubscribe_headers(contact),
        )
        sent.append(contact.email)
    return sent, suppressed


def _send_surveys(step: RunStep, contacts: list[Contact], now) -> tuple[list[str], list[str]]:
    survey = Survey.objects.get(pk=step.spec["survey"])
    sent, suppressed = [], []
    for contact in contacts:
        invitation, _ = invitation_create(
            survey=survey,
            contact=contact,
            trigger=Invitation.Trigger.PLAYBOOK,
            trigger_key=f"playbook-step:{step.pk}",
            scheduled_for=now,
        )
        invitation = invitation_dispatch(invitation_id=invitation.pk, now=now) or invitation
        if invitation.status == Invitation.Status.SENT:
            sent.append(contact.email)
        else:
            suppressed.append(f"{contact.email} ({invitation.suppressed_reason or invitation.status})")
    return sent, suppressed


# --- A person's say on a step --------------------------------------------------------------------------------


def _locked_step(step: RunStep) -> RunStep:
    return (
        RunStep.objects.select_for_update(of=("self",))
        .select_related("run__customer", "run__template", "task")
        .get(pk=step.pk)
    )


def _require_open(step: RunStep) -> None:
    if step.run.status != PlaybookRun.Status.ACTIVE:
        raise ValidationError({"status": f"The run is {step.run.status}: its steps cannot change."})
    if step.status != RunStep.Status.PENDING:
        raise ValidationError({"status": f"The step is already {step.status}."})


def _event(step: RunStep, kind: str, summary: str, *, actor, now, **payload) -> None:
    timeline_record(
        customer=step.run.customer_id,
        kind=kind,
        summary=f"{step.run.template.name}: {summary}",
        actor=actor,
        source=step.run,
        payload={"run_id": step.run_id, "step_id": step.pk, "step": step.title, **payload},
        occurred_at=now,
    )


def _close(step: RunStep, status: str, *, actor, now, reason: str = "") -> None:
    step.status = status
    step.completed_at = now
    step.completed_by = actor if getattr(actor, "pk", None) else None
    step.skip_reason = reason[:300] if status == RunStep.Status.SKIPPED else ""
    step.save(update_fields=["status", "completed_at", "completed_by", "skip_reason"])
    if step.task_id and step.task.status == Task.Status.OPEN:
        task_close(
            task=step.task,
            status=Task.Status.DONE if status == RunStep.Status.DONE else Task.Status.CANCELLED,
            actor=actor,
        )
    if status == RunStep.Status.DONE:
        verb = "sent" if step.kind in SENDING_KINDS and step.executed_at else "done"
        _event(
            step,
            f"playbook.step_{'sent' if verb == 'sent' else 'completed'}",
            f"{step.title} {verb}" + (f" ({step.result})" if step.result else ""),
            actor=actor,
            now=now,
        )
    elif reason != RUN_COMPLETED:
        _event(step, "playbook.step_skipped", f"{step.title} skipped: {reason}", actor=actor, now=now, reason=reason)


def _is_final_milestone(step: RunStep) -> bool:
    last = len(step.run.version.definition["steps"]) - 1
    return step.kind == StepKind.MILESTONE and step.position == last


def _after_step_closed(step: RunStep, *, actor, now) -> None:
    run = step.run
    if step.status == RunStep.Status.DONE and _is_final_milestone(step):
        _complete_run(run, actor=actor, now=now)
    elif not run.steps.filter(status=RunStep.Status.PENDING).exists():
        _complete_run(run, actor=actor, now=now)


def _complete_run(run: PlaybookRun, *, actor, now) -> None:
    for open_step in run.steps.filter(status=RunStep.Status.PENDING).select_related("task", "run__template"):
        _close(open_step, RunStep.Status.SKIPPED, actor=actor, now=now, reason=RUN_COMPLETED)
    run.status = PlaybookRun.Status.COMPLETED
    run.completed_at = now
    run.save(update_fields=["status", "completed_at"])
    days = (customer_today(run.customer, now) - run.started_on).days
    timeline_record(
        customer=run.customer_id,
        kind="playbook.completed",
        summary=f"Playbook {run.template.name} completed in {days} day{'s' if days != 1 else ''}",
        actor=actor,
        source=run,
        payload={"run_id": run.pk, "days": days},
        occurred_at=now,
    )
    next_stage = run.version.definition.get("next_stage") or ""
    customer = Customer.objects.get(pk=run.customer_id)
    if next_stage and customer.lifecycle_stage not in (next_stage, LifecycleStage.CHURNED):
        customer_update(customer=customer, lifecycle_stage=next_stage, actor=actor)


@transaction.atomic
def run_step_complete(*, step: RunStep, actor=None, now: dt.datetime | None = None) -> RunStep:
    now = now or timezone.now()
    step = _locked_step(step)
    _require_open(step)
    if step.kind in SENDING_KINDS and not step.executed_at:
        raise ValidationError({"status": "An email or survey step completes when it goes out; skip it to not send it."})
    _close(step, RunStep.Status.DONE, actor=actor, now=now)
    _after_step_closed(step, actor=actor, now=now)
    return step


@transaction.atomic
def run_step_skip(*, step: RunStep, reason: str, actor=None, now: dt.datetime | None = None) -> RunStep:
    now = now or timezone.now()
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError({"reason": "Say why the step is skipped."})
    if len(reason) > 300:
        raise ValidationError({"reason": "At most 300 characters."})
    step = _locked_step(step)
    _require_open(step)
    if _is_final_milestone(step):
        raise ValidationError({"status": "The final milestone cannot be skipped: complete it, or cancel the run."})
    _close(step, RunStep.Status.SKIPPED, actor=actor, now=now, reason=reason)
    _after_step_closed(step, actor=actor, now=now)
    return step


@transaction.atomic
def run_step_reassign(*, step: RunStep, assignee, actor=None, now: dt.datetime | None = None) -> RunStep:
    now = now or timezone.now()
    step = _locked_step(step)
    _require_open(step)
    if assignee is None or not getattr(assignee, "is_staff", False) or not assignee.is_active:
        raise ValidationError({"assignee": "Assign the step to an active staff user."})
    if getattr(assignee, "is_service_account", False):
        raise ValidationError({"assignee": "An API key's service account cannot do a step."})
    if step.assignee_id == assignee.pk:
        return step
    old = step.assignee
    step.assignee = assignee
    step.save(update_fields=["assignee"])
    if step.task_id and step.task.status == Task.Status.OPEN:
        task_update(task=step.task, owner=assignee, actor=actor)
    _event(
        step,
        "playbook.step_reassigned",
        f"{step.title} reassigned to {assignee}",
        actor=actor,
        now=now,
        **{"from": getattr(old, "email", None), "to": assignee.email},
    )
    return step


@transaction.atomic
def run_step_redate(*, step: RunStep, due_date: dt.date, actor=None, now: dt.datetime | None = None) -> RunStep:
    """Move a pending step's due date; the steps that count from it (offset from the previous step) move too."""
    now = now or timezone.now()
    if not isinstance(due_date, dt.date) or isinstance(due_date, dt.datetime):
        raise ValidationError({"due_date": "A date (YYYY-MM-DD)."})
    step = _locked_step(step)
    _require_open(step)
    today = customer_today(step.run.customer, now)
    if due_date < today:
        raise ValidationError({"due_date": "The new due date is in the past (in the customer's time zone)."})
    if due_date > today + MAX_REDATE_AHEAD:
        raise ValidationError({"due_date": "At most two years ahead."})
    if due_date == step.due_date:
        return step
    old = step.due_date
    step.due_date = due_date
    step.redated_count += 1
    step.calendar_sequence += 1
    step.save(update_fields=["due_date", "redated_count", "calendar_sequence"])
    if step.task_id and step.task.status == Task.Status.OPEN:
        task_update(task=step.task, due_date=due_date, actor=actor)
    _event(
        step,
        "playbook.step_redated",
        f"{step.title} moved from {old} to {due_date}",
        actor=actor,
        now=now,
        **{"from": old.isoformat(), "to": due_date.isoformat()},
    )
    previous = due_date
    for later in step.run.steps.filter(position__gt=step.position).select_related("task").order_by("position"):
        if later.spec.get("offset_from") != OffsetFrom.PREVIOUS:
            break
        new = add_business_days(previous, later.spec.get("offset_days", 0))
        previous = new
        if later.status == RunStep.Status.PENDING and later.due_date != new:
            later.due_date = new
            later.calendar_sequence += 1
            later.save(update_fields=["due_date", "calendar_sequence"])
            if later.task_id and later.task.status == Task.Status.OPEN:
                task_update(task=later.task, due_date=new, actor=actor)
    return step


@transaction.atomic
def run_cancel(*, run: PlaybookRun, reason: str, actor=None, now: dt.datetime | None = None) -> PlaybookRun:
    now = now or timezone.now()
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationError({"reason": "Say why the run is cancelled."})
    run = PlaybookRun.objects.select_for_update(of=("self",)).select_related("template").get(pk=run.pk)
    if run.status != PlaybookRun.Status.ACTIVE:
        raise ValidationError({"status": f"The run is already {run.status}: only an active run can be cancelled."})
    for step in run.steps.filter(status=RunStep.Status.PENDING).select_related("task", "run__template"):
        _close(step, RunStep.Status.SKIPPED, actor=actor, now=now, reason=RUN_COMPLETED)
    run.status = PlaybookRun.Status.CANCELLED
    run.completed_at = now
    run.save(update_fields=["status", "completed_at"])
    timeline_record(
        customer=run.customer_id,
        kind="playbook.cancelled",
        summary=f"Playbook {run.template.name} cancelled: {reason}"[:300],
        actor=actor,
        source=run,
        payload={"run_id": run.pk, "reason": reason[:300]},
        occurred_at=now,
    )
    return run


# --- Periodic work -------------------------------------------------------------------------------------------


def nudge_recipient(step: RunStep):
    """Who is nudged about an overdue step: its assignee, else the run's owner CSM (customer steps too)."""
    return step.assignee or step.run.owner or step.run.customer.owner


def run_nudge(*, step: RunStep, today: dt.date) -> bool:
    """Email the step's owner about an overdue step, at most once per step per day (the key names the day)."""
    recipient = nudge_recipient(step)
    if recipient is None or not recipient.email:
        return False
    with transaction.atomic():
        updated = (
            RunStep.objects.filter(pk=step.pk, status=RunStep.Status.PENDING)
            .exclude(last_nudged_on=today)
            .update(last_nudged_on=today)
        )
        if not updated:
            return False
        late = (today - step.due_date).days
        email_queue(
            idempotency_key=f"playbook-nudge:{step.pk}:{today.isoformat()}",
            kind="playbook_nudge",
            to_email=recipient.email,
            subject=f"Overdue: {step.title} for {step.run.customer.name}",
            text_body=(
                f'The step "{step.title}" of the playbook {step.run.template.name} for {step.run.customer.name} '
                f"was due on {step.due_date.isoformat()} ({late} day{'s' if late != 1 else ''} ago).\n\n"
                f"Complete it, skip it with a reason or give it a new date: "
                f"{settings.SITE_URL}/admin/success/playbookrun/{step.run_id}/change/\n"
            ),
            customer=step.run.customer,
        )
    return True


def run_risk_task(*, run: PlaybookRun, days_late: int) -> Task | None:
    """A risk task for the owner CSM when a run is more than `risk_after_days()` late (once per run)."""
    with transaction.atomic():
        run = PlaybookRun.objects.select_for_update(of=("self",)).select_related("template", "customer").get(pk=run.pk)
        if run.risk_task_id or run.status != PlaybookRun.Status.ACTIVE:
            return None
        task, _ = task_create(
            customer=run.customer,
            reason=f"Playbook {run.template.name} is late (more than {risk_after_days()} days)",
            type=Task.Type.RISK,
            owner=run.owner,
            due_date=customer_today(run.customer),
            priority=Task.Priority.HIGH,
            source=run,
        )
        run.risk_task = task
        run.save(update_fields=["risk_task"])
        timeline_record(
            customer=run.customer_id,
            kind="playbook.late",
            summary=f"Playbook {run.template.name} is {days_late} days late",
            source=run,
            payload={"run_id": run.pk, "days_late": days_late, "task_id": task.pk},
        )
        return task
