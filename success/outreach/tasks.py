"""Thin Celery tasks of outreach (registered through success/tasks.py). The services hold the idempotency
(success.outreach.execution: claims under unique keys; success.outreach.perform: pending rows under
select_for_update(skip_locked)), so every task is acks_late and safe to deliver twice."""

from celery import shared_task

PERIODIC_TASKS = [
    {
        "name": "Outreach rules",
        "task": "success.outreach_tick",
        "every_seconds": 300,
        "expire_seconds": 280,
        "description": "Enqueues a scan per enabled outreach rule (schedules in each customer's local time; "
        "renewal, usage and overdue-task events) and the outreach work deferred to business hours that is now due.",
    },
]


@shared_task(name="success.outreach_tick")
def tick() -> dict:
    from success.outreach.execution import outreach_tick

    return outreach_tick()


@shared_task(name="success.outreach_scan_rule", acks_late=True)
def scan_rule(rule_id: int) -> dict:
    from success.outreach.execution import rule_scan

    return rule_scan(rule_id=rule_id)


@shared_task(name="success.outreach_event_scan", acks_late=True)
def event_scan(rule_id: int, customer_id: int, period_key: str) -> dict:
    from success.outreach.execution import rule_event_scan

    return rule_event_scan(rule_id=rule_id, customer_id=customer_id, period_key=period_key)


@shared_task(name="success.outreach_perform", acks_late=True)
def perform() -> int:
    from success.outreach.perform import records_perform

    return records_perform()
