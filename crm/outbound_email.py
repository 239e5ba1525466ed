"""Outbound email, once: every email the product sends is a row first, then sent by a worker.

    email_queue()   -> the row (unique idempotency key) in the caller's transaction; `crm.send_email` on commit
    email_queue_bulk() -> the same for many emails: one INSERT per 1,000 rows; `crm.send_email_batch` tasks of
                       EMAIL_BATCH_SIZE ids each on commit (crm.outbound_batch: one claim, one SMTP connection)
    email_send()    -> claims the row (queued -> sending), sends it, marks it sent / queued again / failed
    email_sweep()   -> re-queues rows whose task was really lost; rows a worker died on mid-send become
                       "unknown" and are resent once with the same Message-ID
    email_resend()  -> a person's decision to try a failed or unknown email again

The claim is one compare-and-set statement, committed before the SMTP conversation starts:

    UPDATE crm_outboundemail SET status='sending', attempts=attempts+1, claimed_at=now
     WHERE id=%s AND status='queued' AND next_attempt_at <= now

(a batch claims up to EMAIL_BATCH_SIZE rows of its ids in one such UPDATE ... RETURNING id).
ARCHITECTURE.md describes the claim as `select_for_update(skip_locked=True)` plus a status guard. The single
UPDATE gives the same guarantee with one statement and no open transaction: on PostgreSQL a second,
concurrent UPDATE of the row waits for the first to commit and then re-checks its WHERE clause against the
new row version (READ COMMITTED), so it matches nothing; on SQLite writes are serialised, and
`select_for_update` would be silently ignored there, so a SELECT-then-UPDATE would be the one racy variant.
Either way the claim must be committed *before* sending: holding a row lock across the SMTP conversation
would roll back to "queued" when the worker dies after the server accepted the message, and the email
would go out twice. Call `email_send` outside any `atomic()` block (Celery tasks run in autocommit).

So a redelivered, duplicated or retried task finds the row no longer "queued" (or not yet due) and does
nothing.

Rules of the unknown outcome. A row whose worker died (or whose connection dropped) during the SMTP
conversation may or may not have been delivered. After EMAIL_REQUEUE_GRACE in "sending" the sweep marks it
"unknown" (unknown_at, timeline "email.unknown"); EMAIL_UNKNOWN_RESEND_AFTER later the sweep queues it again
(resends + 1, resent_at, timeline "email.resent") with the SAME Message-ID, which mail providers collapse
into one message if the first copy did arrive; at most EMAIL_UNKNOWN_MAX_RESENDS times, then it stays
"unknown" for a person (`email_resend`). An unknown outcome is never a silent loss: the invitation, the
campaign and the outreach record show it (crm.selectors.email_delivery_state).

Rules of the lost task. `published_at` is set once the broker took the row's task, and cleared when publishing
failed. The sweep re-queues a "queued" row past its due time + grace only if its publish failed (NULL) or is
older than the broker's visibility timeout + grace (the message itself was lost). A row merely waiting behind
a backlog in the broker is left alone: a second task would only add to the backlog.

Every email carries the Message-ID we generated when it was queued (replies thread by it). Extra headers
(e.g. RFC 8058 `List-Unsubscribe` / `List-Unsubscribe-Post` for customer email, `In-Reply-To`) are the
caller's to pass in `headers`; they are validated when queued and sent as given.
EMAIL_RATE_LIMIT_PER_MINUTE (crm.email_rate) holds for every send, single or batched, across all workers.
"""

import logging
import math
import re
import smtplib
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.email_rate import rate_acquire, rate_release
from crm.models import Contact, Customer, OutboundEmail, TimelineEvent
from crm.timeline import timeline_record, timeline_record_many

logger = logging.getLogger(__name__)

Status = OutboundEmail.Status

