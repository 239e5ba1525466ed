"""Celery tasks of success (autodiscovered), gathered from each capability's tasks module; `PERIODIC_TASKS` is
read by `manage.py setup_periodic_tasks`."""

from success.health import tasks as health_tasks
from success.health.tasks import recompute_customers, recompute_nightly, recompute_pending  # noqa: F401
from success.outreach import tasks as outreach_tasks
from success.outreach.tasks import event_scan, perform, scan_rule, tick  # noqa: F401 (registers the tasks)
from success.playbooks import tasks as playbooks_tasks
from success.playbooks.tasks import execute_step, scan  # noqa: F401 (registers the tasks)
from success.qbrs import tasks as qbr_tasks
from success.qbrs.tasks import plan_qbrs, remind_qbrs  # noqa: F401 (registers the tasks)
from success.usage import tasks as usage_tasks
from success.usage.tasks import prune_usage  # noqa: F401 (registers the task)

PERIODIC_TASKS = [
    *usage_tasks.PERIODIC_TASKS,
    *health_tasks.PERIODIC_TASKS,
    *playbooks_tasks.PERIODIC_TASKS,
    *qbr_tasks.PERIODIC_TASKS,
    *outreach_tasks.PERIODIC_TASKS,
]
