"""Writes on QBRs: propose, schedule, reschedule, cancel, hold; the daily planner and the CSM reminders.

Every service locks the customer's row first, so two writes on one customer's QBRs (e.g. two schedules that would
overlap, or the planner and a CSM) are serialised; bad input raises ValidationError naming the field, with nothing
changed. Invites, updates and cancellations go to every attendee through crm.outbound_email, exactly once per change
(idempotency key uid + sequence + recipient); contacts pass the contact ledger first (kind qbr_invite: stopped by a
bounce or a complaint, not by an unsubscribe; see README "QBR invites and unsubscribes").
"""

import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.ledger import ledger_claim
from crm.models import Contact, Customer, LedgerEntry, LifecycleStage, Task, TimelineEvent
from crm.outbound_email import email_queue, email_queue_bulk
from crm.task_services import task_create
from crm.timeline import timeline_record, timeline_record_many
from success.qbrs import selectors
from success.qbrs.calendar import qbr_ics
from success.qbrs.models import ACTIVE_STATUSES, Qbr, QbrStatus

logger = logging.getLogger(__name__)
Status = QbrStatus
MAX_DURATION = dt.timedelta(minutes=480)
REMINDER_DAYS = (14, 3)
PLAN_BATCH = 500


def _lock_customer(customer: Customer | int) -> Customer:
    pk = customer if isinstance(customer, int) else customer.pk
    return Customer.objects.select_for_update().get(pk=pk)


def _lock_qbr(qbr: Qbr) -> tuple[Qbr, Customer]:
    customer = _lock_customer(qbr.customer_id)
    return Qbr.objects.select_for_update(of=("self",)).select_related("customer", "owner").get(pk=qbr.pk), customer


def _check_slot(
    *,
    customer: Customer,
    starts_at,
    duration_minutes,
    now: dt.datetime,
    exclude_pk: int | None = None,
    errors: dict,
) -> None:
    if not isinstance(starts_at, dt.datetime) or timezone.is_naive(starts_at):
        errors["starts_at"] = ["A date and time with its UTC offset is required."]
        return
    if not isinstance(duration_minutes, int) or not 15 <= duration_minutes <= 480:
        errors["duration_minutes"] = ["Between 15 and 480 minutes."]
        return
    if starts_at <= now:
        errors["starts_at"] = ["A QBR cannot be planned in the past."]
        return
    ends_at = starts_at + dt.timedelta(minutes=duration_minutes)
    # Any QBR of the customer that is not cancelled and starts before this one ends, and ends after it starts.
    nearby = (
        Qbr.objects.filter(customer=customer, starts_at__lt=ends_at, starts_at__gt=starts_at - MAX_DURATION)
        .exclude(status=Status.CANCELLED)
        .exclude(pk=exclude_pk)
    )
    for other in nearby:
        if other.ends_at > starts_at:
            local = other.starts_at.astimezone(ZoneInfo(other.timezone))
            errors["starts_at"] = [
                f"It overlaps QBR #{other.pk} of this customer ({local:%Y-%m-%d %H:%M} {other.timezone}, "
                f"{other.duration_minutes} minutes)."
            ]
            return


def _check_attendees(*, customer: Customer, contacts, staff, errors: dict) -> tuple[list[Contact], list]:
    contacts = list(contacts or [])
    staff = list(staff or [])
    foreign = [c for c in contacts if c.customer_id != customer.pk]
    if foreign:
        errors["contacts"] = [f"{c.email} is not a contact of {customer.name}." for c in foreign]
    not_staff = [u for u in staff if not (u.is_active and u.is_staff) or getattr(u, "is_service_account", False)]
    if not_staff:
        errors["staff"] = [f"{u.email} is not an active staff user." for u in not_staff]
    return contacts, staff


def _check_owner(owner, errors: dict) -> None:
    if owner is not None and (not owner.is_active or not owner.is_staff or getattr(owner, "is_service_account", False)):
        errors["owner"] = ["The owner must be an active staff user."]


