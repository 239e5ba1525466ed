"""Sending a survey to a list of contacts now (the API), and the admin's audience preview.

    invitations_send(survey, contact_ids, trigger_key, ...) -> invitations created and dispatched in this
        call, so the caller learns at once which were suppressed and why. Idempotent by trigger key: the same
        key never makes a second invitation for the same survey and contact, and dispatching an invitation
        twice sends it once (the service's status guard).

Campaigns to a whole audience (tiers, lifecycle stages, owners, roles) run in Celery:
surveys.scheduling.campaign_start -> `surveys.send_campaign` -> the dispatch scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.utils import timezone

from crm.models import Contact
from surveys.models import Invitation, Survey
from surveys.selectors import invitation_list
from surveys.services import invitation_create, invitation_dispatch

logger = logging.getLogger(__name__)

MAX_CONTACTS_PER_REQUEST = 100  # each is dispatched in the request (about 20 ms each)


def _inactive_error(survey: Survey) -> ValidationError:
    return ValidationError(f'The survey "{survey.name}" is inactive: activate it before sending invitations.')


@dataclass
class SendOutcome:
    invitations: list[Invitation]  # one per contact, in the order the contacts were given
    created: int  # how many of them this call created (0: a repeated request)

    @property
    def suppressed(self) -> list[Invitation]:
        return [i for i in self.invitations if i.status == Invitation.Status.SUPPRESSED]


def invitations_send(
    *,
    survey: Survey,
    contact_ids: list[int],
    trigger: str = Invitation.Trigger.API,
    trigger_key: str,
    actor=None,
) -> SendOutcome:
    """Invite these contacts to the survey now and dispatch each invitation in this call (ledger check,
    email row; the email itself goes out from the worker). Unknown contact ids or an inactive survey:
    ValidationError and nothing is created."""
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        raise ValidationError({"contacts": "Give at least one contact id."})
    if len(ids) > MAX_CONTACTS_PER_REQUEST:
        raise ValidationError(
            {"contacts": f"At most {MAX_CONTACTS_PER_REQUEST} contacts per request (got {len(ids)})."}
        )
    if not survey.is_active:
        raise _inactive_error(survey)
    contacts = Contact.objects.only("pk", "customer_id").in_bulk(ids)
    missing = [pk for pk in ids if pk not in contacts]
    if missing:
        shown = ", ".join(str(pk) for pk in missing[:20]) + (" …" if len(missing) > 20 else "")
        raise ValidationError({"contacts": f"Unknown contact id{'s' if len(missing) > 1 else ''}: {shown}."})

    def create_all() -> tuple[dict[int, int], int]:
        # In ascending contact id order whatever order the caller gave: two concurrent requests for the same
        # contacts then wait on each other's unique-index entries in one order and never deadlock.
        by_contact, created = {}, 0
        with transaction.atomic():
            for pk in sorted(ids):
                invitation, new = invitation_create(
                    survey=survey, contact=contacts[pk], trigger=trigger, trigger_key=trigger_key, actor=actor
                )
                by_contact[pk] = invitation.pk
                created += new
        return by_contact, created

    try:
        by_contact, created = create_all()
    except OperationalError as exc:
        # A deadlock with another writer that locks in another order (PostgreSQL aborted this transaction):
        # retry once, unless a caller's transaction was aborted with it.
        if not _is_deadlock(exc) or transaction.get_connection().in_atomic_block:
            raise
        logger.warning("invitations_send: deadlock on survey %s, retrying once", survey.pk)
        by_contact, created = create_all()
    now = timezone.now()
    for pk in sorted(by_contact.values()):
        invitation_dispatch(invitation_id=pk, now=now)  # a no-op for invitations already dispatched
    invitation_ids = [by_contact[pk] for pk in ids]
    rows = invitation_list().in_bulk(invitation_ids)
    return SendOutcome(invitations=[rows[pk] for pk in invitation_ids], created=created)


def _is_deadlock(exc: OperationalError) -> bool:
    """PostgreSQL's deadlock_detected (SQLSTATE 40P01, psycopg.errors.DeadlockDetected)."""
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


# --- Campaigns to an audience (started from the admin; surveys.scheduling does the sending) ----------------


def campaign_audience_count(*, audience: dict) -> int:
    """How many contacts an audience holds now (the admin's preview before starting a campaign)."""
    from surveys.scheduling import audience_contacts

    return audience_contacts(audience).count()
