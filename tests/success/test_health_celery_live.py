"""A real `celery beat` and `celery worker` (subprocesses, see tests/test_celery_live.py) run the periodic
"Health recompute (pending)" task: a ticket opened through the service requests a recompute, and the customer's
score appears without anybody calling the recompute."""

import io
import os
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app as celery_app
from success.health.models import CustomerHealth, HealthRecomputeRequest, HealthScore
from tests.test_celery_live import Process, database_url, delete_queue, wait_until
from tickets.services import ticket_create

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]


def test_beat_and_worker_score_a_customer_whose_ticket_requested_it(monkeypatch, tmp_path, contact_factory):
    queue_name = f"live-{uuid.uuid4().hex[:10]}"
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    pending = PeriodicTask.objects.get(name="Health recompute (pending)")
    pending.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    pending.queue = queue_name
    pending.expires = None
    pending.expire_seconds = None
    pending.save()
    PeriodicTask.objects.exclude(pk=pending.pk).update(enabled=False)  # only the pending recompute, in our queue
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue_name)

    contact = contact_factory()
    ticket_create(customer=contact.customer, requester=contact, subject="Export fails", body="Since this morning.")
    assert HealthRecomputeRequest.objects.filter(customer=contact.customer).exists()  # committed with the ticket

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    worker = beat = None
    try:
        worker = Process(
            "worker",
            [
                *("worker", "--pool", "solo", "-Q", queue_name, "-n", f"{queue_name}@%h", "-l", "INFO"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            ],
            env,
            tmp_path,
        )
        beat = Process(
            "beat", ["beat", "-l", "INFO", "--max-interval", "1", "-s", str(tmp_path / "beat-schedule")], env, tmp_path
        )
        score = wait_until(
            lambda: HealthScore.objects.filter(customer=contact.customer).first(),
            [worker, beat],
            "the pending recompute scoring the customer",
            timeout=60,
        )
        assert CustomerHealth.objects.get(customer=contact.customer).score == score.score
        assert [row["inputs"] for row in score.components if row["input"] == "open_tickets"] == [{"open_tickets": 1}]
        wait_until(lambda: not HealthRecomputeRequest.objects.exists(), [worker, beat], "the request being forgotten")
    finally:
        for process in (beat, worker):
            if process is not None:
                process.stop()
        delete_queue(queue_name)
