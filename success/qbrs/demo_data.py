"""Demo QBRs for `manage.py seed_demo`: for the enterprise and mid-market demo customers, the QBRs of their tier's
cadence since the contract start, held (notes, outcomes, action items that became CSM tasks: done for older
QBRs, some still open for the last one) or now and then cancelled; then the real planner (services.qbr_plan)
proposes each customer's next QBR, and about half of those in the coming month are marked scheduled with the
customer's first contact as attendee. Past QBRs are bulk-inserted with their timeline events (a service would
refuse a QBR in the past); demo data sends no email, so no invites go out for the scheduled ones."""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Contact, Customer, LifecycleStage, Task, TimelineEvent
from crm.timeline import timeline_record_many
from success.qbrs import selectors, services
from success.qbrs.models import Qbr

DEFAULT_MAX_CUSTOMERS = 400
CANCELLED_SHARE = 0.12
SCHEDULED_SHARE = 0.5
NOTES = [
    "Walked through adoption by team; the champion wants wider rollout.",
    "Reviewed support tickets and the SLA; two integrations still painful.",
    "Executive sponsor joined; budget for next year is being planned.",
    "Usage is flat; agreed on a training session for new hires.",
]
OUTCOMES = [
    "Agreed on a rollout to two more departments.",
    "Success plan updated: reporting live by next quarter.",
    "Renewal looks safe; expansion to discuss at the next QBR.",
    "Risk: the champion is leaving; find a new sponsor.",
]
ACTION_ITEMS = [
    "Send the rollout plan",
    "Book a training session",
    "Share the usage report",
    "Introduce the solutions engineer",
    "Follow up on the open integration tickets",
]
CANCEL_REASONS = ["Customer asked to postpone", "Sponsor unavailable", "Merged with the renewal call"]


@dataclass
class QbrSeedResult:
    held: int = 0
    cancelled: int = 0
    action_items: int = 0
    proposed: int = 0
    scheduled: int = 0
    seconds: float = 0.0


