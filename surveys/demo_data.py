"""Demo surveys for `manage.py seed_demo`: the three kinds configured as a team would, and a year of history
recorded through the survey services, so results, trends, the ledger and closed loops have something to show.

- "Relationship NPS": recurring every 6 months (beat schedules the contacts not asked in this cycle).
- "Support CSAT": after solved tickets (24 hours later, not if reopened).
- "Onboarding CES": a campaign to the contacts of customers in onboarding.

History goes through the same services a live send does (invitation_create, invitation_dispatch with
send_email=False, survey_answer, loop_close) in time order, each at its own past moment: the contact ledger
throttles as it would have ("NPS survey sent 12 days ago"), answers land on the timeline at their time, and
unhappy answers make follow-up tasks (those older than two weeks are done). No email row is written for history;
what is scheduled after now is left to the worker.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from crm.models import Contact, Customer, LifecycleStage, Task, TimelineEvent
from crm.timeline import timeline_record
from surveys.loop import add_business_days, loop_close
from surveys.models import Invitation, Kind, Survey, band
from surveys.scheduling import period_key
from surveys.services import invitation_create, invitation_dispatch, survey_answer
from surveys.triggers import invite_after_ticket_solved

NPS_NAME, CSAT_NAME, CES_NAME = "Relationship NPS", "Support CSAT", "Onboarding CES"
DEFAULT_MAX_INVITATIONS = 3_000

# Score weights by lifecycle stage: healthy accounts answer higher, accounts at risk lower.
NPS_WEIGHTS = {
    "happy": [1, 0, 1, 1, 2, 3, 4, 10, 18, 26, 34],
    "new": [1, 1, 1, 2, 3, 5, 8, 14, 20, 24, 21],
    "unhappy": [6, 6, 9, 11, 12, 13, 12, 11, 9, 6, 5],
}
CSAT_WEIGHTS = {"happy": [3, 4, 8, 30, 55], "new": [5, 6, 12, 32, 45], "unhappy": [14, 16, 22, 28, 20]}
CES_WEIGHTS = {
    "happy": [1, 2, 4, 8, 20, 35, 30],
    "new": [4, 7, 10, 15, 24, 24, 16],
    "unhappy": [12, 14, 18, 18, 16, 12, 10],
}
MOOD = {
    LifecycleStage.MATURE: "happy",
    LifecycleStage.ADOPTING: "happy",
    LifecycleStage.ONBOARDING: "new",
    LifecycleStage.AT_RISK: "unhappy",
    LifecycleStage.CHURNED: "unhappy",
}
ANSWER_RATE = {Kind.NPS: 0.42, Kind.CSAT: 0.55, Kind.CES: 0.48}
COMMENTS = {
    "detractor": [
        "Reports are too slow for our month-end close.",
        "We were promised the Salesforce integration months ago.",
        "Support takes days to answer and the answers don't fix anything.",
        "Too expensive for what we actually use.",
        "The onboarding left half our team without access for two weeks.",
    ],
    "passive": [
        "Does the job. The mobile app needs work.",
        "Good product, but the admin settings are confusing.",
        "Fine overall; exports could be more flexible.",
    ],
    "promoter": [
        "Our CSM is fantastic: always a step ahead of us.",
        "It saved my team hours every week.",
        "Easy to roll out and the support is quick.",
        "The dashboards are what our board asks for.",
    ],
    "unhappy": [
        "I had to explain the problem three times.",
        "The issue came back the next day.",
        "Nobody told me the ticket was closed.",
        "It took far too long to get a real answer.",
    ],
    "neutral": ["It got fixed eventually.", "OK, but slower than I hoped."],
    "happy": [
        "Quick and friendly, thank you!",
        "Solved in one reply.",
        "Great explanation, I understand the setting now.",
    ],
}
USER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0 Mobile Safari/537.36",
]


@dataclass
class SurveySeedResult:
    surveys: int = 0
    invitations: int = 0
    statuses: Counter = field(default_factory=Counter)
    responses: int = 0
    follow_up_tasks: int = 0
    seconds: float = 0.0


def default_invitation_count(contacts: int) -> int:
    return min(contacts, DEFAULT_MAX_INVITATIONS)


def demo_surveys_setup() -> dict[str, Survey]:
    """The three demo surveys (found by name when they exist already)."""
    specs = {
        Kind.NPS: dict(
            name=NPS_NAME,
            question="How likely are you to recommend {company} to a friend or colleague?",
            reminder_after_days=4,
            recurring_months=6,
        ),
        Kind.CSAT: dict(
            name=CSAT_NAME,
            question="How satisfied are you with the support you received?",
            send_after_ticket_solved=True,
            ticket_solved_delay_hours=24,
            expiry_days=14,
        ),
        Kind.CES: dict(
            name=CES_NAME,
            question="{company} made it easy for me to get up and running.",
            follow_up_question="What was the hardest step of getting started?",
            follow_up_unhappy="Sorry it was hard. Which step held you up the most?",
            reminder_after_days=3,
        ),
    }
    surveys = {}
    for kind, spec in specs.items():
        name = spec.pop("name")
        surveys[kind], _ = Survey.objects.get_or_create(name=name, kind=kind, defaults=spec)
    return surveys


def demo_surveys_seed(
    *, seed: int, invitations: int, customers=None, now: dt.datetime | None = None
) -> SurveySeedResult:
    """About `invitations` past invitations over the contacts of `customers` (default: all), and CSAT
    invitations for their solved tickets, recorded through the services in time order."""
    started = time.perf_counter()
    now = now or timezone.now()
    rng = random.Random(f"surveys:{seed}")
    customers = Customer.objects.all() if customers is None else customers
    result = SurveySeedResult()
    with transaction.atomic():
        surveys = demo_surveys_setup()
        result.surveys = len(surveys)
        if invitations > 0:
            planned = _plan(rng, surveys, customers, invitations, now)
            _record(rng, planned, now, result)
    if connection.vendor == "postgresql" and result.invitations:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE surveys_invitation, surveys_response, crm_ledgerentry")
    result.seconds = time.perf_counter() - started
    return result


def _plan(rng, surveys, customers, budget: int, now: dt.datetime) -> list[Invitation]:
    """Invitations to record: NPS for a sample of contacts in the current and last 6-month cycles, CES for
    onboarding customers' contacts, CSAT for solved tickets."""
    contacts = list(Contact.objects.filter(customer__in=customers).select_related("customer").order_by("pk"))
    if not contacts:
        return []
    rng.shuffle(contacts)
    # Accounts that churned were asked before they left (what makes their unhappiness visible in time).
    contacts.sort(key=lambda contact: contact.customer.lifecycle_stage != LifecycleStage.CHURNED)
    planned: list[Invitation] = []
    nps, ces = surveys[Kind.NPS], surveys[Kind.CES]

    # About 60% NPS (40% of the budget in contacts, half of them asked in two cycles), up to 15% CES, the rest
    # CSAT for solved tickets.
    nps_contacts = max(1, int(budget * 0.4))
    for contact in contacts[:nps_contacts]:
        churned = contact.customer.lifecycle_stage == LifecycleStage.CHURNED
        # This cycle (the last 5 months) unless churned; the previous cycle for about half of them; a churned
        # account in the months before the renewal it did not take.
        cycles = [] if churned else [now - dt.timedelta(days=rng.uniform(2, 150))]
        renewal = contact.customer.renewal_date
        if churned and renewal is not None and renewal <= now.date():
            before = dt.timedelta(days=rng.uniform(20, 150))
            cycles.append(dt.datetime.combine(renewal, dt.time(9), tzinfo=dt.UTC) - before)
        elif churned or rng.random() < 0.5:
            cycles.append(now - dt.timedelta(days=rng.uniform(185, 350)))
        for at in cycles:
            at = _weekday_morning(rng, at)
            invitation, created = invitation_create(
                survey=nps,
                contact=contact,
                trigger=Invitation.Trigger.RECURRING,
                trigger_key=period_key(at, nps.recurring_months),
                scheduled_for=at,
            )
            if created:
                planned.append(invitation)

    onboarding = [c for c in contacts if c.customer.lifecycle_stage == LifecycleStage.ONBOARDING]
    for contact in onboarding[: max(0, min(int(budget * 0.15), budget - len(planned)))]:
        at = _weekday_morning(rng, now - dt.timedelta(days=rng.uniform(10, 60)))
        invitation, created = invitation_create(
            survey=ces,
            contact=contact,
            trigger=Invitation.Trigger.CAMPAIGN,
            trigger_key=f"campaign:demo-onboarding-{at:%Y-%m}",
            scheduled_for=at,
        )
        if created:
            planned.append(invitation)

    if apps.is_installed("tickets"):
        from tickets.models import Ticket

        solved = (
            Ticket.objects.filter(customer__in=customers, status__in=["solved", "closed"], solved_at__isnull=False)
            .select_related("requester")
            .order_by("solved_at")[: max(0, budget - len(planned))]
        )
        for ticket in solved:
            planned.extend(invite_after_ticket_solved(ticket=ticket, now=now))
    return planned