def _local(qbr: Qbr) -> str:
    start = qbr.starts_at.astimezone(ZoneInfo(qbr.timezone))
    return f"{start:%a %d %b %Y %H:%M} ({qbr.timezone})"


def _payload(qbr: Qbr, **extra) -> dict:
    return {
        "qbr_id": qbr.pk,
        "starts_at": qbr.starts_at.isoformat(),
        "timezone": qbr.timezone,
        "duration_minutes": qbr.duration_minutes,
        "status": qbr.status,
        **extra,
    }


# --- Invites ------------------------------------------------------------------------------------------------


def _name(user) -> str:
    return getattr(user, "full_name", "") or user.email


def _recipients(qbr: Qbr) -> tuple[list[Contact], list]:
    """The attendees who get the invite: the contacts, the staff and the owner (the organizer gets it too, so the
    meeting is in their calendar)."""
    contacts = list(qbr.contacts.order_by("email"))
    staff = {u.pk: u for u in qbr.staff.order_by("email")}
    if qbr.owner_id and qbr.owner_id not in staff:
        staff[qbr.owner_id] = qbr.owner
    return contacts, list(staff.values())


def _send_calendar(
    *, qbr: Qbr, method: str, contacts: Iterable[Contact], staff: Iterable, now: dt.datetime, listed=None
) -> int:
    """Queue the calendar object of the QBR's current sequence to each recipient; returns the emails queued.
    `listed`: the (contacts, staff) shown as attendees in the object (default: the recipients)."""
    contacts, staff = list(contacts), list(staff)
    shown_contacts, shown_staff = listed if listed is not None else (contacts, staff)
    attendees = [(c.email, c.name if hasattr(c, "name") else "") for c in shown_contacts]
    attendees += [(u.email, _name(u)) for u in shown_staff]
    organizer = (qbr.owner.email, _name(qbr.owner)) if qbr.owner_id else None
    ics = qbr_ics(qbr=qbr, method=method, organizer=organizer, attendees=attendees, stamp=now)
    when = _local(qbr)
    customer = qbr.customer.name
    if method == "CANCEL":
        subject, verb = f"Cancelled: QBR with {customer}, {when}", "has been cancelled"
    elif qbr.sequence:
        subject, verb = f"Updated invitation: QBR with {customer}, {when}", "has been moved"
    else:
        subject, verb = f"Invitation: QBR with {customer}, {when}", "is planned"
    text = f"The quarterly business review with {customer} {verb}: {when}, {qbr.duration_minutes} minutes.\n"
    if qbr.agenda and method != "CANCEL":
        text += f"\nAgenda:\n{qbr.agenda}\n"
    text += "\nThe calendar invitation is attached.\n"
    queued = 0
    for contact in contacts:
        if ledger_claim(contact=contact, kind=LedgerEntry.Kind.QBR_INVITE, subkind=method.lower(), source=qbr):
            continue  # suppressed (bounced or complained): recorded in the ledger with its reason
        email_queue(
            idempotency_key=f"qbr-invite:{qbr.ics_uid}:{qbr.sequence}:{contact.email.lower()}",
            kind="qbr_invite",
            to_email=contact.email,
            subject=subject,
            text_body=text,
            customer=qbr.customer,
            contact=contact,
            calendar=ics,
        )
        queued += 1
    for user in staff:
        if not user.email:
            continue
        email_queue(
            idempotency_key=f"qbr-invite:{qbr.ics_uid}:{qbr.sequence}:{user.email.lower()}",
            kind="qbr_invite",
            to_email=user.email,
            subject=subject,
            text_body=text,
            customer=qbr.customer,
            calendar=ics,
        )
        queued += 1
    return queued


# --- Propose, schedule, reschedule, cancel, hold -------------------------------------------------------------


