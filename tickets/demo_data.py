"""Demo and scale tickets for `manage.py seed_demo`: the support configuration and realistic tickets.

Configuration (reused by name when it exists, so a second seed does not touch what an admin changed): a
"Business hours (Paris)" calendar (two ranges a day, French public holidays) and a "24/7" calendar, SLA
policies (tight 24/7 targets for enterprise urgent/high tickets, business hours for the rest), two flag rules
and a support team with a lead.

Tickets come two ways:

- the services path (demo sizes, up to SERVICES_MAX_TICKETS): every ticket is opened, answered, noted, put
  on pending or on hold, solved, reopened and closed through `tickets.services` with dated events in order,
  so SLA targets, status logs, timelines and metrics are exactly what real use would have produced. Each
  ticket is imported history (Ticket.imported_at): nothing dated before the seed notifies anyone (no flag to
  a CSM, no reply email, no CSAT, no SLA warning or escalation); targets still ahead stay live for beat.
- the bulk path (scale data for benchmarks, e.g. 1,000,000 tickets): COPY on PostgreSQL (bulk_create
  elsewhere) in batches. Each ticket gets its opening message (and the agent's reply once answered); each
  open ticket gets one running SLA target with due and warning times in the near past or future (so the
  sweep has work) and the denormalised `next_sla_due_at`. It skips the per-ticket status log, timeline
  events, flags and the SLA intervals: durations of answered and solved tickets are drawn, not derived from
  a calendar, so metrics over bulk tickets are plausible but not audited.
"""

import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm.demo_data import _bulk_insert, demo_staff
from crm.models import Contact, Customer, LifecycleStage, Tier
from tickets.configuration import business_calendar_create, sla_policy_create
from tickets.escalation import sla_sweep
from tickets.models import (
    BusinessCalendar,
    Category,
    Channel,
    FlagRule,
    Priority,
    SlaPolicy,
    SlaTarget,
    Status,
    Ticket,
    TicketMessage,
)
from tickets.services import ticket_change_status, ticket_create, ticket_customer_message, ticket_reply

SERVICES_MAX_TICKETS = 2_000  # above this, `path="auto"` takes the bulk path
DEFAULT_TICKETS_PER_CUSTOMER = 2
DEFAULT_MAX_TICKETS = 600  # the services path costs ~30-40 ms a ticket: `make run` (500 customers) stays quick
BULK_OPEN_SHARE = 0.10
AUTO_CLOSE_DAYS = 4  # as settings.TICKETS_AUTO_CLOSE_DAYS: solved tickets older than this are closed

PARIS = "Business hours (Paris)"
ALWAYS = "24/7"
SUPPORT_TEAM = "Support"


def default_ticket_count(customers: int) -> int:
    return min(DEFAULT_TICKETS_PER_CUSTOMER * customers, DEFAULT_MAX_TICKETS)


