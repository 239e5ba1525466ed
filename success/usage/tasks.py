"""Thin Celery tasks of product usage (registered through success/tasks.py, which Celery autodiscovers)."""

from celery import shared_task

from success.usage.services import usage_prune

PERIODIC_TASKS = [
    {
        "name": "Usage retention",
        "task": "success.usage_prune",
        "crontab": {"minute": "17", "hour": "3"},
        "description": "Deletes raw usage events older than USAGE_RAW_RETENTION_DAYS and daily rollups older "
        "than two years, 10,000 rows per statement.",
    },
]


@shared_task(name="success.usage_prune")
def prune_usage() -> dict:
    return usage_prune()
