"""Writes on the SLA configuration: business calendars (with their opening hours and holidays) and SLA
policies.

The API (and anything else that edits configuration) goes through these services. Each is one transaction that
validates everything first (so a bad request changes nothing), then writes.

When a calendar or a policy changes under running clocks, time already counted stays counted and only what
remains is recomputed: every open target of the affected tickets is first counted up to now with the old
configuration (`sla_checkpoint`), then the change is written, then due and warning times are recomputed from
what remains with the new one (`sla_refresh`). Tickets keep the policy they matched; tickets opened or changed
later match the policies as they are then.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, ProtectedError
from django.utils import timezone

from crm.models import Tier
from tickets.models import (
    BusinessCalendar,
    Category,
    Channel,
    Holiday,
    OpeningHours,
    Priority,
    SlaPolicy,
    SlaTarget,
    Ticket,
)
from tickets.sla import BULK_BATCH, OPEN_STATES, sla_checkpoint_many, sla_refresh_many

MIDNIGHT = dt.time(0)
WEEKDAYS = dict(OpeningHours._meta.get_field("weekday").choices)
MAX_TARGET_MINUTES = (2**31 - 1) // 60  # target_seconds must fit the column

CALENDAR_DEFAULTS: dict[str, Any] = {
    "timezone": "UTC",
    "always_open": False,
    "opening_hours": [],
    "holidays": [],
}
POLICY_DEFAULTS: dict[str, Any] = {
    "order": 100,
    "is_active": True,
    "tiers": [],
    "priorities": [],
    "channels": [],
    "categories": [],
    "first_response_minutes": None,
    "next_reply_minutes": None,
    "resolution_minutes": None,
    "pause_on_hold": True,
    "warn_at_percent": 80,
}
CONDITION_CHOICES = {
    "tiers": Tier.values,
    "priorities": Priority.values,
    "channels": Channel.values,
    "categories": Category.values,
}
TARGET_FIELDS = ("first_response_minutes", "next_reply_minutes", "resolution_minutes")


class ConfigurationInUse(Exception):
    """Deleting the object would leave something pointing at nothing (e.g. a calendar used by policies)."""


# --- Affected clocks -----------------------------------------------------------------------------


def _tickets_with_open_targets(**ticket_filter) -> list[int]:
    open_targets = SlaTarget.objects.filter(ticket_id=OuterRef("pk"), state__in=OPEN_STATES)
    return list(
        Ticket.objects.filter(Exists(open_targets), **ticket_filter).order_by("pk").values_list("pk", flat=True)
    )


def _batches(ticket_ids: Sequence[int]):
    for start in range(0, len(ticket_ids), BULK_BATCH):
        yield ticket_ids[start : start + BULK_BATCH]


def _checkpoint(ticket_ids: Sequence[int], at: dt.datetime) -> None:
    """Count every open target up to `at` with the configuration still in force (a few statements per batch of
    1,000 tickets, not per ticket)."""
    calendars: dict = {}
    for batch in _batches(ticket_ids):
        tickets = Ticket.objects.select_for_update(of=("self",)).select_related("sla_policy")
        sla_checkpoint_many(list(tickets.filter(pk__in=batch).order_by("pk")), at, calendars=calendars)


def _refresh(ticket_ids: Sequence[int], at: dt.datetime, *, retarget: bool = False) -> None:
    """Recompute what remains with the new configuration (and, for a policy change, the targets' sizes)."""
    calendars: dict = {}  # read again: the change is written by now
    for batch in _batches(ticket_ids):
        tickets = Ticket.objects.select_related("sla_policy").filter(pk__in=batch).order_by("pk")
        sla_refresh_many(list(tickets), at, calendars=calendars, retarget=retarget)


# --- Business calendars --------------------------------------------------------------------------


def _minutes(value: dt.time) -> float:
    return value.hour * 60 + value.minute + value.second / 60


def _range_label(start: dt.time, end: dt.time) -> str:
    return f"{start:%H:%M}-{end:%H:%M}"


def _hours_errors(opening_hours: Iterable[dict]) -> list[str]:
    errors: list[str] = []
    by_day: dict[int, list[tuple[float, float, str]]] = {}
    for hours in opening_hours:
        weekday, start, end = hours.get("weekday"), hours.get("start"), hours.get("end")
        if weekday not in WEEKDAYS:
            errors.append(f"Unknown weekday {weekday!r}: use 0 (Monday) to 6 (Sunday).")
            continue
        if not isinstance(start, dt.time) or not isinstance(end, dt.time):
            errors.append(f"{WEEKDAYS[weekday]}: give both start and end times.")
            continue
        start_m = _minutes(start)
        end_m = 24 * 60 if end == MIDNIGHT else _minutes(end)
        label = _range_label(start, end)
        if end_m <= start_m:
            errors.append(
                f"{WEEKDAYS[weekday]} {label}: the range must end after it starts (00:00 as an end is midnight)."
            )
            continue
        by_day.setdefault(weekday, []).append((start_m, end_m, label))
    for weekday in sorted(by_day):
        ranges = sorted(by_day[weekday])
        widest = ranges[0]  # of the ranges seen so far, the one ending last
        for current in ranges[1:]:
            if current[0] < widest[1]:
                errors.append(f"Opening hours overlap on {WEEKDAYS[weekday]}: {widest[2]} and {current[2]}.")
            if current[1] > widest[1]:
                widest = current
    return errors


def _holiday_errors(holidays: Iterable[dict]) -> list[str]:
    errors, seen = [], set()
    for holiday in holidays:
        day = holiday.get("date")
        if not isinstance(day, dt.date):
            errors.append("Each holiday needs a date (YYYY-MM-DD).")
        elif day in seen:
            errors.append(f"{day.isoformat()} is listed more than once.")
        elif len(holiday.get("name") or "") > 100:
            errors.append(f"{day.isoformat()}: the name is longer than 100 characters.")
        seen.add(day)
    return errors


def _hours_key(opening_hours: Iterable[dict]) -> list[tuple]:
    return sorted((h["weekday"], h["start"], h["end"]) for h in opening_hours)


def _holidays_key(holidays: Iterable[dict]) -> list[tuple]:
    return sorted((h["date"], h.get("name") or "") for h in holidays)


def _validate_calendar(calendar: BusinessCalendar, opening_hours, holidays) -> None:
    errors: dict[str, list[str]] = {}
    try:
        calendar.full_clean()
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if opening_hours is not None and (hours_errors := _hours_errors(opening_hours)):
        errors["opening_hours"] = hours_errors
    if holidays is not None and (holiday_errors := _holiday_errors(holidays)):
        errors["holidays"] = holiday_errors
    if errors:
        raise ValidationError(errors)


def _write_lists(calendar: BusinessCalendar, opening_hours, holidays) -> None:
    if opening_hours is not None:
        calendar.opening_hours.all().delete()
        OpeningHours.objects.bulk_create(
            OpeningHours(calendar=calendar, weekday=h["weekday"], start=h["start"], end=h["end"])
            for h in sorted(opening_hours, key=lambda h: (h["weekday"], h["start"]))
        )
    if holidays is not None:
        calendar.holidays.all().delete()
        Holiday.objects.bulk_create(
            Holiday(calendar=calendar, date=h["date"], name=h.get("name") or "")
            for h in sorted(holidays, key=lambda h: h["date"])
        )


@transaction.atomic
def business_calendar_create(
    *,
    name: str,
    timezone: str = "UTC",
    always_open: bool = False,
    opening_hours: Sequence[dict] = (),
    holidays: Sequence[dict] = (),
    actor=None,
) -> BusinessCalendar:
    """A calendar with its weekly opening hours ([{weekday, start, end}], several ranges a day, 00:00 as an
    end for midnight) and holidays ([{date, name}])."""
    calendar = BusinessCalendar(name=(name or "").strip(), timezone=timezone, always_open=always_open)
    _validate_calendar(calendar, list(opening_hours), list(holidays))
    calendar.save()
    _write_lists(calendar, list(opening_hours), list(holidays))
    return calendar


@transaction.atomic
def business_calendar_update(*, calendar: BusinessCalendar, actor=None, **data) -> BusinessCalendar:
    """Change some of name, timezone, always_open, opening_hours, holidays (a list given replaces the old
    one). Open clocks counting in this calendar keep what they counted; what remains is recomputed."""
    allowed = {"name", "timezone", "always_open", "opening_hours", "holidays"}
    if unknown := set(data) - allowed:
        raise ValidationError({f: "This field cannot be changed here." for f in sorted(unknown)})
    calendar = BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)
    opening_hours = data.pop("opening_hours", None)
    holidays = data.pop("holidays", None)
    if "name" in data:
        data["name"] = (data["name"] or "").strip()
    changed = any(getattr(calendar, field) != value for field, value in data.items())
    old_hours = [{"weekday": h.weekday, "start": h.start, "end": h.end} for h in calendar.opening_hours.all()]
    old_holidays = [{"date": h.date, "name": h.name} for h in calendar.holidays.all()]
    if opening_hours is not None and _hours_key(opening_hours) == _hours_key(old_hours):
        opening_hours = None
    if holidays is not None and _holidays_key(holidays) == _holidays_key(old_holidays):
        holidays = None
    if not changed and opening_hours is None and holidays is None:
        return calendar
    for field, value in data.items():
        setattr(calendar, field, value)
    _validate_calendar(calendar, opening_hours, holidays)
    clock_changed = (
        opening_hours is not None or holidays is not None or any(field in data for field in ("timezone", "always_open"))
    )
    at = timezone.now()
    affected = _tickets_with_open_targets(sla_policy__calendar=calendar) if clock_changed else []
    _checkpoint(affected, at)
    calendar.save()
    _write_lists(calendar, opening_hours, holidays)
    _refresh(affected, at)
    return calendar