@transaction.atomic
def qbr_propose(
    *,
    customer: Customer,
    starts_at: dt.datetime,
    duration_minutes: int = 60,
    owner=None,
    agenda: str = "",
    origin: str = Qbr.Origin.MANUAL,
    origin_key: str = "",
    actor=None,
    now: dt.datetime | None = None,
) -> Qbr:
    """A QBR on the CSM's list with a tentative time; nobody is invited until it is scheduled."""
    now = now or timezone.now()
    customer = _lock_customer(customer)
    errors: dict = {}
    if customer.lifecycle_stage == LifecycleStage.CHURNED:
        errors["customer"] = ["The customer has churned."]
    owner = owner if owner is not None else customer.owner
    _check_owner(owner, errors)
    _check_slot(customer=customer, starts_at=starts_at, duration_minutes=duration_minutes, now=now, errors=errors)
    if errors:
        raise ValidationError(errors)
    qbr = Qbr(
        customer=customer,
        owner=owner,
        starts_at=starts_at.astimezone(dt.UTC),
        timezone=customer.timezone,
        duration_minutes=duration_minutes,
        agenda=agenda or "",
        origin=origin,
        origin_key=origin_key,
    )
    qbr.full_clean(exclude=["customer", "owner"], validate_constraints=False)
    qbr.save()
    timeline_record(
        customer=customer,
        kind="qbr.proposed",
        summary=f"QBR proposed for {_local(qbr)}",
        actor=actor,
        source=qbr,
        payload=_payload(qbr, origin=origin),
    )
    return qbr


MANUAL_PROPOSAL_DAYS = 14


@transaction.atomic
def qbr_propose_next(*, customer: Customer, actor=None, now: dt.datetime | None = None) -> Qbr | None:
    """A CSM asks for a QBR with this customer (admin action on customers): proposed for the owner CSM about two
    weeks ahead at 10:00 customer time on a weekday. None when the customer already has an upcoming proposed or
    scheduled QBR (that one is the next QBR). Raises ValidationError like qbr_propose (e.g. a churned customer)."""
    now = now or timezone.now()
    customer = _lock_customer(customer)
    if Qbr.objects.filter(customer=customer, status__in=ACTIVE_STATUSES, starts_at__gte=now).exists():
        return None
    today = now.astimezone(ZoneInfo(customer.timezone)).date()
    slot = selectors.proposal_slot(customer=customer, target=today + dt.timedelta(days=MANUAL_PROPOSAL_DAYS), now=now)
    return qbr_propose(customer=customer, starts_at=slot, actor=actor, now=now)


