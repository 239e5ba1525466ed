"""The support email loop end to end: a customer's email becomes a ticket, the agent's reply arrives at a real
SMTP server (tests/smtp.py) with the threading headers a mail client needs, and the customer's answer, quoted
the way Gmail quotes, threads back onto the same ticket.

Celery runs in this process: the broker is replaced by a recorder of `crm.send_email` publications, and a
delivery is `send_email.apply(...)` (twice per publication where the test says so: a redelivered task).
"""

import datetime as dt
import html
import textwrap
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parsedate_to_datetime

import pytest

from config.celery import app as celery_app
from crm.models import OutboundEmail
from crm.services import contact_create, customer_create
from crm.tasks import send_email
from tickets.inbound_email import inbound_email_receive
from tickets.models import InboundEmail, Ticket, TicketMessage
from tickets.services import REPLY_MARKER, ticket_change_status, ticket_reply

pytestmark = pytest.mark.django_db


class Broker:
    """Stands in for the broker: records the email ids published; `deliver()` runs them like a worker."""

    def __init__(self, capture_on_commit):
        self.published: list[int] = []
        self.capture_on_commit = capture_on_commit

    def apply_async(self, args=None, kwargs=None, countdown=None, **options):
        self.published.append(args[0])

    def deliver(self, times=1):
        published, self.published = self.published, []
        for email_id in published:
            for _ in range(times):
                with self.capture_on_commit(execute=True):
                    send_email.apply((email_id,))
        return published


@pytest.fixture
def broker(monkeypatch, django_capture_on_commit_callbacks):
    broker = Broker(django_capture_on_commit_callbacks)
    monkeypatch.setattr(celery_app.tasks["crm.send_email"], "apply_async", broker.apply_async)
    return broker


@pytest.fixture
def ana(db):
    customer = customer_create(name="Globex", domain="globex.example")
    return contact_create(customer=customer, email="ana@globex.example", first_name="Ana", last_name="Lima")


@pytest.fixture
def agent(make_staff):
    return make_staff("support_agent", email="sam@example.com", full_name="Sam Agent")


