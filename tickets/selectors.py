"""Reads on tickets and their configuration: querysets that load what a page needs in bulk (one query for the
rows, one per prefetched relation, whatever the page size)."""

import datetime as dt
from typing import NamedTuple

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from tickets.models import (
    BusinessCalendar,
    Holiday,
    Priority,
    SlaPolicy,
    SlaTarget,
    Status,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatusChange,
)
from tickets.sla import past_due

PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


def priority_rank():
    """low < normal < high < urgent, as an integer expression (ordering by the text would be alphabetical)."""
    return Case(
        *(When(priority=value, then=Value(rank)) for value, rank in PRIORITY_RANK.items()),
        default=Value(-1),
        output_field=IntegerField(),
    )


def breached_condition(now: dt.datetime | None = None) -> Q:
    """A target is breached once flagged, or once a running target's due time has passed (the sweep may not
    have run yet)."""
    now = now or timezone.now()
    return Q(breached=True) | (Q(state=SlaTarget.State.RUNNING) & past_due(now))


def sla_targets_for_pages() -> QuerySet[SlaTarget]:
    # The explained intervals (`segments`) can be long: the list does not need them.
    return SlaTarget.objects.defer("segments").order_by("metric", "cycle")


def ticket_list(*, with_targets: bool = True) -> QuerySet[Ticket]:
    """Tickets with `assignee_email`, `priority_rank` and their SLA targets (prefetched: one more query per
    page). with_targets=False: the caller attaches them to its page with attach_current_targets."""
    tickets = Ticket.objects.annotate(assignee_email=F("assignee__email"), priority_rank=priority_rank())
    if not with_targets:
        return tickets
    return tickets.prefetch_related(Prefetch("sla_targets", queryset=sla_targets_for_pages()))


class TargetState(NamedTuple):
    """What a list shows of one SLA target (a light row: no model instance per target)."""

    metric: str
    cycle: int
    due_at: dt.datetime | None
    state: str
    breached: bool
    target_seconds: int
    stopped_at: dt.datetime | None


def attach_current_targets(tickets: list[Ticket]) -> list[Ticket]:
    """One query for a page of tickets: each ticket's latest cycle of each target, as
    `ticket._current_targets` ({metric: TargetState}), which the ticket serializer reads."""
    by_ticket: dict[int, dict[str, TargetState]] = {ticket.pk: {} for ticket in tickets}
    if by_ticket:
        rows = (
            SlaTarget.objects.filter(ticket_id__in=list(by_ticket))
            .order_by("ticket_id", "metric", "cycle")
            .values_list("ticket_id", *TargetState._fields)
        )
        for ticket_id, *values in rows:
            target = TargetState(*values)
            by_ticket[ticket_id][target.metric] = target  # cycles ascending: the latest one stays
    for ticket in tickets:
        ticket.__dict__["_current_targets"] = by_ticket[ticket.pk]
    return tickets


def ticket_get(*, pk: int) -> Ticket:
    return ticket_list().get(pk=pk)


def ticket_breached(now: dt.datetime | None = None) -> Exists:
    """True for a ticket with a breached target (breached_condition): to filter or annotate tickets by."""
    return Exists(SlaTarget.objects.filter(breached_condition(now), ticket_id=OuterRef("pk")))


def ticket_breached_filter(queryset: QuerySet[Ticket], breached: bool, now: dt.datetime | None = None):
    return queryset.filter(ticket_breached(now)) if breached else queryset.exclude(ticket_breached(now))


def ticket_scope(
    *,
    customer_id: int | None = None,
    tier: str | None = None,
    assignee_id: int | None = None,
    unassigned: bool = False,
    team_id: int | None = None,
    channel: str | None = None,
    category: str | None = None,
) -> QuerySet[Ticket]:
    """The tickets a metrics report covers."""
    lookups = {
        "customer_id": customer_id,
        "customer__tier": tier,
        "assignee_id": assignee_id,
        "team_id": team_id,
        "channel": channel,
        "category": category,
    }
    scope = Ticket.objects.filter(**{key: value for key, value in lookups.items() if value not in (None, "")})
    if unassigned:
        scope = scope.filter(assignee__isnull=True)
    return scope


