"""REST API v1: POST /api/v1/inbound/email/ with a raw RFC 822 message."""

from email.message import EmailMessage
from pathlib import Path

import pytest

from crm.services import contact_create, customer_create
from tickets.models import InboundEmail, Ticket, TicketAttachment, TicketMessage

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbound/email/"
MIME = Path(__file__).parent / "mime"


@pytest.fixture
def globex():
    customer = customer_create(name="Globex", domain="globex.example")
    return customer, contact_create(customer=customer, email="ana@globex.example", first_name="Ana")


def post(api, raw: bytes, content_type: str = "message/rfc822"):
    return api.generic("POST", URL, raw, content_type=content_type)


def test_a_new_message_opens_a_ticket(api_client_for, globex):
    customer, ana = globex
    api = api_client_for("support_agent")
    response = post(api, (MIME / "gmail_multipart.eml").read_bytes())
    assert response.status_code == 202, response.json()
    body = response.json()
    inbound = InboundEmail.objects.get()
    ticket = Ticket.objects.get()
    assert body == {
        "id": inbound.pk,
        "status": "processed",
        "reason": "",
        "ticket": ticket.pk,
        "created": True,
    }
    assert (ticket.customer, ticket.requester, ticket.channel) == (customer, ana, "email")
    assert ticket.subject == "Export to CSV fails with error 500"
    assert bytes(inbound.raw) == (MIME / "gmail_multipart.eml").read_bytes() and inbound.source == "api"

    # Delivered again (same Message-ID): ignored, no second ticket.
    again = post(
        api, (MIME / "gmail_multipart.eml").read_bytes(), content_type="application/octet-stream"
    )
    assert again.status_code == 202
    assert again.json()["status"] == "ignored" and again.json()["ticket"] is None
    assert again.json()["created"] is False and again.json()["reason"].startswith("duplicate")
    assert Ticket.objects.count() == 1 and InboundEmail.objects.count() == 2


def test_auto_reply_is_ignored(api_client_for, globex):
    response = post(api_client_for("csm"), (MIME / "auto_reply.eml").read_bytes())
    assert response.status_code == 202
    assert response.json()["status"] == "ignored" and response.json()["ticket"] is None
    assert not Ticket.objects.exists()


def test_unknown_sender_lands_in_the_unmatched_queue(api_client_for):
    response = post(api_client_for("admin"), (MIME / "gmail_multipart.eml").read_bytes())
    assert response.status_code == 202
    assert response.json()["status"] == "unmatched" and response.json()["ticket"] is None
    assert InboundEmail.objects.get().status == "unmatched"


@pytest.mark.parametrize(
    "raw",
    [
        b"this is not an email at all, just some bytes",
        b"",
        b"\x00\x01\x02 binary junk\r\n\r\n",
    ],
)
def test_a_message_that_is_not_rfc822_is_kept_flagged_failed(api_client_for, globex, raw):
    tickets, messages = Ticket.objects.count(), TicketMessage.objects.count()
    response = post(api_client_for("support_agent"), raw)
    assert response.status_code == 400
    body = response.json()
    inbound = InboundEmail.objects.get()
    assert body["id"] == inbound.pk and body["status"] == "failed"
    assert "RFC 822" in body["detail"] or "empty" in body["detail"]
    assert set(body) == {"id", "status", "detail"}
    assert inbound.status == "failed" and bytes(inbound.raw) == raw
    assert (Ticket.objects.count(), TicketMessage.objects.count()) == (tickets, messages)


def test_permissions_and_media_types(api_client_for, client, globex):
    raw = (MIME / "gmail_multipart.eml").read_bytes()
    assert client.post(URL, raw, content_type="message/rfc822").status_code == 401
    assert post(api_client_for("read_only"), raw).status_code == 403
    response = post(api_client_for("admin"), b'{"raw": "..."}', content_type="application/json")
    assert response.status_code == 415
    assert not InboundEmail.objects.exists()


def big_message(size: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Ana <ana@globex.example>"
    message["To"] = "support@example.com"
    message["Subject"] = "Full export attached"
    message["Message-ID"] = "<big-1@globex.example>"
    message.set_content("The export is attached.")
    message.add_attachment(
        b"x" * size, maintype="application", subtype="octet-stream", filename="export.bin"
    )
    return message.as_bytes()


def test_a_5_mb_message_is_accepted(api_client_for, globex, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    raw = big_message(4_000_000)  # base64: over 5 MiB on the wire
    assert len(raw) > 5 * 1024 * 1024
    response = post(api_client_for("support_agent"), raw)
    assert response.status_code == 202, response.json()
    assert response.json()["created"] is True
    attachment = TicketAttachment.objects.get()
    assert (attachment.filename, attachment.size) == ("export.bin", 4_000_000)


def test_a_message_over_the_limit_is_refused_before_storing(api_client_for, globex, settings):
    settings.TICKETS_INBOUND_EMAIL_MAX_BYTES = 10_000
    response = post(api_client_for("support_agent"), big_message(20_000))
    assert response.status_code == 413
    assert "limit is 10000 bytes" in response.json()["detail"]
    assert not InboundEmail.objects.exists()
