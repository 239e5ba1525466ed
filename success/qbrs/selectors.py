"""Reads on QBRs: the list, what a customer needs next (the planner's rule), and the preparation pack.

The planner's rule (selectors.qbr_next_need), in the customer's time zone:
- cadence: a tier with a cadence (QbrCadence, default enterprise 3 months, mid-market 6, SMB none) needs a QBR every
  N months after the last one held (or after the contract start / the customer's creation when none was held yet).
  It is proposed PROPOSE_AHEAD_DAYS before it is due, unless a scheduled QBR or a proposed one still ahead falls no
  later than CADENCE_GRACE_DAYS after the due day.
- renewal: a renewal within RENEWAL_HORIZON_DAYS needs a QBR at least RENEWAL_LEAD_DAYS before it; any QBR that is
  not cancelled in [renewal - RENEWAL_HORIZON_DAYS, renewal - RENEWAL_LEAD_DAYS] meets it (when that deadline is
  already too close, any QBR before the renewal does). It is planned on the deadline, or on the cadence's due day
  when that falls in the window (one QBR then serves both).
A proposal's tentative time is 10:00 in the customer's zone on the day it is due (a weekend moves to the Friday
before), never sooner than MIN_LEAD_DAYS from now.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from crm.models import Customer, LifecycleStage, Task
from crm.task_selectors import task_list
from success.qbrs.models import ACTIVE_STATUSES, DEFAULT_CADENCE_MONTHS, Qbr, QbrCadence, QbrStatus
from success.usage.selectors import usage_totals_by_customer

PROPOSE_AHEAD_DAYS = 45
CADENCE_GRACE_DAYS = 30  # a next QBR up to this long after the cadence's due day meets the cadence
RENEWAL_LEAD_DAYS = 60
RENEWAL_HORIZON_DAYS = 150
MIN_LEAD_DAYS = 7
PROPOSAL_HOUR = 10
PREP_DEFAULT_DAYS = 90  # the pack's period when there was no QBR before


def qbr_list() -> QuerySet[Qbr]:
    """QBRs with customer and owner joined and attendees prefetched: a fixed number of queries per page."""
    return Qbr.objects.select_related("customer", "owner").prefetch_related("contacts", "staff")


def qbr_get(*, pk: int) -> Qbr:
    return qbr_list().get(pk=pk)


def cadence_months(tier: str) -> int | None:
    row = QbrCadence.objects.filter(tier=tier).values_list("every_months", flat=True).first()
    if row is None and not QbrCadence.objects.filter(tier=tier).exists():
        return DEFAULT_CADENCE_MONTHS.get(tier)
    return row


def customer_qbrs(*, customer_id: int, now: dt.datetime | None = None) -> dict:
    """The customer's last held and next active QBR (for the customer page and API)."""
    now = now or timezone.now()
    qbrs = Qbr.objects.filter(customer_id=customer_id)
    return {
        "last": qbrs.filter(status=QbrStatus.HELD).order_by("-starts_at").first(),
        "next": qbrs.filter(status__in=ACTIVE_STATUSES, starts_at__gte=now).order_by("starts_at").first(),
    }


def qbr_open_action_items(*, qbr: Qbr) -> QuerySet[Task]:
    """The open CSM tasks made from the QBR's action items (qbr_hold), oldest due first."""
    from django.contrib.contenttypes.models import ContentType

    return (
        task_list()
        .filter(source_type=ContentType.objects.get_for_model(Qbr), source_id=str(qbr.pk), status=Task.Status.OPEN)
        .order_by("due_date", "pk")
    )


@dataclass(frozen=True)
class Need:
    origin: str
    key: str
    target: dt.date
    agenda: str


def _local_day(moment: dt.datetime, zone: ZoneInfo) -> dt.date:
    return moment.astimezone(zone).date()


_UNSET = object()