def ticket_last_event_at(*, ticket: Ticket) -> dt.datetime | None:
    """The time of the ticket's latest message or status change: dated (imported) events must not go back
    before it, or the clock would be counted out of order."""
    last_message = TicketMessage.objects.filter(ticket=ticket).aggregate(at=Max("created_at"))["at"]
    last_change = TicketStatusChange.objects.filter(ticket=ticket).aggregate(at=Max("at"))["at"]
    times = [t for t in (last_message, last_change, ticket.created_at) if t is not None]
    return max(times) if times else None


def message_list(*, ticket_id: int) -> QuerySet[TicketMessage]:
    """A ticket's messages with the staff author's email and their attachments (prefetched)."""
    return (
        TicketMessage.objects.filter(ticket_id=ticket_id)
        .annotate(author_email=F("author_user__email"))
        .prefetch_related(Prefetch("attachments", queryset=TicketAttachment.objects.order_by("id")))
    )


def message_get(*, pk: int) -> TicketMessage:
    return (
        TicketMessage.objects.annotate(author_email=F("author_user__email")).prefetch_related("attachments").get(pk=pk)
    )


def status_change_list(*, ticket_id: int) -> QuerySet[TicketStatusChange]:
    return TicketStatusChange.objects.filter(ticket_id=ticket_id).annotate(actor_email=F("actor__email"))


def status_change_get(*, pk: int) -> TicketStatusChange:
    return TicketStatusChange.objects.annotate(actor_email=F("actor__email")).get(pk=pk)


def business_calendar_list() -> QuerySet[BusinessCalendar]:
    return BusinessCalendar.objects.prefetch_related("opening_hours", "holidays")


def business_calendar_get(*, pk: int) -> BusinessCalendar:
    return business_calendar_list().get(pk=pk)


def holiday_dates(*, calendar_id: int | None) -> frozenset[dt.date]:
    """The dates of a business calendar's holidays (one query; none for no calendar). Other apps (outreach quiet
    hours) read them as dates in their own local time."""
    if calendar_id is None:
        return frozenset()
    return frozenset(Holiday.objects.filter(calendar_id=calendar_id).values_list("date", flat=True))


def sla_policy_list() -> QuerySet[SlaPolicy]:
    return SlaPolicy.objects.annotate(calendar_name=F("calendar__name"))


def sla_policy_get(*, pk: int) -> SlaPolicy:
    return sla_policy_list().get(pk=pk)


# --- Per-customer support load at an instant (health inputs read these; set-based, one statement each) ------


def open_ticket_counts(*, customer_ids: list[int], at: dt.datetime) -> dict[int, tuple[int, int]]:
    """{customer id: (open tickets, urgent open tickets)} at `at`, in one statement (customers with none are
    left out).

    A ticket is open at `at` when it was created by then and was neither solved nor closed by then (its
    `solved_at` / `closed_at`); merged tickets never count (their conversation lives on in the target). A ticket
    reopened after `at` counts as open at `at` too (reopening clears its solved time): when `at` is now, a
    reopened ticket counts from its current status."""
    rows = (
        Ticket.objects.filter(customer_id__any_of=customer_ids, created_at__lte=at, merged_into__isnull=True)
        .filter(Q(solved_at__isnull=True) | Q(solved_at__gt=at))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gt=at))
        # A solved or closed ticket without its time (not written by our services) is never open.
        .exclude(status__in=[Status.SOLVED, Status.CLOSED], solved_at__isnull=True, closed_at__isnull=True)
        .values("customer_id")
        .annotate(open=Count("id"), urgent=Count("id", filter=Q(priority=Priority.URGENT)))
        .order_by()
        .values_list("customer_id", "open", "urgent")
    )
    return {customer_id: (open_, urgent) for customer_id, open_, urgent in rows}


