"""Beat's scheduler (CELERY_BEAT_SCHEDULER): django-celery-beat's DatabaseScheduler, one active beat per database.

Why a subclass and not a `beat_init` receiver that waits for the lock: the scheduler reads the whole schedule
(each task's last run and run count) when it is built, and beat builds it before `beat_init`. A standby that
waited for the lock after that read scheduled from a snapshot taken when it started: at the hand-over it
published every periodic task again that the stopped beat had already published, and wrote its older run
counts back. Here:

- the scheduler takes the lock (a PostgreSQL session advisory lock, held for the life of the process on a
  connection of its own) before it reads anything, so the beat that takes over schedules from the database as
  the previous one left it;
- the active beat writes a task's last run and run count to the database as it publishes it (before the
  message leaves; upstream writes them every 3 minutes), so what a standby reads at the hand-over is current,
  however the previous beat stopped (SIGTERM, SIGKILL, a lost machine). A beat killed between that write and
  the publish skips that one run: the next one comes on schedule, and every periodic job is a scan of due
  work that catches up (ARCHITECTURE: "Periodic work");
- the active beat checks before each publish that it still holds the lock; a beat whose database session was
  ended (the standby may already be active) stops instead of publishing from memory.

SQLite means one machine and one `make run`, with one beat: there is no lock there.
"""

import logging
import time

from django.conf import settings
from django.db import DatabaseError, connections
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from config.celery import BEAT_LOCK_KEY

logger = logging.getLogger(__name__)


class BeatLockLost(SystemExit):
    """Raised in the active beat whose database session (and so its lock) is gone: beat stops."""


class LockedDatabaseScheduler(DatabaseScheduler):
    _lock_connection = None  # the connection holding the advisory lock, for the life of the process
    _standing_by = False  # class-wide: a second scheduler built while the first waits (see _wait_for_the_lock)

    def setup_schedule(self):
        self._wait_for_the_lock()
        super().setup_schedule()  # the first read of the schedule, now that this beat is the active one

    def _wait_for_the_lock(self) -> None:
        if connections["default"].vendor != "postgresql" or type(self)._lock_connection is not None:
            return
        if type(self)._standing_by:
            # Beat's SIGTERM/SIGINT handler syncs the scheduler, which builds one more while the first one is
            # still waiting here: stop rather than wait a second time inside the signal handler.
            raise SystemExit("beat stopped while standing by")
        type(self)._standing_by = True
        connection = connections.create_connection("default")  # its own, outside Django's per-thread ones
        waited = False
        try:
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
        except BaseException:
            connection.close()
            raise
        finally:
            type(self)._standing_by = False
        if waited:
            logger.warning("scheduler lock acquired; this beat is now the active one")
        type(self)._lock_connection = connection

    def _check_the_lock(self) -> None:
        connection = type(self)._lock_connection
        if connection is None:  # SQLite
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                    " AND granted AND ((classid::bigint << 32) | objid::bigint) = %s)",
                    [BEAT_LOCK_KEY],
                )
                (held,) = cursor.fetchone()
        except DatabaseError:
            held = False
        if not held:
            logger.error("this beat lost the scheduler lock (its database session ended); stopping")
            raise BeatLockLost(1)

    def reserve(self, entry):
        """Advance the entry, and store its last run and run count now, before its message is published."""
        self._check_the_lock()
        new_entry = next(entry)
        model = new_entry.model
        try:
            PeriodicTask.objects.filter(pk=model.pk).update(
                last_run_at=model.last_run_at, total_run_count=model.total_run_count
            )
        except DatabaseError:
            logger.exception("could not store the run of %s; retrying at the next sync", new_entry.name)
            self._dirty.add(new_entry.name)
        return new_entry
