"""Queues per kind of work (config/celery.py `route_task`) and the worker's log volume.

- the routes: bulk email to the bulk queue, every periodic job to the periodic queue, the rest to the default one;
- `make run`'s worker consumes every queue;
- live: with 300 bulk email batches waiting (no bulk worker), the periodic worker still runs the heartbeat at
  once, and the batches are still waiting on their own queue;
- live: a worker's log does not grow with the number of tasks it runs (unless LOG_LEVEL_TASKS=INFO).
"""

import io
import logging
import os
import re
import subprocess
import time
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu import Exchange, Queue

from config.celery import app as celery_app
from crm.management.commands.setup_periodic_tasks import collect_periodic_tasks
from crm.models import Heartbeat, OutboundEmail
from crm.outbound_email import email_queue
from tests.test_celery_live import Process, database_url, delete_queue, wait_until
from tests.test_make_run_web import procfile_command


def queue_of(name: str, **options) -> str:
    return celery_app.amqp.router.route(options, name)["queue"].name


def test_bulk_email_periodic_jobs_and_interactive_work_each_have_their_queue():
    queues = {settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_BULK_EMAIL, settings.CELERY_QUEUE_PERIODIC}
    assert len(queues) == 3
    assert queue_of("crm.send_email_batch") == settings.CELERY_QUEUE_BULK_EMAIL
    periodic = {spec["task"] for _, spec in collect_periodic_tasks()}
    assert {"crm.heartbeat", "crm.email_sweep"} <= periodic
    assert {name: queue_of(name) for name in periodic} == dict.fromkeys(periodic, settings.CELERY_QUEUE_PERIODIC)
    assert queue_of("crm.send_email") == settings.CELERY_QUEUE_DEFAULT  # one interactive email: a ticket reply
    assert queue_of("crm.heartbeat", queue="ops") == "ops"  # a queue given explicitly wins


@pytest.mark.parametrize("database", ["postgres://db/crm", "sqlite:///crm.sqlite3"])
def test_the_worker_of_make_run_consumes_every_queue(database):
    command = procfile_command("worker").replace("$", "$$")  # as honcho runs it: a shell, with make's exports
    shown = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", f"show-worker:\n\t@echo {command}", "show-worker"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": database},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown[:4] == ["celery", "-A", "config", "worker"]
    assert shown.count("-Q") == 1
    consumed = shown[shown.index("-Q") + 1].split(",")
    assert sorted(consumed) == sorted(
        [settings.CELERY_QUEUE_DEFAULT, settings.CELERY_QUEUE_BULK_EMAIL, settings.CELERY_QUEUE_PERIODIC]
    )


def test_celerys_lines_per_task_are_off_unless_asked_for():
    assert settings.LOG_LEVEL_TASKS == "WARNING"
    for name in ("celery.app.trace", "celery.worker.strategy"):  # "Task ... succeeded", "Task ... received"
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
    assert logging.getLogger("celery.app.trace").isEnabledFor(logging.ERROR)  # a failed task is still logged


def queue_length(name: str) -> int:
    with celery_app.connection_for_write() as broker:
        queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(broker.default_channel)
        return queue.queue_declare(passive=True).message_count


def live_env(**extra) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def worker_args(queue: str) -> list[str]:
    return [
        *("worker", "--pool", "solo", "-Q", queue, "-n", f"{queue}@%h", "-l", "INFO"),
        *("--without-mingle", "--without-gossip", "--without-heartbeat"),
    ]


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_runs_at_once_behind_a_backlog_of_bulk_email(settings, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    settings.CELERY_QUEUE_BULK_EMAIL = f"live-bulk-{suffix}"  # the test's own queues, by the real routes
    settings.CELERY_QUEUE_PERIODIC = f"live-periodic-{suffix}"
    call_command("setup_periodic_tasks", stdout=io.StringIO())  # every row on the (test's) periodic queue
    heartbeat = PeriodicTask.objects.get(task="crm.heartbeat")
    heartbeat.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    heartbeat.save()
    PeriodicTask.objects.exclude(pk=heartbeat.pk).update(enabled=False)
    for batch in range(300):  # a campaign's backlog, nobody consuming the bulk queue
        celery_app.send_task("crm.send_email_batch", args=[list(range(batch * 50, batch * 50 + 50))])
    assert queue_length(settings.CELERY_QUEUE_BULK_EMAIL) == 300

    env = live_env()
    worker = beat = None
    try:
        worker = Process("worker", worker_args(settings.CELERY_QUEUE_PERIODIC), env, tmp_path)
        beat = Process("beat", ["beat", "-l", "INFO", "--max-interval", "1", "-s", str(tmp_path / "s")], env, tmp_path)
        wait_until(lambda: "beat: Starting" in beat.log_path.read_text(), [worker, beat], "beat starting")
        started = time.monotonic()
        row = wait_until(
            lambda: Heartbeat.objects.filter(name="celery", beats__gte=3).first(), [worker, beat], "three heartbeats"
        )
        assert time.monotonic() - started < 15
        assert row.worker_hostname.startswith(f"{settings.CELERY_QUEUE_PERIODIC}@")
        assert queue_length(settings.CELERY_QUEUE_BULK_EMAIL) == 300  # still waiting, on their own queue
    finally:
        for process in (beat, worker):
            if process is not None:
                process.stop()
        delete_queue(settings.CELERY_QUEUE_BULK_EMAIL)
        delete_queue(settings.CELERY_QUEUE_PERIODIC)


LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", re.MULTILINE)


def log_lines_for_emails(tmp_path, monkeypatch, contact, smtp_server, counts, **env) -> list[int]:
    """Run a worker, send it emails in rounds of `counts`; the number of log lines after each round."""
    queue = f"live-log-{uuid.uuid4().hex[:10]}"
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    environment = live_env(TEST_EMAIL_URL=f"smtp://{smtp_server.host}:{smtp_server.port}", **env)
    worker = Process(f"worker-{queue}", worker_args(queue), environment, tmp_path)
    lines, sent = [], OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).count()
    try:
        for count in counts:
            for _ in range(count):
                email_queue(
                    idempotency_key=f"log:{uuid.uuid4().hex}",
                    kind="test",
                    to_email=contact.email,
                    subject="Hello",
                    text_body="Hello.",
                    contact=contact,
                )
            sent += count
            wait_until(
                lambda: OutboundEmail.objects.filter(status=OutboundEmail.Status.SENT).count() >= sent,  # noqa: B023
                [worker],
                f"{sent} emails sent",
                timeout=60,
            )
            time.sleep(1)
            lines.append(len(LINE.findall(worker.log_path.read_text(errors="replace"))))
    finally:
        worker.stop()
        delete_queue(queue)
    return lines


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True)
def test_the_worker_log_does_not_grow_with_each_task(tmp_path, monkeypatch, contact_factory, smtp_server):
    contact = contact_factory(email="grace@customer.example.com")

    quiet = log_lines_for_emails(tmp_path, monkeypatch, contact, smtp_server, [5, 40])
    print(f"worker log lines after 5 and 45 emails: {quiet}")
    assert quiet[1] - quiet[0] <= 2

    verbose = log_lines_for_emails(tmp_path, monkeypatch, contact, smtp_server, [5, 40], LOG_LEVEL_TASKS="INFO")
    print(f"with LOG_LEVEL_TASKS=INFO: {verbose}")
    assert verbose[1] - verbose[0] >= 2 * 40  # received + succeeded per task, turned back on