@transaction.atomic
def business_calendar_upsert_by_name(*, name: str, actor=None, **data) -> tuple[BusinessCalendar, bool]:
    """Create the calendar named `name` or make it match `data` (idempotent: repeating it changes nothing)."""
    calendar = BusinessCalendar.objects.select_for_update().filter(name=(name or "").strip()).first()
    if calendar is None:
        return business_calendar_create(name=name, actor=actor, **data), True
    return business_calendar_update(calendar=calendar, actor=actor, **data), False


@transaction.atomic
def business_calendar_delete(*, calendar: BusinessCalendar, actor=None) -> None:
    used_by = list(SlaPolicy.objects.filter(calendar=calendar).values_list("name", flat=True)[:10])
    if used_by:
        raise ConfigurationInUse(
            f"The calendar is used by SLA policies ({', '.join(used_by)}); point them at another calendar first."
        )
    try:
        calendar.delete()
    except ProtectedError as exc:  # a policy pointed at it meanwhile
        raise ConfigurationInUse("The calendar is used by SLA policies.") from exc


# --- SLA policies --------------------------------------------------------------------------------


def _clean_conditions(data: dict) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, choices in CONDITION_CHOICES.items():
        if field not in data:
            continue
        values = data[field] or []
        if not isinstance(values, list | tuple):
            errors[field] = ["Give a list (empty: any)."]
            continue
        bad = [str(v) for v in values if v not in choices]
        if bad:
            errors[field] = [f'"{v}" is not a valid choice; use one of: {", ".join(choices)}.' for v in bad]
            continue
        data[field] = list(dict.fromkeys(values))
    return errors


