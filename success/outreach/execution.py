"""Running a rule: the scan claims due work as OutreachRecord rows; success.outreach.perform does it.

    outreach_tick(at=None)                         beat's job: enqueue one scan per enabled rule that scans, and
                                                   the pickup of deferred work that fell due; nothing else
    rule_scan(rule_id, at=None) -> dict            a schedule rule, or an event rule whose event is a state
                                                   (renewal N days away, no usage for N days, task overdue)
    rule_event_scan(rule_id, customer_id, period_key, at=None) -> dict
                                                   an event rule, for the one customer an event happened to
    publish_perform(count)                         enough `success.outreach_perform` tasks for `count` records

Exactly once. A scan claims by INSERTing pending records under the unique key (rule, customer, contact,
action_index, period_key) with ON CONFLICT DO NOTHING, in its transaction; the perform tasks are published on
commit and pick pending rows with `select_for_update(skip_locked=True)`. So two beats, a second scan of the same
period, a redelivered scan or event all find the key taken and add nothing, and a perform task delivered twice
finds the rows no longer pending.

The scan reads the customers' distinct time zones once (one small statement, crm.selectors.customer_time_zones):
date-relative conditions and state events compare each customer with the threshold of its own local date
(success.outreach.conditions.per_zone), and a schedule fires per zone.
Schedule rules (success.outreach.timing): the audience (one statement, success.outreach.conditions) is grouped by
time zone; for each zone, the latest local occurrence of the crontab in
(last scan, now] (never before the rule was enabled) names the period ("2026-03-29", or "2026-03-29T09:00" for a
rule that fires several times a day) and only customers of zones with an occurrence are claimed. The rule row is
locked (skip_locked) for the scan, so a second scan of it at the same moment returns at once.
Event rules: "event:<kind>:<source id>" (the timeline event, ticket, response, task, renewal date or last usage
day), so an event redelivered or seen twice does nothing twice.

Per customer: the cooldown (no acted record of the rule within cooldown_days: success.outreach.selectors), the cap
per run (the first cap_per_run customers by id; the rest are counted in the run's summary, not claimed), quiet
hours (a record's due_at is the customer's next local business moment, skipping the holidays of the rule's
holiday calendar read once per scan: deferred, not dropped). An email action
claims one record per contact of its role (none: one "skipped: no contact of the role" record).
"""

import datetime as dt
import logging
import math

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, DateField, Exists, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from crm.models import Contact, Task
from crm.selectors import customer_time_zones
from success.outreach.conditions import local_today, per_zone, rule_audience
from success.outreach.models import OutreachEvent, OutreachRecord, OutreachResult, OutreachRule, OutreachTrigger
from success.outreach.selectors import acted_within
from success.outreach.timing import next_business_moment, occurrences, zone
from success.playbooks.selectors import overdue_step_subquery
from success.usage.selectors import last_usage_day_subquery
from tickets.selectors import holiday_dates

logger = logging.getLogger(__name__)

STATE_EVENTS = (
    OutreachEvent.RENEWAL_IN_DAYS,
    OutreachEvent.NO_USAGE_DAYS,
    OutreachEvent.TASK_OVERDUE,
    OutreachEvent.PLAYBOOK_STEP_OVERDUE,
)
CHUNK = 2000
PERFORM_BATCH = 200
MAX_PERFORM_TASKS = 8  # each perform task republishes itself while there is more


def publish_perform(count: int) -> None:
    from success.outreach.tasks import perform

    for _ in range(min(math.ceil(count / PERFORM_BATCH), MAX_PERFORM_TASKS)):
        perform.delay()


