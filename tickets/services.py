"""Writes on tickets. Each service is one transaction: the change, its status log, its SLA checkpoint and its
timeline event; emails and signals go out on commit."""

import datetime as dt

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.ledger import ledger_claim
from crm.models import Contact, Customer, LedgerEntry
from crm.outbound_email import email_queue
from crm.timeline import timeline_record
from tickets import signals
from tickets.models import Category, Channel, Priority, SlaTarget, Status, Ticket, TicketMessage, TicketStatusChange
from tickets.sla import OPEN_STATES, policy_for, sla_checkpoint, sla_refresh, sla_resume, sla_start, sla_stop

TRANSITIONS: dict[str, set[str]] = {
    Status.NEW: {Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED},
    Status.OPEN: {Status.PENDING, Status.ON_HOLD, Status.SOLVED},
    Status.PENDING: {Status.OPEN, Status.ON_HOLD, Status.SOLVED},
    Status.ON_HOLD: {Status.OPEN, Status.PENDING, Status.SOLVED},
    Status.SOLVED: {Status.OPEN, Status.CLOSED},
    Status.CLOSED: set(),
}
MAX_BODY = 100_000
REPLY_MARKER = "##- Please type your reply above this line -##"
# An API client's ticket whose created_at is further back than this is a historical import (Ticket.imported_at):
# a live integration lagging a few minutes still notifies as usual.
IMPORT_TOLERANCE = dt.timedelta(hours=1)
MAX_MERGE_HOPS = 50


def is_historical(created_at: dt.datetime | None) -> bool:
    """Whether a ticket opened with this created_at is a historical import (more than IMPORT_TOLERANCE ago)."""
    return created_at is not None and created_at < timezone.now() - IMPORT_TOLERANCE


def _history(ticket: Ticket, at: dt.datetime) -> bool:
    """An event dated before its ticket was imported: recorded and measured, never notified."""
    return ticket.imported_at is not None and at < ticket.imported_at


def _silence_past_targets(ticket: Ticket) -> None:
    """An imported ticket's open targets that fell due (or reached their warning time) before now are history:
    marked warned and notified, so the SLA sweep (which claims rows where these are empty) never emails or
    escalates them. Targets still ahead stay live."""
    if ticket.imported_at is None:
        return
    now = timezone.now()
    targets = SlaTarget.objects.filter(ticket=ticket, state__in=OPEN_STATES)
    targets.filter(warn_at__lte=now, warned_at__isnull=True).update(warned_at=now)
    targets.filter(due_at__lte=now, breach_notified_at__isnull=True).update(breach_notified_at=now)


def _refresh(ticket: Ticket, at: dt.datetime) -> None:
    sla_refresh(ticket, at)
    _silence_past_targets(ticket)


def ticket_surviving(ticket: Ticket) -> Ticket:
    """The ticket a merged ticket lives on in: `merged_into`, followed through chains (A -> B -> C gives C)."""
    seen = {ticket.pk}
    while ticket.merged_into_id is not None and ticket.merged_into_id not in seen and len(seen) <= MAX_MERGE_HOPS:
        seen.add(ticket.merged_into_id)
        following = Ticket.objects.select_related("customer", "requester").filter(pk=ticket.merged_into_id).first()
        if following is None:
            break
        ticket = following
    return ticket


def _send_on_commit(signal, ticket: Ticket, **kwargs) -> None:
    transaction.on_commit(lambda: signal.send(sender=Ticket, ticket=ticket, **kwargs))


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is not None and timezone.is_naive(at):
        raise ValidationError({"created_at": "Give a time zone (e.g. 2026-01-02T10:00:00Z)."})
    return at or timezone.now()


def _log_status(ticket: Ticket, old: str, new: str, at: dt.datetime, actor, reason: str = "") -> None:
    TicketStatusChange.objects.create(
        ticket=ticket,
        from_status=old,
        to_status=new,
        at=at,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
    )
    timeline_record(
        customer=ticket.customer_id,
        kind="ticket.status_changed",
        summary=f"Ticket {ticket.reference} {old or 'new'} → {new}" + (f" ({reason})" if reason else ""),
        actor=actor,
        source=ticket,
        payload={"ticket_id": ticket.pk, "from": old, "to": new},
        occurred_at=at,
    )


