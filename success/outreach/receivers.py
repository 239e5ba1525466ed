"""Events that trigger outreach rules: each queues one scan per matching enabled rule, for that customer only.

    crm.signals.customer_stage_entered        -> stage_changed (event_params to_stage / from_stage)
    tickets.signals.ticket_escalated          -> ticket_escalated
    crm.signals.timeline_recorded, events of  ticket.flagged -> ticket_flagged; survey.answered -> survey_answered
                                              (band, kind); health.band_changed -> health_band_changed (band)

The period key names the event ("event:<kind>:<timeline event id or ticket id>:..."), so an event seen twice (a
redelivered scan, a signal sent again) claims nothing twice. The scans are published on commit: a rolled-back
change triggers nothing. Receivers never raise (the change they react to is already made); renewal, usage and
overdue-task events are states, found by the periodic scan instead (success.outreach.execution).
"""

import logging

from django.db import transaction
from django.dispatch import receiver

from crm.signals import customer_stage_entered, timeline_recorded
from success.outreach.models import OutreachEvent, OutreachRule, OutreachTrigger
from tickets.signals import ticket_escalated

logger = logging.getLogger(__name__)


def _rules(event: str) -> list[OutreachRule]:
    return list(
        OutreachRule.objects.filter(enabled=True, trigger=OutreachTrigger.EVENT, event=event).only("pk", "event_params")
    )


def _queue(event: str, customer_id: int, key: str, match=lambda params: True) -> None:
    from success.outreach.tasks import event_scan

    try:
        jobs = [(rule.pk, customer_id, f"event:{event}:{key}") for rule in _rules(event) if match(rule.event_params)]
    except Exception:
        logger.exception("outreach rules for %s could not be read", event)
        return
    for job in jobs:
        transaction.on_commit(lambda job=job: event_scan.delay(*job))


@receiver(customer_stage_entered, dispatch_uid="success.outreach.stage_entered")
def stage_entered(sender, *, customer_id, stage, event_id, previous_stage=None, **kwargs):
    """to_stage: the stage entered; from_stage: the stage left (a new customer left none: never matches it)."""

    def match(params):
        return params.get("to_stage") in (None, stage) and params.get("from_stage") in (None, previous_stage)

    _queue(OutreachEvent.STAGE_CHANGED, customer_id, str(event_id), match)


@receiver(ticket_escalated, dispatch_uid="success.outreach.ticket_escalated")
def ticket_was_escalated(sender, *, ticket, level=0, **kwargs):
    _queue(OutreachEvent.TICKET_ESCALATED, ticket.customer_id, f"{ticket.pk}:{level}")


@receiver(timeline_recorded, dispatch_uid="success.outreach.timeline")
def timeline_events(sender, *, events, **kwargs):
    for event in events:
        payload = event.payload or {}
        if event.kind == "ticket.flagged":
            _queue(OutreachEvent.TICKET_FLAGGED, event.customer_id, str(event.pk))
        elif event.kind == "survey.answered":

            def match(params, payload=payload):
                return params.get("band") in (None, payload.get("band")) and params.get("kind") in (
                    None,
                    payload.get("kind"),
                )

            _queue(OutreachEvent.SURVEY_ANSWERED, event.customer_id, str(event.pk), match)
        elif event.kind == "health.band_changed":

            def match(params, payload=payload):
                return params.get("band") in (None, payload.get("new_band"))

            _queue(OutreachEvent.HEALTH_BAND_CHANGED, event.customer_id, str(event.pk), match)
