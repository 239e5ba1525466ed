"""Thin Celery tasks of crm; the services hold the logic and the idempotency.

`PERIODIC_TASKS` is read by `manage.py setup_periodic_tasks`, which writes it into django-celery-beat's tables.
Each entry: {"name": unique row name, "task": registered task name, and either "every_seconds": int or
"crontab": {"minute": ..., "hour": ..., "day_of_week": ..., "day_of_month": ..., "month_of_year": ...} (UTC)},
optionally "args" (list), "kwargs" (dict), "queue", "expire_seconds", "description", "enabled" (only used
when the row is first created; afterwards the admin's toggle wins).
"""

from celery import shared_task
from django.db.models import F
from django.utils import timezone

from crm.outbound_batch import email_send_batch
from crm.outbound_email import email_send, email_sweep

PERIODIC_TASKS = [
    {
        "name": "Heartbeat",
        "task": "crm.heartbeat",
        "every_seconds": 60,
        "expire_seconds": 50,  # a beat nobody ran in time is dropped, not run late in a burst
        "description": "Proves that beat and a worker run: see Heartbeats in the admin.",
    },
    {
        "name": "Email retry sweep",
        "task": "crm.email_sweep",
        "every_seconds": 120,
        "description": "Re-queues emails whose task was lost; resends once (same Message-ID) emails whose worker "
        "died mid-send.",
    },
]


@shared_task(name="crm.send_email", acks_late=True)
def send_email(email_id: int) -> None:
    """One email (interactive: ticket replies, QBR invites, staff notifications)."""
    email_send(email_id=email_id)


@shared_task(name="crm.send_email_batch", acks_late=True)
def send_email_batch(email_ids: list[int]) -> dict:
    """A list of email ids (campaigns, outreach, playbook emails): one claim, one SMTP connection."""
    return email_send_batch(email_ids=list(email_ids))


@shared_task(name="crm.email_sweep")
def sweep_emails() -> dict:
    return email_sweep()


@shared_task(name="crm.heartbeat", bind=True)
def heartbeat(self) -> None:
    """Record that a worker ran a task sent by beat."""
    from crm.models import Heartbeat

    now = timezone.now()
    hostname = (self.request.hostname or "")[:200]
    updated = Heartbeat.objects.filter(name="celery").update(
        last_beat_at=now, beats=F("beats") + 1, worker_hostname=hostname
    )
    if not updated:
        _, created = Heartbeat.objects.get_or_create(
            name="celery", defaults={"last_beat_at": now, "beats": 1, "worker_hostname": hostname}
        )
        if not created:  # another worker created it in between: count this beat too
            Heartbeat.objects.filter(name="celery").update(
                last_beat_at=now, beats=F("beats") + 1, worker_hostname=hostname
            )
