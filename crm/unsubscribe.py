"""Unsubscribe links: a signed, non-expiring token naming the contact (no login, no database lookup of a secret)."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from crm.models import Contact

SALT = "crm.unsubscribe"


def unsubscribe_token(contact: Contact) -> str:
    return signing.dumps({"c": contact.pk}, salt=SALT, compress=True)


def contact_from_unsubscribe_token(token: str) -> Contact | None:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    return Contact.objects.filter(pk=data.get("c")).select_related("customer").first()


def unsubscribe_url(contact: Contact) -> str:
    return settings.SITE_URL + reverse("crm:unsubscribe", args=[unsubscribe_token(contact)])


def unsubscribe_headers(contact: Contact, *, url: str | None = None) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe (and RFC 2369 List-Unsubscribe) for customer email (`url`: the contact's
    unsubscribe_url when the caller has it already: signing it costs more than the rest)."""
    return {
        "List-Unsubscribe": f"<{url or unsubscribe_url(contact)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