@transaction.atomic
def qbr_schedule(
    *,
    qbr: Qbr | None = None,
    customer: Customer | None = None,
    starts_at: dt.datetime,
    duration_minutes: int = 60,
    contacts: Iterable[Contact] = (),
    staff: Iterable = (),
    agenda: str | None = None,
    owner=None,
    actor=None,
    now: dt.datetime | None = None,
) -> Qbr:
    """Schedule a proposed QBR (or a new one for `customer`) at `starts_at` with its attendees: every attendee
    gets the invite (METHOD:REQUEST, SEQUENCE 0) and the preparation pack is generated."""
    now = now or timezone.now()
    if qbr is None:
        if customer is None:
            raise ValidationError({"customer": ["A customer or a proposed QBR is required."]})
        locked = _lock_customer(customer)
        qbr = Qbr(customer=locked, owner=owner or locked.owner, timezone=locked.timezone, status=Status.PROPOSED)
    else:
        qbr, locked = _lock_qbr(qbr)
        if qbr.status != Status.PROPOSED:
            raise ValidationError({"status": [f"Only a proposed QBR can be scheduled; this one is {qbr.status}."]})
        if owner is not None:
            qbr.owner = owner
        qbr.timezone = locked.timezone  # planned in the customer's zone as it is now
    errors: dict = {}
    if locked.lifecycle_stage == LifecycleStage.CHURNED:
        errors["customer"] = ["The customer has churned."]
    _check_owner(qbr.owner, errors)
    _check_slot(
        customer=locked,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        now=now,
        exclude_pk=qbr.pk,
        errors=errors,
    )
    contacts, staff = _check_attendees(customer=locked, contacts=contacts, staff=staff, errors=errors)
    if not contacts and "contacts" not in errors:
        errors["contacts"] = ["Invite at least one of the customer's contacts."]
    if errors:
        raise ValidationError(errors)
    qbr.starts_at = starts_at.astimezone(dt.UTC)
    qbr.duration_minutes = duration_minutes
    if agenda is not None:
        qbr.agenda = agenda
    qbr.status = Status.SCHEDULED
    qbr.scheduled_at = now
    qbr.sequence = 0
    qbr.full_clean(exclude=["customer", "owner"], validate_constraints=False)
    qbr.save()
    qbr.contacts.set(contacts)
    qbr.staff.set(staff)
    qbr.customer = locked
    qbr_prep_refresh(qbr=qbr, now=now)
    timeline_record(
        customer=locked,
        kind="qbr.scheduled",
        summary=f"QBR scheduled for {_local(qbr)}",
        actor=actor,
        source=qbr,
        payload=_payload(qbr, attendees=[c.email for c in contacts] + [u.email for u in staff]),
    )
    recipients = _recipients(qbr)
    _send_calendar(qbr=qbr, method="REQUEST", contacts=recipients[0], staff=recipients[1], now=now)
    return qbr


@transaction.atomic
def qbr_reschedule(
    *,
    qbr: Qbr,
    starts_at: dt.datetime | None = None,
    duration_minutes: int | None = None,
    contacts: Iterable[Contact] | None = None,
    staff: Iterable | None = None,
    agenda: str | None = None,
    actor=None,
    now: dt.datetime | None = None,
) -> Qbr:
    """Move a QBR or change its attendees or agenda. A scheduled QBR's attendees get an update (same UID, next
    SEQUENCE); attendees taken off get METHOD:CANCEL. A proposed QBR just changes its tentative time."""
    now = now or timezone.now()
    qbr, locked = _lock_qbr(qbr)
    if qbr.status not in ACTIVE_STATUSES:
        raise ValidationError({"status": [f"A {qbr.status} QBR cannot be changed."]})
    starts_at = qbr.starts_at if starts_at is None else starts_at
    duration_minutes = qbr.duration_minutes if duration_minutes is None else duration_minutes
    errors: dict = {}
    _check_slot(
        customer=locked,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        now=now,
        exclude_pk=qbr.pk,
        errors=errors,
    )
    old_contacts, old_staff = list(qbr.contacts.all()), list(qbr.staff.all())
    new_contacts, new_staff = _check_attendees(
        customer=locked,
        contacts=old_contacts if contacts is None else contacts,
        staff=old_staff if staff is None else staff,
        errors=errors,
    )
    if qbr.status == Status.SCHEDULED and not new_contacts and "contacts" not in errors:
        errors["contacts"] = ["Invite at least one of the customer's contacts."]
    if errors:
        raise ValidationError(errors)
    changes = {}
    if starts_at != qbr.starts_at:
        changes["starts_at"] = [qbr.starts_at.isoformat(), starts_at.isoformat()]
    if duration_minutes != qbr.duration_minutes:
        changes["duration_minutes"] = [qbr.duration_minutes, duration_minutes]
    if agenda is not None and agenda != qbr.agenda:
        changes["agenda"] = True
    if {c.pk for c in new_contacts} != {c.pk for c in old_contacts}:
        changes["contacts"] = sorted(c.email for c in new_contacts)
    if {u.pk for u in new_staff} != {u.pk for u in old_staff}:
        changes["staff"] = sorted(u.email for u in new_staff)
    if not changes:
        return qbr
    qbr.starts_at, qbr.duration_minutes = starts_at.astimezone(dt.UTC), duration_minutes
    if agenda is not None:
        qbr.agenda = agenda
    scheduled = qbr.status == Status.SCHEDULED
    if scheduled:
        qbr.sequence += 1
    qbr.full_clean(exclude=["customer", "owner"], validate_constraints=False)
    qbr.save()
    qbr.contacts.set(new_contacts)
    qbr.staff.set(new_staff)
    qbr.customer = locked
    timeline_record(
        customer=locked,
        kind="qbr.rescheduled",
        summary=f"QBR moved to {_local(qbr)}" if "starts_at" in changes else f"QBR of {_local(qbr)} changed",
        actor=actor,
        source=qbr,
        payload=_payload(qbr, changes=changes, sequence=qbr.sequence),
    )
    if scheduled:
        contacts_now, staff_now = _recipients(qbr)
        _send_calendar(qbr=qbr, method="REQUEST", contacts=contacts_now, staff=staff_now, now=now)
        removed_contacts = [c for c in old_contacts if c.pk not in {n.pk for n in new_contacts}]
        kept_staff = {u.pk for u in staff_now}
        removed_staff = [u for u in old_staff if u.pk not in kept_staff]
        if removed_contacts or removed_staff:
            _send_calendar(
                qbr=qbr,
                method="CANCEL",
                contacts=removed_contacts,
                staff=removed_staff,
                now=now,
                listed=(removed_contacts, removed_staff),
            )
    return qbr