# Headers the message builds itself from the row's fields; callers cannot override them through `headers`.
RESERVED_HEADERS = frozenset(
    {
        "message-id",
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "sender",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field-name: printable US-ASCII except ":"
# A task may arrive slightly before the row's next_attempt_at when the clocks of two hosts disagree.
CLOCK_SKEW = timedelta(seconds=5)
# Retry countdowns stay well under the broker's visibility timeout (see CELERY_BROKER_TRANSPORT_OPTIONS).
MAX_RETRY_DELAY_SECONDS = 900
SWEEP_BATCH = 1000
BULK_BATCH = 1000
MAX_RATE_SLEEP = 5.0  # a worker waits this long at most for the rate limit; longer, its task is published later


def new_message_id() -> str:
    return make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)


def _clean_headers(headers: dict[str, str] | None) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    errors = []
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _HEADER_NAME.match(name):
            errors.append(f"{name!r} is not a valid header name.")
        elif name.lower() in RESERVED_HEADERS:
            errors.append(f"{name} is set from the email's own fields and cannot be given as a header.")
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            errors.append(f"The value of {name} must be one line of text.")
        else:
            cleaned[name] = value
    if errors:
        raise ValidationError({"headers": errors})
    return cleaned


@transaction.atomic
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
    calendar: str = "",
) -> OutboundEmail:
    """Store the email and queue its sending on commit.

    Calling again with the same idempotency key returns the first row and queues nothing, whatever the other
    arguments say: the key names the email ("survey-invite:<invitation id>"), not its content.
    Raises ValidationError for a malformed address, subject or header; nothing is stored then.
    """
    existing = OutboundEmail.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    email = _email_row(
        idempotency_key=idempotency_key,
        kind=kind,
        to_email=to_email,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        customer=customer,
        contact=contact,
        headers=headers,
        from_email=from_email,
        message_id=message_id,
        calendar=calendar,
    )
    # Uniqueness is the database's job (below); the rest is checked here so bad input changes nothing.
    email.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            email.save()
    except IntegrityError:
        # Another transaction stored the same key first: that row is the email.
        existing = OutboundEmail.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing
    _enqueue_on_commit(email.pk)
    return email


def _email_row(
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
    calendar: str = "",
) -> OutboundEmail:
    if contact is not None and customer is None:
        customer = contact.customer
    return OutboundEmail(
        idempotency_key=idempotency_key,
        kind=kind,
        customer=customer,
        contact=contact,
        from_email=from_email or settings.DEFAULT_FROM_EMAIL,
        to_email=(to_email or "").strip(),
        subject=" ".join((subject or "").split()),  # one line: no header injection through the subject
        text_body=text_body,
        html_body=html_body,
        headers=_clean_headers(headers),
        message_id=message_id or new_message_id(),
        calendar=calendar or "",
        next_attempt_at=timezone.now(),
    )


