"""Survey invitations sent in batches: the dispatch scan's unit of work is a chunk of due invitations.

    invitation_dispatch_many(invitation_ids)  -> {"sent", "suppressed", "cancelled", "deferred"}: one transaction
    invitation_remind_many(invitation_ids)    -> {"reminded", "suppressed"}: the reminders of sent invitations
    (surveys.services.invitation_dispatch / invitation_remind: one invitation, the same rules, this code)

Per chunk, in one transaction and a statement count flat in its size:
  1. claim: the chunk's invitations still scheduled and due, `select_for_update(skip_locked=True)` (one SELECT,
     their survey, contact, customer and ticket joined): an invitation a concurrent dispatch holds, or already
     sent, is not this chunk's;
  2. rules that need no ledger: an inactive survey suppresses, a ticket reopened since its solve cancels;
  3. the contact ledger for the rest at once (crm.ledger.LedgerBatch: the contacts locked in one statement,
     their history read in one, the entries written in one): unsubscribed, bounced, complained and fatigued
     contacts are suppressed with their reason, recurring invitations stopped by survey spacing alone wait
     (deferred to a later local morning), exactly as one invitation at a time;
  4. the emails rendered and stored with `email_queue_bulk` (one INSERT; "survey_invite:<invitation id>", the
     idempotency key of each invitation's one email, as before); `crm.send_email_batch` tasks on commit;
  5. the invitations updated in one statement (bulk_update) and their timeline events in one INSERT.
A redelivered or duplicated chunk finds its invitations no longer scheduled (or locked) and does nothing; an
email key already stored is that invitation's email and is not queued again.
"""

import datetime as dt
import logging
from collections import Counter

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.ledger import LedgerBatch
from crm.models import LedgerEntry, OutboundEmail, TimelineEvent
from crm.outbound_email import email_queue, email_queue_bulk
from crm.timeline import timeline_record_many
from crm.unsubscribe import unsubscribe_headers
from surveys.models import Invitation

logger = logging.getLogger(__name__)
Status = Invitation.Status
INVITATION_FIELDS = ["status", "suppressed_reason", "sent_at", "expires_at", "email", "scheduled_for", "queued_at"]


def _event(invitation: Invitation, kind: str, summary: str, payload: dict, now: dt.datetime) -> TimelineEvent:
    return TimelineEvent(
        customer_id=invitation.customer_id,
        kind=kind,
        summary=summary,
        source_type=ContentType.objects.get_for_model(Invitation),
        source_id=str(invitation.pk),
        payload=payload,
        occurred_at=now,
    )


def _ticket_reopened(invitation: Invitation) -> bool:
    """A ticket-solved survey whose ticket was reopened since the solve that asked for it."""
    ticket = invitation.ticket
    return ticket.status not in ("solved", "closed") or ticket.reopen_count > int(
        invitation.trigger_key.rpartition(":r")[2] or 0
    )


def _deferred_until(invitation: Invitation, ledger: LedgerBatch, reason: str | None) -> dt.datetime | None:
    """A recurring survey stopped by survey spacing alone (a CSAT sent 12 days ago) waits until the spacing
    allows it instead of skipping the whole cycle; unless that is more than half a cycle after the invitation
    was made (then the ledger suppresses it, as any other). Consent and deliverability (unsubscribed, bounced,
    complained) suppress at once. Returns when it may go, or None."""
    if reason is None or invitation.trigger != Invitation.Trigger.RECURRING:
        return None
    spacing = ledger.spacing(contact_id=invitation.contact_id, subkind=invitation.survey.kind)
    if spacing is None or spacing[0] != reason:
        return None  # consent or deliverability (checked before spacing): suppressed with its reason
    half_cycle = dt.timedelta(days=15 * (invitation.survey.recurring_months or 0))
    return spacing[1] if spacing[1] <= invitation.created_at + half_cycle else None


def _defer(invitation: Invitation, until: dt.datetime, reason: str, now: dt.datetime) -> TimelineEvent:
    from surveys.scheduling import local_morning

    contact = invitation.contact
    invitation.scheduled_for = local_morning(
        now=until,
        tz_name=contact.timezone or contact.customer.timezone,
        contact_id=contact.pk,
        salt=invitation.survey_id,
    )
    invitation.queued_at = None  # the dispatch scan publishes it again when it is due
    return _event(
        invitation,
        "survey.deferred",
        f"{invitation.survey.name} to {contact.email} waits until "
        f"{invitation.scheduled_for:%Y-%m-%d %H:%M} UTC: {reason}",
        {"invitation_id": invitation.pk, "reason": reason, "scheduled_for": invitation.scheduled_for.isoformat()},
        now,
    )