def sla_breach_counts(
    *, customer_ids: list[int], at: dt.datetime, days: tuple[int, ...] = (30, 90)
) -> dict[int, dict[int, int]]:
    """{customer id: {window in days: SLA targets breached}}: targets of the customers' tickets flagged breached
    whose due time fell in [at - window, at), in one statement (customers with none are left out)."""
    longest = max(days)
    rows = (
        SlaTarget.objects.filter(
            ticket__customer_id__any_of=customer_ids,
            breached=True,
            due_at__gte=at - dt.timedelta(days=longest),
            due_at__lt=at,
        )
        .values("ticket__customer_id")
        .annotate(**{f"d{n}": Count("id", filter=Q(due_at__gte=at - dt.timedelta(days=n))) for n in days})
        .order_by()
        .values_list("ticket__customer_id", *(f"d{n}" for n in days))
    )
    return {customer_id: dict(zip(days, counts, strict=True)) for customer_id, *counts in rows}


# --- Who handles a customer's tickets (success reads this to pick a playbook step's support agent) ----------


def ticket_handler_counts(*, customer_id: int, since: dt.datetime) -> dict[int, tuple[int, dt.datetime]]:
    """{staff user id: (tickets handled, latest activity)} for one customer's tickets since `since`.

    A user handled a ticket when they wrote a staff message on it (public reply or internal note) since `since`,
    or it was assigned to them and opened since `since`; each ticket counts once per user. Two statements,
    bounded by the customer's recent tickets; merged tickets never count."""
    handled: dict[int, dict[int, dt.datetime]] = {}
    messages = (
        TicketMessage.objects.filter(
            ticket__customer_id=customer_id,
            ticket__merged_into__isnull=True,
            author_user__isnull=False,
            created_at__gte=since,
        )
        .values("author_user_id", "ticket_id")
        .annotate(last=Max("created_at"))
        .order_by()
        .values_list("author_user_id", "ticket_id", "last")
    )
    assigned = Ticket.objects.filter(
        customer_id=customer_id, merged_into__isnull=True, assignee__isnull=False, created_at__gte=since
    ).values_list("assignee_id", "pk", "created_at")
    for user_id, ticket_id, at in [*messages, *assigned]:
        tickets = handled.setdefault(user_id, {})
        tickets[ticket_id] = max(at, tickets.get(ticket_id, at))
    return {user_id: (len(tickets), max(tickets.values())) for user_id, tickets in handled.items()}


# --- Per-customer expressions over Customer (the outreach audience composes these into one statement) --------