@transaction.atomic
def qbr_cancel(*, qbr: Qbr, reason: str = "", actor=None, now: dt.datetime | None = None) -> Qbr:
    """Cancel a proposed or scheduled QBR; a scheduled one's attendees get METHOD:CANCEL (next SEQUENCE)."""
    now = now or timezone.now()
    qbr, locked = _lock_qbr(qbr)
    if qbr.status not in ACTIVE_STATUSES:
        raise ValidationError({"status": [f"A {qbr.status} QBR cannot be cancelled."]})
    reason = (reason or "").strip()
    if len(reason) > 300:
        raise ValidationError({"reason": ["At most 300 characters."]})
    was_scheduled = qbr.status == Status.SCHEDULED
    qbr.status = Status.CANCELLED
    qbr.cancelled_at = now
    qbr.cancel_reason = reason
    if was_scheduled:
        qbr.sequence += 1
    qbr.save()
    qbr.customer = locked
    timeline_record(
        customer=locked,
        kind="qbr.cancelled",
        summary=f"QBR of {_local(qbr)} cancelled" + (f": {reason}" if reason else ""),
        actor=actor,
        source=qbr,
        payload=_payload(qbr, reason=reason),
    )
    if was_scheduled:
        contacts, staff = _recipients(qbr)
        _send_calendar(qbr=qbr, method="CANCEL", contacts=contacts, staff=staff, now=now)
    return qbr


def _check_action_items(action_items, errors: dict) -> list[dict]:
    User = get_user_model()
    cleaned, problems = [], []
    for n, item in enumerate(action_items or [], start=1):
        title = (item.get("title") or "").strip() if isinstance(item, dict) else ""
        owner = item.get("owner") if isinstance(item, dict) else None
        due = item.get("due_date") if isinstance(item, dict) else None
        if not title:
            problems.append(f"Item {n}: a title is required.")
        elif len(title) > 200:
            problems.append(f"Item {n}: the title has at most 200 characters.")
        if owner is not None and (not isinstance(owner, User) or not owner.is_active or not owner.is_staff):
            problems.append(f"Item {n}: the owner must be an active staff user.")
        if due is not None and not isinstance(due, dt.date):
            problems.append(f"Item {n}: due_date must be a date.")
        cleaned.append({"title": title, "owner": owner, "due_date": due})
    if problems:
        errors["action_items"] = problems
    return cleaned


