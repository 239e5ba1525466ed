"""Inbound email from a provider's webhook (django-anymail), through Anymail's real URL and authentication:
the message takes the same path as every other (stored raw, then a ticket), once however often it is posted."""

import json

import pytest

from crm.services import contact_create, customer_create
from tests.crm.test_tracking_webhooks import anymail_urls  # noqa: F401  (fixture: mounts anymail/ with a secret)
from tickets.models import InboundEmail, Ticket

URL = "/anymail/postmark/inbound/"

# Postmark's inbound webhook payload (https://postmarkapp.com/developer/webhooks/inbound-webhook), without
# RawEmail: Anymail rebuilds the message from the parsed fields and headers.
POSTMARK_INBOUND = {
    "FromName": "Ana Lima",
    "MessageStream": "inbound",
    "From": "ana@globex.example",
    "FromFull": {"Email": "ana@globex.example", "Name": "Ana Lima", "MailboxHash": ""},
    "To": "support@example.com",
    "ToFull": [{"Email": "support@example.com", "Name": "Support", "MailboxHash": ""}],
    "Cc": "",
    "CcFull": [],
    "Bcc": "",
    "BccFull": [],
    "OriginalRecipient": "support@example.com",
    "Subject": "Export to CSV fails with error 500",
    "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
    "ReplyTo": "",
    "MailboxHash": "",
    "Date": "Mon, 23 Nov 2026 10:12:30 +0100",
    "TextBody": "When I click Export on the reports page I get an error 500.",
    "HtmlBody": "<p>When I click <b>Export</b> on the reports page I get an error 500.</p>",
    "StrippedTextReply": "",
    "Tag": "",
    "Headers": [
        {"Name": "Return-Path", "Value": "<ana@globex.example>"},
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "Message-ID", "Value": "<CAF3u8Jx+pm1@mail.gmail.com>"},
    ],
    "Attachments": [],
}


def post(client, auth=None):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.post(URL, json.dumps(POSTMARK_INBOUND), content_type="application/json", **headers)


@pytest.mark.django_db
def test_a_postmark_inbound_webhook_opens_a_ticket_once(client, anymail_urls):  # noqa: F811
    customer = customer_create(name="Globex", domain="globex.example")
    ana = contact_create(customer=customer, email="ana@globex.example")

    refused = post(client)  # without the shared secret
    assert refused.status_code == 400
    assert not InboundEmail.objects.exists() and not Ticket.objects.exists()

    assert post(client, anymail_urls).status_code == 200
    inbound = InboundEmail.objects.get()
    assert (inbound.source, inbound.status, inbound.created_ticket) == ("anymail:Postmark", "processed", True)
    assert inbound.message_id == "<CAF3u8Jx+pm1@mail.gmail.com>"
    ticket = Ticket.objects.get()
    assert (ticket.customer, ticket.requester, ticket.channel, ticket.subject) == (
        customer,
        ana,
        "email",
        "Export to CSV fails with error 500",
    )
    message = ticket.messages.get()
    assert message.body_text.strip() == "When I click Export on the reports page I get an error 500."
    assert message.email_message_id == "<CAF3u8Jx+pm1@mail.gmail.com>"

    assert post(client, anymail_urls).status_code == 200  # the provider retries: stored, flagged, no ticket
    assert Ticket.objects.count() == 1
    assert list(InboundEmail.objects.order_by("pk").values_list("status", flat=True)) == ["processed", "ignored"]