def _suppress(invitation: Invitation, reason: str, status: str = Status.SUPPRESSED) -> None:
    invitation.status, invitation.suppressed_reason = status, reason[:200]


def _suppressed_event(invitation: Invitation, reason: str, now: dt.datetime, what: str = "", **payload):
    return _event(
        invitation,
        "survey.suppressed",
        f"{invitation.survey.name}{what} not sent to {invitation.contact.email}: {reason}",
        {"invitation_id": invitation.pk, "reason": reason, **payload},
        now,
    )


def _email_fields(invitation: Invitation, *, reminder: bool) -> dict:
    from surveys.services import _email_key, _email_kind, _render_invitation

    subject, text, html = _render_invitation(invitation, reminder=reminder)
    return {
        "idempotency_key": _email_key(invitation, reminder=reminder),
        "kind": _email_kind(reminder=reminder),
        "to_email": invitation.contact.email,
        "subject": subject,
        "text_body": text,
        "html_body": html,
        "contact": invitation.contact,
        "customer": invitation.contact.customer,
        "headers": unsubscribe_headers(invitation.contact),
    }


def _queue_emails(
    invitations: list[Invitation], *, reminder: bool, bulk: bool, ledger: LedgerBatch
) -> tuple[dict[int, int], dict[int, str]]:
    """The invitations' emails: ({invitation id: email id}, {invitation id: why its email cannot go}).
    bulk: one INSERT (email_queue_bulk, crm.send_email_batch tasks); else email_queue (crm.send_email)."""
    if not invitations:
        return {}, {}
    fields = {invitation.pk: _email_fields(invitation, reminder=reminder) for invitation in invitations}
    if not bulk:
        [(pk, one)] = fields.items()
        return {pk: email_queue(**one).pk}, {}
    refused: dict[int, str] = {}
    while fields:
        try:
            email_queue_bulk(list(fields.values()))
            break
        except ValidationError as exc:  # a malformed address: that invitation's email alone cannot go
            keys = exc.message_dict
            for invitation in invitations:
                key = fields.get(invitation.pk, {}).get("idempotency_key")
                if key in keys:
                    refused[invitation.pk] = f"email not sendable: {' '.join(keys[key])}"[:200]
                    ledger.suppress(source=invitation, reason=refused[invitation.pk])
                    del fields[invitation.pk]
    by_key = dict(
        OutboundEmail.objects.filter(idempotency_key__in=[f["idempotency_key"] for f in fields.values()]).values_list(
            "idempotency_key", "pk"
        )
    )
    return {pk: by_key[f["idempotency_key"]] for pk, f in fields.items()}, refused


def _claim(invitation_ids, **status):
    return list(
        Invitation.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("survey", "contact__customer", "ticket")
        .filter(pk__in=list(invitation_ids), **status)
        .order_by("pk")
    )


@transaction.atomic
def invitation_dispatch_many(
    *, invitation_ids, now: dt.datetime | None = None, send_email: bool = True, bulk: bool = True
) -> dict[str, int]:
    """Send the due, scheduled invitations among these ids, each once (see the module docstring).

    send_email=False records history (imports, demo data): ledger entries, statuses and timeline as of `now`,
    but no email rows. bulk=False queues the (one) email with email_queue, for surveys.services."""
    now = now or timezone.now()
    invitations = _claim(invitation_ids, status=Status.SCHEDULED, scheduled_for__lte=now)
    return _dispatch(invitations, now=now, send_email=send_email, bulk=bulk)


