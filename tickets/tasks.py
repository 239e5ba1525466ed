from celery import shared_task

from tickets.escalation import sla_sweep, tickets_auto_close

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
