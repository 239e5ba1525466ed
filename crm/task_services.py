"""Writes on CSM tasks: every app (tickets, surveys, success) creates and closes its tasks here. An open task with
the same customer, type and reason is never created twice."""

import datetime

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from crm.models import Customer, Task
from crm.timeline import timeline_record


def task_create(
    *,
    customer: Customer,
    reason: str,
    type: str = Task.Type.ACTIVITY,
    owner=None,
    due_date: datetime.date | None = None,
    priority: str = Task.Priority.NORMAL,
    source: models.Model | None = None,
    actor=None,
) -> tuple[Task, bool]:
    """Create a task, or return the open one with the same customer, type and reason (created=False)."""
    reason = (reason or "").strip()
    existing = Task.objects.filter(customer=customer, type=type, reason=reason, status=Task.Status.OPEN).first()
    if existing is not None:
        return existing, False
    task = Task(
        customer=customer,
        owner=owner if owner is not None else customer.owner,
        type=type,
        reason=reason,
        due_date=due_date,
        priority=priority,
        source_type=ContentType.objects.get_for_model(source) if source is not None else None,
        source_id=str(source.pk) if source is not None else "",
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    task.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            task.save()
            timeline_record(
                customer=customer,
                kind="task.created",
                summary=f"Task: {task.reason}",
                actor=actor,
                source=task,
                payload={
                    "task_id": task.pk,
                    "type": task.type,
                    "priority": task.priority,
                    "owner": getattr(task.owner, "email", None),
                    "due_date": task.due_date.isoformat() if task.due_date else None,
                },
            )
    except IntegrityError:
        existing = Task.objects.filter(customer=customer, type=type, reason=reason, status=Task.Status.OPEN).first()
        if existing is None:
            raise
        return existing, False
    return task, True


@transaction.atomic
def task_update(*, task: Task, actor=None, **data) -> Task:
    """Change a task's owner, due date, priority, reason or type; records `task.updated` on a change."""
    allowed = {"owner", "due_date", "priority", "reason", "type"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({f: "This field cannot be changed here." for f in sorted(unknown)})
    if "reason" in data:
        data["reason"] = (data["reason"] or "").strip()
    task = Task.objects.select_for_update().get(pk=task.pk)
    changes = {}
    for field, value in data.items():
        old = getattr(task, field)
        if old != value:
            changes[field] = [_display(old), _display(value)]
            setattr(task, field, value)
    if not changes:
        return task
    task.full_clean(validate_constraints=False)
    if task.status == Task.Status.OPEN and {"reason", "type"} & set(changes):
        duplicate = (
            Task.objects.filter(customer_id=task.customer_id, type=task.type, reason=task.reason)
            .filter(status=Task.Status.OPEN)
            .exclude(pk=task.pk)
            .first()
        )
        if duplicate is not None:
            raise ValidationError({"reason": f"Open task #{duplicate.pk} already has this customer, type and reason."})
    task.save()
    timeline_record(
        customer=task.customer_id,
        kind="task.updated",
        summary=f"Task updated ({', '.join(changes)}): {task.reason}"[:300],
        actor=actor,
        source=task,
        payload={"task_id": task.pk, "changes": changes},
    )
    return task


def _display(value):
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return getattr(value, "email", None) or str(value)


@transaction.atomic
def task_close(*, task: Task, status: str, actor=None, outcome: str = "") -> Task:
    """Close an open task as done or cancelled, with an optional outcome note (kept on the task and in its
    timeline event). Closing it again with the same status changes nothing."""
    outcome = (outcome or "").strip()
    if len(outcome) > 1000:
        raise ValidationError({"outcome": "Keep the outcome under 1,000 characters."})
    if status not in (Task.Status.DONE, Task.Status.CANCELLED):
        raise ValidationError({"status": "A task can only be closed as done or cancelled."})
    task = Task.objects.select_for_update().get(pk=task.pk)
    if task.status != Task.Status.OPEN:
        if task.status == status:
            return task
        raise ValidationError({"status": f"The task is already {task.status}."})
    task.status = status
    task.closed_at = timezone.now()
    task.outcome = outcome
    task.save(update_fields=["status", "closed_at", "outcome", "updated_at"])
    summary = f"Task {status}: {task.reason}" + (f" — {outcome}" if outcome else "")
    timeline_record(
        customer=task.customer_id,
        kind=f"task.{status}",
        summary=summary if len(summary) <= 300 else summary[:299] + "…",
        actor=actor,
        source=task,
        payload={"task_id": task.pk, **({"outcome": outcome} if outcome else {})},
    )
    return task
