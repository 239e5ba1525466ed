"""Outbound email, once: every email the product sends is a row first, then sent by `crm.send_email`.

    email_queue()   -> the row (unique idempotency key) in the caller's transaction; task queued on commit
    email_send()    -> claims the row with a compare-and-set (queued -> sending), sends, marks sent/failed
    email_sweep()   -> re-queues rows whose task was lost; rows a worker died on mid-send become "unknown"

A redelivered or retried task finds the row no longer "queued" and does nothing, so nothing is sent twice.
A row whose worker died during the SMTP conversation may or may not have been delivered: it is marked
"unknown" for a person to check, never re-sent automatically.
"""

import logging
import smtplib
from datetime import timedelta
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from crm.models import Contact, Customer, OutboundEmail
from crm.timeline import timeline_record

logger = logging.getLogger(__name__)

Status = OutboundEmail.Status


def new_message_id() -> str:
    return make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)


def email_queue(
    *,
    idempotency_key: str,
    kind: str,
    to_email: str,
    subject: str,
    text_body: str,
    html_body: str = "",
    customer: Customer | None = None,
    contact: Contact | None = None,
    headers: dict[str, str] | None = None,
    from_email: str | None = None,
    message_id: str | None = None,
) -> OutboundEmail:
    """Store the email and queue its sending on commit. Calling again with the same key returns the first row."""
    existing = OutboundEmail.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if contact is not None and customer is None:
        customer = contact.customer
    email = OutboundEmail(
        idempotency_key=idempotency_key,
        kind=kind,
        customer=customer,
        contact=contact,
        from_email=from_email or settings.DEFAULT_FROM_EMAIL,
        to_email=to_email,
        subject=" ".join(subject.splitlines())[:998],
        text_body=text_body,
        html_body=html_body,
        headers=headers or {},
        message_id=message_id or new_message_id(),
        next_attempt_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            email.save()
    except IntegrityError:
        # Another transaction stored the same key first: that row is the email.
        return OutboundEmail.objects.get(idempotency_key=idempotency_key)
    _enqueue_on_commit(email.pk)
    return email


def _enqueue_on_commit(email_id: int, countdown: int | None = None) -> None:
    from crm.tasks import send_email

    def enqueue():
        try:
            send_email.apply_async((email_id,), countdown=countdown)
        except Exception:  # broker down: the sweep re-queues it
            logger.exception("could not enqueue email %s; the sweep will retry", email_id)

    transaction.on_commit(enqueue)


def _is_permanent(exc: Exception) -> bool:
    """5xx answers will not improve with retries; everything else (4xx, network) may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return False


def _build_message(email: OutboundEmail) -> EmailMultiAlternatives:
    headers = {**email.headers, "Message-ID": email.message_id}
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.text_body,
        from_email=email.from_email,
        to=[email.to_email],
        headers=headers,
        connection=get_connection(fail_silently=False),
    )
    if email.html_body:
        message.attach_alternative(email.html_body, "text/html")
    return message


def email_send(*, email_id: int) -> OutboundEmail | None:
    """Send one queued email at most once. Returns the row, or None when there was nothing to do."""
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(pk=email_id, status=Status.QUEUED, next_attempt_at__lte=now).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None  # already sent or being sent, not yet due, or gone
    email = OutboundEmail.objects.get(pk=email_id)
    try:
        _build_message(email).send()
    except Exception as exc:
        return _record_failure(email, exc)
    with transaction.atomic():
        OutboundEmail.objects.filter(pk=email.pk, status=Status.SENDING).update(
            status=Status.SENT, sent_at=timezone.now(), last_error=""
        )
        email.refresh_from_db()
        if email.customer_id:
            timeline_record(
                customer=email.customer_id,
                kind="email.sent",
                summary=f"Email sent to {email.to_email}: {email.subject}",
                source=email,
                payload={"email_id": email.pk, "kind": email.kind, "message_id": email.message_id},
            )
    return email


def _record_failure(email: OutboundEmail, exc: Exception) -> OutboundEmail:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    final = _is_permanent(exc) or email.attempts >= settings.EMAIL_MAX_ATTEMPTS
    with transaction.atomic():
        if final:
            OutboundEmail.objects.filter(pk=email.pk, status=Status.SENDING).update(
                status=Status.FAILED, last_error=error
            )
            if email.customer_id:
                timeline_record(
                    customer=email.customer_id,
                    kind="email.failed",
                    summary=f"Email to {email.to_email} failed: {error[:150]}",
                    source=email,
                    payload={"email_id": email.pk, "kind": email.kind, "attempts": email.attempts},
                )
            logger.warning("email %s failed for good after %s attempts: %s", email.pk, email.attempts, error)
        else:
            delay = settings.EMAIL_RETRY_BASE_SECONDS * 2 ** (email.attempts - 1)
            OutboundEmail.objects.filter(pk=email.pk, status=Status.SENDING).update(
                status=Status.QUEUED, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=delay)
            )
            _enqueue_on_commit(email.pk, countdown=delay)
            logger.info("email %s attempt %s failed (%s); retry in %ss", email.pk, email.attempts, error, delay)
    email.refresh_from_db()
    return email


def email_sweep() -> dict[str, int]:
    """Re-queue emails whose task was lost; flag emails whose worker died mid-send. Safe to run any time."""
    now = timezone.now()
    grace = settings.EMAIL_REQUEUE_GRACE
    lost = OutboundEmail.objects.filter(status=Status.SENDING, claimed_at__lt=now - grace).update(
        status=Status.UNKNOWN,
        last_error="The worker stopped during sending; delivery is unknown, so it is not retried automatically.",
    )
    due = list(
        OutboundEmail.objects.filter(status=Status.QUEUED, next_attempt_at__lt=now - grace)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
    from crm.tasks import send_email

    for pk in due:
        send_email.delay(pk)
    return {"requeued": len(due), "unknown": lost}


@transaction.atomic
def email_resend(*, email: OutboundEmail, actor=None) -> OutboundEmail:
    """A person's decision to try a failed or unknown email again (same row, same Message-ID)."""
    updated = OutboundEmail.objects.filter(pk=email.pk, status__in=[Status.FAILED, Status.UNKNOWN]).update(
        status=Status.QUEUED, next_attempt_at=timezone.now(), attempts=0
    )
    if updated:
        _enqueue_on_commit(email.pk)
    email.refresh_from_db()
    return email
