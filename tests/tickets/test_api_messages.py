"""REST API v1: /api/v1/tickets/{id}/messages/ (replies, internal notes, customer messages, attachments) and
/api/v1/tickets/{id}/status-changes/."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import OutboundEmail, TimelineEvent
from crm.services import contact_create, customer_create
from tickets.models import Ticket, TicketAttachment, TicketMessage, TicketStatusChange
from tickets.services import ticket_change_status, ticket_create

pytestmark = pytest.mark.django_db


def messages_url(ticket) -> str:
    return f"/api/v1/tickets/{ticket.pk}/messages/"


def changes_url(ticket) -> str:
    return f"/api/v1/tickets/{ticket.pk}/status-changes/"


def snapshot() -> tuple:
    return (
        list(Ticket.objects.order_by("pk").values()),
        list(TicketMessage.objects.order_by("pk").values_list("pk", "ticket_id", "body_text")),
        TicketAttachment.objects.count(),
        TicketStatusChange.objects.count(),
        OutboundEmail.objects.count(),
        TimelineEvent.objects.count(),
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def ann():
    customer = customer_create(name="Acme", domain="acme.example")
    return contact_create(customer=customer, email="ann@acme.example")


@pytest.fixture
def ticket(ann):
    return ticket_create(customer=ann.customer, requester=ann, subject="Export fails", body="Error 500.")


def stored_files(media) -> list[str]:
    return [os.path.join(root, name) for root, _dirs, names in os.walk(media) for name in names]


def test_public_reply_is_emailed_to_the_requester(api_client_for, ticket):
    api = api_client_for("support_agent")
    response = api.post(messages_url(ticket), {"body": "We are on it.", "public": True}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["ticket"], body["public"], body["body"], body["from_contact"]) == (
        ticket.pk,
        True,
        "We are on it.",
        None,
    )
    assert body["author"] == api.api_key.user.email and body["attachments"] == []
    email = OutboundEmail.objects.get(kind="ticket_reply")
    assert email.to_email == "ann@acme.example" and f"[#{ticket.pk}]" in email.subject
    assert "We are on it." in email.text_body and body["email_message_id"] == email.message_id
    ticket.refresh_from_db()
    assert ticket.status == "open" and ticket.first_response_at is not None


def test_internal_note_is_never_sent(api_client_for, ticket):
    response = api_client_for("support_agent").post(
        messages_url(ticket), {"body": "Customer is on the old plan.", "public": False}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["public"] is False
    assert not OutboundEmail.objects.exists()
    ticket.refresh_from_db()
    assert ticket.status == "new" and ticket.first_response_at is None


def test_list_messages_oldest_first_with_flat_query_count(api_client_for, ticket, media):
    api = api_client_for("read_only")
    writer = api_client_for("support_agent")
    api.get(messages_url(ticket))  # warm-up

    def count(n) -> int:
        while TicketMessage.objects.filter(ticket=ticket).count() < n:
            writer.post(
                messages_url(ticket),
                {
                    "body": "note",
                    "public": "false",
                    "attachments": [SimpleUploadedFile("a.txt", b"hello")],
                },
                format="multipart",
            )
        with CaptureQueriesContext(connection) as queries:
            response = api.get(messages_url(ticket), {"page_size": n})
        rows = response.json()["results"]
        assert (
            len(rows) == n
            and rows[0]["body"] == "Error 500."
            and rows[0]["from_contact"] == ticket.requester_id
        )
        assert all(len(row["attachments"]) == 1 for row in rows[1:])
        return len(queries)

    assert count(2) == count(12)
    assert api.get(f"/api/v1/tickets/{ticket.pk + 1000}/messages/").status_code == 404


@pytest.mark.parametrize("body", ["", "   \n "])
def test_empty_body_is_refused_and_changes_nothing(api_client_for, ticket, body):
    before = snapshot()
    response = api_client_for("support_agent").post(messages_url(ticket), {"body": body}, format="json")
    assert response.status_code == 400
    assert response.json() == {"body": ["This field may not be blank."]}
    assert snapshot() == before


def test_reply_to_a_closed_ticket_is_refused_and_changes_nothing(api_client_for, ticket):
    ticket_change_status(ticket=ticket, status="solved")
    ticket_change_status(ticket=ticket, status="closed")
    before = snapshot()
    response = api_client_for("support_agent").post(
        messages_url(ticket), {"body": "Hello?"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"ticket": ["The ticket is closed; open a follow-up ticket instead."]}
    assert snapshot() == before


def test_attachments_are_stored_under_random_names_with_staff_links(api_client_for, ticket, media):
    response = api_client_for("support_agent").post(
        messages_url(ticket),
        {
            "body": "Logs attached.",
            "attachments": [
                SimpleUploadedFile("server.log", b"line 1\nline 2\n", content_type="text/plain"),
                SimpleUploadedFile("../../etc/shot.png", b"\x89PNG....", content_type="image/png"),
            ],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["public"] is True  # left out of a multipart form: still a public reply
    rows = body["attachments"]
    assert [(a["filename"], a["content_type"], a["size"]) for a in rows] == [
        ("server.log", "text/plain", 14),
        ("shot.png", "image/png", 8),
    ]
    for row in rows:
        assert row["url"] == f"http://testserver/tickets/attachments/{row['id']}/"
    names = [TicketAttachment.objects.get(pk=row["id"]).file.name for row in rows]
    assert all("server" not in name and "shot" not in name for name in names)
    assert len(stored_files(media)) == 2


def test_attachment_over_the_limit_refuses_the_whole_message(api_client_for, ticket, media, settings):
    settings.TICKETS_ATTACHMENT_MAX_BYTES = 10
    before = snapshot()
    response = api_client_for("support_agent").post(
        messages_url(ticket),
        {
            "body": "Two files.",
            "attachments": [
                SimpleUploadedFile("ok.txt", b"small"),
                SimpleUploadedFile("big.log", b"x" * 11),
            ],
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json() == {
        "attachments": ["big.log is 11 bytes, over the limit of 10 bytes per file."]
    }
    assert snapshot() == before
    assert stored_files(media) == []


def test_customer_message_reopens_a_pending_ticket(api_client_for, ticket, ann):
    ticket_change_status(ticket=ticket, status="pending")
    response = api_client_for("support_agent").post(
        messages_url(ticket), {"body": "Still broken.", "from_contact": ann.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["from_contact"], body["author"], body["channel"]) == (ann.pk, None, "email")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert not OutboundEmail.objects.exists()


def test_customer_message_refusals(api_client_for, ticket, ann, make_staff):
    stranger = contact_create(customer=customer_create(name="Globex"), email="eve@globex.example")
    agent = make_staff("support_agent")
    api = api_client_for("support_agent")
    before = snapshot()
    response = api.post(messages_url(ticket), {"body": "Hi", "from_contact": stranger.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "from_contact": ["This contact is not one of the ticket's customer's contacts."]
    }
    response = api.post(
        messages_url(ticket),
        {"body": "Hi", "from_contact": ann.pk, "author": agent.email, "public": False},
        format="json",
    )
    assert response.json() == {
        "author": ["Give either author (staff) or from_contact (customer), not both."],
        "public": ["A message from the customer is always public."],
    }
    response = api.post(messages_url(ticket), {"body": "Hi", "from_contact": 999999}, format="json")
    assert response.json() == {"from_contact": ['Invalid pk "999999" - object does not exist.']}
    assert snapshot() == before


def test_read_only_cannot_post_messages(api_client_for, ticket):
    before = snapshot()
    response = api_client_for("read_only").post(messages_url(ticket), {"body": "x"}, format="json")
    assert response.status_code == 403
    assert snapshot() == before


# --- Status changes -----------------------------------------------------------------------------------


def test_status_changes_log_and_post(api_client_for, ticket):
    api = api_client_for("support_agent")
    response = api.post(
        changes_url(ticket), {"status": "on_hold", "reason": "waiting on engineering"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["from_status"], response.json()["to_status"], response.json()["reason"]) == (
        "new",
        "on_hold",
        "waiting on engineering",
    )
    again = api.post(changes_url(ticket), {"status": "on_hold"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    log = api_client_for("read_only").get(changes_url(ticket)).json()["results"]
    assert [(row["from_status"], row["to_status"]) for row in log] == [(None, "new"), ("new", "on_hold")]
    assert log[1]["actor"] == api.api_key.user.email


def test_forbidden_status_change_is_refused_and_changes_nothing(api_client_for, ticket):
    before = snapshot()
    api = api_client_for("support_agent")
    response = api.post(changes_url(ticket), {"status": "closed"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"status": ["A ticket cannot go from new to closed."]}
    response = api.post(
        changes_url(ticket), {"status": "open", "at": "2024-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["at"][0].startswith("Must not be before the ticket's latest event")
    assert snapshot() == before


def test_status_log_query_count_is_flat(api_client_for, ticket, make_staff):
    api = api_client_for("read_only")
    agent = make_staff("support_agent")
    api.get(changes_url(ticket))  # warm-up

    def count(n) -> int:
        while TicketStatusChange.objects.filter(ticket=ticket).count() < n:
            current = Ticket.objects.get(pk=ticket.pk).status
            ticket_change_status(ticket=ticket, status="on_hold" if current != "on_hold" else "open", actor=agent)
        with CaptureQueriesContext(connection) as queries:
            rows = api.get(changes_url(ticket), {"page_size": n}).json()["results"]
        assert len(rows) == n and all(row["actor"] == agent.email for row in rows[1:])
        return len(queries)

    assert count(2) == count(12)
