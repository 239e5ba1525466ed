"""The timeline: one append-only feed per customer. Services call `timeline_record` inside their transaction."""

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from crm.models import Customer, TimelineEvent


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
    return TimelineEvent.objects.create(
        customer_id=customer_id,
        kind=kind,
        summary=summary[:300],
        actor=actor if getattr(actor, "pk", None) else None,
        source_type=ContentType.objects.get_for_model(source) if source is not None else None,
        source_id=str(source.pk) if source is not None else "",
        payload=payload or {},
        occurred_at=occurred_at or timezone.now(),
    )
