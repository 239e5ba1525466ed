"""Thin Celery tasks of QBRs (registered through success/tasks.py, which Celery autodiscovers)."""

from celery import shared_task

from success.qbrs.services import qbr_plan, qbr_remind

PERIODIC_TASKS = [
    {
        "name": "QBR planning",
        "task": "success.qbr_plan",
        "crontab": {"minute": "23", "hour": "4"},
        "description": "Proposes a QBR for its owner CSM to every customer that should have a next one (its tier's "
        "cadence since the last QBR held, and one at least 60 days before each renewal); idempotent.",
    },
    {
        "name": "QBR reminders",
        "task": "success.qbr_remind",
        "crontab": {"minute": "41", "hour": "*"},
        "description": "Emails the owner CSM 14 and 3 days before each proposed or scheduled QBR (once each, "
        "counted in the customer's time zone).",
    },
]


@shared_task(name="success.qbr_plan")
def plan_qbrs() -> dict:
    return qbr_plan()


@shared_task(name="success.qbr_remind")
def remind_qbrs() -> dict:
    return qbr_remind()