# --- Configuration --------------------------------------------------------------------------------------
def _easter(year: int) -> dt.date:
    """Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def french_holidays(year: int) -> list[dict]:
    easter = _easter(year)
    days = [
        (dt.date(year, 1, 1), "Jour de l'an"),
        (easter + dt.timedelta(days=1), "Lundi de Pâques"),
        (dt.date(year, 5, 1), "Fête du Travail"),
        (dt.date(year, 5, 8), "Victoire 1945"),
        (easter + dt.timedelta(days=39), "Ascension"),
        (easter + dt.timedelta(days=50), "Lundi de Pentecôte"),
        (dt.date(year, 7, 14), "Fête nationale"),
        (dt.date(year, 8, 15), "Assomption"),
        (dt.date(year, 11, 1), "Toussaint"),
        (dt.date(year, 11, 11), "Armistice"),
        (dt.date(year, 12, 25), "Noël"),
    ]
    return [{"date": day, "name": name} for day, name in sorted(set(days))]


PARIS_HOURS = [
    {"weekday": weekday, "start": dt.time(*start), "end": dt.time(*end)}
    for weekday in range(5)
    for start, end in (((9, 0), (12, 30)), ((13, 30), (18, 0)))
]
# First match by order. Targets in minutes; an 8-hour business day in Paris.
POLICIES = [
    {
        "name": "Enterprise urgent & high (24/7)",
        "order": 10,
        "calendar": ALWAYS,
        "tiers": [Tier.ENTERPRISE],
        "priorities": [Priority.URGENT, Priority.HIGH],
        "first_response_minutes": 30,
        "next_reply_minutes": 60,
        "resolution_minutes": 8 * 60,
        "pause_on_hold": False,
    },
    {
        "name": "Urgent (24/7)",
        "order": 20,
        "calendar": ALWAYS,
        "priorities": [Priority.URGENT],
        "first_response_minutes": 60,
        "next_reply_minutes": 2 * 60,
        "resolution_minutes": 24 * 60,
    },
    {
        "name": "Enterprise (business hours)",
        "order": 30,
        "calendar": PARIS,
        "tiers": [Tier.ENTERPRISE],
        "first_response_minutes": 2 * 60,
        "next_reply_minutes": 4 * 60,
        "resolution_minutes": 2 * 8 * 60,
    },
    {
        "name": "High priority (business hours)",
        "order": 40,
        "calendar": PARIS,
        "priorities": [Priority.HIGH],
        "first_response_minutes": 2 * 60,
        "next_reply_minutes": 4 * 60,
        "resolution_minutes": 3 * 8 * 60,
    },
    {
        "name": "Standard (business hours)",
        "order": 100,
        "calendar": PARIS,
        "first_response_minutes": 4 * 60,
        "next_reply_minutes": 8 * 60,
        "resolution_minutes": 5 * 8 * 60,
    },
]
FLAG_RULES = [
    {
        "name": "Onboarding or at-risk customers",
        "lifecycle_stages": [LifecycleStage.ONBOARDING, LifecycleStage.AT_RISK],
    },
    {"name": "Renewal within 60 days", "renewal_within_days": 60},
]


@dataclass(slots=True)
class SupportSetup:
    calendars: dict[str, BusinessCalendar]
    policies: list[SlaPolicy]  # every active policy, in matching order
    team: object
    agents: list


def support_setup(*, now: dt.datetime) -> SupportSetup:
    """The calendars, policies, flag rules and team, created when missing and left alone when they exist."""
    from accounts.models import Team

    _csms, agents = demo_staff()
    calendars = {}
    for name, data in (
        (
            PARIS,
            {
                "timezone": "Europe/Paris",
                "opening_hours": PARIS_HOURS,
                "holidays": [h for y in range(now.year - 2, now.year + 2) for h in french_holidays(y)],
            },
        ),
        (ALWAYS, {"timezone": "UTC", "always_open": True}),
    ):
        calendar = BusinessCalendar.objects.filter(name=name).first()
        calendars[name] = calendar or business_calendar_create(name=name, **data)
    for spec in POLICIES:
        if not SlaPolicy.objects.filter(name=spec["name"]).exists():
            sla_policy_create(**{**spec, "calendar": calendars[spec["calendar"]]})
    for spec in FLAG_RULES:
        if not FlagRule.objects.filter(name=spec["name"]).exists():
            rule = FlagRule(**spec)
            rule.full_clean()
            rule.save()
    team, _ = Team.objects.get_or_create(name=SUPPORT_TEAM)
    if team.lead_id is None:
        team.lead = agents[0]
        team.save(update_fields=["lead"])
    team.members.add(*agents)
    policies = list(SlaPolicy.objects.filter(is_active=True).select_related("calendar").order_by("order", "id"))
    return SupportSetup(calendars=calendars, policies=policies, team=team, agents=agents)


def policy_matching(policies: list[SlaPolicy], *, tier: str, priority: str, channel: str, category: str):
    """tickets.sla.policy_for over preloaded policies (the bulk path cannot afford a query per ticket)."""
    for policy in policies:
        if (
            (not policy.tiers or tier in policy.tiers)
            and (not policy.priorities or priority in policy.priorities)
            and (not policy.channels or channel in policy.channels)
            and (not policy.categories or category in policy.categories)
        ):
            return policy
    return None


# --- Words ----------------------------------------------------------------------------------------------
# (subject, opening message, tags) per category; {first} is the requester's first name.
TOPICS: dict[str, list[tuple[str, str, list[str]]]] = {
    Category.QUESTION: [
        (
            "How do I export the monthly usage report?",
            "Hi,\n\nOur finance team needs the monthly usage report as a spreadsheet. Is there a way to "
            "export "
            "it, or to schedule it by email on the first of each month?\n\nThanks,\n{first}",
            ["reports", "export"],
        ),
        (
            "Can we add a second admin to our workspace?",
            "Hello,\n\nI'm going on leave next month and would like a colleague to have admin rights while "
            "I'm "
            "away. How do we add a second admin without changing the billing owner?\n\nBest,\n{first}",
            ["permissions"],
        ),
        (
            "Where do I change the default time zone?",
            "Hi team,\n\nAll our dates show in UTC but we work from {city}. Where can I change the default "
            "time "
            "zone for the whole account?\n\n{first}",
            ["settings"],
        ),
        (
            "Is there an API endpoint for bulk contact updates?",
            "Hello,\n\nWe'd like to sync contact roles from our HR system every night. Is there an endpoint "
            "that "
            "takes many contacts at once, and what are the rate limits?\n\nCheers,\n{first}",
            ["api"],
        ),
    ],
    Category.PROBLEM: [
        (
            "Export to CSV fails with error 500",
            "Hello,\n\nWhen I click \u201cExport\u201d on the reports page I get an error 500. It started "
            "this "
            "morning and happens for every report we tried.\n\nThanks,\n{first}",
            ["export", "reports"],
        ),
        (
            "Dashboard takes over a minute to load",
            "Hi,\n\nSince yesterday the main dashboard takes more than a minute to load for everyone on our "
            "team ({n} users). Other pages are fine.\n\n{first}",
            ["performance", "dashboard"],
        ),
        (
            "Notification emails land in spam",
            "Hello,\n\nSeveral of our users say the notification emails from your platform end up in their "
            "spam "
            "folder since last week. Did something change on your side?\n\nRegards,\n{first}",
            ["email", "deliverability"],
        ),
        (
            "SSO login loops back to the sign-in page",
            "Hi,\n\nAfter signing in with Okta, users are sent back to the sign-in page again and again. "
            "This "
            "blocks our whole team of {n} people.\n\n{first}",
            ["sso", "login"],
        ),
    ],
    Category.BUG: [
        (
            "Date filter ignores the end date",
            "Hello,\n\nWhen I filter activities between the 1st and the 15th, I still see activities from "
            "the "
            "20th. Steps: Activities > Filter > Date range.\n\nThanks,\n{first}",
            ["filters"],
        ),
        (
            "Duplicate rows after the nightly import",
            "Hi,\n\nThe nightly import created {n} duplicate accounts last night, all with the same external "
            "id. Could you check what happened?\n\n{first}",
            ["import", "data"],
        ),
        (
            "Mobile app crashes when opening attachments",
            "Hello,\n\nThe iOS app closes as soon as I tap a PDF attachment on a ticket. iPhone 15, latest "
            "app "
            "version.\n\n{first}",
            ["mobile"],
        ),
        (
            "Chart legend shows the wrong colours in dark mode",
            "Hi,\n\nIn dark mode the legend of the adoption chart doesn't match the colours of the lines, "
            "which "
            "confused our execs during a review.\n\n{first}",
            ["ui"],
        ),
    ],
    Category.BILLING: [
        (
            "Invoice shows the wrong number of seats",
            "Hello,\n\nOur latest invoice charges {n} seats but we deactivated several users last month. "
            "Could "
            "you correct it and send a new invoice?\n\nThanks,\n{first}",
            ["invoice"],
        ),
        (
            "Please update our VAT number",
            "Hi,\n\nOur VAT number changed after a reorganisation. Please use the new one on future "
            "invoices; "
            "the certificate is attached.\n\n{first}",
            ["invoice", "vat"],
        ),
        (
            "Charged twice this month",
            "Hello,\n\nOur card was charged twice for this month's subscription. Please refund one of the "
            "charges.\n\nRegards,\n{first}",
            ["payment"],
        ),
        (
            "Switch our billing to annual",
            "Hi,\n\nWe'd like to move from monthly to annual billing at the next renewal. What discount "
            "applies "
            "and what do you need from us?\n\n{first}",
            ["plan"],
        ),
    ],
    Category.FEATURE_REQUEST: [
        (
            "Slack notifications for overdue tasks",
            "Hi,\n\nIt would help a lot if overdue tasks were posted to a Slack channel. Our CSMs live in "
            "Slack "
            "and miss the emails.\n\n{first}",
            ["integrations", "slack"],
        ),
        (
            "Bulk edit for contacts",
            "Hello,\n\nWe often need to change the role of {n} contacts at once. A bulk edit would save us "
            "hours "
            "every quarter.\n\nThanks,\n{first}",
            ["contacts"],
        ),
        (
            "Export dashboards as PDF",
            "Hi,\n\nOur leadership wants the dashboard as a PDF in the monthly board pack. Is that on the "
            "roadmap?\n\n{first}",
            ["dashboard", "export"],
        ),
    ],
    Category.ACCOUNT: [
        (
            "Please remove a user who left the company",
            "Hello,\n\n{other} left the company on Friday. Please deactivate their account and move their "
            "open "
            "items to me.\n\nThanks,\n{first}",
            ["users"],
        ),
        (
            "Reset two-factor for a user who lost their phone",
            "Hi,\n\n{other} lost their phone and cannot sign in anymore. Could you reset their two-factor "
            "authentication?\n\n{first}",
            ["2fa", "login"],
        ),
        (
            "Add our new email domain for SSO",
            "Hello,\n\nWe acquired another company and need their domain to sign in with our SSO too. What "
            "are "
            "the steps?\n\n{first}",
            ["sso"],
        ),
    ],
    Category.OTHER: [
        (
            "Security questionnaire from our procurement team",
            "Hi,\n\nOur procurement team needs the attached security questionnaire completed before the "
            "renewal. Who can help with it?\n\n{first}",
            ["security"],
        ),
        (
            "Request for a copy of the DPA",
            "Hello,\n\nCould you send us the signed data processing agreement for our records?\n\n{first}",
            ["legal"],
        ),
        (
            "Feedback on the new navigation",
            "Hi,\n\nJust some feedback: the new navigation is much clearer, but the search box moved and our "
            "users keep looking for it.\n\n{first}",
            ["feedback"],
        ),
    ],
}
CITIES = ["Paris", "Berlin", "London", "Toronto", "Singapore", "Sydney", "New York", "Madrid", "Tokyo"]
FIRST_REPLIES = [
    "Hi {first},\n\nThanks for reaching out. I'm looking into this now and will get back to you shortly.\n\n{agent}",
    "Hello {first},\n\nThanks for the details. Could you send us a screenshot and the time it happened (with "
    "your time zone)?\n\n{agent}",
    "Hi {first},\n\nI've reproduced this on our side and passed it to the team. I'll update you as soon as I "
    "know more.\n\n{agent}",
    "Hello {first},\n\nGood question! Here is how to do it: Settings > Workspace, then the section you "
    "mentioned. Let me know if anything is unclear.\n\n{agent}",
]
FOLLOW_UPS = [
    "Hi {first},\n\nWe found the cause and a fix is rolling out today. Could you try again in an hour?\n\n{agent}",
    "Hi {first},\n\nThis is done on our side. Please check and let us know if everything looks right.\n\n{agent}",
    "Hello {first},\n\nThanks for your patience. The corrected version is now available in your account.\n\n{agent}",
]
PENDING_ASKS = [
    "Hi {first},\n\nTo go further we need the export file that fails (or its name and date). Could you send "
    "it?"
    "\n\n{agent}",
    "Hello {first},\n\nCould you confirm which users are affected and whether it happens in another browser?"
    "\n\n{agent}",
]
CUSTOMER_REPLIES = [
    "Here is the screenshot you asked for. It happened around 10:15 our time.",
    "Thanks! It happened again this morning, same error.",
    "Still not working on our side, unfortunately.",
    "The affected users are on Chrome and Edge; Safari seems fine.",
]
CUSTOMER_THANKS = ["Thanks, that worked!", "All good now, thank you.", "Confirmed, it's fixed. Thanks a lot."]
CUSTOMER_REOPENS = [
    "Sorry, the problem is back since this morning.",
    "It worked for a day but the same error came back.",
]
INTERNAL_NOTES = [
    "Reproduced on staging; filed ENG-{n} for engineering.",
    "Known issue, linked to this week's incident. Waiting on the fix.",
    "Customer is sensitive right now (renewal coming up): keep the CSM in the loop.",
    "Checked the logs: the requests time out on the reporting database.",
]
ON_HOLD_NOTES = [
    "Waiting on engineering (ENG-{n}) before we can answer.",
    "On hold until the vendor fix ships.",
]

CHANNEL_WEIGHTS = [
    (Channel.EMAIL, 45),
    (Channel.WEB, 25),
    (Channel.CHAT, 12),
    (Channel.PHONE, 8),
    (Channel.API, 5),
    (Channel.SOCIAL, 5),
]
PRIORITY_WEIGHTS = [(Priority.LOW, 15), (Priority.NORMAL, 55), (Priority.HIGH, 22), (Priority.URGENT, 8)]
ROUGH_PRIORITY_WEIGHTS = [(Priority.LOW, 5), (Priority.NORMAL, 35), (Priority.HIGH, 35), (Priority.URGENT, 25)]
ROUGH_SLOWDOWN = 30
CATEGORY_WEIGHTS = [
    (Category.QUESTION, 30),
    (Category.PROBLEM, 25),
    (Category.BUG, 15),
    (Category.BILLING, 10),
    (Category.FEATURE_REQUEST, 8),
    (Category.ACCOUNT, 8),
    (Category.OTHER, 4),
]
# Final status of a demo ticket (services path): most of the history is closed, a live queue on top.
STATUS_WEIGHTS = [
    (Status.NEW, 8),
    (Status.OPEN, 15),
    (Status.PENDING, 7),
    (Status.ON_HOLD, 3),
    (Status.SOLVED, 10),
    (Status.CLOSED, 57),
]
TIER_TICKET_WEIGHT = {Tier.ENTERPRISE: 5.0, Tier.MID_MARKET: 2.5, Tier.SMB: 1.0}
STAGE_TICKET_WEIGHT = {
    LifecycleStage.ONBOARDING: 1.5,
    LifecycleStage.AT_RISK: 1.8,
    # Accounts that churned had a rough last few months (their tickets fall before the renewal they missed).
    LifecycleStage.CHURNED: 1.8,
}
# Agents answer faster for higher priorities (mean minutes to the first reply, wall time).
FIRST_REPLY_MEAN_MINUTES = {Priority.URGENT: 25, Priority.HIGH: 70, Priority.NORMAL: 200, Priority.LOW: 480}


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


# --- Seeding --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class TicketSeedResult:
    path: str = ""
    tickets: int = 0
    messages: int = 0
    sla_targets: int = 0
    statuses: Counter = dataclass_field(default_factory=Counter)
    warned: int = 0
    escalated: int = 0
    seconds: float = 0.0


def demo_tickets_seed(
    *,
    tickets: int,
    seed: int,
    now: dt.datetime | None = None,
    customers=None,
    path: str = "auto",
    open_tickets: int | None = None,
    batch_size: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> TicketSeedResult:
    """Seed the support configuration and `tickets` tickets over `customers` (a Customer queryset; default
    every customer that has contacts).

    path: "services" (every event through tickets.services; at most SERVICES_MAX_TICKETS), "bulk" (COPY /
    bulk_create; `open_tickets` of them unsolved, default 10%), or "auto" (services up to
    SERVICES_MAX_TICKETS, bulk above). `progress(done, total)` is called after each bulk batch.
    """
    if path not in ("auto", "services", "bulk"):
        raise ValueError(f"Unknown path {path!r}.")
    if path == "auto":
        path = "services" if tickets <= SERVICES_MAX_TICKETS else "bulk"
    if path == "services" and tickets > SERVICES_MAX_TICKETS:
        raise ValueError(f"The services path seeds at most {SERVICES_MAX_TICKETS:,} tickets; use the bulk path.")
    started = time.perf_counter()
    now = now or timezone.now()
    rng = random.Random(f"tickets:{seed}")
    customers = Customer.objects.all() if customers is None else customers
    result = TicketSeedResult(path=path)
    with transaction.atomic():
        setup = support_setup(now=now)
        if path == "services":
            with _policies_cached(setup.policies):
                _seed_services(setup, customers, tickets, rng, now, result)
        else:
            opened = round(tickets * BULK_OPEN_SHARE) if open_tickets is None else min(open_tickets, tickets)
            _seed_bulk(setup, customers, tickets, opened, rng, now, batch_size, result, progress)
    if path == "services" and result.tickets:
        # What beat's every-minute sweep would do first: warn and escalate the demo queue's overdue targets.
        swept = sla_sweep(now=now)
        result.warned, result.escalated = swept["warned"], swept["breached"]
    if connection.vendor == "postgresql" and result.tickets:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE tickets_ticket, tickets_ticketmessage, tickets_slatarget")
    result.seconds = time.perf_counter() - started
    return result


def _customer_weight(tier: str, stage: str) -> float:
    return TIER_TICKET_WEIGHT.get(tier, 1.0) * STAGE_TICKET_WEIGHT.get(stage, 1.0)


# --- Services path ----------------------------------------------------------------------------------------
class _Clock:
    """Event times of one ticket, strictly increasing; `None` once they would pass `now`."""

    def __init__(self, rng: random.Random, start: dt.datetime, now: dt.datetime):
        self.rng, self.at, self.now = rng, start, now

    def after(self, mean_minutes: float, *, working_hours: bool = False) -> dt.datetime | None:
        at = self.at + dt.timedelta(minutes=max(1.0, self.rng.expovariate(1 / mean_minutes)))
        if working_hours and self.rng.random() < 0.85:
            at = _into_working_hours(self.rng, at)
        if at >= self.now:
            return None
        self.at = at
        return at


def _into_working_hours(rng: random.Random, at: dt.datetime) -> dt.datetime:
    """Agents mostly work Monday to Friday 08:00-19:00 (UTC is close enough for a demo)."""
    if at.weekday() < 5 and 8 <= at.hour < 19:
        return at
    day = at.date() + dt.timedelta(days=1 if at.hour >= 19 else 0)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC)
    return max(at, start + dt.timedelta(minutes=rng.randint(0, 120)))


def _created_at(rng: random.Random, status: str, now: dt.datetime, not_before: dt.datetime) -> dt.datetime:
    hours = {
        Status.NEW: rng.uniform(0.1, 6),
        # Most of the queue within its targets, some of it overdue (what escalation is for).
        Status.OPEN: rng.uniform(0.5, 30) if rng.random() < 0.75 else rng.uniform(48, 7 * 24),
        Status.PENDING: rng.uniform(6, 10 * 24),
        Status.ON_HOLD: rng.uniform(24, 14 * 24),
        Status.SOLVED: rng.uniform(30, 6 * 24),
    }.get(status)
    if hours is None:  # closed: most of them in the last quarter, some older
        hours = min(24 * 180, 24 * 6 + rng.expovariate(1 / (24 * 40)))
    created = now - dt.timedelta(hours=hours)
    if created < not_before:
        created = not_before + (now - not_before) * rng.uniform(0.0, 0.3)
    return created.replace(microsecond=0)


def _before_churn(rng: random.Random, customer: Customer, now: dt.datetime) -> dt.datetime | None:
    """A churned account's ticket: in the four months before the renewal it did not take (None when that date is
    not in the past or the customer did not exist then)."""
    if customer.renewal_date is None:
        return None
    end = dt.datetime.combine(customer.renewal_date, dt.time(12), tzinfo=dt.UTC)
    created = end - dt.timedelta(days=rng.uniform(5, 120), hours=rng.uniform(0, 8))
    if end >= now or created < customer.created_at:
        return None
    return created.replace(microsecond=0)


@contextmanager
def _policies_cached(policies: list[SlaPolicy]):
    """While the seed runs (one transaction that also wrote the configuration, so nothing can change it), the
    SLA clock reads each policy's calendar once instead of three queries per service call: same arithmetic,
    same results, about a third less time per ticket."""
    from tickets import sla

    original = sla._ticket_context
    contexts: dict[int, tuple] = {}
    by_pk = {policy.pk: policy for policy in policies}

    def cached(ticket: Ticket):
        policy_id = ticket.sla_policy_id
        if policy_id is None or policy_id not in by_pk:
            return original(ticket)
        if policy_id not in contexts:
            contexts[policy_id] = original(ticket)
        return contexts[policy_id]

    sla._ticket_context = cached
    try:
        yield
    finally:
        sla._ticket_context = original


def _seed_services(setup: SupportSetup, customers, count: int, rng, now, result: TicketSeedResult) -> None:
    pool = list(
        customers.filter(Exists(Contact.objects.filter(customer=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", "tier", "lifecycle_stage")
    )
    if not pool or not count:
        return
    weights = [_customer_weight(tier, stage) for _pk, tier, stage in pool]
    chosen = [pk for pk, _tier, _stage in rng.choices(pool, weights=weights, k=count)]
    by_pk = Customer.objects.select_related("owner").in_bulk(set(chosen))
    contacts: dict[int, list[Contact]] = {}
    for contact in Contact.objects.filter(customer__in=set(chosen)).order_by("customer_id", "-is_primary", "pk"):
        contacts.setdefault(contact.customer_id, []).append(contact)
    plans = []
    for pk in chosen:
        customer = by_pk[pk]
        status = _weighted(rng, STATUS_WEIGHTS)
        created_at = None
        if customer.lifecycle_stage == LifecycleStage.CHURNED:
            status = Status.CLOSED
            created_at = _before_churn(rng, customer, now)
        requester = rng.choice(contacts[pk][:3])
        rough = created_at is not None  # the months before a churn: slower, more urgent, more back and forth
        created_at = created_at or _created_at(rng, status, now, customer.created_at)
        plans.append((created_at, customer, requester, status, rough))
    ids = []
    # Opened in time order, so ticket numbers grow with time as in a real desk.
    for created, customer, requester, status, rough in sorted(plans, key=lambda plan: (plan[0], plan[1].pk)):
        ticket = _one_ticket(rng, setup, customer, requester, status, created, now, rough=rough)
        ids.append(ticket.pk)
        result.statuses[str(ticket.status)] += 1
    result.tickets = len(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        result.messages += TicketMessage.objects.filter(ticket_id__in=chunk).count()
        result.sla_targets += SlaTarget.objects.filter(ticket_id__in=chunk).count()


def _one_ticket(
    rng, setup, customer, requester, status: str, created: dt.datetime, now, *, rough: bool = False
) -> Ticket:
    """One ticket through the services. `rough`: an account heading for churn: a harsher mix of priorities and
    every wait ROUGH_SLOWDOWN times longer (SLA breaches, tickets still open weeks later)."""
    category = _weighted(rng, CATEGORY_WEIGHTS)
    subject, body, tags = rng.choice(TOPICS[category])
    priority = _weighted(rng, ROUGH_PRIORITY_WEIGHTS if rough else PRIORITY_WEIGHTS)
    slow = ROUGH_SLOWDOWN if rough else 1
    channel = _weighted(rng, CHANNEL_WEIGHTS)
    words = {
        "first": requester.first_name or requester.email.split("@")[0],
        "n": rng.randint(3, 60),
        "city": rng.choice(CITIES),
        "other": rng.choice(["Sam", "Alex", "Robin", "Charlie", "Kim", "Jo"]),
    }
    agent = rng.choice(setup.agents)
    assigned = agent if (status != Status.NEW and rng.random() < 0.95) or rng.random() < 0.4 else None
    ticket = ticket_create(
        customer=customer,
        requester=requester,
        subject=subject,
        body=body.format(**words),
        channel=channel,
        priority=priority,
        category=category,
        tags=tags + (["vip"] if customer.tier == Tier.ENTERPRISE and rng.random() < 0.3 else []),
        assignee=assigned,
        team=setup.team,
        created_at=created,
        # History, as an import of a real desk's past would be: dated, measured, notifying nobody (no flag to the
        # CSM at opening, no reply email, no CSAT for a dated solve, no SLA warning for a target already due).
        imported=True,
    )
    if status == Status.NEW:
        return ticket
    agent = assigned or agent
    clock = _Clock(rng, created, now)
    reply_channel = channel if channel in (Channel.EMAIL, Channel.CHAT, Channel.PHONE, Channel.SOCIAL) else Channel.WEB
    sign = {"first": words["first"], "agent": (agent.full_name or "Support").split(" ")[0]}

    def reply(text: str, mean: float, public: bool = True) -> bool:
        at = clock.after(mean * slow, working_hours=True)
        if at is None:
            return False
        ticket_reply(
            ticket=ticket,
            body=text.format(n=rng.randint(1000, 9999), **sign),
            public=public,
            actor=agent,
            channel=reply_channel if public else Channel.WEB,
            at=at,
            send_email=False,
        )
        return True

    def customer_says(text: str, mean: float) -> bool:
        at = clock.after(mean * slow)
        if at is None:
            return False
        ticket_customer_message(ticket=ticket, contact=requester, body=text, channel=channel, at=at)
        return True

    def move(new_status: str, mean: float, reason: str = "") -> bool:
        at = clock.after(mean * slow, working_hours=new_status != Status.CLOSED)
        if at is None:
            return False
        ticket_change_status(ticket=ticket, status=new_status, actor=agent, at=at, reason=reason)
        return True

    if not reply(rng.choice(FIRST_REPLIES), FIRST_REPLY_MEAN_MINUTES[priority]):
        return _reload(ticket)
    if status == Status.OPEN:
        if rng.random() < 0.5:
            customer_says(rng.choice(CUSTOMER_REPLIES), 240)
        return _reload(ticket)
    if status == Status.PENDING:
        reply(rng.choice(PENDING_ASKS), 120)
        move(Status.PENDING, 5)
        return _reload(ticket)
    if status == Status.ON_HOLD:
        reply(rng.choice(ON_HOLD_NOTES), 60, public=False)
        move(Status.ON_HOLD, 5)
        return _reload(ticket)
    # Solved or closed: about half answered in one reply, the rest after a short conversation.
    shape = rng.random()
    if shape < 0.15 and not reply(rng.choice(INTERNAL_NOTES), 60, public=False):
        return _reload(ticket)
    if 0.5 <= shape < 0.75:  # the agent needs something from the customer: pending until they answer
        steps = [
            lambda: reply(rng.choice(PENDING_ASKS), 90),
            lambda: move(Status.PENDING, 5),
            lambda: customer_says(rng.choice(CUSTOMER_REPLIES), 6 * 60),  # back to open
            lambda: reply(rng.choice(FOLLOW_UPS), 4 * 60),
        ]
    elif shape >= 0.75:  # the customer adds details, the agent fixes it
        steps = [
            lambda: customer_says(rng.choice(CUSTOMER_REPLIES), 4 * 60),
            lambda: reply(rng.choice(FOLLOW_UPS), 8 * 60),
        ]
    else:
        steps = []
    if not all(step() for step in steps) or not move(Status.SOLVED, 60, "resolved"):
        return _reload(ticket)
    after = rng.random()
    if after < 0.07:
        # A thank-you on a solved ticket reopens it (as in every desk); the agent solves it again.
        if customer_says(rng.choice(CUSTOMER_THANKS), 120) and reply("You're welcome, {first}!\n\n{agent}", 60):
            move(Status.SOLVED, 10, "confirmed by the customer")
    elif after < 0.13 and customer_says(rng.choice(CUSTOMER_REOPENS), 24 * 60):
        if reply(rng.choice(FOLLOW_UPS), 4 * 60):
            move(Status.SOLVED, 60, "fixed again")
    ticket = _reload(ticket)
    if status == Status.CLOSED and ticket.status == Status.SOLVED:
        closed_at = ticket.solved_at + dt.timedelta(days=AUTO_CLOSE_DAYS, minutes=rng.randint(1, 59))
        if closed_at < now:
            ticket = ticket_change_status(
                ticket=ticket, status=Status.CLOSED, at=closed_at, reason="closed automatically"
            )
    return ticket


def _reload(ticket: Ticket) -> Ticket:
    return Ticket.objects.get(pk=ticket.pk)


# --- Bulk path --------------------------------------------------------------------------------------------
def _seed_bulk(setup, customers, count, opened, rng, now, batch_size, result, progress) -> None:
    pool = list(customers.order_by("pk").values_list("pk", "tier", "lifecycle_stage", "created_at"))
    by_customer: dict[int, list[tuple[int, str]]] = {}
    for customer_id, contact_id, first_name in (
        Contact.objects.filter(customer__in=customers)
        .order_by("customer_id", "-is_primary", "pk")
        .values_list("customer_id", "pk", "first_name")
    ):
        by_customer.setdefault(customer_id, []).append((contact_id, first_name))
    pool = [c for c in pool if c[0] in by_customer]
    if not pool or not count:
        return
    weights = [_customer_weight(tier, stage) for _pk, tier, stage, _created in pool]
    live_pool = [c for c in pool if c[2] != LifecycleStage.CHURNED] or pool
    live_weights = [_customer_weight(tier, stage) for _pk, tier, stage, _created in live_pool]
    agents = {a.pk: (a.full_name or "Support").split(" ")[0] for a in setup.agents}
    agent_ids = list(agents)
    done = 0
    while done < count:
        size = min(batch_size, count - done)
        # The unsolved queue first, then the solved and closed history.
        n_open = max(0, min(size, opened - done))
        specs = rng.choices(live_pool, weights=live_weights, k=n_open) + rng.choices(
            pool, weights=weights, k=size - n_open
        )
        rows, messages, targets = [], [], []
        for i, (customer_id, tier, _stage, customer_created) in enumerate(specs):
            category = _weighted(rng, CATEGORY_WEIGHTS)
            subject, body, tags = rng.choice(TOPICS[category])
            priority = _weighted(rng, PRIORITY_WEIGHTS)
            channel = _weighted(rng, CHANNEL_WEIGHTS)
            policy = policy_matching(setup.policies, tier=tier, priority=priority, channel=channel, category=category)
            requester_id, first_name = rng.choice(by_customer[customer_id][:3])
            ticket = Ticket(
                customer_id=customer_id,
                requester_id=requester_id,
                subject=subject,
                channel=channel,
                priority=priority,
                category=category,
                tags=tags,
                team_id=setup.team.pk,
                sla_policy_id=policy.pk if policy else None,
            )
            if i < n_open:
                _bulk_open(rng, ticket, policy, agent_ids, now, customer_created, targets)
            else:
                always_open = policy is not None and policy.calendar.always_open
                _bulk_history(rng, ticket, agent_ids, now, customer_created, always_open)
            rows.append(ticket)
            words = {
                "first": first_name or "",
                "n": rng.randint(3, 60),
                "city": rng.choice(CITIES),
                "other": "Sam",
            }
            messages.append(
                TicketMessage(
                    ticket=ticket,
                    author_contact_id=requester_id,
                    channel=channel,
                    body_text=body.format(**words),
                    created_at=ticket.created_at,
                )
            )
            if ticket.first_response_at is not None:
                reply = rng.choice(FIRST_REPLIES).format(first=words["first"], agent=agents[ticket.assignee_id])
                messages.append(
                    TicketMessage(
                        ticket=ticket,
                        author_user_id=ticket.assignee_id,
                        channel=channel if channel != Channel.API else Channel.WEB,
                        body_text=reply,
                        created_at=ticket.first_response_at,
                    )
                )
        _bulk_insert(Ticket, rows, batch_size)
        for row in (*messages, *targets):
            row.ticket_id = row.ticket.pk
        _bulk_insert(TicketMessage, messages, batch_size)
        _bulk_insert(SlaTarget, targets, batch_size)
        for ticket in rows:
            result.statuses[str(ticket.status)] += 1
        result.tickets += len(rows)
        result.messages += len(messages)
        result.sla_targets += len(targets)
        done += size
        if progress is not None:
            progress(done, count)


def _bulk_open(rng, ticket: Ticket, policy, agent_ids, now, not_before, targets: list) -> None:
    """An unsolved ticket of the live queue with one running target due in the near past or future."""
    answered = rng.random() < 0.65
    ticket.status = Status.OPEN if answered else Status.NEW
    age = dt.timedelta(hours=rng.uniform(0.5, 14 * 24) if answered else rng.uniform(0.1, 48))
    if now - age < not_before < now:  # not before the customer existed
        age = (now - not_before) * rng.uniform(0.2, 0.9)
    ticket.created_at = (now - age).replace(microsecond=0)
    ticket.assignee_id = rng.choice(agent_ids) if answered or rng.random() < 0.4 else None
    metric = SlaTarget.Metric.RESOLUTION if answered else SlaTarget.Metric.FIRST_RESPONSE
    if answered:
        ticket.assignee_id = ticket.assignee_id or rng.choice(agent_ids)
        ticket.first_response_at = ticket.created_at + min(age / 2, dt.timedelta(minutes=rng.uniform(5, 240)))
        ticket.public_staff_replies = 1
    minutes = getattr(policy, f"{metric}_minutes", None) if policy else None
    target_seconds = (minutes or 8 * 60) * 60
    due_at = now + dt.timedelta(minutes=rng.uniform(-120, 480))
    due_at = max(due_at, ticket.created_at + dt.timedelta(minutes=5))
    remaining = int((due_at - now).total_seconds())
    elapsed = min(target_seconds, max(0, target_seconds - remaining))
    warn_percent = policy.warn_at_percent if policy else 80
    warn_at = due_at - dt.timedelta(seconds=target_seconds * (100 - warn_percent) // 100)
    ticket.next_sla_due_at = due_at
    targets.append(
        SlaTarget(
            ticket=ticket,
            metric=metric,
            target_seconds=target_seconds,
            started_at=ticket.created_at,
            state=SlaTarget.State.RUNNING,
            elapsed_seconds=elapsed,
            counted_until=now,
            segments=[
                {
                    "from": ticket.created_at.isoformat(),
                    "to": now.isoformat(),
                    "counted": True,
                    "reason": "bulk-seeded demo data (not derived from events)",
                    "seconds": elapsed,
                }
            ],
            due_at=due_at,
            warn_at=max(warn_at, ticket.created_at),
            breached=elapsed > target_seconds,
        )
    )


def _bulk_history(rng, ticket: Ticket, agent_ids, now, not_before, always_open: bool) -> None:
    """A solved or closed ticket of the last two years, with drawn (plausible, not audited) durations."""
    solved_recently = rng.random() < 0.01
    if solved_recently:
        days = rng.uniform(1, AUTO_CLOSE_DAYS)
    else:
        days = AUTO_CLOSE_DAYS + 2 + min(720.0, rng.expovariate(1 / 150))
    created = now - dt.timedelta(days=days)
    if created < not_before:  # not before the customer existed
        created = not_before + (now - not_before) * rng.uniform(0.0, 0.5)
    ticket.created_at = created.replace(microsecond=0)
    ticket.assignee_id = rng.choice(agent_ids)
    # Business seconds: first response about an hour (median), resolution about a business day, long tails.
    first_response = int(rng.lognormvariate(8.2, 1.0))
    resolution = first_response + int(rng.lognormvariate(10.3, 1.0))
    stretch = 1.0 if always_open else 3.0  # wall seconds per business second outside the 24/7 desks
    ticket.first_response_seconds, ticket.resolution_seconds = first_response, resolution
    ticket.first_response_at = ticket.created_at + dt.timedelta(seconds=first_response * stretch)
    ticket.solved_at = ticket.created_at + dt.timedelta(seconds=resolution * stretch)
    if ticket.solved_at >= now:
        ticket.solved_at = max(ticket.created_at, now - dt.timedelta(minutes=rng.randint(1, 600)))
        ticket.first_response_at = min(ticket.first_response_at, ticket.solved_at)
    ticket.public_staff_replies = 1 if rng.random() < 0.55 else rng.randint(2, 4)
    ticket.reopen_count = 1 if rng.random() < 0.05 else 0
    closed_at = ticket.solved_at + dt.timedelta(days=AUTO_CLOSE_DAYS, minutes=rng.randint(1, 59))
    if closed_at < now:
        ticket.status, ticket.closed_at = Status.CLOSED, closed_at
    else:
        ticket.status = Status.SOLVED