@transaction.atomic
def qbr_hold(
    *,
    qbr: Qbr,
    notes: str = "",
    outcomes: str = "",
    action_items: Iterable[dict] = (),
    actor=None,
    now: dt.datetime | None = None,
) -> Qbr:
    """Record that a scheduled QBR took place: notes, outcomes, and action items that become CSM tasks. Writes the
    `qbr.held` timeline event at the meeting's time (health counts it as a CSM touch)."""
    now = now or timezone.now()
    qbr, locked = _lock_qbr(qbr)
    errors: dict = {}
    if qbr.status != Status.SCHEDULED:
        errors["status"] = [f"Only a scheduled QBR can be held; this one is {qbr.status}."]
    elif qbr.starts_at > now:
        errors["status"] = ["This QBR has not started yet."]
    items = _check_action_items(action_items, errors)
    if errors:
        raise ValidationError(errors)
    qbr.status = Status.HELD
    qbr.held_at = now
    qbr.notes = notes or ""
    qbr.outcomes = outcomes or ""
    qbr.full_clean(exclude=["customer", "owner"], validate_constraints=False)
    qbr.save()
    local_day = qbr.starts_at.astimezone(ZoneInfo(qbr.timezone)).date()
    tasks = []
    for item in items:
        task, _created = task_create(
            customer=locked,
            reason=f"QBR {local_day:%Y-%m-%d}: {item['title']}",
            type=Task.Type.ACTIVITY,
            owner=item["owner"] or qbr.owner,
            due_date=item["due_date"],
            source=qbr,
            actor=actor,
        )
        tasks.append(task.pk)
    timeline_record(
        customer=locked,
        kind="qbr.held",
        summary=f"QBR held ({_local(qbr)})",
        actor=actor,
        source=qbr,
        payload=_payload(qbr, action_item_tasks=tasks, owner=getattr(qbr.owner, "email", None)),
        occurred_at=min(qbr.starts_at, now),
    )
    return qbr


@transaction.atomic
def qbr_prep_refresh(*, qbr: Qbr, now: dt.datetime | None = None) -> Qbr:
    """Store a fresh preparation pack on the QBR."""
    now = now or timezone.now()
    qbr.prep = selectors.qbr_prep(qbr=qbr, now=now)
    qbr.prep_generated_at = now
    Qbr.objects.filter(pk=qbr.pk).update(prep=qbr.prep, prep_generated_at=now)
    return qbr


# --- The daily planner and reminders -------------------------------------------------------------------------
#
# Set-based: the planner takes the candidate customers PLAN_BATCH at a time, locks them (one statement, in id order,
# so it serialises with the services above and with another planner), loads their QBRs (one statement), works out in
# memory what each needs (selectors.qbr_next_need on the loaded rows), then moves stale proposals (one UPDATE),
# inserts the new proposals (one INSERT) and their timeline events (one INSERT). The statement count does not grow
# with the number of customers in a batch.


def _overlaps(qbrs: list[Qbr], starts_at: dt.datetime, duration_minutes: int, exclude: Qbr | None = None):
    ends_at = starts_at + dt.timedelta(minutes=duration_minutes)
    for other in qbrs:
        if other is exclude or (exclude is not None and exclude.pk and other.pk == exclude.pk):
            continue
        if other.status != Status.CANCELLED and other.starts_at < ends_at and other.ends_at > starts_at:
            return other
    return None


# Local start hours the planner tries on a day, after the proposal's own hour: a CSM with many accounts in one
# time zone gets them spread over the day before they spill onto the next weekdays.
PLAN_HOURS = (10, 11, 14, 15, 9, 16)


