"""Thin Celery tasks of playbooks (registered through success/tasks.py, which Celery autodiscovers)."""

from celery import shared_task

PERIODIC_TASKS = [
    {
        "name": "Playbooks",
        "task": "success.playbook_scan",
        "every_seconds": 300,
        "expire_seconds": 280,
        "description": "Starts playbooks for customers entering a bound stage, sends email and survey steps when "
        "due, completes milestones reached by usage events, nudges owners of overdue steps (once a day) and "
        "opens a risk task for runs that are late.",
    },
]


@shared_task(name="success.playbook_scan")
def scan() -> dict:
    from success.playbooks.scheduling import playbook_scan

    return playbook_scan()


@shared_task(name="success.playbook_step_execute")
def execute_step(step_id: int) -> None:
    from success.playbooks.services import run_step_execute

    run_step_execute(step_id=step_id)