@transaction.atomic
def email_queue_bulk(emails: Iterable[dict[str, Any]], *, interactive: bool = False) -> list[int]:
    """Many emails at once (e.g. the SLA sweep's notifications for a batch of tickets): the rows email_queue
    would store, one INSERT per BULK_BATCH of them, and their tasks published together on commit.

    Bulk email (campaigns, outreach, playbooks) goes out in `crm.send_email_batch` tasks; interactive=True
    (e.g. staff notifications) publishes one `crm.send_email` task per email, on the interactive queue.
    Each dict holds email_queue's keyword arguments. A key already stored (by an earlier call, or another
    transaction meanwhile) is skipped and queues nothing: that row is the email. Returns the ids of the rows
    stored by this call. Raises ValidationError, storing nothing, if any email is malformed.
    Like email_queue, this does not consult the contact ledger: callers emailing contacts ask it first
    (staff notifications go to staff users, who have no ledger).
    """
    rows: dict[str, OutboundEmail] = {}
    errors: dict[str, list[str]] = {}
    for fields in emails:
        email = _email_row(**fields)
        if email.idempotency_key in rows:
            continue
        try:
            # The customer and contact are the caller's rows (the foreign keys check them): no query per email.
            email.full_clean(exclude=["customer", "contact"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            errors[email.idempotency_key] = exc.messages
        rows[email.idempotency_key] = email
    if errors:
        raise ValidationError(errors)
    stored: list[int] = []
    pending = list(rows.values())
    for start in range(0, len(pending), BULK_BATCH):
        chunk = pending[start : start + BULK_BATCH]
        OutboundEmail.objects.bulk_create(chunk, ignore_conflicts=True)
        # The rows stored now are those carrying the Message-IDs generated here (unique, like the keys).
        stored += OutboundEmail.objects.filter(message_id__in=[e.message_id for e in chunk]).values_list(
            "pk", flat=True
        )
    stored.sort()
    if stored:
        transaction.on_commit(lambda: publish_each(stored) if interactive else publish_batches(stored))
    return stored


def publish_each(email_ids: list[int]) -> int:
    """One `crm.send_email` task per email; on a broker error the rest are marked unpublished."""
    for done, email_id in enumerate(email_ids):
        if not publish_one(email_id):
            _mark_published(email_ids[done:], published=False)
            return done
    return len(email_ids)


def publish_batches(email_ids: list[int], countdown: int | None = None) -> int:
    """Publish `crm.send_email_batch` tasks of EMAIL_BATCH_SIZE ids each, recording published_at per batch.
    On a broker error the rest are marked unpublished (the sweep re-queues them). Returns how many ids went."""
    from crm.tasks import send_email_batch

    size = max(int(settings.EMAIL_BATCH_SIZE), 1)
    for start in range(0, len(email_ids), size):
        chunk = email_ids[start : start + size]
        try:
            send_email_batch.apply_async((chunk,), countdown=countdown)
        except Exception:  # broker down: these rows stay "queued" and the sweep re-queues them
            rest = email_ids[start:]
            logger.exception("could not enqueue %s email(s) from %s on; the sweep will retry", len(rest), chunk[0])
            _mark_published(rest, published=False)
            return start
        _mark_published(chunk, published=True)
    return len(email_ids)


def _mark_published(email_ids: list[int], *, published: bool) -> None:
    try:
        OutboundEmail.objects.filter(pk__in=email_ids).update(published_at=timezone.now() if published else None)
    except Exception:  # the task is out; a missing mark only lets the sweep publish a harmless second one
        logger.exception("could not record the publishing of %s email(s)", len(email_ids))


def _enqueue_on_commit(email_id: int, countdown: int | None = None) -> None:
    transaction.on_commit(lambda: publish_one(email_id, countdown=countdown))


def publish_one(email_id: int, countdown: int | None = None) -> bool:
    from crm.tasks import send_email

    try:
        send_email.apply_async((email_id,), countdown=countdown)
    except Exception:  # broker down: the row stays "queued" and the sweep re-queues it
        logger.exception("could not enqueue email %s; the sweep will retry", email_id)
        _mark_published([email_id], published=False)
        return False
    _mark_published([email_id], published=True)
    return True


def _is_permanent(exc: Exception) -> bool:
    """5xx answers about this message will not improve with retries; 4xx, network errors and a refused login
    (a configuration problem, not the message's) may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    # A message Django cannot build (bad address, header) fails the same way every time.
    return isinstance(exc, ValueError | UnicodeError)


# Secrets that must not be stored (e.g. a survey invitation's one-click token) are written into the stored
# email as placeholders and filled in only in the message handed to SMTP, by the personalizer registered for
# the email's kind: (email) -> {placeholder: value}. The same row always yields the same values (derived, not
# random), so a retried send is identical.
PERSONALIZERS: dict[str, Callable[[OutboundEmail], dict[str, str]]] = {}
# The same for a batch in one go: (emails) -> {email id: {placeholder: value}} (crm.outbound_batch uses it).
BULK_PERSONALIZERS: dict[str, Callable[[list[OutboundEmail]], dict[int, dict[str, str]]]] = {}


def register_personalizer(kind: str, personalizer, *, bulk=None) -> None:
    PERSONALIZERS[kind] = personalizer
    if bulk is not None:
        BULK_PERSONALIZERS[kind] = bulk


def _personalize(email: OutboundEmail, values: dict[str, str] | None = None) -> tuple[str, str, dict[str, str]]:
    text, html, headers = email.text_body, email.html_body, dict(email.headers)
    if values is None:
        personalizer = PERSONALIZERS.get(email.kind)
        values = personalizer(email) if personalizer is not None else {}
    for placeholder, value in values.items():
        text, html = text.replace(placeholder, value), html.replace(placeholder, value)
        headers = {name: v.replace(placeholder, value) for name, v in headers.items()}
    return text, html, headers


def extra_headers(headers: dict[str, str]) -> dict[str, str]:
    """The stored headers an email may carry beside those the message writes itself (RESERVED_HEADERS)."""
    return {name: value for name, value in headers.items() if name.lower() not in RESERVED_HEADERS}


def _build_message(
    email: OutboundEmail, connection, values: dict[str, str] | None = None, *, check: bool = True
) -> EmailMultiAlternatives:
    text, html, stored_headers = _personalize(email, values)
    headers = extra_headers(stored_headers)
    headers["Message-ID"] = email.message_id
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=text,
        from_email=email.from_email,
        to=[email.to_email],
        headers=headers,
        connection=connection,
    )
    if html:
        message.attach_alternative(html, "text/html")
    if email.calendar:
        _attach_calendar(message, email.calendar)
    if check:
        message.message()  # build the MIME message now: a bad header fails here, before any SMTP
    return message


_METHOD = re.compile(r"^METHOD:([A-Z-]+)\r?$", re.MULTILINE)


def _attach_calendar(message: EmailMultiAlternatives, calendar: str) -> None:
    """A meeting invite the way calendar clients read it (RFC 6047): a text/calendar part with the object's
    METHOD beside the text in multipart/alternative (Outlook, Gmail, Apple Mail show Accept/Decline from it),
    and the same object as an invite.ics attachment for clients that only look at attachments."""
    found = _METHOD.search(calendar)
    method = found.group(1) if found else "PUBLISH"
    message.attach_alternative(calendar, f"text/calendar; method={method}")
    message.attach("invite.ics", calendar.encode(), "application/ics")


def _deliver(email: OutboundEmail) -> None:
    """One SMTP conversation. Raises on failure. Once the server has accepted the message, an error while
    closing the connection is logged, not raised: the email went out and must not be retried."""
    connection = get_connection(fail_silently=False)
    message = _build_message(email, connection)
    connection.open()
    try:
        # The connection is already open, so send_messages() does not close it (and cannot raise from QUIT).
        if not connection.send_messages([message]):
            raise smtplib.SMTPException("The email backend sent nothing.")
    finally:
        try:
            connection.close()
        except Exception:
            logger.warning("closing the SMTP connection after email %s failed", email.pk, exc_info=True)


def email_send(*, email_id: int) -> OutboundEmail | None:
    """Send one queued email at most once. Returns the row, or None when there was nothing to do
    (already sent or being sent, failed, not yet due, deleted, or put off by the rate limit)."""
    granted, wait = rate_take(1)
    if not granted:  # the rate limit: the row stays queued, its task comes back when a token is there
        publish_one(email_id, countdown=math.ceil(wait))
        return None
    now = timezone.now()
    claimed = OutboundEmail.objects.filter(
        pk=email_id, status=Status.QUEUED, next_attempt_at__lte=now + CLOCK_SKEW
    ).update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        rate_release(granted)
        return None
    email = OutboundEmail.objects.get(pk=email_id)
    try:
        _deliver(email)
    except Exception as exc:
        return _record_failure(email, exc)
    with transaction.atomic():
        # "unknown" too: if the sweep gave up on a very slow conversation, we now know it was delivered.
        OutboundEmail.objects.filter(pk=email.pk, status__in=[Status.SENDING, Status.UNKNOWN]).update(
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


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failed ones: base, 2x base, 4x base, ..."""
    return min(settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY_SECONDS)


def _record_failure(email: OutboundEmail, exc: Exception) -> OutboundEmail:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    final = _is_permanent(exc) or email.attempts >= settings.EMAIL_MAX_ATTEMPTS
    pending = [Status.SENDING, Status.UNKNOWN]
    with transaction.atomic():
        if final:
            OutboundEmail.objects.filter(pk=email.pk, status__in=pending).update(status=Status.FAILED, last_error=error)
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
            delay = retry_delay(email.attempts)
            OutboundEmail.objects.filter(pk=email.pk, status__in=pending).update(
                status=Status.QUEUED, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=delay)
            )
            _enqueue_on_commit(email.pk, countdown=delay)
            logger.info("email %s attempt %s failed (%s); retry in %ss", email.pk, email.attempts, error, delay)
    email.refresh_from_db()
    return email


def rate_take(count: int) -> tuple[int, float]:
    """Tokens of the rate limit for `count` emails: waits (sleeping) up to MAX_RATE_SLEEP for at least one;
    returns (0, seconds) when the wait would be longer (the caller publishes its task again that much later)."""
    waited = 0.0
    while True:
        granted, wait = rate_acquire(count)
        if granted or waited + wait > MAX_RATE_SLEEP:
            return granted, wait
        time.sleep(wait)
        waited += wait


def _visibility_timeout() -> timedelta:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    return timedelta(seconds=options.get("visibility_timeout", 3600))


def _events(emails, kind: str, summary: str, payload: Callable[[OutboundEmail], dict]) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            customer_id=email.customer_id,
            kind=kind,
            summary=summary.format(to=email.to_email, subject=email.subject),
            source_type=ContentType.objects.get_for_model(OutboundEmail),
            source_id=str(email.pk),
            payload=payload(email),
        )
        for email in emails
        if email.customer_id
    ]