def qbr_next_need(
    *, customer: Customer, today: dt.date, now: dt.datetime, qbrs: list[Qbr] | None = None, months=_UNSET
) -> Need | None:
    """The earliest QBR the customer needs and does not have yet, or None. `qbrs` (the customer's QBRs that are not
    cancelled) and `months` (its tier's cadence) may be given by a caller that loaded them for many customers at
    once (the planner): then this runs no query."""
    if customer.lifecycle_stage == LifecycleStage.CHURNED:
        return None
    zone = ZoneInfo(customer.timezone)
    if qbrs is None:
        qbrs = list(Qbr.objects.filter(customer=customer).exclude(status=QbrStatus.CANCELLED))
    qbrs = [q for q in qbrs if q.status != QbrStatus.CANCELLED]
    needs: list[Need] = []
    # The customer's next QBRs: scheduled ones (even when past and not yet marked held), and proposed ones ahead.
    upcoming = [
        _local_day(q.starts_at, zone)
        for q in qbrs
        if q.status == QbrStatus.SCHEDULED or (q.status == QbrStatus.PROPOSED and q.starts_at >= now)
    ]
    if months is _UNSET:
        months = cadence_months(customer.tier)
    cadence_due = None
    if months:
        held = [_local_day(q.starts_at, zone) for q in qbrs if q.status == QbrStatus.HELD]
        anchor = max(held) if held else (customer.contract_start or _local_day(customer.created_at, zone))
        cadence_due = anchor + relativedelta(months=months)
        # An overdue cadence (e.g. the last QBRs were cancelled) is met by one as soon as a proposal can be.
        due_by = max(cadence_due, today + dt.timedelta(days=MIN_LEAD_DAYS + 2))
        met = any(day <= due_by + dt.timedelta(days=CADENCE_GRACE_DAYS) for day in upcoming)
        if not met and cadence_due <= today + dt.timedelta(days=PROPOSE_AHEAD_DAYS):
            key = f"cadence:{anchor.isoformat()}"
            needs.append(Need(Qbr.Origin.CADENCE, key, cadence_due, "Regular business review."))
    renewal = customer.renewal_date
    earliest = today + dt.timedelta(days=MIN_LEAD_DAYS + 2)  # + a weekend: a proposal lands before the renewal
    if renewal and earliest < renewal <= today + dt.timedelta(days=RENEWAL_HORIZON_DAYS):
        deadline = renewal - dt.timedelta(days=RENEWAL_LEAD_DAYS)
        window_start = renewal - dt.timedelta(days=RENEWAL_HORIZON_DAYS)
        window_end = deadline if deadline >= earliest else renewal - dt.timedelta(days=1)
        covered = any(window_start <= _local_day(q.starts_at, zone) <= window_end for q in qbrs)
        if not covered:
            # One QBR can serve both: when the cadence's next one falls in the renewal's window, plan it then.
            target = cadence_due if cadence_due and window_start <= cadence_due <= deadline else deadline
            agenda = f"Business review ahead of the renewal on {renewal.isoformat()}."
            needs.append(Need(Qbr.Origin.RENEWAL, f"renewal:{renewal.isoformat()}", target, agenda))
    return min(needs, key=lambda need: need.target, default=None)


def proposal_slot(*, customer: Customer, target: dt.date, now: dt.datetime) -> dt.datetime:
    """10:00 in the customer's zone on `target` (a weekend moves to the Friday before), not before MIN_LEAD_DAYS
    from now (then the next weekday)."""
    zone = ZoneInfo(customer.timezone)
    earliest = _local_day(now, zone) + dt.timedelta(days=MIN_LEAD_DAYS)
    day = target
    if day.weekday() >= 5:
        day -= dt.timedelta(days=day.weekday() - 4)
    if day < earliest:
        day = earliest
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(PROPOSAL_HOUR), tzinfo=zone).astimezone(dt.UTC)


def cadence_by_tier() -> dict[str, int | None]:
    """Every tier's cadence in months (None: no regular QBRs), in one query."""
    rows = dict(QbrCadence.objects.values_list("tier", "every_months"))
    return {tier: rows.get(tier, DEFAULT_CADENCE_MONTHS.get(tier)) for tier in {*DEFAULT_CADENCE_MONTHS, *rows}}