def _weekday_morning(rng, at: dt.datetime) -> dt.datetime:
    while at.weekday() >= 5:
        at -= dt.timedelta(days=1)
    return at.replace(hour=rng.randint(7, 10), minute=rng.randrange(60), second=0, microsecond=0)


def _record(rng, planned: list[Invitation], now: dt.datetime, result: SurveySeedResult) -> None:
    """Dispatch each due invitation at its time (oldest first, so the ledger sees what came before), then
    answer some of them; then expire, remind and close follow-ups as time would have."""
    result.invitations = len(planned)
    due = sorted((i for i in planned if i.scheduled_for <= now), key=lambda i: (i.scheduled_for, i.pk))
    queue = [(i.scheduled_for, i.pk) for i in due]  # in time order; a deferred recurring survey goes back in
    answers: list[tuple[dt.datetime, Invitation]] = []
    while queue:
        at, pk = heapq.heappop(queue)
        sent = invitation_dispatch(invitation_id=pk, now=at, send_email=False)
        if sent is not None and sent.status == Invitation.Status.SCHEDULED and sent.scheduled_for <= now:
            heapq.heappush(queue, (sent.scheduled_for, pk))  # waited for the survey spacing
        if sent is None or sent.status != Invitation.Status.SENT:
            continue
        if rng.random() < ANSWER_RATE[sent.survey.kind]:
            # Most answer within hours, some days later; never after the invitation closes.
            delay = dt.timedelta(minutes=min(rng.lognormvariate(5.0, 1.6), 60 * 24 * 9))
            answered = sent.sent_at + max(delay, dt.timedelta(minutes=2))
            if answered < min(now, sent.expires_at):
                answers.append((answered, sent))
        elif sent.survey.reminder_after_days:
            reminded = sent.sent_at + dt.timedelta(days=sent.survey.reminder_after_days)
            if reminded < min(now, sent.expires_at):
                Invitation.objects.filter(pk=sent.pk).update(reminded_at=reminded)
    for answered, invitation in sorted(answers, key=lambda pair: (pair[0], pair[1].pk)):
        survey = invitation.survey
        mood = MOOD.get(invitation.contact.customer.lifecycle_stage, "new")
        weights = {Kind.NPS: NPS_WEIGHTS, Kind.CSAT: CSAT_WEIGHTS, Kind.CES: CES_WEIGHTS}[survey.kind][mood]
        score = rng.choices(list(survey.scale), weights=weights)[0]
        comment = rng.choice(COMMENTS[band(survey.kind, score)]) if rng.random() < 0.45 else ""
        response, _ = survey_answer(
            invitation=invitation, score=score, comment=comment, user_agent=rng.choice(USER_AGENTS), now=answered
        )
        loop_close(response_id=response.pk)  # what its on-commit callback does; idempotent per invitation
        result.responses += 1
    Invitation.objects.filter(pk__in=[i.pk for i in due], status=Invitation.Status.SENT, expires_at__lte=now).update(
        status=Invitation.Status.EXPIRED
    )
    _date_follow_ups(due, now)
    result.follow_up_tasks = Task.objects.filter(
        source_type=ContentType.objects.get_for_model(Invitation), source_id__in=[str(i.pk) for i in due]
    ).count()
    result.statuses = Counter(
        Invitation.objects.filter(pk__in=[i.pk for i in planned]).values_list("status", flat=True)
    )


