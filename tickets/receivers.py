from django.dispatch import receiver

from tickets import signals
from tickets.escalation import ticket_flag_evaluate


@receiver(signals.ticket_opened, dispatch_uid="tickets.flag_on_open")
def flag_on_open(sender, ticket, **kwargs):
    ticket_flag_evaluate(ticket=ticket, trigger="opened")


@receiver(signals.ticket_escalated, dispatch_uid="tickets.flag_on_escalation")
def flag_on_escalation(sender, ticket, level, **kwargs):
    ticket_flag_evaluate(ticket=ticket, trigger=f"escalated:{level}")
