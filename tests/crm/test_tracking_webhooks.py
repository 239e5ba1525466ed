"""Bounces, complaints and unsubscribes reported by the email provider (django-anymail tracking) mark the
contact in the ledger, and the next survey to that address is suppressed."""

import base64
import importlib
import json

import pytest
from anymail.signals import AnymailTrackingEvent, tracking
from django.urls import clear_url_caches

from crm.ledger import ledger_check
from crm.models import TimelineEvent
from surveys.services import invitation_create, invitation_dispatch, survey_create


def send_event(event_type: str, recipient: str, esp_name: str = "Postmark", **fields):
    event = AnymailTrackingEvent(event_type=event_type, recipient=recipient, **fields)
    tracking.send(sender=object, event=event, esp_name=esp_name)
    return event


def invite(contact, key="campaign:1", kind="nps"):
    survey = survey_create(name=f"{kind} survey", kind=kind)
    invitation, _ = invitation_create(survey=survey, contact=contact, trigger="campaign", trigger_key=key)
    return invitation_dispatch(invitation_id=invitation.pk)


@pytest.mark.django_db
def test_hard_bounce_marks_every_contact_with_that_address_and_suppresses_the_next_survey(contact_factory):
    first = contact_factory(email="gone@customer.example.com")
    second = contact_factory(email="gone@customer.example.com")  # the same person at another customer
    other = contact_factory(email="still.here@customer.example.com")
    send_event(
        "bounced",
        "Gone@Customer.example.com",
        description="The server was unable to deliver your message",
        mta_response="550 5.1.1 unknown user",
    )
    for contact in (first, second):
        contact.refresh_from_db()
        assert contact.bounced_at is not None
        assert ledger_check(contact=contact, kind="survey", subkind="nps") == "bounced"
        assert ledger_check(contact=contact, kind="ticket_reply") == "bounced"
    other.refresh_from_db()
    assert other.bounced_at is None
    event = TimelineEvent.objects.get(customer=first.customer, kind="contact.bounced")
    assert event.summary == "gone@customer.example.com bounced"
    assert "550 5.1.1 unknown user" in event.payload["detail"]

    invitation = invite(first)
    assert (invitation.status, invitation.suppressed_reason) == ("suppressed", "bounced")
    assert invitation.email_id is None


@pytest.mark.django_db
def test_the_same_event_twice_changes_nothing_more(contact_factory):
    contact = contact_factory()
    send_event("bounced", contact.email, mta_response="550 no such user")
    contact.refresh_from_db()
    first_mark = contact.bounced_at
    send_event("bounced", contact.email, mta_response="550 no such user")
    contact.refresh_from_db()
    assert contact.bounced_at == first_mark
    assert TimelineEvent.objects.filter(kind="contact.bounced").count() == 1


@pytest.mark.django_db
def test_complaint_and_provider_unsubscribe(contact_factory):
    spammy, leaving = contact_factory(), contact_factory()
    send_event("complained", spammy.email)
    send_event("unsubscribed", leaving.email)
    spammy.refresh_from_db()
    leaving.refresh_from_db()
    assert spammy.complained_at is not None and spammy.unsubscribed_at is None and spammy.bounced_at is None
    assert leaving.unsubscribed_at is not None and leaving.complained_at is None
    assert invite(spammy).suppressed_reason == "complained (marked as spam)"
    assert invite(leaving).suppressed_reason == "unsubscribed"
    # An unsubscribed contact still gets replies to their own tickets; a complaint stops everything.
    assert ledger_check(contact=leaving, kind="ticket_reply") is None
    assert TimelineEvent.objects.filter(kind="contact.unsubscribed", customer=leaving.customer).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"esp_event": {"RecordType": "Bounce", "Type": "SoftBounce"}},  # Postmark
        {"esp_event": {"event": "soft_bounce"}},  # Brevo, Mandrill
        {"esp_event": {"event": "bounce", "hard_bounce": False}},  # Mailjet
        {"esp_event": {"bounce": {"bounceType": "Transient"}}},  # Amazon SES
        {"mta_response": "452 4.2.2 Mailbox full"},
        {"mta_response": "4.4.1 Connection timed out"},
    ],
)
def test_soft_bounces_are_ignored(contact_factory, fields):
    contact = contact_factory()
    send_event("bounced", contact.email, **fields)
    contact.refresh_from_db()
    assert contact.bounced_at is None
    assert invite(contact).status == "sent"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "event_type", ["delivered", "opened", "clicked", "deferred", "queued", "unknown", "subscribed"]
)
def test_other_events_are_ignored(contact_factory, event_type):
    contact = contact_factory()
    send_event(event_type, contact.email)
    contact.refresh_from_db()
    assert (contact.bounced_at, contact.complained_at, contact.unsubscribed_at) == (None, None, None)


