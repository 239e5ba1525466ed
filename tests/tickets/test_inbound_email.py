from pathlib import Path

import pytest

from crm.models import Contact
from crm.services import contact_create, customer_create
from tickets.inbound_email import inbound_email_process, inbound_email_receive, trim_quoted
from tickets.models import InboundEmail, Ticket, TicketAttachment, TicketMessage
from tickets.services import ticket_change_status, ticket_reply

MIME = Path(__file__).parent / "mime"


def sample(name: str, **replace: str) -> bytes:
    raw = (MIME / name).read_bytes()
    for old, new in replace.items():
        raw = raw.replace(old.encode(), new.encode())
    return raw


@pytest.fixture
def globex(db):
    customer = customer_create(name="Globex", domain="globex.example")
    ana = contact_create(customer=customer, email="ana@globex.example", first_name="Ana")
    return customer, ana


@pytest.mark.django_db
def test_new_message_opens_a_ticket_with_sanitised_html(globex):
    customer, ana = globex
    inbound = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    assert inbound.status == "processed" and inbound.created_ticket
    ticket = Ticket.objects.get(pk=inbound.ticket_id)
    assert (ticket.customer, ticket.requester, ticket.channel) == (customer, ana, "email")
    assert ticket.subject == "Export to CSV fails with error 500"
    message = ticket.messages.get()
    assert "“Export”" in message.body_text and message.email_message_id == "<CAF3u8Jx+bq2e1@mail.gmail.com>"
    assert "<script>" not in message.body_html and "Export" in message.body_html
    assert bytes(InboundEmail.objects.get(pk=inbound.pk).raw).startswith(b"Return-Path:")


@pytest.mark.django_db
def test_html_only_latin1_from_unknown_sender_of_a_known_domain_creates_the_contact(globex):
    customer, _ = globex
    inbound = inbound_email_receive(raw=sample("outlook_html_only_latin1.eml"))
    ticket = Ticket.objects.get(pk=inbound.ticket_id)
    assert ticket.subject == "Problème de facturation"
    assert ticket.requester.email == "francois@globex.example" and ticket.requester.customer == customer
    body = ticket.messages.get().body_text
    assert "erronée" in body and "1 000 €" in body and "p{margin" not in body


@pytest.mark.django_db
def test_reply_threads_trims_quotes_decodes_cp1252_and_keeps_attachment(globex, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    first = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    ticket = Ticket.objects.get(pk=first.ticket_id)
    reply = ticket_reply(ticket=ticket, body="Could you send us a screenshot?")
    ticket_change_status(ticket=ticket, status="pending")
    reply.refresh_from_db()
    raw = sample("reply_with_quote_and_attachment.eml", INREPLYTO=reply.email_message_id, TICKET=str(ticket.pk))
    inbound = inbound_email_receive(raw=raw)
    assert inbound.status == "processed" and not inbound.created_ticket and inbound.ticket_id == ticket.pk
    ticket.refresh_from_db()
    assert ticket.status == "open"  # the customer's reply reopened the pending ticket
    message = TicketMessage.objects.get(pk=inbound.ticket_message_id)
    assert message.body_text == "Here is the screenshot you asked for – it shows the error."
    attachment = TicketAttachment.objects.get(message=message)
    assert (attachment.filename, attachment.content_type, attachment.size) == ("screenshot.png", "image/png", 70)
    assert "screenshot" not in attachment.file.name  # stored under a random name


@pytest.mark.django_db
def test_subject_reference_threads_only_for_the_customers_contacts(globex, contact_factory):
    ticket = Ticket.objects.get(pk=inbound_email_receive(raw=sample("gmail_multipart.eml")).ticket_id)
    by_ref = sample("reply_with_quote_and_attachment.eml", INREPLYTO="<unknown@x>", TICKET=str(ticket.pk))
    by_ref = by_ref.replace(b"References: <CAF3u8Jx+bq2e1@mail.gmail.com>", b"References:")
    assert inbound_email_receive(raw=by_ref).ticket_id == ticket.pk
    # Someone else quoting the reference does not get into Globex's ticket: a ticket of their own instead.
    stranger = contact_factory(email="eve@initech.example")
    forged = by_ref.replace(b"ana@globex.example", stranger.email.encode()).replace(b"reply2", b"reply3")
    inbound = inbound_email_receive(raw=forged)
    assert inbound.created_ticket and inbound.ticket_id != ticket.pk
    assert Ticket.objects.get(pk=inbound.ticket_id).customer == stranger.customer


@pytest.mark.django_db
def test_stranger_replying_in_thread_goes_to_triage(globex, contact_factory):
    first = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    stranger = contact_factory(email="eve@initech.example")
    raw = sample("reply_with_quote_and_attachment.eml", INREPLYTO="<unknown@x>", TICKET="0")
    inbound = inbound_email_receive(raw=raw.replace(b"ana@globex.example", stranger.email.encode()))
    assert inbound.status == "unmatched" and "not a contact of Globex" in inbound.reason
    assert TicketMessage.objects.filter(ticket_id=first.ticket_id).count() == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [("auto_reply.eml", "Auto-Submitted: auto-replied"), ("bounce.eml", "delivery status report (bounce)")],
)
@pytest.mark.django_db
def test_auto_replies_and_bounces_never_create_tickets(globex, name, reason):
    inbound = inbound_email_receive(raw=sample(name))
    assert (inbound.status, inbound.reason, inbound.ticket_id) == ("ignored", reason, None)
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
def test_our_own_address_is_a_loop(globex, settings):
    settings.SUPPORT_EMAIL = "support@example.com"
    raw = sample("gmail_multipart.eml").replace(b"Ana Lima <Ana@Globex.example>", b"support@example.com")
    assert inbound_email_receive(raw=raw).reason == "sent from our own address (mail loop)"
    assert Ticket.objects.count() == 0