def outreach_tick(*, at: dt.datetime | None = None) -> dict:
    """Enqueue a scan per enabled scanning rule, and perform tasks for deferred records now due (or whose
    perform task was lost). Only enqueues."""
    from success.outreach.tasks import scan_rule

    at = at or timezone.now()
    rule_ids = list(
        OutreachRule.objects.filter(enabled=True)
        .filter(Q(trigger=OutreachTrigger.SCHEDULE) | Q(trigger=OutreachTrigger.EVENT, event__in=STATE_EVENTS))
        .values_list("pk", flat=True)
    )
    for rule_id in rule_ids:
        scan_rule.delay(rule_id)
    grace = at - dt.timedelta(seconds=getattr(settings, "OUTREACH_PERFORM_GRACE_SECONDS", 600))
    due = (
        OutreachRecord.objects.filter(result=OutreachResult.PENDING, due_at__lte=at)
        .filter(Q(due_at__gt=F("created_at")) | Q(created_at__lt=grace))
        .count()
    )
    if due:
        publish_perform(due)
    return {"scans": len(rule_ids), "due": due}


def _window_start(rule: OutreachRule, at: dt.datetime) -> dt.datetime:
    marks = [m for m in (rule.last_scan_at, rule.enabled_at) if m is not None]
    return max(marks) if marks else at


def rule_scan(*, rule_id: int, at: dt.datetime | None = None) -> dict:
    at = at or timezone.now()
    with transaction.atomic():
        rule = (
            OutreachRule.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("schedule")
            .filter(pk=rule_id, enabled=True)
            .first()
        )
        if rule is None:
            return {"rule": rule_id, "skipped": "disabled, deleted or being scanned"}
        zones = customer_time_zones()
        audience = rule_audience(rule, at=at, zones=zones)
        if rule.trigger == OutreachTrigger.SCHEDULE:
            audience = _schedule_keys(rule, audience, _window_start(rule, at), at, zones)
        elif rule.event in STATE_EVENTS:
            audience = _state_keys(rule, audience, at, zones)
        else:
            audience = None
        summary = _claim(rule, audience, at) if audience is not None else {"claimed": 0, "customers": 0}
        summary["at"] = at.isoformat()
        OutreachRule.objects.filter(pk=rule.pk).update(last_scan_at=at, last_scan_summary=summary)
    return summary


def rule_event_scan(*, rule_id: int, customer_id: int, period_key: str, at: dt.datetime | None = None) -> dict:
    at = at or timezone.now()
    with transaction.atomic():
        rule = OutreachRule.objects.filter(pk=rule_id, enabled=True, trigger=OutreachTrigger.EVENT).first()
        if rule is None:
            return {"rule": rule_id, "skipped": "disabled or not an event rule"}
        audience = rule_audience(rule, at=at).filter(pk=customer_id).annotate(outreach_key=Value(period_key[:80]))
        return _claim(rule, audience, at, capped=False)


def _schedule_keys(
    rule: OutreachRule, audience: QuerySet, start: dt.datetime, at: dt.datetime, zones: list[str]
) -> QuerySet | None:
    due = {}
    for name in zones:
        found = occurrences(rule.schedule, zone(name), start, at)
        if found:
            due[name] = found[-1][1]
    if not due:
        return None
    return audience.filter(timezone__in=list(due)).annotate(
        outreach_key=Case(
            *(When(timezone=name, then=Value(key)) for name, key in due.items()), output_field=CharField()
        )
    )


def _state_keys(rule: OutreachRule, audience: QuerySet, at: dt.datetime, zones: list[str]) -> QuerySet:
    """The state events, each against the customer's local date at `at` (one Case over the zones)."""
    params = rule.event_params or {}
    prefix = f"event:{rule.event}:"

    def local(days: int):  # the customer's local date `days` from today, as SQL
        return per_zone(zones, lambda tz: local_today(tz, at) + dt.timedelta(days=days), DateField())

    if rule.event == OutreachEvent.RENEWAL_IN_DAYS:
        audience = audience.filter(renewal_date=local(params["days"]))
        key = Cast("renewal_date", CharField())
    elif rule.event == OutreachEvent.NO_USAGE_DAYS:
        audience = audience.alias(outreach_last_usage=last_usage_day_subquery()).filter(
            outreach_last_usage__lte=local(-params["days"])
        )
        key = Cast("outreach_last_usage", CharField())
    elif rule.event == OutreachEvent.PLAYBOOK_STEP_OVERDUE:  # the oldest step overdue by more than `days`, once each
        step = overdue_step_subquery(due_before=OuterRef("outreach_due_before"))
        audience = (
            audience.alias(outreach_due_before=local(-(params.get("days") or 0)))
            .alias(outreach_step=step)
            .filter(outreach_step__isnull=False)
        )
        key = Cast("outreach_step", CharField())
    else:  # task overdue: the oldest open task overdue by more than `days`, once per task
        audience = audience.alias(outreach_due_before=local(-params.get("days", 0)))
        tasks = Task.objects.filter(
            customer_id=OuterRef("pk"),
            status=Task.Status.OPEN,
            due_date__lt=OuterRef("outreach_due_before"),
        )
        if params.get("type"):
            tasks = tasks.filter(type=params["type"])
        oldest = Subquery(tasks.order_by("due_date", "pk").values("pk")[:1])
        audience = audience.alias(outreach_task=oldest).filter(outreach_task__isnull=False)
        key = Cast("outreach_task", CharField())
    return audience.annotate(outreach_key=Concat(Value(prefix), key, output_field=CharField()))


