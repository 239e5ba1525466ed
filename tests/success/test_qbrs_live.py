"""The QBR periodic tasks through a real `celery beat` and `celery worker` (see tests/test_celery_live.py): beat
fires the planner, the worker proposes the QBR the customer needs, the reminder job queues the CSM's 14-day reminder
and the worker delivers it to a real SMTP server, once."""

import datetime as dt
import io
import os
import time
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm.models import OutboundEmail, Tier
from success.qbrs.models import Qbr
from tests.test_celery_live import Process, database_url, delete_queue, wait_until

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]


def test_beat_and_worker_plan_a_qbr_and_remind_the_csm(smtp_server, tmp_path, customer_factory, make_staff):
    csm = make_staff("csm", email="planner-csm@example.com")
    today = timezone.now().date()
    # Enterprise (every 3 months) since 80 days ago: its first QBR is due in about 10 days.
    customer = customer_factory(
        tier=Tier.ENTERPRISE,
        owner=csm,
        timezone="UTC",
        contract_start=today - dt.timedelta(days=80),
        renewal_date=today + dt.timedelta(days=400),
    )
    queue_name = f"live-qbr-{uuid.uuid4().hex[:10]}"
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    jobs = PeriodicTask.objects.filter(task__in=["success.qbr_plan", "success.qbr_remind"])
    assert jobs.count() == 2
    jobs.update(interval=every_second, crontab=None, queue=queue_name)
    PeriodicTask.objects.exclude(pk__in=jobs.values("pk")).update(enabled=False)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TEST_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "PYTHONUNBUFFERED": "1",
    }
    worker = beat = None
    try:
        # The worker also consumes the default queue: the reminder's send_email task is queued there by the
        # worker itself (stale messages of earlier runs are purged at session start, tests/conftest.py).
        worker = Process(
            "worker",
            [
                *("worker", "--pool", "solo", "-Q", f"{queue_name},celery", "-n", f"{queue_name}@%h", "-l", "INFO"),
                *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            ],
            env,
            tmp_path,
        )
        beat = Process(
            "beat", ["beat", "-l", "INFO", "--max-interval", "1", "-s", str(tmp_path / "beat-schedule")], env, tmp_path
        )
        processes = [worker, beat]
        qbr = wait_until(
            lambda: Qbr.objects.filter(customer=customer).first(), processes, "the planner proposing a QBR"
        )
        assert (qbr.status, qbr.origin, qbr.owner_id) == ("proposed", "cadence", csm.pk)
        wait_until(
            lambda: OutboundEmail.objects.filter(kind="qbr_reminder", status="sent").exists(),
            processes,
            "the 14-day reminder sent by the worker",
        )
        time.sleep(3)  # a few more beats: still one QBR, one reminder
        assert Qbr.objects.filter(customer=customer).count() == 1
        [reminder] = OutboundEmail.objects.filter(kind="qbr_reminder")
        assert reminder.idempotency_key.startswith(f"qbr-reminder:{qbr.pk}:14:")
        [received] = smtp_server.wait_for(1)
        assert received.rcpt_tos == ["planner-csm@example.com"]
    finally:
        for process in (beat, worker):
            if process is not None:
                process.stop()
        delete_queue(queue_name)
