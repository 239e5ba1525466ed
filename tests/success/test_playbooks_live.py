"""The playbook scan in PERIODIC_TASKS runs through a real `celery beat` and `celery worker` (subprocesses, the
configured broker, the test database): beat ticks the scan, the scan publishes the due email step, the worker
sends it through a real SMTP server, once."""

import io
import os
import time
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app as celery_app
from crm.email_templates import email_template_save
from crm.models import OutboundEmail
from success.playbooks import services as playbook_services
from success.playbooks.definitions import playbook_save
from success.playbooks.models import RunStep
from success.playbooks.services import playbook_start
from tests.test_celery_live import Process, database_url, delete_queue, wait_until

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]


def test_beat_runs_the_playbook_scan_and_the_worker_sends_the_step(
    smtp_server, monkeypatch, tmp_path, customer_factory, contact_factory
):
    queue_name = f"live-pb-{uuid.uuid4().hex[:10]}"
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    scan = PeriodicTask.objects.get(task="success.playbook_scan")
    scan.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    scan.queue = queue_name
    scan.save()
    PeriodicTask.objects.exclude(pk=scan.pk).update(enabled=False)

    template_row = email_template_save(
        name="Hello", subject="Welcome, {customer.name}", text_body="Hi {contact.first_name}"
    )
    template, _ = playbook_save(
        name="Live", steps=[{"title": "Hello", "kind": "email", "email_template": template_row}]
    )
    customer = customer_factory(name="Beatrix", timezone="UTC")
    contact = contact_factory(
        customer=customer, email="grace@customer.example.com", first_name="Grace", is_primary=True
    )
    # The start's own on-commit publish is switched off: only beat's scan can find the step.
    monkeypatch.setattr(playbook_services, "_enqueue_steps_on_commit", lambda step_ids: None)
    run = playbook_start(template=template, customer=customer)
    step = run.steps.get()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TEST_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "PYTHONUNBUFFERED": "1",
    }
    default_queue = celery_app.conf.task_default_queue or "celery"
    worker = beat = None
    try:
        worker = Process(
            "worker",
            [
                *("worker", "--pool", "solo", "-Q", f"{queue_name},{default_queue}", "-n", f"{queue_name}@%h"),
                *("-l", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"),
            ],
            env,
            tmp_path,
        )
        beat = Process(
            "beat", ["beat", "-l", "INFO", "--max-interval", "1", "-s", str(tmp_path / "beat-schedule")], env, tmp_path
        )
        processes = [worker, beat]
        wait_until(
            lambda: RunStep.objects.filter(pk=step.pk, status="done").exists(), processes, "the scan sending the step"
        )
        wait_until(
            lambda: OutboundEmail.objects.filter(contact=contact, status="sent").exists(), processes, "the email sent"
        )
        [received] = smtp_server.wait_for(1)
        assert received.message["Subject"] == "Welcome, Beatrix" and received.rcpt_tos == [contact.email]
        time.sleep(3)  # a few more ticks of the scan: nothing more is sent
        assert len(smtp_server.messages) == 1
    finally:
        for process in (beat, worker):
            if process is not None:
                process.stop()
        delete_queue(queue_name)
