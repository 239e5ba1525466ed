"""Closing the loop on an answer: in a worker (surveys.close_loop) on commit of the answer and of each change to
it; idempotent per invitation (its row is locked while the loop runs, and every step is recorded).

- An unhappy answer (NPS 0-6, CSAT 1-2, CES 1-3) gets one follow-up per invitation: a CSM task due two business
  days after the answer in the customer's time zone, or a ticket (survey.on_unhappy). Its `survey.follow_up`
  timeline event links the answer (payload response_id) to it.
- A later change (the comment saved after the one-click score, another score within 7 days) updates it: the open
  task's reason carries the latest score and comment, a ticket gets the comment as the contact's message, and a
  `survey.follow_up_updated` event records the change with its comment.
- A promoter may get a thank-you email, through the contact ledger.
- loop_sweep (periodic) closes the loop on unhappy answers whose follow-up never happened (a lost task).
"""

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.template.loader import render_to_string
from django.utils import timezone

from crm.models import Task, TimelineEvent
from crm.outbound_email import email_queue
from crm.task_services import task_create, task_update
from crm.timeline import timeline_record
from crm.unsubscribe import unsubscribe_headers, unsubscribe_url
from surveys.models import SCALES, Invitation, Response, Survey, band
from surveys.services import invitation_email_claim, loop_close_queue

logger = logging.getLogger(__name__)

UNHAPPY = {"detractor", "unhappy"}
HAPPY = {"promoter"}
LABELS = {"detractor": "Detractor", "unhappy": "Unhappy"}
FOLLOW_UP, FOLLOW_UP_UPDATED = "survey.follow_up", "survey.follow_up_updated"
SWEEP_GRACE = dt.timedelta(minutes=10)  # the task queued on commit is given this long before the sweep steps in
SWEEP_WINDOW = dt.timedelta(days=15)


def add_business_days(start: dt.date, days: int) -> dt.date:
    day = start
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def follow_up_due_date(answered_at: dt.datetime, tz_name: str) -> dt.date:
    """Two business days (Saturday and Sunday skipped) after the answer's date in the customer's time zone."""
    return add_business_days(timezone.localtime(answered_at, ZoneInfo(tz_name or "UTC")).date(), 2)


@transaction.atomic
def loop_close(*, response_id: int) -> None:
    invitation_id = Response.objects.filter(pk=response_id).values_list("invitation_id", flat=True).first()
    if invitation_id is None:
        return
    # One loop at a time per invitation (a redelivered task, the sweep, a change made meanwhile); the answer is
    # read under the lock, so this run follows the latest score and comment.
    list(Invitation.objects.select_for_update().filter(pk=invitation_id).values_list("pk", flat=True))
    response = Response.objects.select_related("survey", "contact", "customer", "invitation").get(pk=response_id)
    events = list(_follow_up_events(response))
    if events:
        _follow_up_update(response, first=events[0].payload, latest=events[-1].payload)
    elif response.band in UNHAPPY:
        _follow_up_open(response)
    if response.band in HAPPY and response.survey.thank_promoters:
        _thank(response)


def _follow_up_events(response: Response):
    return TimelineEvent.objects.filter(
        customer_id=response.customer_id,
        kind__in=[FOLLOW_UP, FOLLOW_UP_UPDATED],
        occurred_at__gte=response.answered_at,
        payload__response_id=response.pk,
    ).order_by("occurred_at", "id")


def _state(response: Response, **link) -> dict:
    return {
        "response_id": response.pk,
        "invitation_id": response.invitation_id,
        **link,
        "score": response.score,
        "band": response.band,
        "comment": response.comment[:1000],
    }


def _at(response: Response) -> dt.datetime:
    # Never before the answer (answers recorded with a past or future `now`): the lookup above relies on it.
    return max(timezone.now(), response.answered_at)


def _task_reason(response: Response) -> str:
    kind = response.kind.upper()
    head = f"{kind} answer from {response.contact.email[:200]} (invitation {response.invitation_id})"
    if response.band in UNHAPPY:
        head = f"{LABELS[response.band]} {head}: {response.score}"
    else:
        head = f"Changed {head}: now {response.score} ({response.band})"
    reason = head + (f' "{response.comment}"' if response.comment else "")
    return reason if len(reason) <= 300 else reason[:299] + "…"


def _follow_up_open(response: Response) -> None:
    if response.survey.on_unhappy == Survey.OnUnhappy.TICKET:
        ticket = _ticket_open(response)
        timeline_record(
            customer=response.customer_id,
            kind=FOLLOW_UP,
            summary=f"Follow-up ticket {ticket.reference} for {response.band} answer ({response.kind.upper()} "
            f"{response.score})" + (f': "{response.comment[:150]}"' if response.comment else ""),
            source=ticket,
            payload=_state(response, ticket_id=ticket.pk),
            occurred_at=_at(response),
        )
        return
    # One follow-up per invitation, even once the CSM has closed it (a task made before its event: adopted).
    task = Task.objects.filter(
        source_type=ContentType.objects.get_for_model(Invitation), source_id=str(response.invitation_id)
    ).first()
    if task is None:
        task, _ = task_create(
            customer=response.customer,
            type=Task.Type.RISK,
            reason=_task_reason(response),
            due_date=follow_up_due_date(response.answered_at, response.customer.timezone),
            priority=Task.Priority.HIGH,
            source=response.invitation,
        )
    timeline_record(
        customer=response.customer_id,
        kind=FOLLOW_UP,
        summary=f"Follow-up task for {response.band} answer ({response.kind.upper()} {response.score})"
        + (f': "{response.comment[:150]}"' if response.comment else ""),
        source=task,
        payload=_state(response, task_id=task.pk),
        occurred_at=_at(response),
    )


