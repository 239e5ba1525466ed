from django.dispatch import receiver

from tickets.signals import ticket_solved


@receiver(ticket_solved, dispatch_uid="surveys.invite_after_ticket_solved")
def invite_after_ticket_solved(sender, ticket, **kwargs):
    from surveys.triggers import invite_after_ticket_solved as schedule

    schedule(ticket=ticket)