def _set_status(ticket: Ticket, new: str, at: dt.datetime, actor, reason: str = "") -> None:
    """Move the ticket to `new`: checkpoint the clock under the old status, log, stop/resume targets."""
    old = ticket.status
    if new == old:
        return
    if new not in TRANSITIONS[old]:
        raise ValidationError({"status": f"A ticket cannot go from {old} to {new}."})
    sla_checkpoint(ticket, at, status=old)
    ticket.status = new
    if new == Status.SOLVED:
        ticket.solved_at = at
        sla_stop(ticket, SlaTarget.Metric.RESOLUTION, at)
        sla_stop(ticket, SlaTarget.Metric.NEXT_REPLY, at)
        if not _history(ticket, at):  # an imported solve asks no CSAT
            _send_on_commit(signals.ticket_solved, ticket)
    elif new == Status.CLOSED:
        ticket.closed_at = at
    elif old == Status.SOLVED:
        ticket.reopen_count += 1
        ticket.solved_at = None
        ticket.resolution_seconds = None
        sla_resume(ticket, SlaTarget.Metric.RESOLUTION, at)
        if not _history(ticket, at):
            _send_on_commit(signals.ticket_reopened, ticket)
    ticket.save()
    _log_status(ticket, old, new, at, actor, reason)
    _refresh(ticket, at)


@transaction.atomic
def ticket_create(
    *,
    customer: Customer,
    requester: Contact,
    subject: str,
    body: str,
    channel: str = Channel.WEB,
    priority: str = Priority.NORMAL,
    category: str = Category.QUESTION,
    tags: list[str] | None = None,
    assignee=None,
    team=None,
    created_at: dt.datetime | None = None,
    body_html: str = "",
    email_message_id: str = "",
    follow_up_of: Ticket | None = None,
    imported: bool = False,
    actor=None,
) -> Ticket:
    """imported=True: a historical import (see is_historical). Its history is recorded and measured as
    dated, and notifies nobody: no ticket_opened (flag rules), no CSAT for a dated solve, no email for a dated
    reply, no SLA warning or escalation for a target already due."""
    at = _now(created_at)
    if requester.customer_id != customer.pk:
        raise ValidationError({"requester": "The requester is not a contact of this customer."})
    if not (body or "").strip():
        raise ValidationError({"body": "This field may not be blank."})
    if len(body) > MAX_BODY:
        raise ValidationError({"body": f"Ensure this field has no more than {MAX_BODY} characters."})
    ticket = Ticket(
        customer=customer,
        requester=requester,
        subject=(subject or "").strip(),
        channel=channel,
        priority=priority,
        category=category,
        tags=sorted({t.strip().lower() for t in (tags or []) if t and t.strip()}),
        assignee=assignee,
        team=team,
        created_at=at,
        follow_up_of=follow_up_of,
        imported_at=timezone.now() if imported else None,
    )
    ticket.full_clean()
    ticket.sla_policy = policy_for(ticket)
    ticket.save()
    TicketStatusChange.objects.create(ticket=ticket, from_status="", to_status=Status.NEW, at=at, actor=None)
    TicketMessage.objects.create(
        ticket=ticket,
        public=True,
        author_contact=requester,
        channel=channel,
        body_text=body,
        body_html=body_html,
        email_message_id=email_message_id,
        created_at=at,
    )
    sla_start(ticket, SlaTarget.Metric.FIRST_RESPONSE, at)
    sla_start(ticket, SlaTarget.Metric.RESOLUTION, at)
    _refresh(ticket, at)
    timeline_record(
        customer=customer,
        kind="ticket.opened",
        summary=f"Ticket {ticket.reference} opened by {requester.email}: {ticket.subject}",
        actor=actor,
        source=ticket,
        payload={"ticket_id": ticket.pk, "priority": priority, "channel": channel, "category": category},
        occurred_at=at,
    )
    if not imported:
        _send_on_commit(signals.ticket_opened, ticket)
    return ticket