def _ticket_open(response: Response):
    from tickets.models import Ticket
    from tickets.services import ticket_create

    # Tickets opened before the follow-up event existed were found by their subject.
    legacy = Ticket.objects.filter(
        customer=response.customer_id, subject__endswith=f"(invitation {response.invitation_id})"
    ).first()
    if legacy is not None:
        return legacy
    kind = response.kind.upper()
    return ticket_create(
        customer=response.customer,
        requester=response.contact,
        subject=f"Survey follow-up: {kind} {response.score} (invitation {response.invitation_id})",
        body=response.comment
        or f"{LABELS[response.band]} {kind} answer ({response.score}) from "
        f"{response.contact.email}, without a comment.",
        channel="web",
        priority="high",
        category="other",
        tags=["survey-follow-up"],
    )


def _follow_up_update(response: Response, *, first: dict, latest: dict) -> None:
    """The answer changed since its follow-up last saw it: the CSM sees the latest score and comment."""
    seen_comment = latest.get("comment", "")
    if latest.get("score", response.score) == response.score and seen_comment == response.comment[:1000]:
        return  # nothing new (a second delivery, a change back and forth already followed)
    link, note = {}, ""
    if first.get("ticket_id"):
        link["ticket_id"] = first["ticket_id"]
        if response.comment and response.comment[:1000] != seen_comment:
            message = _ticket_message(response, first["ticket_id"])
            if message is not None:
                link["message_id"] = message.pk
    elif first.get("task_id"):
        link["task_id"] = first["task_id"]
        task = Task.objects.filter(pk=first["task_id"]).first()
        if task is not None and task.status == Task.Status.OPEN:
            task_update(
                task=task,
                reason=_task_reason(response),
                priority=Task.Priority.HIGH if response.band in UNHAPPY else Task.Priority.NORMAL,
            )
        elif task is not None:
            note = f" (task already {task.status})"
    timeline_record(
        customer=response.customer_id,
        kind=FOLLOW_UP_UPDATED,
        summary=f"Follow-up updated{note}: {response.kind.upper()} answer now {response.score} ({response.band})"
        + (f': "{response.comment[:150]}"' if response.comment else ""),
        source=response,
        payload=_state(response, **link),
        occurred_at=_at(response),
    )


def _ticket_message(response: Response, ticket_id: int):
    from tickets.models import Ticket
    from tickets.services import ticket_customer_message

    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        return None
    return ticket_customer_message(ticket=ticket, contact=response.contact, body=response.comment, channel="web")


def _thank(response: Response) -> None:
    """The promoter's thank-you: part of the survey's conversation for the ledger (no survey spacing), stopped
    for an unsubscribed, bounced or complained contact with the reason recorded; decided once per invitation."""
    contact, invitation = response.contact, response.invitation
    if not invitation_email_claim(invitation, subkind="thanks", what="thank-you"):
        return
    context = {
        "contact": contact,
        "survey": response.survey,
        "company": settings.COMPANY_NAME,
        "unsubscribe_url": unsubscribe_url(contact),
    }
    email_queue(
        idempotency_key=f"survey_thanks:{invitation.pk}",
        kind="survey_thanks",
        to_email=contact.email,
        subject=f"Thank you from {settings.COMPANY_NAME}",
        text_body=render_to_string("surveys/email/thanks.txt", context),
        contact=contact,
        headers=unsubscribe_headers(contact),
    )


def _unhappy_scores() -> Q:
    condition = Q(pk__in=[])
    for kind, scale in SCALES.items():
        condition |= Q(kind=kind, score__in=[s for s in scale if band(kind, s) in UNHAPPY])
    return condition


def loop_sweep(*, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Queue the loop again for unhappy answers of the last SWEEP_WINDOW whose follow-up never happened (its task
    was lost and the inline fallback failed too), once they are SWEEP_GRACE old. Returns how many."""
    now = now or timezone.now()
    followed = TimelineEvent.objects.annotate(response_key=KT("payload__response_id")).filter(
        customer_id=OuterRef("customer_id"),
        kind=FOLLOW_UP,
        occurred_at__gte=OuterRef("answered_at"),
        response_key=Cast(OuterRef("pk"), CharField()),
    )
    missing = list(
        Response.objects.filter(_unhappy_scores())
        .filter(answered_at__gte=now - SWEEP_WINDOW, updated_at__lte=now - SWEEP_GRACE)
        .filter(~Exists(followed))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for response_id in missing:
        loop_close_queue(response_id=response_id)
    if missing:
        logger.warning("survey follow-up sweep: %s answer(s) without their follow-up queued again", len(missing))
    return len(missing)