def _record_failures(emails: list[OutboundEmail], exc: Exception) -> int:
    """The same failure for many claimed rows at once (the batch's SMTP connection could not be opened): each
    is a failed attempt, retried with backoff, or failed for good. Returns how many failed for good."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    pending = [Status.SENDING, Status.UNKNOWN]
    final = [e for e in emails if _is_permanent(exc) or e.attempts >= settings.EMAIL_MAX_ATTEMPTS]
    final_ids = {e.pk for e in final}
    retry_by_delay: dict[int, list[int]] = {}
    for email in emails:
        if email.pk not in final_ids:
            retry_by_delay.setdefault(retry_delay(email.attempts), []).append(email.pk)
    with transaction.atomic():
        if final:
            OutboundEmail.objects.filter(pk__in=[e.pk for e in final], status__in=pending).update(
                status=Status.FAILED, last_error=error
            )
            timeline_record_many(
                _events(
                    final,
                    "email.failed",
                    "Email to {to} failed: " + error[:150],
                    lambda e: {"email_id": e.pk, "kind": e.kind, "attempts": e.attempts},
                )
            )
        for delay, ids in retry_by_delay.items():
            OutboundEmail.objects.filter(pk__in=ids, status__in=pending).update(
                status=Status.QUEUED, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=delay)
            )
            transaction.on_commit(lambda ids=ids, delay=delay: publish_batches(ids, countdown=delay))
    logger.warning("a batch of %s email(s) could not be sent (%s): %s failed for good", len(emails), error, len(final))
    return len(final)


def email_sweep() -> dict[str, int]:
    """Flag emails whose worker died mid-send "unknown", resend unknown ones once with the same Message-ID,
    re-queue emails whose task was really lost. Safe to run any time, any number of times at once.

    The grace period (EMAIL_REQUEUE_GRACE) must be longer than the longest SMTP conversation (a few times
    EMAIL_TIMEOUT), so a row is only called "unknown" when its worker is really gone.
    """
    now = timezone.now()
    cutoff = now - settings.EMAIL_REQUEUE_GRACE
    fields = ("pk", "customer_id", "to_email", "subject", "kind", "attempts", "resends")

    # 1. Stuck in "sending": unknown. The row's unknown_at = this sweep's `now` tells which rows this sweep marked.
    stale = list(
        OutboundEmail.objects.filter(status=Status.SENDING, claimed_at__lt=cutoff)
        .order_by("claimed_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    unknown = []
    if stale:
        with transaction.atomic():
            OutboundEmail.objects.filter(pk__in=stale, status=Status.SENDING, claimed_at__lt=cutoff).update(
                status=Status.UNKNOWN,
                unknown_at=now,
                last_error="The worker stopped while sending; delivery is unknown.",
            )
            unknown = list(OutboundEmail.objects.filter(pk__in=stale, unknown_at=now).only(*fields))
            timeline_record_many(
                _events(
                    unknown,
                    "email.unknown",
                    "Email to {to} may not have been delivered: {subject}",
                    lambda e: {"email_id": e.pk, "kind": e.kind, "attempts": e.attempts},
                )
            )
    if unknown:
        logger.warning("%s email(s) stuck in sending marked unknown", len(unknown))

    # 2. Unknown: resent with the same Message-ID, at most EMAIL_UNKNOWN_MAX_RESENDS times.
    resendable = OutboundEmail.objects.filter(
        status=Status.UNKNOWN,
        unknown_at__lte=now - settings.EMAIL_UNKNOWN_RESEND_AFTER,
        resends__lt=settings.EMAIL_UNKNOWN_MAX_RESENDS,
    )
    due = list(resendable.order_by("unknown_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    resent = []
    if due:
        with transaction.atomic():
            resendable.filter(pk__in=due).update(
                status=Status.QUEUED, resends=F("resends") + 1, resent_at=now, next_attempt_at=now, published_at=None
            )
            resent = list(OutboundEmail.objects.filter(pk__in=due, resent_at=now).only(*fields))
            timeline_record_many(
                _events(
                    resent,
                    "email.resent",
                    "Email to {to} resent with the same Message-ID (the first try's outcome is unknown): {subject}",
                    lambda e: {"email_id": e.pk, "kind": e.kind, "resends": e.resends, "automatic": True},
                )
            )
            ids = [e.pk for e in resent]
            transaction.on_commit(lambda: publish_batches(ids))
    if resent:
        logger.warning("resent %s email(s) whose delivery was unknown", len(resent))

    # 3. Queued and overdue, and the task never reached the broker or was lost there.
    lost = list(
        OutboundEmail.objects.filter(status=Status.QUEUED, next_attempt_at__lt=cutoff)
        .filter(Q(published_at__isnull=True) | Q(published_at__lt=cutoff - _visibility_timeout()))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    requeued = publish_batches(lost) if lost else 0
    if requeued:
        logger.warning("re-queued %s email(s) whose task was lost", requeued)
    return {"requeued": requeued, "unknown": len(unknown), "resent": len(resent)}


@transaction.atomic
def email_resend(*, email: OutboundEmail, actor=None) -> OutboundEmail:
    """A person's decision to try a failed or unknown email again (same row, same Message-ID)."""
    updated = OutboundEmail.objects.filter(pk=email.pk, status__in=[Status.FAILED, Status.UNKNOWN]).update(
        status=Status.QUEUED, next_attempt_at=timezone.now(), attempts=0, published_at=None
    )
    email.refresh_from_db()
    if updated:
        if email.customer_id:
            timeline_record(
                customer=email.customer_id,
                kind="email.resent",
                summary=f"Email to {email.to_email} queued again: {email.subject}",
                actor=actor,
                source=email,
                payload={"email_id": email.pk, "kind": email.kind},
            )
        _enqueue_on_commit(email.pk)
    return email


def email_mark_replied(*, message_ids: Iterable[str], at=None) -> int:
    """An inbound email answered these Message-IDs (its In-Reply-To and References): the outbound emails among
    them are marked replied (the first answer's time is kept). Returns how many were newly marked. One statement;
    ids that are not ours (a ticket message's, a stranger's) match nothing."""
    ids = [i for i in dict.fromkeys(message_ids) if i]
    if not ids:
        return 0
    return OutboundEmail.objects.filter(message_id__in=ids, replied_at__isnull=True).update(
        replied_at=at or timezone.now()
    )
