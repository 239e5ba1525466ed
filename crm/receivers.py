"""Delivery reports of the email provider (django-anymail tracking webhooks) go into the contact ledger.

    bounced (hard)  -> contact_mark_bounced      every contact with that address: nothing more is sent to it
    complained      -> contact_mark_complained   (marked as spam)
    unsubscribed    -> contact_unsubscribe       (the provider's own unsubscribe link or list)
    anything else   -> ignored (deliveries, opens, clicks, deferrals and soft bounces)

A soft bounce (a full mailbox, a greylisting server) is not a reason to stop writing to someone: Anymail calls
some of them "bounced" too (Postmark "SoftBounce", Brevo/Mandrill "soft_bounce", Mailjet without
"hard_bounce", Amazon SES "Transient", a 4xx SMTP reply), so those are recognised here and ignored. Providers
retry webhooks, and the services are idempotent (only the first mark counts): a repeat changes nothing.
"""

import logging
import re
from collections.abc import Mapping

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from django.db import transaction
from django.dispatch import receiver

from crm.ledger import contact_mark_bounced, contact_mark_complained, contact_unsubscribe
from crm.models import Contact

logger = logging.getLogger(__name__)

_SOFT_NAMES = {"softbounce", "softbounced", "transient"}
_TEMPORARY_SMTP = re.compile(r"^\s*(4\d\d\b|4\.\d{1,3}\.\d{1,3}\b)")  # "450 ..." or "4.2.2 ..."


def _is_soft_bounce(event: AnymailTrackingEvent) -> bool:
    esp = event.esp_event if isinstance(event.esp_event, Mapping) else {}
    if esp.get("hard_bounce") is False:  # Mailjet
        return True
    data = esp.get("data")
    candidates = [esp.get("Type"), esp.get("event"), esp.get("bounceType")]
    if isinstance(data, Mapping):
        candidates.append(data.get("type"))  # MailerSend
    if isinstance(esp.get("bounce"), Mapping):
        candidates.append(esp["bounce"].get("bounceType"))  # Amazon SES
    for value in candidates:
        if isinstance(value, str) and re.sub(r"[^a-z]", "", value.lower()) in _SOFT_NAMES:
            return True
    if isinstance(event.description, str) and event.description.lower().startswith("transient"):
        return True
    return bool(event.mta_response and _TEMPORARY_SMTP.match(str(event.mta_response)))


def _contacts(recipient: str):
    address = (recipient or "").strip()
    if not address:
        return Contact.objects.none()
    # Contacts are stored lower-cased by the services; the exact spelling covers rows imported otherwise.
    return Contact.objects.filter(email__in={address, address.lower()}).select_related("customer").order_by("pk")


def _detail(event: AnymailTrackingEvent, esp_name: str) -> str:
    parts = [esp_name or "", event.description or "", str(event.mta_response or "")]
    return " · ".join(p.strip() for p in parts if p and p.strip())


@receiver(tracking, dispatch_uid="crm.tracking_to_ledger")
def tracking_to_ledger(sender, event: AnymailTrackingEvent, esp_name: str = "", **kwargs) -> None:
    event_type = getattr(event, "event_type", None)
    if event_type == EventType.BOUNCED:
        if _is_soft_bounce(event):
            return
        mark = contact_mark_bounced
    elif event_type == EventType.COMPLAINED:
        mark = contact_mark_complained
    elif event_type == EventType.UNSUBSCRIBED:
        mark = None
    else:
        return
    detail = _detail(event, esp_name)
    with transaction.atomic():
        for contact in _contacts(getattr(event, "recipient", None) or ""):
            if mark is None:
                contact_unsubscribe(contact=contact, source=f"provider: {detail}"[:500])
            else:
                mark(contact=contact, detail=detail)
    logger.info("%s %s for %s", esp_name or "provider", event_type, event.recipient)
