"""Bulk email, fast and still once: `crm.send_email_batch` sends a list of queued emails over one SMTP connection.

    email_send_batch(email_ids) -> {"sent", "failed", "retry", "released", "in_flight", "deferred"}

Per round (as many ids as the rate limit grants, crm.email_rate):
  1. claim: one `UPDATE ... SET status='sending' WHERE id IN (...) AND status='queued' AND due RETURNING id`,
     committed before any SMTP (the rules of crm.outbound_email: a redelivered batch claims nothing);
  2. load the claimed rows (one SELECT) and their personal values (one query per kind, BULK_PERSONALIZERS);
  3. every message built first, then one SMTP connection for all of them (another backend, e.g. the
     file-based one of development: its own send_messages per message); each accepted message is
     remembered, and every MARK_EVERY of them, or sooner once the oldest has waited MARK_WITHIN seconds (a slow
     server, a rate-limited trickle), are marked sent in one UPDATE with their timeline events in one INSERT
     (timeline_record_many). A worker killed mid-batch leaves at most those accepted-but-unmarked messages
     "sending": the sweep resends them with the same Message-ID (providers collapse the copies);
  4. a message the server refuses (4xx/5xx) is that message's failure alone (retried with backoff or failed,
     like a single send); the others go on.
  5. a connection that cannot be opened: every claimed row is a failed attempt, retried with backoff.
     A connection lost mid-batch: the message in flight stays "sending" (the unknown rule: the sweep resends
     it with the same Message-ID), the rows not yet tried are released to "queued" (their attempt not
     counted) and published again.
So a batch of N emails costs a handful of statements plus about 2/MARK_EVERY per email, flat in N.
"""

import logging
import math
import smtplib
import time
from collections import defaultdict

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.db import connection as db
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.email_rate import rate_release
from crm.mime import wire_bytes
from crm.models import OutboundEmail, TimelineEvent
from crm.outbound_email import (
    BULK_PERSONALIZERS,
    CLOCK_SKEW,
    PERSONALIZERS,
    _build_message,
    _personalize,
    _record_failure,
    _record_failures,
    extra_headers,
    publish_batches,
    rate_take,
)
from crm.timeline import timeline_record_many

logger = logging.getLogger(__name__)

Status = OutboundEmail.Status
MARK_EVERY = 25  # measured: 10 costs ~5-10% of the bench_email ratio, 5 about a third
MARK_WITHIN = 0.5  # seconds: at full speed 25 messages take less, so this costs nothing there


def _claim(email_ids: list[int]) -> list[int]:
    """Claim the due, queued rows among these ids in one statement; returns the ids claimed."""
    if not email_ids:
        return []
    now = timezone.now()
    ops = db.ops
    table = db.ops.quote_name(OutboundEmail._meta.db_table)
    marks = ", ".join(["%s"] * len(email_ids))
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, claimed_at = %s, attempts = attempts + 1 "  # noqa: S608 (no user input)
            f"WHERE id IN ({marks}) AND status = %s AND next_attempt_at <= %s RETURNING id",
            [
                Status.SENDING,
                ops.adapt_datetimefield_value(now),
                *email_ids,
                Status.QUEUED,
                ops.adapt_datetimefield_value(now + CLOCK_SKEW),
            ],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _personal_values(emails: list[OutboundEmail]) -> dict[int, dict[str, str]]:
    by_kind = defaultdict(list)
    for email in emails:
        by_kind[email.kind].append(email)
    values: dict[int, dict[str, str]] = {}
    for kind, group in by_kind.items():
        bulk, single = BULK_PERSONALIZERS.get(kind), PERSONALIZERS.get(kind)
        if bulk is not None:
            values.update(bulk(group))
        elif single is not None:
            values.update({email.pk: single(email) for email in group})
    return {email.pk: values.get(email.pk, {}) for email in emails}


class _Built:
    """One email's bytes for the wire (or the exception building it raised)."""

    __slots__ = ("data", "email", "error", "from_email", "message", "recipients")

    def __init__(self, email, from_email="", recipients=(), data=b"", error=None, message=None):
        self.email, self.from_email, self.recipients, self.data, self.error, self.message = (
            email,
            from_email,
            recipients,
            data,
            error,
            message,
        )


def _build_all(emails, values, connection) -> list[_Built]:
    """Every message's bytes for the wire, before the first is sent: the SMTP loop then only talks (measured:
    building between round trips, or in a second thread contending for the GIL, slows every round trip).
    Ordinary messages are written directly (crm.mime.wire_bytes: the bytes Django would produce, a tenth of the
    time); the others (a calendar invite, an unusual header) are built by Django."""
    out = []
    senders: dict[str, str] = {}
    localtime = settings.EMAIL_USE_LOCALTIME
    direct = isinstance(connection, SmtpBackend)  # other backends send Django's message objects themselves
    for email in emails:
        try:
            data = None
            if direct and not email.calendar:
                sender = email.from_email or settings.DEFAULT_FROM_EMAIL
                if sender not in senders:
                    senders[sender] = sanitize_address(sender, settings.DEFAULT_CHARSET)
                text, html, headers = _personalize(email, values[email.pk])
                data = wire_bytes(
                    from_header=senders[sender],
                    to_email=email.to_email,
                    subject=email.subject,
                    text=text,
                    html=html,
                    headers=extra_headers(headers),
                    message_id=email.message_id,
                    localtime=localtime,
                )
            if data is not None:
                out.append(_Built(email, senders[sender], [email.to_email], data))
                continue
            message = _build_message(email, connection, values[email.pk], check=False)
            encoding = message.encoding or settings.DEFAULT_CHARSET
            out.append(
                _Built(
                    email,
                    sanitize_address(message.from_email, encoding),
                    [sanitize_address(a, encoding) for a in message.recipients()],
                    message.message().as_bytes(linesep="\r\n"),
                    message=message,
                )
            )
        except Exception as exc:  # a message that cannot be built: that email's failure alone
            out.append(_Built(email, error=exc))
    return out


