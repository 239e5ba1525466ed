"""What the ticket desk tells other apps, sent on commit by its services (receivers call one service each)."""

from django.dispatch import Signal

ticket_opened = Signal()  # sender=Ticket, ticket=Ticket
ticket_escalated = Signal()  # sender=Ticket, ticket=Ticket, level=int
ticket_solved = Signal()  # sender=Ticket, ticket=Ticket
ticket_reopened = Signal()  # sender=Ticket, ticket=Ticket