def _validate_policy(policy: SlaPolicy, data: dict) -> None:
    errors = _clean_conditions(data)
    for field in TARGET_FIELDS:
        value = getattr(policy, field)
        if value is not None and (not isinstance(value, int) or value <= 0):
            errors[field] = ["A target must be a positive number of minutes (null: no target)."]
        elif value is not None and value > MAX_TARGET_MINUTES:
            errors[field] = [f"A target is at most {MAX_TARGET_MINUTES} minutes."]
    if not isinstance(policy.warn_at_percent, int) or not 1 <= policy.warn_at_percent <= 99:
        errors["warn_at_percent"] = ["Must be from 1 to 99 (% of the target)."]
    try:
        policy.full_clean(exclude=[*errors, "tiers", "priorities", "channels", "categories"])
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, messages)
    if errors:
        raise ValidationError(errors)


POLICY_FIELDS = {"name", "calendar", *POLICY_DEFAULTS}


@transaction.atomic
def sla_policy_create(*, name: str, calendar: BusinessCalendar, actor=None, **data) -> SlaPolicy:
    if unknown := set(data) - POLICY_FIELDS:
        raise ValidationError({f: "Unknown field." for f in sorted(unknown)})
    data = {**POLICY_DEFAULTS, **data}
    errors = _clean_conditions(data)
    if errors:
        raise ValidationError(errors)
    policy = SlaPolicy(name=(name or "").strip(), calendar=calendar, **data)
    _validate_policy(policy, data)
    policy.save()
    return policy


@transaction.atomic
def sla_policy_update(*, policy: SlaPolicy, actor=None, **data) -> SlaPolicy:
    """Change a policy. Tickets counting under it keep what they counted; their open targets take the new
    sizes, calendar and pause rules for what remains."""
    if unknown := set(data) - POLICY_FIELDS:
        raise ValidationError({f: "This field cannot be changed here." for f in sorted(unknown)})
    policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    errors = _clean_conditions(data)
    if errors:
        raise ValidationError(errors)
    if "name" in data:
        data["name"] = (data["name"] or "").strip()
    changes = {field: value for field, value in data.items() if getattr(policy, field) != value}
    if not changes:
        return policy
    for field, value in changes.items():
        setattr(policy, field, value)
    _validate_policy(policy, dict(changes))
    clock_fields = {"calendar", "pause_on_hold", "warn_at_percent", *TARGET_FIELDS}
    at = timezone.now()
    affected = _tickets_with_open_targets(sla_policy=policy) if clock_fields & set(changes) else []
    _checkpoint(affected, at)
    policy.save()
    _refresh(affected, at, retarget=True)
    return policy


@transaction.atomic
def sla_policy_upsert_by_name(*, name: str, actor=None, **data) -> tuple[SlaPolicy, bool]:
    """Create the policy named `name` or make it match `data` (idempotent: repeating it changes nothing)."""
    policy = SlaPolicy.objects.select_for_update().filter(name=(name or "").strip()).first()
    if policy is None:
        if data.get("calendar") is None:
            raise ValidationError({"calendar": "This field is required."})
        return sla_policy_create(name=name, actor=actor, **data), True
    return sla_policy_update(policy=policy, actor=actor, **data), False


@transaction.atomic
def sla_policy_delete(*, policy: SlaPolicy, actor=None) -> None:
    """Tickets under it keep what they counted; what remains counts on the 24/7 clock without new targets'
    sizes (their open targets keep the sizes they had)."""
    at = timezone.now()
    affected = _tickets_with_open_targets(sla_policy=policy)
    _checkpoint(affected, at)
    policy.delete()
    _refresh(affected, at)