def _reply_email(ticket: Ticket, message: TicketMessage) -> None:
    # The contact ledger: replies to the requester's own request always go, unless the address bounced (or
    # complained); a suppressed reply is recorded with its reason, and the message stays on the ticket.
    reason = ledger_claim(contact=ticket.requester, kind=LedgerEntry.Kind.TICKET_REPLY, source=message)
    if reason:
        timeline_record(
            customer=ticket.customer_id,
            kind="ticket.reply_not_emailed",
            summary=f"Reply on {ticket.reference} not emailed to {ticket.requester.email}: {reason}",
            source=ticket,
            payload={"ticket_id": ticket.pk, "message_id": message.pk, "reason": reason},
        )
        return
    earlier = list(
        ticket.messages.exclude(email_message_id="").exclude(pk=message.pk).values_list("email_message_id", flat=True)
    )
    # The customer's answer must reach the support mailbox (inbound email), whatever address sends our mail.
    headers = {"Reply-To": settings.SUPPORT_EMAIL} if settings.SUPPORT_EMAIL else {}
    if earlier:
        headers["In-Reply-To"] = earlier[-1]
        headers["References"] = " ".join(earlier[-20:])
    email = email_queue(
        idempotency_key=f"ticket-reply:{message.pk}",
        kind="ticket_reply",
        to_email=ticket.requester.email,
        subject=f"Re: {ticket.subject} {ticket.reference}",
        text_body=f"{REPLY_MARKER}\n\n{message.body_text}",
        html_body=message.body_html,
        customer=ticket.customer,
        contact=ticket.requester,
        headers=headers,
    )
    TicketMessage.objects.filter(pk=message.pk).update(email_message_id=email.message_id)


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    body: str,
    public: bool = True,
    actor=None,
    body_html: str = "",
    channel: str = Channel.WEB,
    at: dt.datetime | None = None,
    send_email: bool = True,
) -> TicketMessage:
    """A staff member's public reply (emailed to the requester) or internal note. A reply dated before its
    ticket was imported is history: recorded, never emailed."""
    at = _now(at)
    ticket = Ticket.objects.select_for_update().select_related("customer", "requester").get(pk=ticket.pk)
    if not (body or "").strip():
        raise ValidationError({"body": "This field may not be blank."})
    if len(body) > MAX_BODY:
        raise ValidationError({"body": f"Ensure this field has no more than {MAX_BODY} characters."})
    if ticket.merged_into_id is not None:
        raise ValidationError(
            {"ticket": f"The ticket was merged into {ticket_surviving(ticket).reference}; reply there."}
        )
    if ticket.status == Status.CLOSED:
        raise ValidationError({"ticket": "The ticket is closed; open a follow-up ticket instead."})
    sla_checkpoint(ticket, at)
    message = TicketMessage.objects.create(
        ticket=ticket,
        public=public,
        author_user=actor if getattr(actor, "pk", None) else None,
        channel=channel,
        body_text=body,
        body_html=nh3.clean(body_html, link_rel="noopener noreferrer nofollow") if body_html else "",
        created_at=at,
    )
    if public:
        ticket.public_staff_replies += 1
        if ticket.first_response_at is None:
            ticket.first_response_at = at
            sla_stop(ticket, SlaTarget.Metric.FIRST_RESPONSE, at)
        sla_stop(ticket, SlaTarget.Metric.NEXT_REPLY, at)
        ticket.save(update_fields=["public_staff_replies", "first_response_at", "updated_at"])
        if ticket.status == Status.NEW:
            _set_status(ticket, Status.OPEN, at, actor, "first reply")
        if send_email and not _history(ticket, at):
            _reply_email(ticket, message)
    _refresh(ticket, at)
    timeline_record(
        customer=ticket.customer_id,
        kind="ticket.replied" if public else "ticket.note_added",
        summary=f"{'Reply' if public else 'Internal note'} on {ticket.reference}: {body.strip()[:150]}",
        actor=actor,
        source=ticket,
        payload={"ticket_id": ticket.pk, "message_id": message.pk, "public": public},
        occurred_at=at,
    )
    return message


@transaction.atomic
def ticket_customer_message(
    *,
    ticket: Ticket,
    contact: Contact,
    body: str,
    channel: str = Channel.EMAIL,
    body_html: str = "",
    email_message_id: str = "",
    at: dt.datetime | None = None,
) -> TicketMessage:
    """A message from the customer. Reopens a pending or solved ticket; a closed one gets a follow-up ticket.
    On a merged ticket it goes to the ticket it was merged into (through chains)."""
    at = _now(at)
    ticket = Ticket.objects.select_for_update().select_related("customer", "requester").get(pk=ticket.pk)
    if ticket.merged_into_id is not None:
        surviving = ticket_surviving(ticket)
        ticket = Ticket.objects.select_for_update().select_related("customer", "requester").get(pk=surviving.pk)
    if ticket.status == Status.CLOSED:
        follow_up = ticket_create(
            customer=ticket.customer,
            requester=contact,
            subject=ticket.subject,
            body=body,
            channel=channel,
            priority=ticket.priority,
            category=ticket.category,
            tags=ticket.tags,
            assignee=ticket.assignee,
            team=ticket.team,
            created_at=at,
            body_html=body_html,
            email_message_id=email_message_id,
            follow_up_of=ticket,
            imported=_history(ticket, at),
        )
        return follow_up.messages.get()
    sla_checkpoint(ticket, at)
    message = TicketMessage.objects.create(
        ticket=ticket,
        public=True,
        author_contact=contact,
        channel=channel,
        body_text=body,
        body_html=body_html,
        email_message_id=email_message_id,
        created_at=at,
    )
    if ticket.status in (Status.PENDING, Status.SOLVED):
        _set_status(ticket, Status.OPEN, at, None, "customer replied")
    if (
        ticket.public_staff_replies
        and not ticket.sla_targets.filter(metric=SlaTarget.Metric.NEXT_REPLY, state__in=["running", "paused"]).exists()
    ):
        cycle = ticket.sla_targets.filter(metric=SlaTarget.Metric.NEXT_REPLY).count() + 1
        sla_start(ticket, SlaTarget.Metric.NEXT_REPLY, at, cycle=cycle)
    _refresh(ticket, at)
    timeline_record(
        customer=ticket.customer_id,
        kind="ticket.customer_replied",
        summary=f"{contact.email} replied on {ticket.reference}: {body.strip()[:150]}",
        source=ticket,
        payload={"ticket_id": ticket.pk, "message_id": message.pk},
        occurred_at=at,
    )
    return message


