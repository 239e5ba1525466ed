"""The Celery app: `celery -A config worker` and `celery -A config beat`.

Settings come from Django's settings (CELERY_* names, config/settings/base.py), so the worker and beat use the
same settings module as the web process: DJANGO_SETTINGS_MODULE if set (production, test), else local.
Logging: Celery leaves the root logger to Django's LOGGING (CELERY_WORKER_HIJACK_ROOT_LOGGER = False), so web,
worker and beat log in one format to the console; `-l/--loglevel` still sets the level. Celery's two lines per
task ("received", "succeeded") are off unless LOG_LEVEL_TASKS=INFO (settings' LOGGING).

Queues (names in settings, CELERY_QUEUE_*): bulk email, periodic work and everything else (interactive: one
email, a unit of a scan) each have their own, so that a campaign's backlog delays neither the periodic scans nor
the heartbeat; `route_task` below picks the queue (CELERY_TASK_ROUTES).

Beat runs as one instance: on PostgreSQL its scheduler (config/beat.py) takes a session advisory lock before it
reads the schedule, and a second beat (a second `make run`, a rolling deploy) waits as a standby until the first
one's connection is gone, then schedules from the database's current state.
"""

import os
from functools import cache

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

BEAT_LOCK_KEY = 0x43524D5F42454154  # "CRM_BEAT": one advisory lock id per database

# Tasks of campaigns (surveys, outreach): thousands of messages at once, on their own queue.
BULK_EMAIL_TASKS = frozenset({"crm.send_email_batch", "surveys.dispatch_invitations", "surveys.remind_invitations"})


@cache
def periodic_task_names() -> frozenset[str]:
    """Every task that an app's PERIODIC_TASKS names (the rows beat publishes)."""
    from crm.management.commands.setup_periodic_tasks import collect_periodic_tasks

    return frozenset(spec["task"] for _, spec in collect_periodic_tasks())


def route_task(name, args, kwargs, options, task=None, **kw):
    """CELERY_TASK_ROUTES: bulk email to CELERY_QUEUE_BULK_EMAIL, periodic jobs to CELERY_QUEUE_PERIODIC, the rest
    to the default queue (CELERY_QUEUE_DEFAULT). A queue given explicitly (a periodic task row's queue, `queue=`
    in apply_async) wins over this."""
    from django.conf import settings

    if name in BULK_EMAIL_TASKS:
        return {"queue": settings.CELERY_QUEUE_BULK_EMAIL}
    if name in periodic_task_names():
        return {"queue": settings.CELERY_QUEUE_PERIODIC}
    return None
