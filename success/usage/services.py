"""Writes of product usage: recording a batch of events with its rollups, and pruning old data.

`usage_events_record` runs a bounded number of SQL statements whatever the batch size (at most 1,000 events):
customers in one query, contacts in one, the events in one INSERT ... ON CONFLICT (external_id) DO NOTHING
RETURNING (so a retried or concurrent identical batch records nothing twice and we know exactly which rows are
new), then three upserts that ADD the new rows to the rollups: the day's active users (UsageDailyUser, one row per
(customer, day, email), RETURNING which users are new that day), UsageDaily and UsageDailyName
(ON CONFLICT ... DO UPDATE SET x = x + EXCLUDED.x). Increments are computed only from the rows actually inserted,
so the rollups stay right under retries and under concurrent batches on the same customer and day (the unique
indexes serialize them; rows are sorted so concurrent batches lock in the same order). Same SQL on PostgreSQL and
SQLite (>= 3.35 for RETURNING).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from crm.models import Contact, Customer
from success.usage.models import UsageDaily, UsageDailyName, UsageDailyUser, UsageEvent
from success.usage.signals import usage_recorded

MAX_ID_LENGTH = UsageEvent._meta.get_field("external_id").max_length
MAX_NAME_LENGTH = UsageEvent._meta.get_field("name").max_length
MAX_QUANTITY = 10**12
FUTURE_TOLERANCE = dt.timedelta(hours=24)
EVENT_FIELDS = frozenset({"id", "customer", "customer_external_id", "contact_email", "name", "occurred_at", "quantity"})


@dataclass
class UsageBatchResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)
    customer_ids: set[int] = field(default_factory=set)


@dataclass
class _Event:
    index: int
    external_id: str
    customer_id: int | None
    customer_external_id: str | None
    email: str
    name: str
    occurred_at: dt.datetime
    quantity: int


def usage_raw_retention_days() -> int:
    return int(getattr(settings, "USAGE_RAW_RETENTION_DAYS", 90))


def usage_raw_cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """The oldest instant a raw event may have: midnight UTC, USAGE_RAW_RETENTION_DAYS days before today.
    Whole days, so a day that can still receive events has all its raw events (the pruning uses the same
    cutoff)."""
    now = now or timezone.now()
    day = now.astimezone(dt.UTC).date() - dt.timedelta(days=usage_raw_retention_days())
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@lru_cache(maxsize=4096)
def _email_valid(email: str) -> bool:
    """Django's email validation, cached: a batch repeats the same few users' addresses."""
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _parse_event(index: int, raw, now: dt.datetime, cutoff: dt.datetime) -> tuple[_Event | None, dict, object]:
    """(the event or None, its errors {field: [message]}, the sender's id as sent)."""
    if not isinstance(raw, dict):
        return None, {"non_field_errors": ["Expected an object."]}, None
    errors: dict[str, list[str]] = {}
    for unknown in sorted(set(raw) - EVENT_FIELDS):
        errors[str(unknown)] = ["Unknown field."]
    for key in EVENT_FIELDS:  # PostgreSQL cannot store a NUL character in text: refuse it here, per event
        if isinstance(raw.get(key), str) and "\x00" in raw[key]:
            errors[key] = ["Null characters are not allowed."]
    if errors:
        return None, errors, raw.get("id")
    sent_id = raw.get("id")
    external_id = ""
    if isinstance(sent_id, bool) or not isinstance(sent_id, str | int):
        errors["id"] = ["This field is required (a string or an integer)."]
    else:
        external_id = str(sent_id).strip()
        if not external_id:
            errors["id"] = ["This field may not be blank."]
        elif len(external_id) > MAX_ID_LENGTH:
            errors["id"] = [f"Ensure this field has no more than {MAX_ID_LENGTH} characters."]

    customer = raw.get("customer")
    customer_id = None
    if customer is not None:
        if isinstance(customer, bool) or not (
            isinstance(customer, int) or (isinstance(customer, str) and customer.isdigit())
        ):
            errors["customer"] = ["A valid integer is required."]
        else:
            customer_id = int(customer)
            if customer_id > 2**63 - 1:
                errors["customer"] = ["Unknown customer."]
                customer_id = None
    customer_external_id = raw.get("customer_external_id")
    if customer_external_id is not None:
        if not isinstance(customer_external_id, str | int) or isinstance(customer_external_id, bool):
            errors["customer_external_id"] = ["Not a valid string."]
            customer_external_id = None
        else:
            customer_external_id = str(customer_external_id).strip() or None
    if customer is None and customer_external_id is None and "customer" not in errors:
        errors["customer"] = ["Give customer (our id) or customer_external_id."]

    email = raw.get("contact_email") or ""
    if not isinstance(email, str):
        errors["contact_email"] = ["Not a valid string."]
        email = ""
    email = email.strip().lower()
    if email:
        if not _email_valid(email):
            errors["contact_email"] = ["Enter a valid email address."]

    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["This field may not be blank."]
        name = ""
    else:
        name = name.strip()
        if len(name) > MAX_NAME_LENGTH:
            errors["name"] = [f"Ensure this field has no more than {MAX_NAME_LENGTH} characters."]

    occurred_at = None
    value = raw.get("occurred_at")
    if not isinstance(value, str) or not value:
        errors["occurred_at"] = ["This field is required (ISO 8601 date and time)."]
    else:
        try:
            occurred_at = dt.datetime.fromisoformat(value)  # fast path (Python 3.11 reads "Z" and offsets)
        except ValueError:
            try:
                occurred_at = parse_datetime(value)
            except ValueError:
                occurred_at = None
        if occurred_at is None:
            errors["occurred_at"] = ["Enter a valid ISO 8601 date and time."]
        else:
            if timezone.is_naive(occurred_at):
                occurred_at = occurred_at.replace(tzinfo=dt.UTC)  # documented: no offset means UTC
            if occurred_at > now + FUTURE_TOLERANCE:
                errors["occurred_at"] = ["More than 24 hours in the future."]
            elif occurred_at < cutoff:
                errors["occurred_at"] = [
                    f"Older than the raw retention window ({usage_raw_retention_days()} days, from "
                    f"{cutoff.isoformat()})."
                ]

    quantity = raw.get("quantity", 1)
    if quantity is None:
        quantity = 1
    if isinstance(quantity, float) and quantity.is_integer():
        quantity = int(quantity)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        errors["quantity"] = ["A whole number is required."]
    elif not 0 <= quantity <= MAX_QUANTITY:
        errors["quantity"] = [f"Must be between 0 and {MAX_QUANTITY}."]

    if errors:
        return None, errors, sent_id
    return (
        _Event(index, external_id, customer_id, customer_external_id, email, name, occurred_at, quantity),
        {},
        sent_id,
    )


def bulk_insert_rows(cursor, model, columns: list[tuple[str, str]], rows: list[tuple], suffix: str) -> list[tuple]:
    """One INSERT of `rows` into `model`'s table, then `suffix` (ON CONFLICT ... [RETURNING ...]); returns the
    rows RETURNING gave. On PostgreSQL the values travel as one array per column (INSERT ... SELECT FROM
    unnest(...)): a short statement whatever the batch size, so psycopg does not parse a query with thousands of
    placeholders (that cost more than the insert itself). Elsewhere (SQLite) a multi-row VALUES list."""
    names = ", ".join(name for name, _ in columns)
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{sql_type}[]" for _, sql_type in columns)
        sql = f"INSERT INTO {_table(model)} ({names}) SELECT * FROM unnest({arrays}) {suffix}"  # noqa: S608
        params = [list(column) for column in zip(*rows, strict=True)]
    else:
        row = "(" + ", ".join(["%s"] * len(columns)) + ")"
        sql = f"INSERT INTO {_table(model)} ({names}) VALUES {', '.join([row] * len(rows))} {suffix}"  # noqa: S608
        params = [value for values in rows for value in values]
    cursor.execute(sql, params)
    return cursor.fetchall() if "RETURNING" in suffix else []


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


@transaction.atomic
def usage_events_record(*, events: list, now: dt.datetime | None = None) -> UsageBatchResult:
    """Validate and record a batch of raw usage events (see the module docstring). Invalid events are reported
    per index and skipped; good ones are kept. Returns accepted (newly recorded), duplicates (already recorded,
    by their `id`) and the errors."""
    now = now or timezone.now()
    cutoff = usage_raw_cutoff(now)
    result = UsageBatchResult()
    parsed: list[_Event] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(events):
        event, errors, sent_id = _parse_event(index, raw, now, cutoff)
        if event is not None and event.external_id in first_index:
            errors = {"id": [f"Duplicate of event {first_index[event.external_id]} in this batch."]}
            event = None
        if event is None:
            result.errors.append({"index": index, "id": sent_id, "errors": errors})
            continue
        first_index[event.external_id] = index
        parsed.append(event)

    # Customers: one query for both kinds of reference.
    ids = {event.customer_id for event in parsed if event.customer_id is not None}
    external_ids = {event.customer_external_id for event in parsed if event.customer_external_id is not None}
    known_ids, by_external_id = set(), {}
    if parsed:
        for pk, external_id in Customer.objects.filter(Q(pk__in=ids) | Q(external_id__in=external_ids)).values_list(
            "pk", "external_id"
        ):
            known_ids.add(pk)
            if external_id is not None:
                by_external_id[external_id] = pk
    good: list[_Event] = []
    for event in parsed:
        errors = {}
        if event.customer_id is not None and event.customer_id not in known_ids:
            errors["customer"] = [f"Unknown customer {event.customer_id}."]
        if event.customer_external_id is not None:
            pk = by_external_id.get(event.customer_external_id)
            if pk is None:
                errors["customer_external_id"] = [f"Unknown customer {event.customer_external_id!r}."]
            elif event.customer_id is not None and pk != event.customer_id:
                errors["customer_external_id"] = ["Names another customer than `customer`."]
            event.customer_id = pk if event.customer_id is None else event.customer_id
        if errors:
            result.errors.append({"index": event.index, "id": events[event.index].get("id"), "errors": errors})
        else:
            good.append(event)
    result.errors.sort(key=lambda error: error["index"])
    if not good:
        return result

    # Contacts: one query, matched case-insensitively on (customer, email).
    contacts = {}
    emails = {event.email for event in good if event.email}
    if emails:
        contacts = {
            (customer_id, email): pk
            for pk, customer_id, email in Contact.objects.annotate(email_lower=Lower("email"))
            .filter(customer_id__in={event.customer_id for event in good}, email_lower__in=emails)
            .values_list("pk", "customer_id", "email_lower")
        }

    ops = connection.ops
    received_at = ops.adapt_datetimefield_value(now)
    good.sort(key=lambda event: event.external_id)  # the same lock order in concurrent batches
    rows = [
        (
            event.customer_id,
            contacts.get((event.customer_id, event.email)),
            event.email,
            event.external_id,
            event.name,
            ops.adapt_datetimefield_value(event.occurred_at),
            event.quantity,
            received_at,
        )
        for event in good
    ]
    with connection.cursor() as cursor:
        returned = bulk_insert_rows(
            cursor,
            UsageEvent,
            [
                ("customer_id", "bigint"),
                ("contact_id", "bigint"),
                ("contact_email", "text"),
                ("external_id", "text"),
                ("name", "text"),
                ("occurred_at", "timestamptz"),
                ("quantity", "bigint"),
                ("received_at", "timestamptz"),
            ],
            rows,
            "ON CONFLICT (external_id) DO NOTHING RETURNING external_id",
        )
        inserted = {row[0] for row in returned}
        new = [event for event in good if event.external_id in inserted]
        result.accepted, result.duplicates = len(new), len(good) - len(new)
        if new:
            _rollups_add(cursor, new)
    result.customer_ids = {event.customer_id for event in new}
    if result.customer_ids:
        customer_ids = sorted(result.customer_ids)
        transaction.on_commit(lambda: usage_recorded.send(sender=UsageEvent, customer_ids=customer_ids))
    return result


def _rollups_add(cursor, new: list[_Event]) -> None:
    """Add the newly inserted events to the rollups (three statements at most)."""
    ops = connection.ops
    days, names, users = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0]), set()
    for event in new:
        day = event.occurred_at.astimezone(dt.UTC).date()
        totals = days[event.customer_id, day]
        totals[0] += 1
        totals[1] += event.quantity
        totals = names[event.customer_id, day, event.name]
        totals[0] += 1
        totals[1] += event.quantity
        if event.email:
            users.add((event.customer_id, day, event.email))
    new_users = Counter()
    if users:
        returned = bulk_insert_rows(
            cursor,
            UsageDailyUser,
            [("customer_id", "bigint"), ("day", "date"), ("email", "text")],
            [(c, ops.adapt_datefield_value(d), e) for c, d, e in sorted(users)],
            "ON CONFLICT (day, customer_id, email) DO NOTHING RETURNING customer_id, day",
        )
        new_users = Counter((customer_id, str(day)) for customer_id, day in returned)
    table = _table(UsageDaily)
    bulk_insert_rows(
        cursor,
        UsageDaily,
        [
            ("customer_id", "bigint"),
            ("day", "date"),
            ("active_users", "integer"),
            ("events", "integer"),
            ("quantity", "bigint"),
        ],
        [(c, ops.adapt_datefield_value(d), new_users[c, str(d)], n, q) for (c, d), (n, q) in sorted(days.items())],
        f"ON CONFLICT (customer_id, day) DO UPDATE SET active_users = {table}.active_users + "
        f"EXCLUDED.active_users, events = {table}.events + EXCLUDED.events, "
        f"quantity = {table}.quantity + EXCLUDED.quantity",
    )
    table = _table(UsageDailyName)
    bulk_insert_rows(
        cursor,
        UsageDailyName,
        [("customer_id", "bigint"), ("day", "date"), ("name", "text"), ("events", "integer"), ("quantity", "bigint")],
        [(c, ops.adapt_datefield_value(d), name, n, q) for (c, d, name), (n, q) in sorted(names.items())],
        f"ON CONFLICT (customer_id, day, name) DO UPDATE SET events = {table}.events + EXCLUDED.events, "
        f"quantity = {table}.quantity + EXCLUDED.quantity",
    )


