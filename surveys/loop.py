"""Closing the loop on an answer: runs on commit of the answer; idempotent per invitation."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.outbound_email import email_queue
from crm.timeline import timeline_record
from crm.unsubscribe import unsubscribe_headers
from surveys.models import Response, Survey

UNHAPPY = {"detractor", "unhappy"}
HAPPY = {"promoter"}


def add_business_days(start: dt.date, days: int) -> dt.date:
    day = start
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


@transaction.atomic
def loop_close(*, response_id: int) -> None:
    response = (
        Response.objects.select_related("survey", "contact", "customer__owner", "invitation__ticket")
        .filter(pk=response_id)
        .first()
    )
    if response is None:
        return
    survey, contact = response.survey, response.contact
    if response.band in UNHAPPY:
        label = {"detractor": "Detractor", "unhappy": "Unhappy"}[response.band]
        # Stable per invitation (not the score): a changed answer never makes a second task.
        reason = f"{label} {response.kind.upper()} answer from {contact.email} (invitation {response.invitation_id})"
        if survey.on_unhappy == Survey.OnUnhappy.TICKET:
            _open_ticket(response, reason)
        else:
            from django.contrib.contenttypes.models import ContentType

            from success.models import Task
            from success.services import task_create

            if Task.objects.filter(
                source_type=ContentType.objects.get_for_model(response.invitation),
                source_id=str(response.invitation_id),
            ).exists():
                return  # one follow-up per invitation, even once the CSM has closed it
            task, created = task_create(
                customer=response.customer,
                type=Task.Type.RISK,
                reason=reason[:300],
                due_date=add_business_days(timezone.localdate(), 2),
                priority=Task.Priority.HIGH,
                source=response.invitation,
            )
            if created:
                timeline_record(
                    customer=response.customer_id,
                    kind="survey.follow_up",
                    summary=f"Follow-up task for {label.lower()} answer ({response.kind.upper()} {response.score})"
                    + (f': "{response.comment[:150]}"' if response.comment else ""),
                    source=task,
                    payload={"response_id": response.pk, "task_id": task.pk, "comment": response.comment[:1000]},
                )
    elif response.band in HAPPY and survey.thank_promoters and not contact.unsubscribed_at:
        email_queue(
            idempotency_key=f"survey_thanks:{response.invitation_id}",
            kind="survey_thanks",
            to_email=contact.email,
            subject=f"Thank you from {settings.COMPANY_NAME}",
            text_body=(
                f"Hi {contact.first_name or 'there'},\n\nThank you for your feedback: it means a lot to the team at "
                f"{settings.COMPANY_NAME}.\n"
            ),
            contact=contact,
            headers=unsubscribe_headers(contact),
        )


def _open_ticket(response: Response, reason: str) -> None:
    from tickets.models import Ticket
    from tickets.services import ticket_create

    if Ticket.objects.filter(
        customer=response.customer, subject__endswith=f"(invitation {response.invitation_id})"
    ).exists():
        return
    ticket_create(
        customer=response.customer,
        requester=response.contact,
        subject=f"Survey follow-up: {response.kind.upper()} {response.score} (invitation {response.invitation_id})",
        body=response.comment or reason,
        channel="web",
        priority="high",
        category="other",
        tags=["survey-follow-up"],
    )
