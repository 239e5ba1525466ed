"""What asks a survey: campaigns to an audience, the API, a solved ticket, the recurring NPS schedule."""

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Contact
from surveys.models import Invitation, Survey
from surveys.services import invitation_create


def invite_after_ticket_solved(*, ticket, now: dt.datetime | None = None) -> list[Invitation]:
    """CSAT/CES after a solve, `ticket_solved_delay_hours` later. One per ticket and solve (a reopen and a new
    solve may ask again, subject to the ledger); cancelled at send time if the ticket was reopened meanwhile."""
    now = now or timezone.now()
    created = []
    for survey in Survey.objects.filter(is_active=True, send_after_ticket_solved=True, kind__in=["csat", "ces"]):
        invitation, new = invitation_create(
            survey=survey,
            contact=ticket.requester,
            trigger=Invitation.Trigger.TICKET_SOLVED,
            trigger_key=f"ticket:{ticket.pk}:r{ticket.reopen_count}",
            scheduled_for=(ticket.solved_at or now) + dt.timedelta(hours=survey.ticket_solved_delay_hours),
            ticket=ticket,
        )
        if new:
            created.append(invitation)
    return created


def campaign_audience(
    *, tiers=None, lifecycle_stages=None, owners=None, roles=None, customers=None
) -> QuerySet[Contact]:
    contacts = Contact.objects.all()
    if tiers:
        contacts = contacts.filter(customer__tier__in=tiers)
    if lifecycle_stages:
        contacts = contacts.filter(customer__lifecycle_stage__in=lifecycle_stages)
    if owners:
        contacts = contacts.filter(customer__owner__in=owners)
    if roles:
        contacts = contacts.filter(role__in=roles)
    if customers:
        contacts = contacts.filter(customer__in=customers)
    return contacts.order_by("pk")
