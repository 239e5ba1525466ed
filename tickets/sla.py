"""The SLA clock of a ticket, derived from its event log and explainable interval by interval.

Each target (first response, next reply, resolution) is a row with the business seconds counted so far up to
`counted_until` and the intervals that made them up (`segments`, each counted or paused with its reason).
Services call, around every change of a ticket:

    sla_checkpoint(ticket, at)   count [counted_until, at) for every open target under the status the ticket
                                 had until then, with the calendar in force now; what is counted stays counted
    ... the change (status, reply, customer message) ...
    sla_refresh(ticket, at)      pause or run the open targets for the new status; recompute due and warning
                                 times from what remains; keep ticket.next_sla_due_at for the queue

Calendars or policies that change later only move what remains: counted segments are never recomputed.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from tickets.business_time import Calendar
from tickets.models import BusinessCalendar, SlaPolicy, SlaTarget, Status, Ticket

PAUSE_REASONS = {
    Status.PENDING: "pending: waiting on the customer",
    Status.ON_HOLD: "on hold",
    Status.SOLVED: "solved",
    Status.CLOSED: "closed",
}
OPEN_STATES = (SlaTarget.State.RUNNING, SlaTarget.State.PAUSED)
MAX_SEGMENTS = 500
ALWAYS = Calendar.twenty_four_seven("UTC")  # older segments are merged into one summary line beyond this


# --- When a target is past due: the one rule of the clock, the sweep, the queue and the API's filters -------------
# PRODUCT.md: a target is met when the reply (or resolution) comes at or before its due time. So a target is
# breached only strictly after it: by counted time, once more than the target is counted; by the wall clock, once
# now is later than due_at (the instant the counted time reaches the target).


def exceeds_target(counted_seconds: float, target_seconds: int | None) -> bool:
    """The clock's rule: more than the target counted (exactly the target is met)."""
    return target_seconds is not None and counted_seconds > target_seconds


def is_past_due(due_at: dt.datetime | None, now: dt.datetime) -> bool:
    """The wall clock's rule, for one target or ticket in Python: now is later than its due time."""
    return due_at is not None and now > due_at


def past_due(now: dt.datetime, field: str = "due_at") -> Q:
    """The same rule as a query condition on a due time column (due_at, or a ticket's next_sla_due_at)."""
    return Q(**{f"{field}__lt": now})


def calendar_from_model(calendar: BusinessCalendar) -> Calendar:
    weekly: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for hours in calendar.opening_hours.all():
        weekly.setdefault(hours.weekday, []).append((hours.start, hours.end))
    return Calendar(
        tz=ZoneInfo(calendar.timezone),
        weekly=weekly,
        holidays=frozenset(h.date for h in calendar.holidays.all()),
        always_open=calendar.always_open,
    )


def policy_for(ticket: Ticket) -> SlaPolicy | None:
    """The first active policy, by order, whose conditions match the ticket."""
    tier = ticket.customer.tier
    for policy in SlaPolicy.objects.filter(is_active=True).order_by("order", "id"):
        if (
            (not policy.tiers or tier in policy.tiers)
            and (not policy.priorities or ticket.priority in policy.priorities)
            and (not policy.channels or ticket.channel in policy.channels)
            and (not policy.categories or ticket.category in policy.categories)
        ):
            return policy
    return None


def pause_reason(status: str, policy: SlaPolicy | None) -> str | None:
    if status == Status.ON_HOLD and policy is not None and not policy.pause_on_hold:
        return None
    return PAUSE_REASONS.get(status)


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()


def _append(segments: list, start: dt.datetime, end: dt.datetime, counted: bool, reason: str) -> None:
    if end <= start:
        return
    if (
        segments
        and segments[-1]["counted"] == counted
        and segments[-1]["reason"] == reason
        and (segments[-1]["to"] == _iso(start))
    ):
        segments[-1]["to"] = _iso(end)
        segments[-1]["seconds"] += int((end - start).total_seconds()) if counted else 0
        return
    segments.append(
        {
            "from": _iso(start),
            "to": _iso(end),
            "counted": counted,
            "reason": reason,
            "seconds": int((end - start).total_seconds()) if counted else 0,
        }
    )
    if len(segments) > MAX_SEGMENTS:
        head = segments[:2]
        segments[:2] = [
            {
                "from": head[0]["from"],
                "to": head[1]["to"],
                "counted": any(s["counted"] for s in head),
                "reason": "earlier intervals (merged)",
                "seconds": sum(s["seconds"] for s in head),
            }
        ]


