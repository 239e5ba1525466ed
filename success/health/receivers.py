"""Health listens: timeline events of kinds that move a score, and product usage batches, ask for a recompute of
their customers (`health_request_recompute`), which `health_recompute_pending` runs within a minute."""

from django.db import transaction
from django.dispatch import receiver

from crm.signals import timeline_recorded
from success.health.services import health_request_recompute
from success.usage.signals import usage_recorded

# Timeline kinds after which a customer's health may have moved.
RECOMPUTE_KINDS = frozenset(
    {
        "ticket.opened",
        "ticket.sla_breached",
        "ticket.status_changed",
        "survey.answered",
        "survey.answer_changed",
        "note.added",
        "task.done",
        "customer.stage_changed",
        "qbr.held",
    }
)
# customer.updated moves health only when one of these changed (renewal proximity, the engagement baseline, a churn).
CUSTOMER_FIELDS = frozenset({"renewal_date", "contract_start", "arr"})


def moves_health(event) -> bool:
    if event.kind in RECOMPUTE_KINDS:
        return True
    if event.kind == "customer.updated":
        return bool(CUSTOMER_FIELDS & set((event.payload or {}).get("changes") or ()))
    return False


@receiver(timeline_recorded, dispatch_uid="success.health.request_on_timeline")
def request_on_timeline(sender, *, events, **kwargs):
    """Sent inside the service's transaction: the request is written after its commit, never for a rollback."""
    customer_ids = sorted({event.customer_id for event in events if moves_health(event)})
    if customer_ids:
        transaction.on_commit(lambda: health_request_recompute(customer_ids), robust=True)


@receiver(usage_recorded, dispatch_uid="success.health.request_on_usage")
def request_on_usage(sender, *, customer_ids, **kwargs):
    """Sent after the commit of a usage batch that recorded new events."""
    health_request_recompute(customer_ids)
