"""Inbound email in the admin: read-only list, the unmatched queue for triage, failed messages processed
again."""

import pytest
from django.urls import reverse

from crm.models import Contact
from crm.services import contact_create, customer_create
from tickets.inbound_email import inbound_email_receive
from tickets.models import InboundEmail, Ticket

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tickets_inboundemail_changelist")


def raw_email(sender="dana@unknown.example", subject="Cannot export", message_id="<m1@unknown.example>"):
    return (
        f"From: Dana <{sender}>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nThe export button does nothing.\r\n"
    ).encode()


@pytest.fixture
def agent(client, make_staff):
    user = make_staff("support_agent", email="agent@example.com")
    client.force_login(user)
    return user


@pytest.fixture
def acme(db):
    customer = customer_create(name="Acme Corp", domain="acme.example")
    contact_create(customer=customer, email="jane@acme.example")
    return customer


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_list_filters_the_unmatched_queue_and_is_read_only(client, agent, acme):
    unmatched = inbound_email_receive(raw=raw_email())
    processed = inbound_email_receive(
        raw=raw_email(sender="jane@acme.example", message_id="<m2@acme.example>")
    )
    assert (unmatched.status, processed.status) == ("unmatched", "processed")
    response = client.get(CHANGELIST + "?status__exact=unmatched")
    assert response.status_code == 200
    assert [e.pk for e in response.context["cl"].result_list] == [unmatched.pk]
    content = response.content.decode()
    assert "dana@unknown.example" in content and "no customer matches dana@unknown.example" in content
    assert client.get(reverse("admin:tickets_inboundemail_add")).status_code == 403
    detail = client.get(reverse("admin:tickets_inboundemail_change", args=[unmatched.pk]))
    assert detail.status_code == 200 and "The export button does nothing." in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()


def test_assign_an_unmatched_sender_to_a_customer(client, agent, acme):
    unmatched = inbound_email_receive(raw=raw_email())
    selection = {"action": "assign_to_customer", "_selected_action": [unmatched.pk]}
    page = client.post(CHANGELIST, {**selection, "index": 0})
    assert page.status_code == 200 and "Assign senders to a customer" in page.content.decode()
    assert not Contact.objects.filter(email="dana@unknown.example").exists()

    response = client.post(CHANGELIST, {**selection, "apply": "1", "customer": acme.pk}, follow=True)
    assert response.status_code == 200
    unmatched.refresh_from_db()
    assert unmatched.status == "processed" and unmatched.created_ticket
    dana = Contact.objects.get(email="dana@unknown.example")
    assert dana.customer == acme
    ticket = Ticket.objects.get(pk=unmatched.ticket_id)
    assert (ticket.customer, ticket.requester, ticket.subject) == (acme, dana, "Cannot export")
    assert "Processed 1 email(s): 1 processed." in messages_of(response)


def test_process_again_retries_received_and_failed_only(client, agent, acme):
    failed = inbound_email_receive(raw=b"this is not an email at all")
    assert failed.status == "failed"
    waiting = InboundEmail.objects.create(
        raw=raw_email(sender="jane@acme.example", message_id="<m3@acme.example>")
    )
    unmatched = inbound_email_receive(raw=raw_email(message_id="<m4@unknown.example>"))
    selection = {
        "action": "process_again",
        "_selected_action": [failed.pk, waiting.pk, unmatched.pk],
        "index": 0,
    }
    response = client.post(CHANGELIST, selection, follow=True)
    assert response.status_code == 200
    waiting.refresh_from_db()
    failed.refresh_from_db()
    unmatched.refresh_from_db()
    assert waiting.status == "processed" and Ticket.objects.filter(pk=waiting.ticket_id).exists()
    assert failed.status == "failed" and failed.attempts == 2
    assert unmatched.status == "unmatched" and unmatched.attempts == 1  # not selected for a retry
    texts = messages_of(response)
    assert "Processed 2 email(s): 1 processed, 1 failed." in texts
    assert any(t.startswith(f"Email #{failed.pk}: failed:") for t in texts)


def test_read_only_role_cannot_run_the_actions(client, make_staff, acme):
    unmatched = inbound_email_receive(raw=raw_email())
    client.force_login(make_staff("read_only"))
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "assign_to_customer" not in response.content.decode()
    client.post(
        CHANGELIST,
        {
            "action": "assign_to_customer",
            "_selected_action": [unmatched.pk],
            "apply": "1",
            "customer": acme.pk,
        },
    )
    unmatched.refresh_from_db()
    assert (
        unmatched.status == "unmatched" and not Contact.objects.filter(email="dana@unknown.example").exists()
    )
