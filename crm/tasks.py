"""Thin Celery tasks of crm; the services hold the logic and the idempotency."""

from celery import shared_task
from django.utils import timezone

from crm.outbound_email import email_send, email_sweep

PERIODIC_TASKS = [
    {"name": "Heartbeat", "task": "crm.heartbeat", "every_seconds": 60},
    {"name": "Email retry sweep", "task": "crm.email_sweep", "every_seconds": 120},
]


@shared_task(name="crm.send_email")
def send_email(email_id: int) -> None:
    email_send(email_id=email_id)


@shared_task(name="crm.email_sweep")
def sweep_emails() -> dict:
    return email_sweep()


@shared_task(name="crm.heartbeat", bind=True)
def heartbeat(self) -> None:
    from django.db.models import F

    from crm.models import Heartbeat

    now = timezone.now()
    hostname = (self.request.hostname or "")[:200]
    updated = Heartbeat.objects.filter(name="celery").update(
        last_beat_at=now, beats=F("beats") + 1, worker_hostname=hostname
    )
    if not updated:
        Heartbeat.objects.get_or_create(
            name="celery", defaults={"last_beat_at": now, "beats": 1, "worker_hostname": hostname}
        )