def qbr_plan_candidates(*, today: dt.date, cadences: dict[str, int | None] | None = None) -> QuerySet:
    """Ids of the customers the planner looks at: not churned, and a tier with a cadence or a renewal ahead."""
    cadences = cadence_by_tier() if cadences is None else cadences
    tiers = sorted(tier for tier, months in cadences.items() if months)
    horizon = today + dt.timedelta(days=RENEWAL_HORIZON_DAYS + 1)
    return (
        Customer.objects.exclude(lifecycle_stage=LifecycleStage.CHURNED)
        .filter(Q(tier__in=tiers) | Q(renewal_date__gte=today - dt.timedelta(days=1), renewal_date__lte=horizon))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def qbrs_for_planning(*, customer_ids: list[int]) -> dict[int, list[Qbr]]:
    """The QBRs that are not cancelled of these customers, by customer id (one query)."""
    by_customer: dict[int, list[Qbr]] = {pk: [] for pk in customer_ids}
    rows = Qbr.objects.filter(customer_id__in=customer_ids).exclude(status=QbrStatus.CANCELLED).order_by("starts_at")
    for qbr in rows:
        by_customer[qbr.customer_id].append(qbr)
    return by_customer


def owner_busy_for_planning(*, owner_ids: list[int], since: dt.datetime) -> dict[int, list[Qbr]]:
    """The proposed and scheduled QBRs of these CSMs from `since` on, by owner id (one query): the planner does
    not double-book a CSM across their customers."""
    by_owner: dict[int, list[Qbr]] = {pk: [] for pk in owner_ids}
    rows = Qbr.objects.filter(owner_id__in=owner_ids, status__in=ACTIVE_STATUSES, starts_at__gte=since).order_by(
        "starts_at"
    )
    for qbr in rows:
        by_owner[qbr.owner_id].append(qbr)
    return by_owner


def qbrs_to_remind(*, now: dt.datetime) -> QuerySet[Qbr]:
    return (
        Qbr.objects.filter(status__in=ACTIVE_STATUSES, starts_at__gte=now, starts_at__lte=now + dt.timedelta(days=16))
        .select_related("customer", "owner")
        .order_by("starts_at", "pk")
    )


# --- The preparation pack ------------------------------------------------------------------------------------


def _tickets(customer_id: int, since: dt.datetime, now: dt.datetime) -> dict:
    from tickets.models import Status as TicketStatus
    from tickets.selectors import breached_condition, sla_targets_for_pages, ticket_list

    tickets = ticket_list(with_targets=False).filter(customer_id=customer_id)
    recent = tickets.filter(created_at__gte=since)
    closed = [TicketStatus.SOLVED, TicketStatus.CLOSED]
    counts = recent.aggregate(total=Count("pk"))
    open_count = tickets.exclude(status__in=closed).count()
    open_rows = list(
        tickets.exclude(status__in=closed).order_by("-created_at").values("pk", "subject", "status", "priority")[:20]
    )
    targets = sla_targets_for_pages().filter(ticket__customer_id=customer_id, ticket__created_at__gte=since)
    sla = targets.aggregate(total=Count("pk"), breached=Count("pk", filter=breached_condition(now)))
    attainment = None
    if sla["total"]:
        attainment = round((sla["total"] - sla["breached"]) / sla["total"], 4)
    return {
        "count": counts["total"],
        "open_count": open_count,
        "sla_targets": sla["total"],
        "sla_breached": sla["breached"],
        "sla_attainment": attainment,
        "open": [
            {"id": t["pk"], "subject": t["subject"], "status": t["status"], "priority": t["priority"]}
            for t in open_rows
        ],
    }


def _surveys(customer_id: int, since: dt.datetime) -> dict:
    from surveys.selectors import response_list

    rows = list(
        response_list()
        .filter(customer_id=customer_id, answered_at__gte=since)
        .order_by("-answered_at")
        .values("kind", "score", "comment", "answered_at", "contact_email")[:100]
    )
    by_kind: dict[str, dict] = {}
    for kind in ("nps", "ces", "csat"):
        answers = [r for r in rows if r["kind"] == kind]
        scores = [r["score"] for r in answers]
        summary = {"answers": len(answers), "average": round(sum(scores) / len(scores), 2) if scores else None}
        if kind == "nps" and scores:
            promoters = sum(1 for s in scores if s >= 9)
            detractors = sum(1 for s in scores if s <= 6)
            summary["nps"] = round(100 * (promoters - detractors) / len(scores))
        summary["comments"] = [
            {
                "score": r["score"],
                "comment": r["comment"],
                "contact": r["contact_email"],
                "answered_at": r["answered_at"].isoformat(),
            }
            for r in answers
            if r["comment"]
        ][:20]
        by_kind[kind] = summary
    return by_kind


def _usage(customer_id: int, today: dt.date) -> dict:
    totals = usage_totals_by_customer
    last_start, prev_start = today - dt.timedelta(days=30), today - dt.timedelta(days=60)
    last = totals(start=last_start, end=today, customer_ids=[customer_id]).first() or {}
    prev = totals(start=prev_start, end=last_start, customer_ids=[customer_id]).first() or {}

    def figures(row):
        return {"days_active": row.get("days_active") or 0, "events": row.get("events") or 0}

    last, prev = figures(last), figures(prev)
    change = None
    if prev["events"]:
        change = round((last["events"] - prev["events"]) / prev["events"], 4)
    return {"last_30_days": last, "previous_30_days": prev, "events_change": change}


def _health(customer: Customer, since: dt.datetime) -> dict | None:
    """Health now and its change since the last QBR (or PREP_DEFAULT_DAYS), through success.health.selectors:
    {"now": {"score", "band", "day"}, "at_last_qbr": {...} | None, "change": points | None}; None when never scored.
    JSON-ready (the pack is stored)."""
    from success.health.selectors import customer_health_at

    now_health = customer_health_at(customer_id=customer.pk, at=timezone.now())
    if now_health is None:
        return None
    before = customer_health_at(customer_id=customer.pk, at=since)
    change = None
    if before is not None:
        change = float(Decimal(str(now_health["score"])) - Decimal(str(before["score"])))
    return {"now": now_health, "at_last_qbr": before, "change": change}


def _playbooks(customer: Customer, now: dt.datetime) -> list[dict]:
    """The customer's active and finished playbook runs, read through success.playbooks.selectors."""
    from success.playbooks.selectors import customer_playbook_status

    return customer_playbook_status(customer_id=customer.pk, today=_local_day(now, ZoneInfo(customer.timezone)))


def qbr_prep(*, qbr: Qbr, now: dt.datetime) -> dict:
    """The preparation pack: what the CSM needs to walk into the QBR (JSON-ready)."""
    customer = qbr.customer
    last = (
        Qbr.objects.filter(customer_id=customer.pk, status=QbrStatus.HELD, starts_at__lt=qbr.starts_at)
        .exclude(pk=qbr.pk)
        .order_by("-starts_at")
        .first()
    )
    since = last.starts_at if last else now - dt.timedelta(days=PREP_DEFAULT_DAYS)
    tasks = list(
        task_list()
        .filter(customer_id=customer.pk, status=Task.Status.OPEN)
        .order_by("due_date", "pk")
        .values("pk", "type", "reason", "due_date", "priority", "owner_email")[:50]
    )
    return {
        "generated_at": now.isoformat(),
        "since": since.isoformat(),
        "last_qbr": {"id": last.pk, "starts_at": last.starts_at.isoformat(), "outcomes": last.outcomes}
        if last
        else None,
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "tier": customer.tier,
            "lifecycle_stage": customer.lifecycle_stage,
            "arr": str(customer.arr),
            "renewal_date": customer.renewal_date.isoformat() if customer.renewal_date else None,
        },
        "health": _health(customer, since),
        "tickets": _tickets(customer.pk, since, now),
        "surveys": _surveys(customer.pk, since),
        "usage": _usage(customer.pk, now.date()),
        "playbooks": _playbooks(customer, now),
        "open_tasks": [
            {
                "id": t["pk"],
                "type": t["type"],
                "reason": t["reason"],
                "due_date": t["due_date"].isoformat() if t["due_date"] else None,
                "priority": t["priority"],
                "owner": t["owner_email"],
            }
            for t in tasks
        ],
        "open_risks": sum(1 for t in tasks if t["type"] == Task.Type.RISK),
    }


def upcoming_qbrs(*, customer_ids: list[int], now: dt.datetime, limit: int) -> tuple[list[Qbr], int]:
    """Proposed and scheduled QBRs of the book's customers from now on, soonest first: at most `limit`, with the
    count. Two queries."""
    qbrs = Qbr.objects.filter(customer_id__any_of=customer_ids, status__in=ACTIVE_STATUSES, starts_at__gte=now)
    rows = list(
        qbrs.select_related("customer")
        .only("pk", "status", "starts_at", "timezone", "customer__name")
        .order_by("starts_at", "pk")[:limit]
    )
    return rows, qbrs.count()
