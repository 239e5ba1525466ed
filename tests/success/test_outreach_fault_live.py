"""Outreach emails survive kill -9 of the worker mid-batch: real worker processes, the configured broker, the real
SMTP server of tests/smtp.py.

An enabled outreach rule (email action) over 100 customers' contacts is scanned; a worker performs the records and
sends the bulk emails (crm.send_email_batch, two batches of 50) under EMAIL_RATE_LIMIT_PER_MINUTE, so a batch takes
seconds and sends about one email per round; its whole process group is SIGKILLed once some but not all emails of
the first batch reached the SMTP server. Another worker starts and the email sweep runs with a short grace
(EMAIL_REQUEUE_GRACE) and, for the killed worker's unacknowledged task, a broker visibility timeout of zero in the
sweep's eyes. Then every contact has its email, none got two different Message-IDs, only the email in flight at
the kill may arrive twice (same Message-ID), and every OutreachRecord is sent or resent. Publishing the perform task
again sends nothing.

The test uses queues of its own (CELERY_QUEUE_* in the workers' environment) so nothing else consumes its tasks.
"""

import datetime as dt
import os
import time
import uuid
from collections import defaultdict

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from crm.email_templates import email_template_save
from crm.models import OutboundEmail
from crm.outbound_email import email_sweep
from crm.selectors import email_delivery_state
from success.outreach.definitions import outreach_rule_save
from success.outreach.execution import rule_scan
from success.outreach.models import OutreachRecord, OutreachRule
from success.outreach.tasks import perform
from tests.test_celery_live import Process, database_url, delete_queue, wait_until

pytestmark = [pytest.mark.celery_live, pytest.mark.django_db(transaction=True)]

CUSTOMERS = 100  # two batches: the kill lands in the first (20 to 49 emails sent)
RATE_PER_MINUTE = 600  # 10 a second: 100 emails take ~10 s, rounds of about one email each


def received_by_recipient(smtp_server) -> dict[str, list[str]]:
    out = defaultdict(list)
    for message in list(smtp_server.messages):
        for rcpt in message.rcpt_tos:
            out[rcpt].append(message.message["Message-ID"])
    return out


def test_kill_9_mid_batch_every_contact_gets_its_email_once(
    settings, monkeypatch, tmp_path, smtp_server, customer_factory, contact_factory
):
    suffix = uuid.uuid4().hex[:10]
    queues = {"CELERY_QUEUE_DEFAULT": f"live-default-{suffix}", "CELERY_QUEUE_BULK_EMAIL": f"live-bulk-{suffix}"}
    for name, value in queues.items():
        setattr(settings, name, value)
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queues["CELERY_QUEUE_DEFAULT"])

    template = email_template_save(
        name="Check-in", subject="How is it going, {contact.first_name}?", text_body="Hello {contact.first_name}"
    )
    contacts = []
    for n in range(CUSTOMERS):
        customer = customer_factory(name=f"Customer {n}", timezone="UTC")
        contacts.append(contact_factory(customer=customer, email=f"c{n}@fault.test", first_name=f"C{n}"))
    rule = outreach_rule_save(
        name="Fault play",
        enabled=True,
        trigger="schedule",
        schedule="* * * * *",
        actions=[{"action": "email", "template": template.pk, "role": "all"}],
        quiet_hours=False,
        cooldown_days=0,
    )
    OutreachRule.objects.filter(pk=rule.pk).update(enabled_at=timezone.now() - dt.timedelta(days=1))

    env = {
        **os.environ,
        **queues,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TEST_EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "EMAIL_RATE_LIMIT_PER_MINUTE": str(RATE_PER_MINUTE),
        "EMAIL_BATCH_SIZE": "50",
        "PYTHONUNBUFFERED": "1",
    }
    worker_args = [
        *("worker", "--pool", "solo", "-Q", ",".join(queues.values()), "-l", "INFO"),
        *("--without-mingle", "--without-gossip", "--without-heartbeat"),
    ]
    first = second = None
    try:
        # The scan claims one record per contact and publishes the perform task on commit.
        summary = rule_scan(rule_id=rule.pk, at=timezone.now())
        assert OutreachRecord.objects.filter(rule=rule, result="pending").count() == CUSTOMERS, summary

        first = Process("worker-1", [*worker_args, "-n", f"one-{suffix}@%h"], env, tmp_path, own_group=True)
        wait_until(
            lambda: 20 <= len(smtp_server.messages) < CUSTOMERS // 2,
            [first],
            "some but not all emails reaching the SMTP server",
            timeout=60,
        )
        first.kill_group()
        in_flight = set(OutboundEmail.objects.filter(status="sending").values_list("message_id", flat=True))
        arrived_at_kill = len(smtp_server.messages)
        assert arrived_at_kill < CUSTOMERS
        assert len(in_flight) <= 1  # rounds of one email under the rate limit

        second = Process("worker-2", [*worker_args, "-n", f"two-{suffix}@%h"], env, tmp_path, own_group=True)
        settings.EMAIL_REQUEUE_GRACE = dt.timedelta(seconds=2)
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 0}

        def all_delivered() -> bool:
            email_sweep()  # the sweep's job, run as often as beat would
            return (
                len(received_by_recipient(smtp_server)) == CUSTOMERS
                and not OutboundEmail.objects.exclude(status="sent").exists()
            )

        wait_until(all_delivered, [second], "every contact's email after the kill", timeout=120)

        by_recipient = received_by_recipient(smtp_server)
        assert set(by_recipient) == {c.email for c in contacts}
        assert all(len(set(ids)) == 1 for ids in by_recipient.values())  # never two different Message-IDs
        twice = {ids[0] for ids in by_recipient.values() if len(ids) > 1}
        assert twice <= in_flight  # a same-Message-ID copy only for the email in flight at the kill
        records = OutreachRecord.objects.filter(rule=rule).select_related("outbound_email")
        assert {r.outbound_email.message_id for r in records} == {ids[0] for ids in by_recipient.values()}
        assert {r.result for r in records} <= {"sent", "resent"}
        assert {email_delivery_state(r.outbound_email) for r in records} <= {"sent", "resent"}
        assert {r.outbound_email.to_email: r.outbound_email.message_id for r in records} == {
            rcpt: ids[0] for rcpt, ids in by_recipient.items()
        }

        # The same perform task delivered again: nothing pending, no new email.
        total = len(smtp_server.messages)
        perform.delay()
        time.sleep(3)
        assert second.alive()
        assert len(smtp_server.messages) == total
        assert OutboundEmail.objects.count() == CUSTOMERS
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
        for name in queues.values():
            delete_queue(name)
