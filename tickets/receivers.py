from anymail.signals import inbound
from django.dispatch import receiver

from tickets import signals
from tickets.escalation import ticket_flag_evaluate


@receiver(signals.ticket_opened, dispatch_uid="tickets.flag_on_open")
def flag_on_open(sender, ticket, **kwargs):
    ticket_flag_evaluate(ticket=ticket, trigger="opened")


@receiver(signals.ticket_escalated, dispatch_uid="tickets.flag_on_escalation")
def flag_on_escalation(sender, ticket, level, **kwargs):
    ticket_flag_evaluate(ticket=ticket, trigger=f"escalated:{level}")


@receiver(inbound, dispatch_uid="tickets.anymail_inbound")
def anymail_inbound(sender, event, esp_name, **kwargs):
    """An email provider's inbound webhook: the raw message goes through the same path as every other."""
    from tickets.inbound_email import inbound_email_receive

    inbound_email_receive(raw=event.message.as_bytes(), source=f"anymail:{esp_name}"[:50])