PRUNE_BATCH = 10_000


def _prune(model, filter_q: Q, batch: int) -> int:
    """Delete matching rows with one DELETE ... WHERE id IN (SELECT id ... LIMIT batch) per loop, each in its
    own short transaction (no long lock, no huge WAL burst)."""
    total = 0
    while True:
        with transaction.atomic():
            chunk = model.objects.filter(filter_q).order_by().values("pk")[:batch]
            deleted, _ = model.objects.filter(pk__in=chunk).delete()
        total += deleted
        if deleted < batch:
            return total


def usage_prune(*, now: dt.datetime | None = None, batch: int = PRUNE_BATCH) -> dict[str, int]:
    """Delete raw events (and the per-day active-user rows) older than the raw retention window, and rollups
    older than USAGE_ROLLUP_RETENTION_DAYS, in batches of `batch` rows per statement."""
    now = now or timezone.now()
    cutoff = usage_raw_cutoff(now)
    rollup_cutoff = now.astimezone(dt.UTC).date() - dt.timedelta(
        days=int(getattr(settings, "USAGE_ROLLUP_RETENTION_DAYS", 730))
    )
    return {
        "events": _prune(UsageEvent, Q(occurred_at__lt=cutoff), batch),
        "active_users": _prune(UsageDailyUser, Q(day__lt=cutoff.date()), batch),
        "daily": _prune(UsageDaily, Q(day__lt=rollup_cutoff), batch),
        "daily_by_name": _prune(UsageDailyName, Q(day__lt=rollup_cutoff), batch),
    }
