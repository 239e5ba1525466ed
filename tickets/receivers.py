import logging

from anymail.signals import inbound
from django.dispatch import receiver

from tickets import signals
from tickets.escalation import ticket_flag_evaluate
from tickets.models import FlagRule

logger = logging.getLogger(__name__)


def _flag(ticket, trigger: str, rules) -> None:
    """Flag rules run in a worker (a sweep that escalates thousands of tickets does not evaluate them one by
    one itself); only when a rule could match, and inline when the broker cannot take the task."""
    if not rules.filter(is_active=True).exists():
        return
    from tickets.tasks import evaluate_flags

    try:
        evaluate_flags.delay(ticket.pk, trigger)
    except Exception:
        logger.exception("could not queue the flag rules of ticket %s (%s): evaluated inline", ticket.pk, trigger)
        ticket_flag_evaluate(ticket=ticket, trigger=trigger)


@receiver(signals.ticket_opened, dispatch_uid="tickets.flag_on_open")
def flag_on_open(sender, ticket, **kwargs):
    _flag(ticket, "opened", FlagRule.objects.filter(on_open=True))


@receiver(signals.ticket_escalated, dispatch_uid="tickets.flag_on_escalation")
def flag_on_escalation(sender, ticket, level, **kwargs):
    _flag(ticket, f"escalated:{level}", FlagRule.objects.filter(on_escalation=True))


@receiver(inbound, dispatch_uid="tickets.anymail_inbound")
def anymail_inbound(sender, event, esp_name, **kwargs):
    """An email provider's inbound webhook: the raw message goes through the same path as every other."""
    from tickets.inbound_email import inbound_email_receive
    from tickets.inbound_mime import message_bytes

    inbound_email_receive(raw=message_bytes(event.message), source=f"anymail:{esp_name}"[:50])
