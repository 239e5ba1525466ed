"""What health scores measure: one dict of measures per customer at an instant (`gather_measures`), read from
the tickets, surveys, usage and timeline selectors. `success.health.scoring.score_customer` turns it into a
score; the measures are its only input, so a score can be recomputed for any past instant.

Point in time: every measure counts only what existed or happened before `at`, so the validation backtest and
backfills see the past as it was (within what the data keeps: a customer's renewal date and contract start are
today's values, a survey answer changed later shows its latest score, a ticket reopened after `at` counts as
open at `at`).

Set-based: a fixed number of statements per call (one per measure group, over `customer_id IN (...)`), whatever
the number of customers; callers pass chunks of ids (health_recompute uses 2,000).

The measures (the contract with scoring):
- open_tickets, urgent_open_tickets: tickets created by `at` and neither solved nor closed by then, merged
  tickets excluded (tickets.selectors.open_ticket_counts); urgent = priority urgent.
- sla_breaches_30d, sla_breaches_90d: SLA targets flagged breached whose due time fell in [at - 30/90 days, at).
- nps_latest, nps_latest_at: the latest NPS answer (0-10) of any contact before `at`, and when (ISO); None if none.
- csat_90d_mean, csat_90d_count, ces_90d_mean, ces_90d_count: mean and number of answers in [at - 90 days, at);
  the mean is None when there is no answer.
- usage (UTC daily rollups): the last day counted is the UTC day holding `at` (the day before when `at` is
  exactly midnight, so a backfill at midnight sees exactly the days before it). usage_ever: any rollup on or
  before that day. events_30d, user_days_30d (active users summed over the days), days_active_30d: the 30 days
  ending with it; events_prev_30d, user_days_prev_30d: the 30 days before those. key_events_30d: {name: events
  in the 30 days} for each name asked (0 when none).
- last_touch_on, last_touch_kind: the UTC day and kind of the latest timeline event of TOUCH_KINDS before `at`
  (None when there was none).
- customer_since: the contract start, else the day the customer was created (UTC); renewal_date: the
  customer's renewal date (None without one).
Every customer id asked is in the result; an id with no customer row (deleted meanwhile) gets the empty
measures with customer_since None.
"""

import datetime as dt

from crm.selectors import customers_with_last_event
from success.usage.selectors import usage_customers_ever, usage_events_by_name, usage_windows_by_customer
from surveys.models import Kind
from surveys.selectors import answer_means_by_customer, latest_answer_by_customer
from tickets.selectors import open_ticket_counts, sla_breach_counts

# Timeline events that count as the CSM (or the team) being in touch with the customer.
TOUCH_KINDS = frozenset({"note.added", "task.done", "qbr.held", "ticket.customer_replied", "email.replied"})

WINDOW_DAYS = 30
SURVEY_DAYS = 90
BREACH_DAYS = (30, 90)


def usage_last_day(at: dt.datetime) -> dt.date:
    """The last UTC day whose usage counts at `at`: the day holding `at`, or the day before at exactly midnight."""
    at = at.astimezone(dt.UTC)
    day = at.date()
    return day - dt.timedelta(days=1) if at == dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) else day


def empty_measures() -> dict:
    return {
        "open_tickets": 0,
        "urgent_open_tickets": 0,
        "sla_breaches_30d": 0,
        "sla_breaches_90d": 0,
        "nps_latest": None,
        "nps_latest_at": None,
        "csat_90d_mean": None,
        "csat_90d_count": 0,
        "ces_90d_mean": None,
        "ces_90d_count": 0,
        "usage_ever": False,
        "events_30d": 0,
        "events_prev_30d": 0,
        "user_days_30d": 0,
        "user_days_prev_30d": 0,
        "days_active_30d": 0,
        "key_events_30d": {},
        "last_touch_on": None,
        "last_touch_kind": None,
        "customer_since": None,
        "renewal_date": None,
    }


def gather_measures(
    *, at: dt.datetime, customer_ids: list[int], key_event_names: set[str] = frozenset()
) -> dict[int, dict]:
    """{customer id: measures} at `at` (an aware datetime) for every id given; see the module docstring for
    each measure. Seven statements per call (eight with key event names), whatever the number of customers."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    ids = sorted(set(customer_ids))
    names = sorted(key_event_names)
    result = {customer_id: {**empty_measures(), "key_events_30d": dict.fromkeys(names, 0)} for customer_id in ids}
    if not ids:
        return result

    for row in customers_with_last_event(customer_ids=ids, kinds=TOUCH_KINDS, before=at):
        m = result[row["id"]]
        m["customer_since"] = row["contract_start"] or row["created_at"].astimezone(dt.UTC).date()
        m["renewal_date"] = row["renewal_date"]
        if row["last_event_at"] is not None:
            m["last_touch_on"] = row["last_event_at"].astimezone(dt.UTC).date()
            m["last_touch_kind"] = row["last_event_kind"]

    for customer_id, (open_, urgent) in open_ticket_counts(customer_ids=ids, at=at).items():
        result[customer_id].update(open_tickets=open_, urgent_open_tickets=urgent)
    for customer_id, counts in sla_breach_counts(customer_ids=ids, at=at, days=BREACH_DAYS).items():
        result[customer_id].update(sla_breaches_30d=counts[30], sla_breaches_90d=counts[90])

    for customer_id, (score, answered_at) in latest_answer_by_customer(
        customer_ids=ids, kind=Kind.NPS, before=at
    ).items():
        result[customer_id].update(nps_latest=score, nps_latest_at=answered_at.astimezone(dt.UTC).isoformat())
    means = answer_means_by_customer(
        customer_ids=ids, kinds=(Kind.CSAT, Kind.CES), start=at - dt.timedelta(days=SURVEY_DAYS), end=at
    )
    for (customer_id, kind), (mean, count) in means.items():
        result[customer_id].update({f"{kind}_90d_mean": mean, f"{kind}_90d_count": count})

    last_day = usage_last_day(at)
    for customer_id in usage_customers_ever(customer_ids=ids, last_day=last_day):
        result[customer_id]["usage_ever"] = True
    for customer_id, usage in usage_windows_by_customer(customer_ids=ids, last_day=last_day, days=WINDOW_DAYS).items():
        result[customer_id].update(
            events_30d=usage["events"],
            events_prev_30d=usage["events_prev"],
            user_days_30d=usage["user_days"],
            user_days_prev_30d=usage["user_days_prev"],
            days_active_30d=usage["days_active"],
        )
    if names:
        rows = usage_events_by_name(
            start=last_day - dt.timedelta(days=WINDOW_DAYS - 1),
            end=last_day + dt.timedelta(days=1),
            names=names,
            customer_ids=ids,
        ).values_list("customer_id", "name", "events")
        for customer_id, name, events in rows:
            result[customer_id]["key_events_30d"][name] = events or 0
    return result
