"""SLA warnings and breaches (the every-minute sweep), ticket auto-close, and flagging tickets to the CSM.

The sweep is set-based: it claims due targets in batches with `select_for_update(skip_locked)` and a null guard
(`warned_at` / `breach_notified_at`), so concurrent or repeated runs claim each target once; the emails it queues
carry idempotency keys per target and recipient, so even a replayed batch sends nothing twice. Per batch of
1,000 targets the statements are a constant few: the claim, one INSERT of the batch's emails (and of its
timeline events), their tasks published on commit.

A breach is notified once even when the target no longer runs by the time the sweep looks (answered late, or
paused, between two sweeps), if it happened within RECENT_BREACH: a deploy does not replay old breaches.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from crm.models import TimelineEvent
from crm.outbound_email import email_queue, email_queue_bulk
from crm.timeline import timeline_record, timeline_record_many
from tickets import signals
from tickets.models import FlagRule, SlaTarget, Status, Ticket, TicketFlag, TicketStatusChange
from tickets.sla import past_due

logger = logging.getLogger(__name__)
BATCH = 1000
RECENT_BREACH = dt.timedelta(days=1)


def _staff_notification(*, key: str, to, subject: str, body: str, ticket: Ticket) -> dict | None:
    """email_queue's arguments for a notification to a staff user (None: nobody to email)."""
    if to is None or not to.email or getattr(to, "is_service_account", False):
        return None
    return {
        "idempotency_key": key,
        "kind": "staff_notification",
        "to_email": to.email,
        "subject": subject,
        "text_body": f"{body}\n\n{settings.SITE_URL}/admin/tickets/ticket/{ticket.pk}/change/\n",
        "customer": ticket.customer,
    }


def _staff_email(*, key: str, to, subject: str, body: str, ticket: Ticket) -> None:
    if (email := _staff_notification(key=key, to=to, subject=subject, body=body, ticket=ticket)) is not None:
        email_queue(**email)