def _mark_sent(emails: list[OutboundEmail]) -> None:
    if not emails:
        return
    now = timezone.now()
    content_type = ContentType.objects.get_for_model(OutboundEmail)
    with transaction.atomic():
        OutboundEmail.objects.filter(pk__in=[e.pk for e in emails], status__in=[Status.SENDING, Status.UNKNOWN]).update(
            status=Status.SENT, sent_at=now, last_error=""
        )
        timeline_record_many(
            [
                TimelineEvent(
                    customer_id=email.customer_id,
                    kind="email.sent",
                    summary=f"Email sent to {email.to_email}: {email.subject}",
                    source_type=content_type,
                    source_id=str(email.pk),
                    payload={"email_id": email.pk, "kind": email.kind, "message_id": email.message_id},
                    occurred_at=now,
                )
                for email in emails
                if email.customer_id
            ]
        )
    emails.clear()


def _release(email_ids: list[int]) -> None:
    """Claimed but never tried: back to "queued", the attempt not counted, and published again."""
    if not email_ids:
        return
    OutboundEmail.objects.filter(pk__in=email_ids, status=Status.SENDING).update(
        status=Status.QUEUED, attempts=F("attempts") - 1, claimed_at=None
    )
    publish_batches(email_ids)


def _is_connection_lost(exc: Exception) -> bool:
    """The server said nothing about this message (the connection dropped or timed out): its fate is unknown."""
    if isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        return False
    return isinstance(exc, smtplib.SMTPServerDisconnected | OSError)


def _send_claimed(emails: list[OutboundEmail], counts: dict[str, int]) -> bool:
    """Send the claimed rows over one connection. Returns False when the connection was lost mid-batch."""
    values = _personal_values(emails)
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:
        failed = _record_failures(emails, exc)
        counts["failed"] += failed
        counts["retry"] += len(emails) - failed
        return True
    sent: list[OutboundEmail] = []
    oldest = 0.0  # when the first of `sent` was accepted
    smtp = isinstance(connection, SmtpBackend)
    try:
        for index, item in enumerate(_build_all(emails, values, connection)):
            email = item.email
            try:
                if item.error is not None:
                    raise item.error
                if not smtp:  # another backend (file-based in development, locmem in tests): its own sending
                    if not connection.send_messages([item.message]):
                        raise smtplib.SMTPException("The email backend sent nothing.")
                elif connection.connection is None:  # the backend closed it (e.g. after a 421)
                    raise smtplib.SMTPServerDisconnected("The SMTP connection was closed.")
                else:
                    connection.connection.sendmail(item.from_email, item.recipients, item.data)
            except Exception as exc:
                if _is_connection_lost(exc):
                    logger.warning("SMTP connection lost sending email %s: %s", email.pk, exc)
                    _mark_sent(sent)
                    counts["in_flight"] += 1  # stays "sending": the sweep's unknown rule resends it
                    rest = [e.pk for e in emails[index + 1 :]]
                    _release(rest)
                    counts["released"] += len(rest)
                    return False
                failed = _record_failure(email, exc)
                counts["failed" if failed.status == Status.FAILED else "retry"] += 1
                continue
            if not sent:
                oldest = time.monotonic()
            sent.append(email)
            counts["sent"] += 1
            if len(sent) >= MARK_EVERY or time.monotonic() - oldest >= MARK_WITHIN:
                _mark_sent(sent)
        _mark_sent(sent)
        return True
    finally:
        try:
            connection.close()
        except Exception:
            logger.warning("closing the SMTP connection after a batch failed", exc_info=True)


def email_send_batch(*, email_ids: list[int]) -> dict[str, int]:
    """Send the queued, due emails among these ids at most once each (see the module docstring)."""
    counts = dict.fromkeys(("sent", "failed", "retry", "released", "in_flight", "deferred"), 0)
    pending = sorted(set(email_ids))
    while pending:
        granted, wait = rate_take(len(pending))
        if not granted:  # the rate limit: the rest comes back when tokens are there
            publish_batches(pending, countdown=math.ceil(wait))
            counts["deferred"] += len(pending)
            break
        chunk, pending = pending[:granted], pending[granted:]
        claimed = _claim(chunk)
        rate_release(granted - len(claimed))
        if not claimed:
            continue
        emails = list(OutboundEmail.objects.filter(pk__in=claimed).order_by("pk"))
        if not _send_claimed(emails, counts):
            # The connection dropped: the released rows were published again; so is the rest.
            if pending:
                publish_batches(pending)
            break
    return counts