def _slot(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    if day.weekday() >= 5:
        day -= dt.timedelta(days=day.weekday() - 4)
    return dt.datetime.combine(day, dt.time(selectors.PROPOSAL_HOUR), tzinfo=zone).astimezone(dt.UTC)


@transaction.atomic
def _seed_past(rng: random.Random, customers: list[Customer], cadences: dict, now: dt.datetime, result) -> None:
    contacts: dict[int, int] = {}
    for customer_id, contact_id in (
        Contact.objects.filter(customer__in=customers).order_by("customer_id", "pk").values_list("customer_id", "pk")
    ):
        contacts.setdefault(customer_id, contact_id)
    qbrs: list[Qbr] = []
    for customer in customers:
        months, zone = cadences.get(customer.tier), ZoneInfo(customer.timezone)
        if not months or not customer.contract_start:
            continue
        day = customer.contract_start + relativedelta(months=months)
        while (start := _slot(day, zone)) < now - dt.timedelta(days=1):
            cancelled = rng.random() < CANCELLED_SHARE
            qbrs.append(
                Qbr(
                    customer=customer,
                    owner_id=customer.owner_id,
                    status=Qbr.Status.CANCELLED if cancelled else Qbr.Status.HELD,
                    starts_at=start,
                    timezone=customer.timezone,
                    agenda="Regular business review.",
                    origin=Qbr.Origin.CADENCE,
                    notes="" if cancelled else rng.choice(NOTES),
                    outcomes="" if cancelled else rng.choice(OUTCOMES),
                    cancel_reason=rng.choice(CANCEL_REASONS) if cancelled else "",
                    scheduled_at=start - dt.timedelta(days=14),
                    held_at=None if cancelled else start + dt.timedelta(hours=2),
                    cancelled_at=start - dt.timedelta(days=2) if cancelled else None,
                )
            )
            day += relativedelta(months=months)
    Qbr.objects.bulk_create(qbrs, batch_size=1000)
    Through = Qbr.contacts.through
    Through.objects.bulk_create(
        [Through(qbr_id=q.pk, contact_id=contacts[q.customer_id]) for q in qbrs if q.customer_id in contacts],
        batch_size=2000,
    )
    last_held: dict[int, Qbr] = {}
    for qbr in qbrs:
        if qbr.status == Qbr.Status.HELD:
            last_held[qbr.customer_id] = qbr  # in date order per customer
    qbr_type = ContentType.objects.get_for_model(Qbr)
    tasks, events = [], []
    for qbr in qbrs:
        local_day = qbr.starts_at.astimezone(ZoneInfo(qbr.timezone)).date()
        if qbr.status == Qbr.Status.CANCELLED:
            result.cancelled += 1
            summary, kind = f"QBR of {local_day} cancelled: {qbr.cancel_reason}", "qbr.cancelled"
            events.append((qbr, kind, summary, qbr.cancelled_at))
            continue
        result.held += 1
        events.append((qbr, "qbr.held", f"QBR held ({local_day})", qbr.starts_at))
        is_last = last_held[qbr.customer_id] is qbr
        for title in rng.sample(ACTION_ITEMS, rng.randint(1, 3)):
            still_open = is_last and rng.random() < 0.6
            tasks.append(
                Task(
                    customer_id=qbr.customer_id,
                    owner_id=qbr.owner_id,
                    type=Task.Type.ACTIVITY,
                    reason=f"QBR {local_day:%Y-%m-%d}: {title}",
                    due_date=local_day + dt.timedelta(days=14),
                    status=Task.Status.OPEN if still_open else Task.Status.DONE,
                    closed_at=None if still_open else qbr.starts_at + dt.timedelta(days=10),
                    source_type=qbr_type,
                    source_id=str(qbr.pk),
                )
            )
    Task.objects.bulk_create(tasks, batch_size=2000)
    result.action_items = len(tasks)
    timeline_record_many(
        TimelineEvent(
            customer_id=qbr.customer_id,
            kind=kind,
            summary=summary,
            source_type=qbr_type,
            source_id=str(qbr.pk),
            payload={"qbr_id": qbr.pk, "starts_at": qbr.starts_at.isoformat(), "status": qbr.status},
            occurred_at=occurred_at,
        )
        for qbr, kind, summary, occurred_at in events
    )


@transaction.atomic
def _schedule_some(rng: random.Random, customers: list[Customer], now: dt.datetime, result) -> None:
    """Mark about half the proposals of the coming month scheduled, with the customer's first contact invited (the
    rows qbr_schedule writes, without its emails)."""
    proposals = list(
        Qbr.objects.filter(
            customer__in=customers, status=Qbr.Status.PROPOSED, starts_at__lte=now + dt.timedelta(days=30)
        ).order_by("pk")
    )
    chosen = [q for q in proposals if rng.random() < SCHEDULED_SHARE]
    first_contact: dict[int, int] = {}
    for customer_id, contact_id in (
        Contact.objects.filter(customer_id__in={q.customer_id for q in chosen})
        .order_by("customer_id", "pk")
        .values_list("customer_id", "pk")
    ):
        first_contact.setdefault(customer_id, contact_id)
    chosen = [q for q in chosen if q.customer_id in first_contact]
    for qbr in chosen:
        qbr.status, qbr.scheduled_at = Qbr.Status.SCHEDULED, now
    Qbr.objects.bulk_update(chosen, ["status", "scheduled_at"], batch_size=1000)
    Through = Qbr.contacts.through
    Through.objects.bulk_create([Through(qbr_id=q.pk, contact_id=first_contact[q.customer_id]) for q in chosen])
    qbr_type = ContentType.objects.get_for_model(Qbr)
    timeline_record_many(
        TimelineEvent(
            customer_id=q.customer_id,
            kind="qbr.scheduled",
            summary=f"QBR scheduled for {q.starts_at.astimezone(ZoneInfo(q.timezone)):%a %d %b %Y %H:%M}",
            source_type=qbr_type,
            source_id=str(q.pk),
            payload={"qbr_id": q.pk, "starts_at": q.starts_at.isoformat(), "status": q.status},
        )
        for q in chosen
    )
    result.scheduled = len(chosen)


def demo_qbrs_seed(
    *, seed: int, customers: QuerySet[Customer], max_customers: int = DEFAULT_MAX_CUSTOMERS, now=None
) -> QbrSeedResult:
    started = time.monotonic()
    now = now or timezone.now()
    rng = random.Random(seed)
    result = QbrSeedResult()
    cadences = selectors.cadence_by_tier()
    tiers = [tier for tier, months in cadences.items() if months]
    chosen = list(
        customers.filter(tier__in=tiers)
        .exclude(lifecycle_stage=LifecycleStage.CHURNED)
        .exclude(qbrs__isnull=False)
        .order_by("pk")[:max_customers]
    )
    _seed_past(rng, chosen, cadences, now, result)
    result.proposed = services.qbr_plan(now=now)["proposed"]  # the daily planner, as it runs every night
    _schedule_some(rng, chosen, now, result)
    result.seconds = time.monotonic() - started
    return result