def _append_closed(segments: list, calendar: Calendar, start: dt.datetime, end: dt.datetime) -> None:
    """A closed stretch: each holiday (local midnight to midnight) apart from the time outside business hours,
    so a gap from Thursday evening to Monday morning names the Friday holiday in it."""
    if not calendar.holidays:
        _append(segments, start, end, False, "outside business hours")
        return
    cursor, day = start, start.astimezone(calendar.tz).date()
    while cursor < end:
        day += dt.timedelta(days=1)
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=calendar.tz).astimezone(dt.UTC)
        stop = min(midnight, end)
        reason = "holiday" if (day - dt.timedelta(days=1)) in calendar.holidays else "outside business hours"
        _append(segments, cursor, stop, False, reason)
        cursor = stop


def _reached_at(target: SlaTarget) -> dt.datetime:
    """The instant the counted time reached the target, read from the counted intervals."""
    total = 0
    for segment in target.segments:
        if segment["counted"] and total + segment["seconds"] >= target.target_seconds:
            if segment["reason"] != "business hours":  # a merged summary: only its end is known
                return dt.datetime.fromisoformat(segment["to"])
            left = target.target_seconds - total
            return dt.datetime.fromisoformat(segment["from"]) + dt.timedelta(seconds=left)
        total += segment["seconds"]
    return target.counted_until


def advance(target: SlaTarget, *, until: dt.datetime, status: str, policy, calendar: Calendar) -> None:
    """Count [target.counted_until, until) for an open target under one constant ticket status."""
    start = target.counted_until
    if target.state not in OPEN_STATES or until <= start:
        return
    segments = list(target.segments)
    reason = pause_reason(status, policy)
    if reason:
        _append(segments, start, until, False, reason)
    else:
        cursor = start
        for lo, hi in calendar.open_intervals(start, until):
            if lo > cursor:
                _append_closed(segments, calendar, cursor, lo)
            exact = (hi - lo).total_seconds()
            seconds = int(exact)
            # The exact time, not the whole seconds counted: a reply a fraction of a second after the due time is
            # late, as the sweep (is_past_due) sees it.
            if not target.breached and exceeds_target(target.elapsed_seconds + exact, target.target_seconds):
                target.breached = True
                target.due_at = lo + dt.timedelta(seconds=target.target_seconds - target.elapsed_seconds)
            target.elapsed_seconds += seconds
            _append(segments, lo, hi, True, "business hours")
            cursor = hi
        if cursor < until:
            _append_closed(segments, calendar, cursor, until)
    target.segments = segments
    target.counted_until = until


def _ticket_context(ticket: Ticket):
    """The ticket's policy and calendar; a ticket no policy matches is measured on a 24/7 UTC clock."""
    policy = ticket.sla_policy
    if policy is None:
        return None, ALWAYS
    calendar = BusinessCalendar.objects.prefetch_related("opening_hours", "holidays").get(pk=policy.calendar_id)
    return policy, calendar_from_model(calendar)


def sla_checkpoint(ticket: Ticket, at: dt.datetime, *, status: str | None = None) -> None:
    """Count every open target of the ticket up to `at` under `status` (default: the ticket's current)."""
    policy, calendar = _ticket_context(ticket)
    for target in ticket.sla_targets.filter(state__in=OPEN_STATES):
        advance(target, until=at, status=status or ticket.status, policy=policy, calendar=calendar)
        target.save(update_fields=["elapsed_seconds", "counted_until", "segments", "breached", "due_at"])


def sla_start(ticket: Ticket, metric: str, at: dt.datetime, *, cycle: int = 1) -> SlaTarget | None:
    """Start a clock. First response and resolution are always measured (for the metrics), with or without a
    target; next reply only when the policy sets one."""
    policy = ticket.sla_policy
    minutes = getattr(policy, f"{metric}_minutes", None) if policy else None
    if not minutes and metric == SlaTarget.Metric.NEXT_REPLY:
        return None
    target, _ = SlaTarget.objects.get_or_create(
        ticket=ticket,
        metric=metric,
        cycle=cycle,
        defaults={"target_seconds": minutes * 60 if minutes else None, "started_at": at, "counted_until": at},
    )
    return target


def sla_stop(ticket: Ticket, metric: str, at: dt.datetime) -> SlaTarget | None:
    """Stop the open target of `metric` at `at` (already checkpointed): met or breached."""
    target = ticket.sla_targets.filter(metric=metric, state__in=OPEN_STATES).order_by("-cycle").first()
    if target is None:
        return None
    breached = target.breached or exceeds_target(target.elapsed_seconds, target.target_seconds)
    target.state = SlaTarget.State.BREACHED if breached else SlaTarget.State.MET
    target.breached = breached
    target.stopped_at = at
    target.save(update_fields=["state", "breached", "stopped_at"])
    if metric == SlaTarget.Metric.FIRST_RESPONSE:
        Ticket.objects.filter(pk=ticket.pk).update(first_response_seconds=target.elapsed_seconds)
        ticket.first_response_seconds = target.elapsed_seconds
    elif metric == SlaTarget.Metric.RESOLUTION:
        seconds = resolution_seconds(target, _ticket_context(ticket)[1])
        Ticket.objects.filter(pk=ticket.pk).update(resolution_seconds=seconds)
        ticket.resolution_seconds = seconds
    return target


