"""Real `celery beat` processes (and a worker) on PostgreSQL + the broker: one periodic run per due time across a
beat hand-over (SIGKILL and SIGTERM of the active beat), two beats started together, and a schedule edited in the
admin picked up by the running beat (config/beat.py). See tests/test_celery_live.py for the subprocess helpers.

How a duplicate shows: the worker runs the heartbeat task (every 2 s here) and logs when it received each one
(LOG_LEVEL_TASKS=INFO in its environment); two receipts less than a second apart are one due time published
twice. The row's stored run count is sampled throughout (it must never go down) and at the end must be at least
the number of heartbeats run: a beat publishing from a stale snapshot runs more heartbeats than it counts.
"""

import io
import os
import re
import signal
import time
import uuid
from datetime import datetime
from itertools import pairwise

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm.models import Heartbeat
from tests.test_celery_live import Process, database_url, delete_queue, wait_until

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]

EVERY_SECONDS = 2
RECEIVED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO celery\.worker\.strategy Task crm\.heartbeat\[")


class Live:
    """A worker on a queue of the test's own, the heartbeat alone on it, and beats started on demand."""

    def __init__(self, tmp_path, every_seconds=EVERY_SECONDS):
        self.tmp_path = tmp_path
        self.queue = f"live-beat-{uuid.uuid4().hex[:10]}"
        call_command("setup_periodic_tasks", stdout=io.StringIO())
        self.schedule = IntervalSchedule.objects.create(every=every_seconds, period=IntervalSchedule.SECONDS)
        self.heartbeat = PeriodicTask.objects.get(task="crm.heartbeat")
        self.heartbeat.interval = self.schedule
        self.heartbeat.queue = self.queue
        self.heartbeat.save()
        PeriodicTask.objects.exclude(pk=self.heartbeat.pk).update(enabled=False)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL_TASKS": "INFO",  # the worker logs each task it receives: the test reads the times
        }
        self.processes: list[Process] = []
        self.run_counts: list[int] = []
        self.worker = self.start(
            "worker",
            *("worker", "--pool", "solo", "-Q", self.queue, "-n", f"{self.queue}@%h", "-l", "INFO"),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
        )

    def start(self, name, *args) -> Process:
        process = Process(name, list(args), self.env, self.tmp_path)
        self.processes.append(process)
        return process

    def start_beat(self, name) -> Process:
        return self.start(name, "beat", "-l", "INFO", "--max-interval", "1", "-s", str(self.tmp_path / name))

    def beats(self) -> int:
        self.sample()
        row = Heartbeat.objects.filter(name="celery").first()
        return row.beats if row else 0

    def sample(self) -> None:
        self.run_counts.append(PeriodicTask.objects.get(pk=self.heartbeat.pk).total_run_count)

    def wait(self, condition, what, timeout=40):
        alive = [p for p in self.processes if p.alive()]
        return wait_until(condition, alive, what, timeout=timeout)

    def wait_for_beats(self, count, what, timeout=40):
        return self.wait(lambda: self.beats() >= count, what, timeout=timeout)

    def log_says(self, process, text) -> bool:
        self.sample()
        return text in process.log_path.read_text(errors="replace")

    def receipts(self) -> list[datetime]:
        times = []
        for line in self.worker.log_path.read_text(errors="replace").splitlines():
            match = RECEIVED.match(line)
            if match:
                times.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f"))
        return times

    def finish(self) -> None:
        """Stop the beats, let the worker run what they published, then check: one run per due time."""
        for process in self.processes:
            if process is not self.worker:
                process.stop()
        runs = PeriodicTask.objects.get(pk=self.heartbeat.pk).total_run_count
        deadline = time.monotonic() + 10
        while self.beats() < runs - 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)
        self.sample()
        beats = self.beats()
        receipts = self.receipts()
        logs = "\n".join(p.tail(60) for p in self.processes)
        assert len(receipts) == beats, logs
        gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(receipts)]
        assert min(gaps) > 1, f"a heartbeat published twice for one due time: gaps {gaps}\n{logs}"
        assert self.run_counts == sorted(self.run_counts), f"the stored run count went down: {self.run_counts}"
        # Each publish is counted before its message leaves: a beat killed in between skips one run, never adds one.
        assert runs - 1 <= beats <= runs, (runs, beats, logs)

    def close(self) -> None:
        for process in self.processes:
            process.stop()
        delete_queue(self.queue)


@pytest.fixture
def one_beat(tmp_path):
    live = Live(tmp_path)
    yield live
    live.close()


@pytest.fixture
def live(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("two beats need PostgreSQL: on SQLite (one machine, one `make run`) only one beat runs, unlocked")
    live = Live(tmp_path)
    yield live
    live.close()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_the_standby_beat_takes_over_without_running_anything_twice(live, stop):
    active = live.start_beat("beat-a")
    live.wait_for_beats(2, "heartbeats from the first beat")
    standby = live.start_beat("beat-b")
    live.wait(lambda: live.log_says(standby, "standing by"), "the second beat standing by")
    before = live.beats()
    live.wait_for_beats(before + 2, "more heartbeats while the second beat stands by")  # its snapshot gets stale

    active.popen.send_signal(stop)
    active.popen.wait(timeout=20)
    live.wait(lambda: live.log_says(standby, "this beat is now the active one"), "the standby taking over")
    taken_over_at = live.beats()
    live.wait_for_beats(taken_over_at + 3, "heartbeats from the beat that took over")

    live.finish()


def test_two_beats_started_together_run_each_heartbeat_once(live):
    first, second = live.start_beat("beat-a"), live.start_beat("beat-b")
    live.wait(
        lambda: live.log_says(first, "standing by") or live.log_says(second, "standing by"), "one beat standing by"
    )
    live.wait_for_beats(5, "heartbeats")
    assert [live.log_says(beat, "standing by") for beat in (first, second)].count(True) == 1

    live.finish()


def test_a_schedule_edited_in_the_admin_is_picked_up_by_the_running_beat(one_beat, admin_client):
    live = one_beat
    live.schedule.every = 3600
    live.schedule.save()
    beat = live.start_beat("beat")
    live.wait(lambda: live.log_says(beat, "beat: Starting"), "beat starting")
    time.sleep(3)
    assert live.beats() == 0  # every hour: not due yet

    url = reverse("admin:django_celery_beat_intervalschedule_change", args=[live.schedule.pk])
    form = {"every": EVERY_SECONDS, "period": IntervalSchedule.SECONDS}
    response = admin_client.post(url, {**form, "periodictask_set-TOTAL_FORMS": 0, "periodictask_set-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()

    live.wait_for_beats(3, "heartbeats on the edited schedule, without restarting beat", timeout=30)
    live.finish()