def _free_slot(busy: list[Qbr], slot: dt.datetime, zone: str, duration: int, exclude: Qbr | None = None):
    """`slot`, or the first free one after it (another of PLAN_HOURS that day, then the next weekdays) when another
    QBR of the customer or of its CSM is there; None when the next two weeks are all taken."""
    local = slot.astimezone(ZoneInfo(zone))
    hours = [local.hour, *(h for h in PLAN_HOURS if h != local.hour)]
    day = local
    for _try in range(10):
        for hour in hours:
            candidate = day.replace(hour=hour, minute=local.minute if hour == local.hour else 0)
            candidate = candidate.astimezone(dt.UTC)
            if not _overlaps(busy, candidate, duration, exclude=exclude):
                return candidate
        day += dt.timedelta(days=3 if day.weekday() == 4 else 1)
    return None


def _owner_problem(owner) -> str | None:
    errors: dict = {}
    _check_owner(owner, errors)
    return errors["owner"][0] if errors else None


@transaction.atomic
def _plan_batch(*, customer_ids: list[int], cadences: dict, now: dt.datetime, today: dt.date | None = None) -> dict:
    customers = list(
        Customer.objects.select_for_update(of=("self",))
        .select_related("owner")
        .filter(pk__in=customer_ids)
        .exclude(lifecycle_stage=LifecycleStage.CHURNED)
        .order_by("pk")
    )
    qbrs_by_customer = selectors.qbrs_for_planning(customer_ids=[c.pk for c in customers])
    owner_busy = selectors.owner_busy_for_planning(
        owner_ids=sorted({c.owner_id for c in customers if c.owner_id}), since=now
    )
    moved: list[tuple[Qbr, str]] = []
    proposed: list[Qbr] = []
    failed = 0
    for customer in customers:
        local_today = today or now.astimezone(ZoneInfo(customer.timezone)).date()
        qbrs = qbrs_by_customer[customer.pk]
        for stale in [q for q in qbrs if q.status == Status.PROPOSED and q.starts_at < now]:
            # Proposed but never scheduled, and its time has passed: move the proposal ahead instead of a new one.
            slot = selectors.proposal_slot(customer=customer, target=local_today, now=now)
            busy = qbrs + owner_busy.get(customer.owner_id, [])
            slot = _free_slot(busy, slot, customer.timezone, stale.duration_minutes, exclude=stale)
            if slot is None:
                logger.warning("could not move proposed QBR %s: its new slot overlaps another QBR", stale.pk)
                failed += 1
                continue
            moved.append((stale, stale.starts_at.isoformat()))
            stale.starts_at, stale.updated_at = slot, timezone.now()
            owner_busy.setdefault(stale.owner_id, []).append(stale)
        for _round in range(3):  # a cadence QBR may leave the renewal one still needed: at most a few per run
            need = selectors.qbr_next_need(
                customer=customer, today=local_today, now=now, qbrs=qbrs, months=cadences.get(customer.tier)
            )
            if need is None:
                break
            if any(q.origin_key == need.key and q.status in ACTIVE_STATUSES for q in qbrs):
                logger.warning("customer %s: %s is still needed after its proposal", customer.pk, need.key)
                break
            starts_at = selectors.proposal_slot(customer=customer, target=need.target, now=now)
            problem = _owner_problem(customer.owner)
            starts_at = _free_slot(qbrs + owner_busy.get(customer.owner_id, []), starts_at, customer.timezone, 60)
            if problem is None and starts_at is None:
                problem = "every slot of the next two weeks overlaps another QBR"
            if problem:  # e.g. the owner is no longer active staff: the other customers still get theirs
                logger.warning("could not plan a QBR for customer %s: %s", customer.pk, problem)
                failed += 1
                break
            qbr = Qbr(
                customer=customer,
                owner=customer.owner,
                starts_at=starts_at,
                timezone=customer.timezone,
                agenda=need.agenda,
                origin=need.origin,
                origin_key=need.key,
            )
            qbrs.append(qbr)
            owner_busy.setdefault(customer.owner_id, []).append(qbr)
            proposed.append(qbr)
    if moved:
        Qbr.objects.bulk_update([qbr for qbr, _old in moved], ["starts_at", "updated_at"])
    if proposed:
        Qbr.objects.bulk_create(proposed)
    qbr_type = ContentType.objects.get_for_model(Qbr)
    events = [
        TimelineEvent(
            customer_id=qbr.customer_id,
            kind="qbr.rescheduled",
            summary=f"QBR moved to {_local(qbr)}",
            source_type=qbr_type,
            source_id=str(qbr.pk),
            payload=_payload(qbr, changes={"starts_at": [old, qbr.starts_at.isoformat()]}, sequence=qbr.sequence),
        )
        for qbr, old in moved
    ]
    events += [
        TimelineEvent(
            customer_id=qbr.customer_id,
            kind="qbr.proposed",
            summary=f"QBR proposed for {_local(qbr)}",
            source_type=qbr_type,
            source_id=str(qbr.pk),
            payload=_payload(qbr, origin=qbr.origin),
        )
        for qbr in proposed
    ]
    timeline_record_many(events)
    return {"proposed": proposed, "moved": len(moved), "failed": failed}


