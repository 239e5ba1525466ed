"""The Celery app: `celery -A config worker` and `celery -A config beat`.

Settings come from Django's settings (CELERY_* names, config/settings/base.py), so the worker and beat use the
same settings module as the web process: DJANGO_SETTINGS_MODULE if set (production, test), else local.
Logging: Celery leaves the root logger to Django's LOGGING (CELERY_WORKER_HIJACK_ROOT_LOGGER = False), so web,
worker and beat log in one format to the console; `-l/--loglevel` still sets the level.

Beat runs as one instance: on PostgreSQL it takes a session advisory lock before scheduling anything, and a
second beat (a second `make run`, a rolling deploy) waits as a standby until the first one's connection is gone.
"""

import logging
import os
import time

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)

BEAT_LOCK_KEY = 0x43524D5F42454154  # "CRM_BEAT": one advisory lock id per database
_beat_lock_connection = None  # held for the life of the beat process; closing it releases the lock


@signals.beat_init.connect
def hold_the_beat_lock(sender=None, **kwargs):
    """Block until this beat is the only one scheduling against this database (PostgreSQL only; SQLite means a
    single machine, where `make run` starts one beat)."""
    global _beat_lock_connection
    from django.conf import settings
    from django.db import connections

    if connections["default"].vendor != "postgresql":
        return
    connection = connections.create_connection("default")  # its own connection, outside Django's per-thread ones
    waited = False
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [BEAT_LOCK_KEY])
            (locked,) = cursor.fetchone()
        if locked:
            break
        if not waited:
            logger.warning("another beat holds the scheduler lock; standing by until it stops")
            waited = True
        time.sleep(getattr(settings, "BEAT_LOCK_RETRY_SECONDS", 10))
    if waited:
        logger.warning("scheduler lock acquired; this beat is now the active one")
    _beat_lock_connection = connection