def resolution_seconds(target: SlaTarget, calendar: Calendar) -> int:
    """Resolution time as the metrics define it: business time from creation to solved, excluding only the time
    the ticket waited on the customer (pending) and, after a reopen, the time it sat solved. The resolution
    target may also pause on hold (its policy's pause_on_hold): that is the SLA's rule, not the metric's, so
    the business time of its on-hold intervals is added back (in the calendar in force when it is solved)."""
    on_hold = sum(
        calendar.business_seconds(dt.datetime.fromisoformat(s["from"]), dt.datetime.fromisoformat(s["to"]))
        for s in target.segments
        if not s["counted"] and s["reason"] == PAUSE_REASONS[Status.ON_HOLD]
    )
    return target.elapsed_seconds + on_hold


def sla_resume(ticket: Ticket, metric: str, at: dt.datetime) -> SlaTarget | None:
    """Reopen a stopped target (e.g. resolution after a reopen): its counted time carries on from `at`."""
    target = ticket.sla_targets.filter(metric=metric).order_by("-cycle").first()
    if target is None or target.state in OPEN_STATES:
        return target
    target.state = SlaTarget.State.PAUSED
    target.stopped_at = None
    _append(target.segments, target.counted_until, at, False, "solved")
    target.counted_until = max(at, target.counted_until)
    target.save(update_fields=["state", "stopped_at", "segments", "counted_until"])
    return target


def _refresh_target(target: SlaTarget, *, paused: bool, policy, calendar: Calendar) -> list[str]:
    """Set one open target running or paused; recompute its due/warn times from what remains. Returns the
    fields it changed."""
    target.state = SlaTarget.State.PAUSED if paused else SlaTarget.State.RUNNING
    fields = ["state", "due_at", "warn_at"]
    if target.target_seconds is not None and not target.breached:
        if target.elapsed_seconds >= target.target_seconds:
            # A shorter target (the ticket moved to another policy) already reached by the time counted:
            # it fell due when it was reached, not at the old policy's due time.
            target.due_at = _reached_at(target)
            target.breached = exceeds_target(target.elapsed_seconds, target.target_seconds)
            fields.append("breached")
    if target.target_seconds is None:
        target.due_at = target.warn_at = None
    elif paused:
        target.due_at = None if not target.breached else target.due_at
        target.warn_at = None
    else:
        remaining = target.target_seconds - target.elapsed_seconds
        if remaining > 0:
            target.due_at = calendar.add_business_seconds(target.counted_until, remaining)
        warn_left = target.target_seconds * (policy.warn_at_percent if policy else 80) // 100 - (target.elapsed_seconds)
        target.warn_at = (
            calendar.add_business_seconds(target.counted_until, warn_left) if warn_left > 0 else target.counted_until
        )
    return fields