def qbr_plan_customer(*, customer_id: int, today: dt.date | None = None, now: dt.datetime | None = None) -> list[Qbr]:
    """Propose the QBRs one customer should have next (selectors.qbr_next_need) for its owner CSM; returns them.
    Idempotent: once proposed, a need is met (and one active QBR per need key is a database constraint)."""
    now = now or timezone.now()
    result = _plan_batch(customer_ids=[customer_id], cadences=selectors.cadence_by_tier(), now=now, today=today)
    return result["proposed"]


def qbr_plan(*, now: dt.datetime | None = None) -> dict:
    """The daily scan: every customer that may need a QBR is planned, PLAN_BATCH customers per transaction."""
    now = now or timezone.now()
    cadences = selectors.cadence_by_tier()
    ids = list(selectors.qbr_plan_candidates(today=now.date(), cadences=cadences))
    proposed = failed = 0
    for start in range(0, len(ids), PLAN_BATCH):
        result = _plan_batch(customer_ids=ids[start : start + PLAN_BATCH], cadences=cadences, now=now)
        proposed += len(result["proposed"])
        failed += result["failed"]
    return {"proposed": proposed, "failed": failed}


def qbr_remind(*, now: dt.datetime | None = None) -> dict:
    """Email each QBR's owner CSM 14 and 3 days before it (in the customer's time zone), once each: the key names
    the QBR, the reminder and the day it is for, so a moved QBR is reminded again for its new day. One read of the
    QBRs due a reminder, one bulk insert of the emails (keys already stored are skipped by the database)."""
    now = now or timezone.now()
    emails = []
    for qbr in selectors.qbrs_to_remind(now=now):
        local_day = qbr.starts_at.astimezone(ZoneInfo(qbr.timezone)).date()
        days_left = (local_day - now.astimezone(ZoneInfo(qbr.timezone)).date()).days
        due = [d for d in REMINDER_DAYS if days_left <= d]
        if not due or not qbr.owner_id or not qbr.owner.email:
            continue
        which = min(due)  # only the nearest: a QBR first seen 2 days ahead gets the 3-day reminder, not both
        state = "scheduled" if qbr.status == Status.SCHEDULED else "proposed, not yet scheduled"
        emails.append(
            {
                "idempotency_key": f"qbr-reminder:{qbr.pk}:{which}:{local_day.isoformat()}",
                "kind": "qbr_reminder",
                "to_email": qbr.owner.email,
                "subject": f"QBR with {qbr.customer.name} in {days_left} day{'s' if days_left != 1 else ''}: "
                f"{_local(qbr)}",
                "text_body": (
                    f"The QBR with {qbr.customer.name} is {state}: {_local(qbr)}, {qbr.duration_minutes} minutes.\n"
                    "Its preparation pack is on the QBR's page in the admin.\n"
                ),
                "customer": qbr.customer,
            }
        )
    return {"reminders": len(email_queue_bulk(emails, interactive=True))}  # staff reminders: the interactive queue