def _claim(queryset, guard_field: str, now: dt.datetime, after: int) -> tuple[list[SlaTarget], int]:
    """Claim the next batch after primary key `after` (keyset paging: each batch reads on from where the last one
    stopped instead of re-reading the rows already claimed). Returns the batch and the last key read."""
    ids = list(
        queryset.filter(pk__gt=after)
        .select_for_update(skip_locked=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    if not ids:
        return [], after
    SlaTarget.objects.filter(pk__in=ids, **{f"{guard_field}__isnull": True}).update(**{guard_field: now})
    batch = list(
        SlaTarget.objects.filter(pk__in=ids).select_related(
            "ticket__assignee", "ticket__team__lead", "ticket__customer__owner"
        )
    )
    return batch, ids[-1]


def _breaches_due(now: dt.datetime):
    """Breached targets not notified yet: running ones past their due time, and (a second, separate scan) those
    that breached within RECENT_BREACH and were paused or stopped before a sweep saw them (few rows, read through
    the partial index tickets_sla_late_breach_idx: 0.2 ms at 1,000,000 tickets)."""
    running = SlaTarget.objects.filter(past_due(now), state=SlaTarget.State.RUNNING, breach_notified_at__isnull=True)
    recent = now - RECENT_BREACH
    left_running = SlaTarget.objects.filter(
        state__in=[SlaTarget.State.PAUSED, SlaTarget.State.BREACHED],
        breached=True,
        breach_notified_at__isnull=True,
        due_at__lte=now,
        due_at__gte=recent,
    ).exclude(
        # An imported ticket's history (a target breached before the import) notifies nobody.
        Exists(Ticket.objects.filter(pk=OuterRef("ticket_id"), imported_at__gt=OuterRef("due_at")))
    )
    return running, left_running


def sla_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    warned = breached = 0
    last = 0
    while True:
        with transaction.atomic():
            due = SlaTarget.objects.filter(
                state=SlaTarget.State.RUNNING, warn_at__lte=now, warned_at__isnull=True, breached=False
            )
            batch, last = _claim(due, "warned_at", now, last)
            if batch:
                _warn(batch)
        warned += len(batch)
        if len(batch) < BATCH:
            break
    for due in _breaches_due(now):
        last = 0
        while True:
            with transaction.atomic():
                batch, last = _claim(due, "breach_notified_at", now, last)
                if batch:
                    _escalate(batch, now)
            breached += len(batch)
            if len(batch) < BATCH:
                break
    return {"warned": warned, "breached": breached}


def _warn(batch: list[SlaTarget]) -> None:
    emails = []
    for target in batch:
        ticket = target.ticket
        emails.append(
            _staff_notification(
                key=f"sla-warning:{target.pk}",
                to=ticket.assignee,
                subject=f"SLA warning: {target.get_metric_display()} due soon on {ticket.reference}",
                body=f"{target.get_metric_display()} of {ticket.reference} {ticket.subject} is due at "
                f"{target.due_at:%Y-%m-%d %H:%M} UTC.",
                ticket=ticket,
            )
        )
    if emails := [email for email in emails if email is not None]:
        email_queue_bulk(emails, interactive=True)


def _escalate(batch: list[SlaTarget], now: dt.datetime) -> None:
    SlaTarget.objects.filter(pk__in=[t.pk for t in batch]).update(breached=True)
    ticket_ids = {t.ticket_id for t in batch}
    # updated_at by hand (update() skips auto_now): integrations syncing with ?updated_after= see the level.
    Ticket.objects.filter(pk__in=ticket_ids).update(
        escalation_level=F("escalation_level") + 1, updated_at=timezone.now()
    )
    levels = dict(Ticket.objects.filter(pk__in=ticket_ids).values_list("pk", "escalation_level"))
    events, emails, escalated = [], [], {}
    for target in batch:
        ticket = target.ticket
        label = target.get_metric_display()
        events.append(
            TimelineEvent(
                customer_id=ticket.customer_id,
                kind="ticket.sla_breached",
                occurred_at=now,
                summary=f"SLA breached: {label} on {ticket.reference} {ticket.subject}"[:300],
                payload={"ticket_id": ticket.pk, "metric": target.metric, "level": levels[ticket.pk]},
            )
        )
        breach = (
            "is breached"
            if target.stopped_at is None
            else f"was breached (stopped at {target.stopped_at:%Y-%m-%d %H:%M} UTC)"
        )
        body = (
            f"{label} of {ticket.reference} {ticket.subject} was due at {target.due_at:%Y-%m-%d %H:%M} UTC "
            f"and {breach}. Escalation level {levels[ticket.pk]}."
        )
        recipients = [ticket.assignee, getattr(ticket.team, "lead", None), ticket.customer.owner]
        seen = set()
        for person in recipients:
            if person is None or person.pk in seen:
                continue
            seen.add(person.pk)
            emails.append(
                _staff_notification(
                    key=f"sla-breach:{target.pk}:{person.pk}",
                    to=person,
                    subject=f"SLA breached: {label} on {ticket.reference}",
                    body=body,
                    ticket=ticket,
                )
            )
        escalated[ticket.pk] = ticket
    timeline_record_many(events)
    if emails := [email for email in emails if email is not None]:
        email_queue_bulk(emails, interactive=True)
    for ticket in escalated.values():  # once per ticket, however many of its targets breached together
        transaction.on_commit(
            lambda t=ticket, lv=levels[ticket.pk]: signals.ticket_escalated.send(sender=Ticket, ticket=t, level=lv)
        )


def tickets_auto_close(*, now: dt.datetime | None = None) -> int:
    """Close tickets solved more than TICKETS_AUTO_CLOSE_DAYS ago, in batches; safe to run twice."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.TICKETS_AUTO_CLOSE_DAYS)
    closed = 0
    while True:
        with transaction.atomic():
            rows = list(
                Ticket.objects.select_for_update(skip_locked=True)
                .filter(status=Status.SOLVED, solved_at__lte=cutoff)
                .order_by("pk")
                .values_list("pk", "customer_id")[:BATCH]
            )
            if not rows:
                break
            ids = [pk for pk, _ in rows]
            Ticket.objects.filter(pk__in=ids, status=Status.SOLVED).update(
                status=Status.CLOSED,
                closed_at=now,
                updated_at=timezone.now(),  # update() skips auto_now
            )
            TicketStatusChange.objects.bulk_create(
                TicketStatusChange(
                    ticket_id=pk,
                    from_status=Status.SOLVED,
                    to_status=Status.CLOSED,
                    at=now,
                    reason="closed automatically",
                )
                for pk in ids
            )
            timeline_record_many(
                TimelineEvent(
                    customer_id=cid,
                    kind="ticket.status_changed",
                    occurred_at=now,
                    summary=f"Ticket [#{pk}] solved → closed (automatically)",
                    payload={"ticket_id": pk, "from": "solved", "to": "closed"},
                )
                for pk, cid in rows
            )
        closed += len(rows)
    return closed


def _rule_matches(rule: FlagRule, ticket: Ticket, today: dt.date) -> bool:
    customer = ticket.customer
    if rule.lifecycle_stages and customer.lifecycle_stage not in rule.lifecycle_stages:
        return False
    if rule.tiers and customer.tier not in rule.tiers:
        return False
    if rule.priorities and ticket.priority not in rule.priorities:
        return False
    if rule.renewal_within_days is not None and (
        customer.renewal_date is None
        or not today <= customer.renewal_date <= today + dt.timedelta(days=rule.renewal_within_days)
    ):
        return False
    return True


@transaction.atomic
def ticket_flag_evaluate(*, ticket: Ticket, trigger: str) -> list[TicketFlag]:
    """Flag the ticket to the customer's CSM for every active rule that matches; once per rule and trigger."""
    ticket = Ticket.objects.select_related("customer__owner").get(pk=ticket.pk)
    rules = FlagRule.objects.filter(is_active=True)
    rules = rules.filter(on_open=True) if trigger == "opened" else rules.filter(on_escalation=True)
    today = timezone.now().date()
    flags = []
    for rule in rules:
        if not _rule_matches(rule, ticket, today):
            continue
        flag, created = TicketFlag.objects.get_or_create(
            ticket=ticket, rule=rule, trigger=trigger, defaults={"notified": ticket.customer.owner}
        )
        if not created:
            continue
        flags.append(flag)
        timeline_record(
            customer=ticket.customer_id,
            kind="ticket.flagged",
            summary=f"Ticket {ticket.reference} flagged to the CSM ({rule.name}, {trigger})",
            source=ticket,
            payload={"ticket_id": ticket.pk, "rule": rule.name, "trigger": trigger},
        )
        _staff_email(
            key=f"ticket-flag:{flag.pk}",
            to=ticket.customer.owner,
            subject=f"Ticket flagged for {ticket.customer.name}: {ticket.subject} {ticket.reference}",
            body=f"{rule.name}: {ticket.customer.name} ({ticket.customer.get_lifecycle_stage_display()}, "
            f"{ticket.customer.get_tier_display()}) has a {ticket.priority} ticket {trigger}: {ticket.subject}.",
            ticket=ticket,
        )
    return flags