def open_ticket_count_subquery(*, at: dt.datetime, priority: str | None = None):
    """For `Customer` querysets: the customer's tickets open at `at` (as `open_ticket_counts` counts them), of
    `priority` when given; 0 when none."""
    tickets = (
        Ticket.objects.filter(customer_id=OuterRef("pk"), created_at__lte=at, merged_into__isnull=True)
        .filter(Q(solved_at__isnull=True) | Q(solved_at__gt=at))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gt=at))
        .exclude(status__in=[Status.SOLVED, Status.CLOSED], solved_at__isnull=True, closed_at__isnull=True)
    )
    if priority is not None:
        tickets = tickets.filter(priority=priority)
    counted = tickets.order_by().values("customer_id").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def sla_breach_count_subquery(*, at: dt.datetime, days: int = 90):
    """For `Customer` querysets: SLA targets of the customer's tickets flagged breached whose due time fell in
    [at - days, at) (as `sla_breach_counts` counts them); 0 when none."""
    targets = (
        SlaTarget.objects.filter(
            ticket__customer_id=OuterRef("pk"),
            breached=True,
            due_at__gte=at - dt.timedelta(days=days),
            due_at__lt=at,
        )
        .order_by()
        .values("ticket__customer_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(targets, output_field=IntegerField()), Value(0))


# --- The CSM's home: tickets of a book ---------------------------------------------------------------------------

UNSOLVED_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)


def attention_tickets(*, customer_ids: list[int], limit: int) -> tuple[list[Ticket], int]:
    """Unsolved tickets of the book's customers that were escalated or flagged to the CSM, most escalated and
    oldest first (at most `limit`), with the count of all of them. At most four small queries: escalated ones
    (from the partial index tickets_escalated_open_idx) and flagged ones that are not escalated (from the flags)
    are read apart, as an OR of the two would scan every unsolved ticket of the book."""
    from tickets.models import TicketFlag

    unsolved = Ticket.objects.filter(customer_id__any_of=customer_ids, status__in=UNSOLVED_STATUSES)
    escalated = unsolved.filter(escalation_level__gt=0)
    flagged = unsolved.filter(escalation_level=0, pk__in=TicketFlag.objects.values("ticket_id"))
    fields = ("pk", "subject", "status", "priority", "escalation_level", "created_at", "customer__name")
    rows = list(
        escalated.select_related("customer").only(*fields).order_by("-escalation_level", "created_at", "pk")[:limit]
    )
    escalated_count = escalated.count() if len(rows) == limit else len(rows)
    if len(rows) < limit:
        rows += flagged.select_related("customer").only(*fields).order_by("created_at", "pk")[: limit - len(rows)]
    return rows, escalated_count + flagged.count()


def weekly_volume_and_sla(*, customer_ids: list[int], weeks: int, now: dt.datetime) -> list[dict]:
    """Per week (Monday, in the current time zone) of the last `weeks`: tickets opened for the book's customers,
    and SLA attainment (% of the targets of those tickets that were met, over targets met or missed; merged
    tickets' targets excluded). Two grouped queries."""
    from django.db.models.functions import TruncWeek

    today = timezone.localtime(now).date()
    first = today - dt.timedelta(days=today.weekday() + 7 * (weeks - 1))
    start = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    opened = {
        row["week"].date() if hasattr(row["week"], "date") else row["week"]: row["n"]
        for row in Ticket.objects.filter(customer_id__any_of=customer_ids, created_at__gte=start)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(n=Count("*"))  # COUNT(*): answered from tickets_customer_idx alone (an index-only scan)
    }
    targets = {
        row["week"].date() if hasattr(row["week"], "date") else row["week"]: row
        for row in SlaTarget.objects.filter(
            ticket__customer_id__any_of=customer_ids, ticket__created_at__gte=start, target_seconds__isnull=False
        )
        .filter(Q(state=SlaTarget.State.MET) | Q(breached=True))
        .exclude(state=SlaTarget.State.CANCELLED)
        .annotate(week=TruncWeek("ticket__created_at"))
        .values("week")
        .annotate(total=Count("pk"), met=Count("pk", filter=Q(state=SlaTarget.State.MET, breached=False)))
    }
    result = []
    for n in range(weeks):
        week = first + dt.timedelta(days=7 * n)
        row = targets.get(week)
        result.append(
            {
                "week": week,
                "opened": opened.get(week, 0),
                "sla_pct": round(100 * row["met"] / row["total"], 1) if row and row["total"] else None,
            }
        )
    return result


def assigned_queue(*, assignee, limit: int, now: dt.datetime | None = None) -> tuple[list[Ticket], int, int]:
    """An agent's own queue: their unsolved tickets, next SLA due first (no running clock last), each with
    `was_breached`; with the count of all of them and of the breached ones. Three queries along
    tickets_assignee_idx, whatever the size of the queue."""
    now = now or timezone.now()
    mine = Ticket.objects.filter(assignee=assignee, status__in=UNSOLVED_STATUSES, merged_into__isnull=True)
    rows = list(
        mine.select_related("customer")
        .only("pk", "subject", "status", "priority", "next_sla_due_at", "created_at", "customer__name")
        .annotate(was_breached=ticket_breached(now))
        .order_by(F("next_sla_due_at").asc(nulls_last=True), "created_at", "pk")[:limit]
    )
    if len(rows) < limit:
        return rows, len(rows), sum(1 for ticket in rows if ticket.was_breached)
    return rows, mine.count(), ticket_breached_filter(mine, True, now).count()