def sla_refresh(ticket: Ticket, at: dt.datetime | None = None) -> None:
    """Set open targets running or paused for the ticket's status; recompute due/warn from what remains."""
    policy, calendar = _ticket_context(ticket)
    paused = pause_reason(ticket.status, policy) is not None
    for target in ticket.sla_targets.filter(state__in=OPEN_STATES):
        target.save(update_fields=_refresh_target(target, paused=paused, policy=policy, calendar=calendar))
    next_due = (
        ticket.sla_targets.filter(state=SlaTarget.State.RUNNING, due_at__isnull=False)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    ticket.next_sla_due_at = next_due
    # updated_at by hand (update() skips auto_now): due times are in the API, ?updated_after= must see them move.
    ticket.updated_at = timezone.now()
    Ticket.objects.filter(pk=ticket.pk).update(next_sla_due_at=next_due, updated_at=ticket.updated_at)


# --- Many tickets at once (a calendar or policy changed under their clocks) ------------------------------------
# The same arithmetic as sla_checkpoint / sla_refresh, with the queries per batch of tickets instead of per
# ticket: their open targets in one query, each calendar read once per call (`calendars`: id -> Calendar, shared
# by the caller's batches), the results written with bulk_update.
BULK_BATCH = 1000
CHECKPOINT_FIELDS = ["elapsed_seconds", "counted_until", "segments", "breached", "due_at"]


def _calendars(tickets: list[Ticket], calendars: dict[int, Calendar]) -> dict[int, Calendar]:
    missing = {t.sla_policy.calendar_id for t in tickets if t.sla_policy is not None} - set(calendars)
    if missing:
        for calendar in BusinessCalendar.objects.prefetch_related("opening_hours", "holidays").filter(pk__in=missing):
            calendars[calendar.pk] = calendar_from_model(calendar)
    return calendars


def _open_targets(tickets: list[Ticket]) -> dict[int, list[SlaTarget]]:
    """The open targets of the tickets, locked (the sweep skips them meanwhile instead of writing over them)."""
    by_ticket: dict[int, list[SlaTarget]] = {}
    targets = SlaTarget.objects.select_for_update().filter(ticket_id__in=[t.pk for t in tickets], state__in=OPEN_STATES)
    for target in targets.order_by("ticket_id", "metric", "cycle"):
        by_ticket.setdefault(target.ticket_id, []).append(target)
    return by_ticket


def sla_checkpoint_many(tickets: list[Ticket], at: dt.datetime, *, calendars: dict[int, Calendar]) -> None:
    """sla_checkpoint for a batch of tickets (loaded with their sla_policy), each under its current status."""
    by_ticket = _open_targets(tickets)
    _calendars(tickets, calendars)
    changed = []
    for ticket in tickets:
        policy = ticket.sla_policy
        calendar = calendars[policy.calendar_id] if policy is not None else ALWAYS
        for target in by_ticket.get(ticket.pk, ()):
            advance(target, until=at, status=ticket.status, policy=policy, calendar=calendar)
            changed.append(target)
    SlaTarget.objects.bulk_update(changed, CHECKPOINT_FIELDS, batch_size=BULK_BATCH)


def sla_refresh_many(
    tickets: list[Ticket], at: dt.datetime, *, calendars: dict[int, Calendar], retarget: bool = False
) -> None:
    """sla_refresh for a batch of tickets (loaded with their sla_policy); with `retarget`, the open targets first
    take the sizes of the ticket's policy as it is now."""
    by_ticket = _open_targets(tickets)
    _calendars(tickets, calendars)
    now = timezone.now()
    changed, fields = [], {"state", "due_at", "warn_at", "breached"}
    if retarget:
        fields.add("target_seconds")
    for ticket in tickets:
        policy = ticket.sla_policy
        calendar = calendars[policy.calendar_id] if policy is not None else ALWAYS
        paused = pause_reason(ticket.status, policy) is not None
        due = []
        for target in by_ticket.get(ticket.pk, ()):
            if retarget:
                minutes = getattr(policy, f"{target.metric}_minutes", None) if policy else None
                target.target_seconds = minutes * 60 if minutes else None
            _refresh_target(target, paused=paused, policy=policy, calendar=calendar)
            if target.state == SlaTarget.State.RUNNING and target.due_at is not None:
                due.append(target.due_at)
            changed.append(target)
        ticket.next_sla_due_at = min(due, default=None)
        ticket.updated_at = now
    SlaTarget.objects.bulk_update(changed, sorted(fields), batch_size=BULK_BATCH)
    Ticket.objects.bulk_update(tickets, ["next_sla_due_at", "updated_at"], batch_size=BULK_BATCH)


def sla_explain(ticket: Ticket, now: dt.datetime | None = None) -> list[dict]:
    """Every target with its due time, time left or overdue, met/breached, and the intervals counted and paused,
    including the interval since the last event (computed, not stored)."""
    now = now or timezone.now()
    policy, calendar = _ticket_context(ticket)
    result = []
    for target in ticket.sla_targets.order_by("metric", "cycle"):
        view = SlaTarget(
            **{f.attname: getattr(target, f.attname) for f in SlaTarget._meta.concrete_fields},
        )
        view.segments = list(target.segments)
        if view.state in OPEN_STATES:
            advance(view, until=now, status=ticket.status, policy=policy, calendar=calendar)
        breached = view.breached or exceeds_target(view.elapsed_seconds, view.target_seconds)
        result.append(
            {
                "metric": view.metric,
                "cycle": view.cycle,
                "state": view.state,
                "target_seconds": view.target_seconds,
                "elapsed_seconds": view.elapsed_seconds,
                "remaining_seconds": (
                    view.target_seconds - view.elapsed_seconds if view.target_seconds is not None else None
                ),
                "started_at": view.started_at,
                "due_at": target.due_at,
                "stopped_at": view.stopped_at,
                "breached": breached,
                "met": view.state == SlaTarget.State.MET and view.target_seconds is not None,
                "intervals": view.segments,
            }
        )
    return result


def sla_targets_due_for_breach(now: dt.datetime):
    return SlaTarget.objects.filter(past_due(now), state=SlaTarget.State.RUNNING, breach_notified_at__isnull=True)


def sla_targets_due_for_warning(now: dt.datetime):
    return SlaTarget.objects.filter(
        Q(state=SlaTarget.State.RUNNING), warn_at__lte=now, warned_at__isnull=True, breached=False
    )