def _claim(rule: OutreachRule, audience: QuerySet, at: dt.datetime, *, capped: bool = True) -> dict:
    """Insert the pending records of every audience customer (annotated with `outreach_key`) not in cooldown."""
    if rule.cooldown_days:
        since = at - dt.timedelta(days=rule.cooldown_days)
        audience = audience.filter(~Q(acted_within(rule=rule, since=since)))
    # Customers already claimed for this period (cooldown 0) are not counted against the cap.
    audience = audience.filter(
        ~Exists(
            OutreachRecord.objects.filter(
                rule_id=rule.pk, customer_id=OuterRef("pk"), period_key=OuterRef("outreach_key")
            )
        )
    )
    rows = audience.order_by("pk").values_list("pk", "timezone", "outreach_key")
    over_cap = 0
    if capped and rule.cap_per_run:
        rows = list(rows[: rule.cap_per_run + 1])
        if len(rows) > rule.cap_per_run:
            over_cap = audience.count() - rule.cap_per_run
            rows = rows[: rule.cap_per_run]
    else:
        rows = list(rows)
    records = []
    email_roles = {i: a["role"] for i, a in enumerate(rule.actions) if a["action"] == "email"}
    holidays = holiday_dates(calendar_id=rule.holiday_calendar_id) if rule.quiet_hours and rows else frozenset()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        contacts: dict[int, list[tuple[int, str]]] = {}
        if email_roles:
            for contact_id, customer_id, role in (
                Contact.objects.filter(customer_id__in=[r[0] for r in chunk])
                .order_by("customer_id", "pk")
                .values_list("pk", "customer_id", "role")
            ):
                contacts.setdefault(customer_id, []).append((contact_id, role))
        for customer_id, tz_name, key in chunk:
            due_at = next_business_moment(tz_name, at, holidays) if rule.quiet_hours else at
            for index, action in enumerate(rule.actions):
                base = dict(
                    rule_id=rule.pk,
                    customer_id=customer_id,
                    action_index=index,
                    action_type=action["action"],
                    period_key=key,
                    created_at=at,
                    due_at=due_at,
                    result=OutreachResult.PENDING,
                )
                if index not in email_roles:
                    records.append(OutreachRecord(**base))
                    continue
                role = email_roles[index]
                chosen = [c for c, r in contacts.get(customer_id, ()) if role == "all" or r == role]
                if not chosen:
                    base |= {"result": OutreachResult.SKIPPED, "reason": "no contact of the role", "done_at": at}
                    records.append(OutreachRecord(**base))
                records.extend(OutreachRecord(**base, contact_id=c) for c in chosen)
    OutreachRecord.objects.bulk_create(records, batch_size=CHUNK, ignore_conflicts=True)
    pending = sum(1 for r in records if r.result == OutreachResult.PENDING and r.due_at <= at)
    if pending:
        transaction.on_commit(lambda: publish_perform(pending))
    deferred = sum(1 for r in records if r.result == OutreachResult.PENDING and r.due_at > at)
    if rows:
        logger.info("outreach rule %s claimed %s customer(s), %s record(s)", rule.pk, len(rows), len(records))
    return {"customers": len(rows), "claimed": len(records), "due_now": pending, "deferred": deferred, "cap": over_cap}