def _date_follow_ups(due: list[Invitation], now: dt.datetime) -> None:
    """Follow-up tasks made now for past answers get the answer's dates: created when it was answered, due
    two business days later; those older than two weeks were done by the CSM on their due date."""
    answered = {
        str(pk): at
        for pk, at in Invitation.objects.filter(pk__in=[i.pk for i in due], response__isnull=False).values_list(
            "pk", "response__answered_at"
        )
    }
    task_type = ContentType.objects.get_for_model(Task)
    tasks = Task.objects.filter(
        source_type=ContentType.objects.get_for_model(Invitation), source_id__in=list(answered)
    ).select_related("owner")
    for task in tasks:
        at = answered[task.source_id]
        due_date = add_business_days(at.date(), 2)
        done = now - at > dt.timedelta(days=14)
        closed_at = dt.datetime.combine(due_date, dt.time(15), tzinfo=dt.UTC) if done else None
        Task.objects.filter(pk=task.pk).update(
            created_at=at,
            updated_at=closed_at or at,
            due_date=due_date,
            status=Task.Status.DONE if done else task.status,
            closed_at=closed_at,
        )
        TimelineEvent.objects.filter(source_type=task_type, source_id=str(task.pk)).update(occurred_at=at)
        if done:
            timeline_record(
                customer=task.customer_id,
                kind="task.done",
                summary=f"Task done: {task.reason}",
                actor=task.owner,
                source=task,
                payload={"task_id": task.pk},
                occurred_at=closed_at,
            )
