"""Thin Celery tasks of health scores (registered through success/tasks.py). The format of PERIODIC_TASKS is in
crm/tasks.py."""

import datetime as dt

from celery import shared_task

from success.health.services import health_customer_chunks, health_recompute, health_recompute_pending

PERIODIC_TASKS = [
    {
        "name": "Health recompute (pending)",
        "task": "success.health_recompute_pending",
        "every_seconds": 30,
        "expire_seconds": 25,  # a tick nobody ran in time is dropped: the next one finds the same requests
        "description": "Recomputes the health of customers whose tickets, surveys, usage, notes, tasks, stage or "
        "overrides changed (up to 5,000 per run).",
    },
    {
        "name": "Health recompute (nightly)",
        "task": "success.health_recompute_nightly",
        "crontab": {"minute": "40", "hour": "2"},
        "expire_seconds": 3600,
        "description": "Queues the daily health score of every customer, one task per 2,000 customers.",
    },
]


@shared_task(name="success.health_recompute_pending")
def recompute_pending() -> dict:
    return health_recompute_pending()


@shared_task(name="success.health_recompute_nightly")
def recompute_nightly() -> dict:
    """All chunks score the same instant; a second delivery queues the same idempotent work again."""
    at = dt.datetime.now(dt.UTC)
    chunks = health_customer_chunks(at=at)
    for customer_ids in chunks:
        recompute_customers.delay(customer_ids, at.isoformat())
    return {"chunks": len(chunks)}


@shared_task(name="success.health_recompute_customers", acks_late=True)
def recompute_customers(customer_ids: list[int], at: str | None = None) -> dict:
    return health_recompute(customer_ids=customer_ids, at=dt.datetime.fromisoformat(at) if at else None)
