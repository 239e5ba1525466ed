from celery import shared_task

from tickets.escalation import sla_sweep, ticket_flag_evaluate, tickets_auto_close
from tickets.models import Ticket

PERIODIC_TASKS = [
    {"name": "SLA sweep", "task": "tickets.sla_sweep", "every_seconds": 60},
    {"name": "Ticket auto-close", "task": "tickets.auto_close", "every_seconds": 3600},
]


@shared_task(name="tickets.sla_sweep")
def run_sla_sweep() -> dict:
    return sla_sweep()


@shared_task(name="tickets.auto_close")
def run_auto_close() -> int:
    return tickets_auto_close()


@shared_task(name="tickets.evaluate_flags", acks_late=True)
def evaluate_flags(ticket_id: int, trigger: str) -> int:
    """Flag one opened or escalated ticket to its customer's CSM by the matching rules; once per rule and
    trigger (the service's unique flag row), however often the task is delivered."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return 0
    return len(ticket_flag_evaluate(ticket=ticket, trigger=trigger))
