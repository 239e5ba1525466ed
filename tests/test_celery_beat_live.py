"""Real `celery beat` processes (and a worker) on PostgreSQL + the broker: one periodic run per due time across a
beat hand-over (SIGKILL, then SIGTERM, of the active beat), two beats started together, and a schedule edited in the
admin picked up by the running beat (config/beat.py). See tests/test_celery_live.py for the subprocess helpers.

How a duplicate shows: each beat logs when it publishes the heartbeat (every 2 s here); across all the beats, two
publishes less than a second apart are one due time published twice, and the publishing beats must take turns
(never one, then the other, then the first again). The worker logs each heartbeat it receives (LOG_LEVEL_TASKS=INFO
in its environment): as many as were published and as the heartbeats it ran. The times it receives them prove
nothing: a worker starved of CPU for a few seconds (a loaded CI machine) receives two heartbeats published 2 s
apart a few milliseconds apart. The row's stored run count is sampled throughout (it must never go down) and at
the end must be at least the number of heartbeats run: a beat publishing from a stale snapshot runs more
heartbeats than it counts.
"""

import io
import os
import re
import signal
import time
import uuid
from datetime import datetime
from itertools import groupby, pairwise

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import Exchange, Queue

from config.celery import app as celery_app
from crm.models import Heartbeat
from tests.test_celery_live import Process, database_url, delete_queue, wait_until

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]

EVERY_SECONDS = 2
TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
RECEIVED = re.compile(TIME + r"INFO celery\.worker\.strategy Task crm\.heartbeat\[")
PUBLISHED = re.compile(TIME + r"INFO celery\.beat Scheduler: Sending due task Heartbeat \(crm\.heartbeat\)")


class Worker:
    """The module's worker, on a queue of its own with the heartbeat alone on it: one start for every test (each
    test reads only what the worker logged after it began)."""

    def __init__(self, log_dir):
        self.queue = f"live-beat-{uuid.uuid4().hex[:10]}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL_TASKS": "INFO",  # the worker logs each task it receives: the test counts them
        }
        self.process = Process(
            "worker",
            [
                *("worker", "--pool", "solo", "-Q", self.queue, "-n", f"{self.queue}@%h", "-l", "INFO"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            ],
            self.env,
            log_dir,
        )

    def purge(self) -> None:
        """Drop what an earlier test's beats left in the queue (nothing, unless that test failed)."""
        with celery_app.connection_for_write() as broker:
            queue = Queue(self.queue, Exchange(self.queue, type="direct"), routing_key=self.queue)
            queue(broker.default_channel).purge()


class Live:
    """The module's worker, the heartbeat alone on its queue, and beats started on demand."""

    def __init__(self, tmp_path, worker: Worker, every_seconds=EVERY_SECONDS):
        self.tmp_path = tmp_path
        self.queue = worker.queue
        call_command("setup_periodic_tasks", stdout=io.StringIO())
        self.schedule = IntervalSchedule.objects.create(every=every_seconds, period=IntervalSchedule.SECONDS)
        self.heartbeat = PeriodicTask.objects.get(task="crm.heartbeat")
        self.heartbeat.interval = self.schedule
        self.heartbeat.queue = self.queue
        self.heartbeat.save()
        PeriodicTask.objects.exclude(pk=self.heartbeat.pk).update(enabled=False)
        self.env = worker.env
        worker.purge()
        self.worker = worker.process
        self.worker_log_start = self.worker.log_path.stat().st_size
        self.processes: list[Process] = []  # the beats
        self.run_counts: list[int] = []

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
        alive = [p for p in (self.worker, *self.processes) if p.alive()]
        return wait_until(condition, alive, what, timeout=timeout)

    def wait_for_beats(self, count, what, timeout=40):
        return self.wait(lambda: self.beats() >= count, what, timeout=timeout)

    def log_says(self, process, text) -> bool:
        self.sample()
        return text in process.log_path.read_text(errors="replace")

    def receipts(self) -> list[datetime]:
        return logged_times(self.worker, RECEIVED, start=self.worker_log_start)

    def publishes(self) -> list[tuple[datetime, str]]:
        """When each beat published the heartbeat, in time order across the beats: (time, beat)."""
        return sorted((at, beat.name) for beat in self.processes for at in logged_times(beat, PUBLISHED))

    def finish(self) -> None:
        """Stop the beats, let the worker run what they published, then check: one run per due time."""
        for process in self.processes:
            process.stop()
        runs = PeriodicTask.objects.get(pk=self.heartbeat.pk).total_run_count
        deadline = time.monotonic() + 10
        while self.beats() < runs - 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)
        self.sample()
        beats = self.beats()
        receipts, publishes = self.receipts(), self.publishes()
        logs = "\n".join(p.tail(60) for p in (self.worker, *self.processes))
        assert len(receipts) == beats, logs
        # A beat killed with SIGKILL may have logged its last publish without sending it.
        assert beats <= len(publishes) <= beats + 1, (publishes, beats, logs)
        gaps = [(later - earlier).total_seconds() for (earlier, _), (later, _) in pairwise(publishes)]
        assert min(gaps) > 1, f"a heartbeat published twice for one due time: gaps {gaps}\n{logs}"
        turns = [name for name, _ in groupby(name for _, name in publishes)]
        assert len(turns) == len(set(turns)), f"the beats published in turn: {turns}\n{logs}"
        assert self.run_counts == sorted(self.run_counts), f"the stored run count went down: {self.run_counts}"
        # Each publish is counted before its message leaves: a beat killed in between skips one run, never adds one.
        assert runs - 1 <= beats <= runs, (runs, beats, logs)

    def close(self) -> None:
        for process in self.processes:
            process.stop()


