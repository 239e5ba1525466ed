"""The timeline: one append-only feed per customer. Services call `timeline_record` (or `timeline_record_many` for
a batch) inside their transaction; both send `crm.signals.timeline_recorded` with the events written."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from crm.models import Customer, TimelineEvent
from crm.signals import timeline_recorded


def timeline_record(
    *,
    customer: Customer | int,
    kind: str,
    summary: str,
    actor=None,
    source: models.Model | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at=None,
) -> TimelineEvent:
    customer_id = customer if isinstance(customer, int) else customer.pk
    event = TimelineEvent.objects.create(
        customer_id=customer_id,
        kind=kind,
        summary=summary[:300],
        actor=actor if getattr(actor, "pk", None) else None,
        source_type=ContentType.objects.get_for_model(source) if source is not None else None,
        source_id=str(source.pk) if source is not None else "",
        payload=payload or {},
        occurred_at=occurred_at or timezone.now(),
    )
    timeline_recorded.send(sender=TimelineEvent, events=[event])
    return event


def timeline_record_many(events: list[TimelineEvent]) -> list[TimelineEvent]:
    """Write unsaved events in one statement (summaries cut to 300 characters) and signal them once."""
    events = list(events)
    if not events:
        return events
    for event in events:
        event.summary = event.summary[:300]
        if event.occurred_at is None:
            event.occurred_at = timezone.now()
    TimelineEvent.objects.bulk_create(events)
    timeline_recorded.send(sender=TimelineEvent, events=events)
    return events