@transaction.atomic
def ticket_change_status(
    *, ticket: Ticket, status: str, actor=None, at: dt.datetime | None = None, reason: str = ""
) -> Ticket:
    at = _now(at)
    ticket = Ticket.objects.select_for_update().select_related("customer").get(pk=ticket.pk)
    if status not in Status.values:
        raise ValidationError({"status": f'"{status}" is not a valid choice.'})
    _set_status(ticket, status, at, actor, reason)
    return ticket


@transaction.atomic
def ticket_update(*, ticket: Ticket, actor=None, at: dt.datetime | None = None, **data) -> Ticket:
    """Priority, category, tags, subject, assignee, team. A change that matches another SLA policy moves the
    remaining targets to it; time already counted stays counted."""
    allowed = {"priority", "category", "tags", "subject", "assignee", "team"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({f: "This field cannot be changed here." for f in sorted(unknown)})
    at = _now(at)
    ticket = Ticket.objects.select_for_update().select_related("customer").get(pk=ticket.pk)
    if ticket.status == Status.CLOSED:
        raise ValidationError({"status": "A closed ticket cannot be changed."})
    changes = {}
    for field, value in data.items():
        if field == "tags":
            value = sorted({t.strip().lower() for t in (value or []) if t and t.strip()})
        old = getattr(ticket, field)
        if old != value:
            changes[field] = [str(old) if old is not None else None, str(value) if value is not None else None]
            setattr(ticket, field, value)
    if not changes:
        return ticket
    ticket.full_clean()
    sla_checkpoint(ticket, at)
    policy = policy_for(ticket)
    if policy != ticket.sla_policy:
        ticket.sla_policy = policy
        for target in ticket.sla_targets.filter(state__in=["running", "paused"]):
            minutes = getattr(policy, f"{target.metric}_minutes", None) if policy else None
            target.target_seconds = minutes * 60 if minutes else None
            target.save(update_fields=["target_seconds"])
    ticket.save()
    _refresh(ticket, at)
    timeline_record(
        customer=ticket.customer_id,
        kind="ticket.updated",
        summary=f"Ticket {ticket.reference} updated: {', '.join(changes)}",
        actor=actor,
        source=ticket,
        payload={"ticket_id": ticket.pk, "changes": changes},
        occurred_at=at,
    )
    return ticket


def _close_merged(source: Ticket, target: Ticket, at: dt.datetime, actor) -> None:
    """Close a merged ticket: not solved (no ticket_solved, so no CSAT for the duplicate; not in resolution time
    or FCR), its open SLA targets cancelled (neither met nor breached), the close in the status log."""
    old = source.status
    sla_checkpoint(source, at, status=old)
    source.status = Status.CLOSED
    source.closed_at = at
    source.merged_into = target
    source.save()
    # stopped_at stays empty: the clock was cancelled, it did not stop by meeting or missing the target.
    SlaTarget.objects.filter(ticket=source, state__in=OPEN_STATES).update(state=SlaTarget.State.CANCELLED)
    _log_status(source, old, Status.CLOSED, at, actor, f"merged into {target.reference}")
    sla_refresh(source, at)


@transaction.atomic
def ticket_merge(*, source: Ticket, target: Ticket, actor=None) -> Ticket:
    """Move the messages of `source` into `target` (same customer); close `source` and link it. Customer
    replies to `source` (API, email by Message-ID or [#reference]) land on `target` from then on."""
    if source.pk == target.pk:
        raise ValidationError({"target": "A ticket cannot be merged into itself."})
    source, target = (
        Ticket.objects.select_for_update().get(pk=source.pk),
        Ticket.objects.select_for_update().get(pk=target.pk),
    )
    if source.customer_id != target.customer_id:
        raise ValidationError({"target": "Only tickets of the same customer can be merged."})
    if Status.CLOSED in (source.status, target.status):
        raise ValidationError({"target": "Closed tickets cannot be merged."})
    at = timezone.now()
    source.messages.update(ticket=target)
    _close_merged(source, target, at, actor)
    timeline_record(
        customer=target.customer_id,
        kind="ticket.merged",
        summary=f"Ticket {source.reference} merged into {target.reference}",
        actor=actor,
        source=target,
        payload={"source_id": source.pk, "target_id": target.pk},
    )
    return target