@pytest.mark.django_db
def test_duplicate_message_id_is_ignored(globex):
    inbound_email_receive(raw=sample("gmail_multipart.eml"))
    again = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    assert again.status == "ignored" and again.reason.startswith("duplicate")
    assert Ticket.objects.count() == 1 and InboundEmail.objects.count() == 2


@pytest.mark.django_db
def test_forwarded_by_staff_opens_ticket_for_the_original_sender(make_staff):
    make_staff("support_agent", email="agent@example.com")
    initech = customer_create(name="Initech", domain="initech.example")
    inbound = inbound_email_receive(raw=sample("forwarded_by_agent.eml"))
    ticket = Ticket.objects.get(pk=inbound.ticket_id)
    assert ticket.requester.email == "bo@initech.example" and ticket.customer == initech


@pytest.mark.django_db
def test_unknown_sender_lands_in_unmatched_queue(db):
    inbound = inbound_email_receive(raw=sample("gmail_multipart.eml"))
    assert inbound.status == "unmatched" and "no customer matches ana@globex.example" in inbound.reason
    assert Ticket.objects.count() == 0 and Contact.objects.count() == 0


@pytest.mark.django_db
def test_non_utf8_japanese(globex):
    inbound = inbound_email_receive(raw=sample("shift_jis.eml").replace(b"tanaka@", b"ana@"))
    message = Ticket.objects.get(pk=inbound.ticket_id).messages.get()
    assert message.body_text.strip() == "ログインできません"


@pytest.mark.django_db
def test_garbage_is_kept_flagged_and_can_be_retried(globex):
    inbound = inbound_email_receive(raw=b"\x00\x01 definitely not an email")
    assert inbound.status == "failed" and inbound.reason == "not an RFC 822 message"
    assert bytes(InboundEmail.objects.get(pk=inbound.pk).raw) == b"\x00\x01 definitely not an email"
    assert Ticket.objects.count() == 0
    # A message that failed for another reason is processed again on retry.
    InboundEmail.objects.filter(pk=inbound.pk).update(raw=sample("gmail_multipart.eml"))
    inbound.refresh_from_db()
    assert inbound_email_process(inbound=inbound).status == "processed"


def test_trim_quoted_variants():
    assert trim_quoted("Thanks!\n\nOn Tue, 24 Nov 2026, Support <s@x> wrote:\n> old") == "Thanks!"
    assert trim_quoted("Merci\n\nLe mar. 24 nov. 2026, Support a écrit :\n> old") == "Merci"
    assert trim_quoted("Ok\n-----Original Message-----\nFrom: x") == "Ok"
    assert trim_quoted("Answer\n##- Please type your reply above this line -##\nold") == "Answer"
    assert trim_quoted("> only a quote") == "> only a quote"


@pytest.mark.parametrize(
    ("replace", "reason"),
    [
        ({"MIME-Version: 1.0": "Precedence: bulk\nMIME-Version: 1.0"}, "Precedence: bulk"),
        ({"MIME-Version: 1.0": "X-Autoreply: yes\nMIME-Version: 1.0"}, "X-Autoreply header"),
        (
            {"From: Ana Lima <Ana@Globex.example>": "From: Mail Delivery System <MAILER-DAEMON@globex.example>"},
            "sent by mailer-daemon@globex.example",
        ),
    ],
    ids=["precedence-bulk", "x-autoreply", "mailer-daemon"],
)
@pytest.mark.django_db
def test_bulk_auto_replies_and_mailer_daemon_are_stored_flagged_never_a_ticket(globex, replace, reason):
    raw = sample("gmail_multipart.eml", **replace)
    inbound = inbound_email_receive(raw=raw)
    assert (inbound.status, inbound.reason, inbound.ticket_id) == ("ignored", reason, None)
    stored = InboundEmail.objects.get(pk=inbound.pk)
    assert (stored.status, stored.reason, bytes(stored.raw)) == ("ignored", reason, raw)
    assert Ticket.objects.count() == 0 and TicketMessage.objects.count() == 0