def _dispatch(invitations: list[Invitation], *, now: dt.datetime, send_email: bool, bulk: bool) -> dict[str, int]:
    counts: Counter = Counter()
    events: list[TimelineEvent] = []
    pending = []
    for invitation in invitations:
        if not invitation.survey.is_active:
            _suppress(invitation, "survey is inactive")
        elif invitation.ticket_id is not None and _ticket_reopened(invitation):
            _suppress(invitation, "ticket reopened", Status.CANCELLED)
        else:
            pending.append(invitation)
    ledger = LedgerBatch(contact_ids=[i.contact_id for i in pending], kind=LedgerEntry.Kind.SURVEY, now=now)
    to_send = []
    for invitation in pending:
        subkind = invitation.survey.kind
        if invitation.trigger == Invitation.Trigger.RECURRING:
            reason = ledger.check(contact_id=invitation.contact_id, subkind=subkind)
            until = _deferred_until(invitation, ledger, reason)
            if until is not None:
                events.append(_defer(invitation, until, reason, now))
                counts["deferred"] += 1
                continue
        reason = ledger.claim(contact_id=invitation.contact_id, subkind=subkind, source=invitation)
        if reason:
            events.append(_suppressed_event(invitation, reason, now))
            _suppress(invitation, reason)
        else:
            to_send.append(invitation)
    emails, refused = _queue_emails(to_send, reminder=False, bulk=bulk, ledger=ledger) if send_email else ({}, {})
    ledger.save()
    for invitation in to_send:
        if invitation.pk in refused:
            events.append(_suppressed_event(invitation, refused[invitation.pk], now))
            _suppress(invitation, refused[invitation.pk])
            continue
        invitation.status = Status.SENT
        invitation.sent_at = now
        invitation.expires_at = now + dt.timedelta(days=invitation.survey.expiry_days)
        invitation.email_id = emails.get(invitation.pk)
        survey = invitation.survey
        events.append(
            _event(
                invitation,
                "survey.sent",
                f"{survey.name} sent to {invitation.contact.email}",
                {"invitation_id": invitation.pk, "survey_id": survey.pk, "kind": survey.kind},
                now,
            )
        )
    if invitations:
        Invitation.objects.bulk_update(invitations, INVITATION_FIELDS)
    timeline_record_many(events)
    for invitation in invitations:
        if invitation.status != Status.SCHEDULED:
            counts[invitation.status] += 1
    return {name: counts[name] for name in ("sent", "suppressed", "cancelled", "deferred")}


@transaction.atomic
def invitation_remind_many(*, invitation_ids, now: dt.datetime | None = None, bulk: bool = True) -> dict[str, int]:
    """The reminder of each sent, unanswered, unexpired invitation among these ids that was not reminded yet,
    once: part of the survey's conversation, so the ledger stops it for an unsubscribed, bounced or complained
    contact, never for survey spacing; decided once per invitation (an entry already recorded for its reminder,
    by an earlier run, means it is done)."""
    now = now or timezone.now()
    invitations = _claim(invitation_ids, status=Status.SENT, reminded_at__isnull=True, expires_at__gt=now)
    return _remind(invitations, now=now, bulk=bulk)


def _remind(invitations: list[Invitation], *, now: dt.datetime, bulk: bool) -> dict[str, int]:
    counts: Counter = Counter()
    if not invitations:
        return {"reminded": 0, "suppressed": 0}
    decided = set(
        LedgerEntry.objects.filter(
            contact_id__in=[i.contact_id for i in invitations],
            kind=LedgerEntry.Kind.SURVEY,
            subkind="reminder",
            source_type=ContentType.objects.get_for_model(Invitation),
            source_id__in=[str(i.pk) for i in invitations],
        ).values_list("source_id", flat=True)
    )
    invitations = [i for i in invitations if str(i.pk) not in decided]
    ledger = LedgerBatch(contact_ids=[i.contact_id for i in invitations], kind=LedgerEntry.Kind.SURVEY, now=now)
    events, to_send = [], []
    for invitation in invitations:
        reason = ledger.claim(contact_id=invitation.contact_id, subkind="reminder", source=invitation)
        if reason:
            events.append(_suppressed_event(invitation, reason, now, " reminder", reminder=True))
            counts["suppressed"] += 1
        else:
            to_send.append(invitation)
    _emails, refused = _queue_emails(to_send, reminder=True, bulk=bulk, ledger=ledger)
    ledger.save()
    reminded = [i for i in to_send if i.pk not in refused]
    for invitation in to_send:
        if invitation.pk in refused:
            events.append(_suppressed_event(invitation, refused[invitation.pk], now, " reminder", reminder=True))
            counts["suppressed"] += 1
    if reminded:
        Invitation.objects.filter(pk__in=[i.pk for i in reminded]).update(reminded_at=now)
    timeline_record_many(events)
    counts["reminded"] = len(reminded)
    return {"reminded": counts["reminded"], "suppressed": counts["suppressed"]}