@pytest.mark.django_db
def test_unknown_or_missing_recipient_is_ignored(contact_factory):
    contact = contact_factory()
    send_event("bounced", "nobody@elsewhere.example.com", mta_response="550 no such user")
    send_event("bounced", None)
    send_event("complained", "")
    contact.refresh_from_db()
    assert contact.bounced_at is None and contact.complained_at is None
    assert not TimelineEvent.objects.filter(kind__startswith="contact.").exists()


# --- A real provider payload through Anymail's tracking URL -------------------------------------------

POSTMARK_HARD_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "survey",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    "Email": "{email}",
    "From": "success@example.com",
    "BouncedAt": "2026-03-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "How likely are you to recommend Acme Software?",
}
POSTMARK_SPAM_COMPLAINT = {
    "RecordType": "SpamComplaint",
    "MessageStream": "outbound",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Name": "Spam complaint",
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "Description": "The subscriber explicitly marked this message as spam.",
    "Details": "Test spam complaint details",
    "Email": "{email}",
    "From": "success@example.com",
    "BouncedAt": "2026-03-05T16:33:54.9070259Z",
}


@pytest.fixture
def anymail_urls(settings):
    """config/urls.py mounts anymail/ only when a webhook secret is set at import time: set one, reload."""
    import config.urls

    original = settings.ANYMAIL
    settings.ANYMAIL = {**original, "WEBHOOK_SECRET": "postmark:s3cret-webhook-password"}
    importlib.reload(config.urls)
    clear_url_caches()
    try:
        yield "Basic " + base64.b64encode(b"postmark:s3cret-webhook-password").decode()
    finally:
        settings.ANYMAIL = original
        importlib.reload(config.urls)
        clear_url_caches()


def post_postmark(client, payload, email, auth=None):
    body = json.dumps(payload).replace("{email}", email)
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.post("/anymail/postmark/tracking/", body, content_type="application/json", **headers)


@pytest.mark.django_db
def test_postmark_webhooks_mark_the_contact(client, contact_factory, anymail_urls):
    bounced, complaining = contact_factory(), contact_factory()
    # Without the shared secret the provider's call is refused and nothing changes.
    refused = post_postmark(client, POSTMARK_HARD_BOUNCE, bounced.email)
    assert refused.status_code == 400
    bounced.refresh_from_db()
    assert bounced.bounced_at is None

    assert post_postmark(client, POSTMARK_HARD_BOUNCE, bounced.email, anymail_urls).status_code == 200
    assert (
        post_postmark(client, POSTMARK_HARD_BOUNCE, bounced.email, anymail_urls).status_code == 200
    )  # retried
    assert post_postmark(client, POSTMARK_SPAM_COMPLAINT, complaining.email, anymail_urls).status_code == 200
    bounced.refresh_from_db()
    complaining.refresh_from_db()
    assert bounced.bounced_at is not None and complaining.complained_at is not None
    assert TimelineEvent.objects.filter(kind="contact.bounced").count() == 1
    assert "does not exist" in TimelineEvent.objects.get(kind="contact.bounced").payload["detail"]
    assert invite(bounced).suppressed_reason == "bounced"
    assert invite(complaining).suppressed_reason == "complained (marked as spam)"


@pytest.mark.django_db
def test_postmark_soft_bounce_does_not_mark(client, contact_factory, anymail_urls):
    contact = contact_factory()
    soft = dict(POSTMARK_HARD_BOUNCE, Type="SoftBounce", TypeCode=4096, Name="Soft bounce", Inactive=False)
    assert post_postmark(client, soft, contact.email, anymail_urls).status_code == 200
    contact.refresh_from_db()
    assert contact.bounced_at is None