def client_email(
    *,
    subject: str,
    text: str,
    html_body: str | None = None,
    headers: dict | None = None,
    to: str = "Support <support@example.com>",
) -> bytes:
    """An email as a mail client sends it (CRLF line ends, quoted-printable UTF-8, multipart/alternative),
    with the headers the receiving MTA adds on top."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = "Ana Lima <ana@globex.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC).astimezone())
    message["Message-ID"] = make_msgid(domain="mail.gmail.com")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, cte="quoted-printable")
    if html_body is not None:
        message.add_alternative(html_body, subtype="html", cte="quoted-printable")
    received = (
        b"Return-Path: <ana@globex.example>\r\n"
        b"Received: from mail-ej1-f41.google.com (mail-ej1-f41.google.com [209.85.218.41])\r\n"
        b"\tby mx.example.com with ESMTPS id 4f9c2a for <support@example.com>;\r\n"
        b"\t" + format_datetime(dt.datetime.now(dt.UTC)).encode() + b"\r\n"
    )
    return received + message.as_bytes()


def gmail_answer(received, text: str) -> bytes:
    """Ana answers the email she received, the way Gmail does: to its Reply-To (else its From), her text on
    top, an attribution line ("On <date> <sender> wrote:", wrapped at 76 columns), the received text quoted
    with "> ", the HTML quote in a gmail_quote blockquote; In-Reply-To our Message-ID, References the thread
    so far."""
    original = received.message
    sent = parsedate_to_datetime(original["Date"])
    when = f"{sent:%a, %b} {sent.day}, {sent:%Y} at {sent.hour % 12 or 12}:{sent:%M %p}"
    attribution = f"On {when} {original['From']} wrote:"
    quoted = "\n".join(">" + (f" {line}" if line else "") for line in received.text.splitlines())
    plain = f"{text}\n\n" + "\n".join(textwrap.wrap(attribution, 76)) + f"\n\n{quoted}\n"
    quoted_html = received.html or "<br>".join(html.escape(line) for line in received.text.splitlines())
    markup = (
        f'<div dir="ltr">{html.escape(text)}</div><br>'
        '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f"{html.escape(attribution)}<br></div>"
        '<blockquote class="gmail_quote" '
        'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
        f'padding-left:1ex">{quoted_html}</blockquote></div>'
    )
    references = f"{original['References'] or ''} {original['Message-ID']}".strip()
    subject = (
        original["Subject"] if original["Subject"].lower().startswith("re:") else f"Re: {original['Subject']}"
    )
    return client_email(
        subject=subject,
        text=plain,
        html_body=markup,
        headers={"In-Reply-To": original["Message-ID"], "References": references},
        to=original["Reply-To"] or original["From"],
    )


def email_ticket(subject: str, text: str) -> Ticket:
    """A ticket opened by an email from Ana."""
    inbound = inbound_email_receive(raw=client_email(subject=subject, text=text))
    assert inbound.created_ticket
    return Ticket.objects.get(pk=inbound.ticket_id)


def message_id_of(raw: bytes) -> str:
    from email import message_from_bytes

    return message_from_bytes(raw, policy=policy.default)["Message-ID"]


def test_customer_email_agent_reply_and_gmail_answer_thread_on_one_ticket(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    first = client_email(
        subject="Export to CSV fails",
        text="Hello,\n\nWhen I click “Export” I get an error 500.\n\nThanks,\nAna\n",
        html_body='<div dir="ltr">Hello,<div><br></div><div>When I click “Export” I get an error 500.</div>'
        "<div><br></div><div>Thanks,</div><div>Ana</div></div>",
    )
    first_id = message_id_of(first)
    with django_capture_on_commit_callbacks(execute=True):
        inbound = inbound_email_receive(raw=first)
    assert (inbound.status, inbound.created_ticket) == ("processed", True)
    ticket = Ticket.objects.get(pk=inbound.ticket_id)
    assert (ticket.requester, ticket.channel, ticket.status, ticket.subject) == (
        ana,
        "email",
        "new",
        "Export to CSV fails",
    )
    assert broker.published == []  # nothing goes out to the customer on a new ticket

    with django_capture_on_commit_callbacks(execute=True):
        reply = ticket_reply(
            ticket=ticket,
            body="Hi Ana,\n\nWe fixed the export. Could you try again?\n\nSam",
            body_html="<p>Hi Ana,</p><p>We fixed the export. Could you try again?</p><p>Sam</p>",
            actor=agent,
        )
        ticket_change_status(ticket=ticket, status="pending", actor=agent)
    assert smtp_server.messages == []  # a row first; the task sends it
    broker.deliver()

    [received] = smtp_server.messages
    email = received.message
    reply.refresh_from_db()
    assert received.rcpt_tos == ["ana@globex.example"] and email["To"] == "ana@globex.example"
    assert email["Subject"] == f"Re: Export to CSV fails [#{ticket.pk}]"
    # Ana's "Reply" goes to the support mailbox the inbound email path reads, not to the sending address.
    assert email["Reply-To"] == "support@example.com"
    assert email["In-Reply-To"] == first_id
    assert first_id in email["References"].split()
    assert email["Message-ID"] == reply.email_message_id
    assert email["Message-ID"].endswith("@crm.localhost>") and email["Message-ID"] != first_id
    assert received.text.splitlines()[0] == REPLY_MARKER
    assert "We fixed the export. Could you try again?" in received.text
    assert "<p>We fixed the export. Could you try again?</p>" in received.html

    answer = gmail_answer(received, "Yes, it works now. Thank you!")
    assert b"> We fixed the export. Could you try again?" in answer.replace(b"=\r\n", b"")
    with django_capture_on_commit_callbacks(execute=True):
        inbound = inbound_email_receive(raw=answer)
    assert (inbound.status, inbound.created_ticket, inbound.ticket_id) == ("processed", False, ticket.pk)
    message = TicketMessage.objects.get(pk=inbound.ticket_message_id)
    assert message.body_text == "Yes, it works now. Thank you!"  # quoted history trimmed
    assert (message.author_contact, message.channel, message.email_message_id) == (
        ana,
        "email",
        message_id_of(answer),
    )
    ticket.refresh_from_db()
    assert ticket.status == "open"  # the customer's answer reopened the pending ticket
    assert Ticket.objects.count() == 1
    assert broker.published == [] and len(smtp_server.messages) == 1  # no auto-acknowledgement, no loop

    # The next reply continues the thread: it answers Ana's latest email and references the whole thread.
    with django_capture_on_commit_callbacks(execute=True):
        second = ticket_reply(ticket=ticket, body="Great, closing this one.", actor=agent)
    broker.deliver()
    second.refresh_from_db()
    follow = smtp_server.messages[1].message
    assert follow["In-Reply-To"] == message_id_of(answer)
    assert follow["References"].split() == [first_id, reply.email_message_id, message_id_of(answer)]
    assert follow["Message-ID"] == second.email_message_id
    assert smtp_server.messages[1].html is None  # a text-only reply has no HTML part


def test_an_answer_with_only_the_ticket_reference_threads_by_subject(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    """A client that drops In-Reply-To/References (some webmails, a forwarded reply): the [#id] in the
    subject threads it."""
    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Invoice is wrong", "Wrong VAT.")
        ticket_reply(ticket=ticket, body="Which invoice number?", actor=agent)
    broker.deliver()
    [received] = smtp_server.messages
    answer = client_email(subject=received.message["Subject"], text="INV-2026-114\n")
    with django_capture_on_commit_callbacks(execute=True):
        inbound = inbound_email_receive(raw=answer)
    assert (inbound.ticket_id, inbound.created_ticket) == (ticket.pk, False)
    assert TicketMessage.objects.get(pk=inbound.ticket_message_id).body_text == "INV-2026-114"


def test_our_own_reply_coming_back_is_a_loop(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    """The reply reaches the support mailbox again (a Bcc, a forwarding rule): never a ticket or a message."""
    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Help", "Hi")
        ticket_reply(ticket=ticket, body="Hello Ana", actor=agent)
    broker.deliver()
    [received] = smtp_server.messages
    with django_capture_on_commit_callbacks(execute=True):
        inbound = inbound_email_receive(raw=received.raw)
    assert (inbound.status, inbound.reason) == ("ignored", "sent from our own address (mail loop)")
    assert ticket.messages.count() == 2 and Ticket.objects.count() == 1
    assert broker.published == []


def test_an_internal_note_sends_nothing(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Help", "Hi")
        note = ticket_reply(ticket=ticket, body="Customer is on the legacy plan.", public=False, actor=agent)
    broker.deliver()
    assert smtp_server.messages == [] and not OutboundEmail.objects.exists()
    note.refresh_from_db()
    assert (note.public, note.email_message_id) == (False, "")
    ticket.refresh_from_db()
    assert ticket.first_response_at is None and ticket.status == "new"


def test_a_reply_task_delivered_twice_sends_one_email(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Help", "Hi")
        reply = ticket_reply(ticket=ticket, body="Hello Ana", actor=agent)
    [email_id] = broker.deliver(times=2)
    # And once more, as a stray duplicate published later would be.
    send_email.apply((email_id,))
    reply.refresh_from_db()
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [reply.email_message_id]
    email = OutboundEmail.objects.get(pk=email_id)
    assert (email.status, email.attempts, email.kind, email.contact) == ("sent", 1, "ticket_reply", ana)


def test_a_customer_answer_delivered_twice_is_stored_once(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Help", "Hi")
        ticket_reply(ticket=ticket, body="Which browser?", actor=agent)
    broker.deliver()
    answer = gmail_answer(smtp_server.messages[0], "Firefox")
    with django_capture_on_commit_callbacks(execute=True):
        inbound_email_receive(raw=answer)
        again = inbound_email_receive(raw=answer)
    assert (again.status, again.ticket_id) == ("ignored", None)
    assert list(ticket.messages.values_list("body_text", flat=True)) == ["Hi", "Which browser?", "Firefox"]
    assert InboundEmail.objects.count() == 3


def test_the_quoted_history_is_trimmed_from_the_stored_html_too(
    ana, agent, broker, smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Help", "Hi")
        ticket_reply(ticket=ticket, body="Which browser?", body_html="<p>Which browser?</p>", actor=agent)
    broker.deliver()
    with django_capture_on_commit_callbacks(execute=True):
        inbound = inbound_email_receive(raw=gmail_answer(smtp_server.messages[0], "Firefox"))
    message = TicketMessage.objects.get(pk=inbound.ticket_message_id)
    assert message.body_text == "Firefox"
    assert "Firefox" in message.body_html
    assert "Which browser?" not in message.body_html and "wrote:" not in message.body_html


def test_a_reply_to_a_bounced_requester_is_recorded_not_emailed(ana, agent, django_capture_on_commit_callbacks):
    from crm.ledger import contact_mark_bounced, contact_unsubscribe
    from crm.models import LedgerEntry, OutboundEmail, TimelineEvent

    with django_capture_on_commit_callbacks(execute=True):
        ticket = email_ticket("Help", "Hi")
    # Unsubscribing from surveys does not stop replies to the contact's own request...
    contact_unsubscribe(contact=ticket.requester)
    ticket_reply(ticket=ticket, body="First answer", actor=agent)
    assert OutboundEmail.objects.filter(kind="ticket_reply").count() == 1
    # ...a bounced address does: the reply stays on the ticket, the suppression is recorded with its reason.
    contact_mark_bounced(contact=ticket.requester, detail="550 5.1.1 user unknown")
    message = ticket_reply(ticket=ticket, body="Second answer", actor=agent)
    assert OutboundEmail.objects.filter(kind="ticket_reply").count() == 1
    assert message.email_message_id == ""
    entry = LedgerEntry.objects.filter(kind="ticket_reply").latest("created_at")
    assert (entry.outcome, entry.reason) == ("suppressed", "bounced")
    assert TimelineEvent.objects.filter(kind="ticket.reply_not_emailed").exists()