def logged_times(process: Process, pattern: re.Pattern, start: int = 0) -> list[datetime]:
    times = []
    for line in process.log_path.read_bytes()[start:].decode(errors="replace").splitlines():
        match = pattern.match(line)
        if match:
            times.append(datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f"))
    return times


@pytest.fixture(scope="module")
def beat_worker(django_db_setup, tmp_path_factory):
    worker = Worker(tmp_path_factory.mktemp("beat-worker"))
    yield worker
    worker.process.stop()
    delete_queue(worker.queue)


@pytest.fixture
def one_beat(tmp_path, beat_worker):
    live = Live(tmp_path, beat_worker)
    yield live
    live.close()


@pytest.fixture
def live(request, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("two beats need PostgreSQL: on SQLite (one machine, one `make run`) only one beat runs, unlocked")
    live = Live(tmp_path, request.getfixturevalue("beat_worker"))
    yield live
    live.close()


def test_each_standby_beat_takes_over_without_running_anything_twice(live):
    """Beat a is active; b stands by and takes over when a is killed (SIGKILL); c stands by and takes over when b
    is stopped (SIGTERM). One run of the sequence for both hand-overs: each beat takes seconds to start."""
    active = live.start_beat("beat-a")
    live.wait_for_beats(1, "a heartbeat from the first beat")  # it holds the lock
    for standby_name, stop in (("beat-b", signal.SIGKILL), ("beat-c", signal.SIGTERM)):
        standby = live.start_beat(standby_name)
        live.wait(lambda: live.log_says(standby, "standing by"), f"{standby_name} standing by")  # noqa: B023
        before = live.beats()
        live.wait_for_beats(before + 2, f"more heartbeats while {standby_name} stands by")  # its snapshot gets stale

        active.popen.send_signal(stop)
        active.popen.wait(timeout=20)
        live.wait(
            lambda: live.log_says(standby, "this beat is now the active one"),  # noqa: B023
            f"{standby_name} taking over after {stop.name}",
        )
        taken_over_at = live.beats()
        live.wait_for_beats(taken_over_at + 2, f"heartbeats from {standby_name}, which took over")
        active = standby

    live.finish()


def test_two_beats_started_together_run_each_heartbeat_once(live):
    first, second = live.start_beat("beat-a"), live.start_beat("beat-b")
    live.wait(
        lambda: live.log_says(first, "standing by") or live.log_says(second, "standing by"), "one beat standing by"
    )
    live.wait_for_beats(3, "heartbeats")
    assert [live.log_says(beat, "standing by") for beat in (first, second)].count(True) == 1

    live.finish()


def test_a_schedule_edited_in_the_admin_is_picked_up_by_the_running_beat(one_beat, admin_client):
    live = one_beat
    live.schedule.every = 3600
    live.schedule.save()
    beat = live.start_beat("beat")
    live.wait(lambda: live.log_says(beat, "beat: Starting"), "beat starting")
    time.sleep(2)  # beat ticks every second (--max-interval 1)
    assert live.beats() == 0  # every hour: not due yet

    url = reverse("admin:django_celery_beat_intervalschedule_change", args=[live.schedule.pk])
    form = {"every": EVERY_SECONDS, "period": IntervalSchedule.SECONDS}
    response = admin_client.post(url, {**form, "periodictask_set-TOTAL_FORMS": 0, "periodictask_set-INITIAL_FORMS": 0})
    assert response.status_code == 302, response.content.decode()

    live.wait_for_beats(2, "heartbeats on the edited schedule, without restarting beat", timeout=30)
    live.finish()
