"""Merging a duplicate: the source is closed without being solved (no CSAT for the duplicate, not counted in
resolution time, FCR or SLA attainment), and whatever the customer sends to it afterwards (an email answering
it, an email with its [#reference], an API message) lands on the ticket it was merged into, through chains."""

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from crm.models import OutboundEmail
from crm.services import contact_create, customer_create
from surveys.models import Invitation
from surveys.services import survey_create
from tickets.inbound_email import inbound_email_receive
from tickets.metrics import ticket_metrics
from tickets.models import SlaTarget, Ticket, TicketMessage
from tickets.services import ticket_create, ticket_merge

pytestmark = pytest.mark.django_db


@pytest.fixture
def ana(standard_policy):
    customer = customer_create(name="Globex", domain="globex.example")
    return contact_create(customer=customer, email="ana@globex.example", first_name="Ana")


def email(*, subject: str, message_id: str, in_reply_to: str = "", body: str = "Any news?") -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Lima <ana@globex.example>"
    message["To"] = "support@example.com"
    message["Subject"] = subject
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    return message.as_bytes()


def open_by_email(subject: str, message_id: str) -> Ticket:
    inbound = inbound_email_receive(raw=email(subject=subject, message_id=message_id, body="Export fails."))
    assert inbound.created_ticket, inbound.reason
    return Ticket.objects.get(pk=inbound.ticket_id)


def test_merge_asks_no_csat_and_cancels_the_duplicates_targets(api_client_for, ana, django_capture_on_commit_callbacks):
    survey_create(name="Support CSAT", kind="csat", send_after_ticket_solved=True)
    with django_capture_on_commit_callbacks(execute=True):
        source = ticket_create(customer=ana.customer, requester=ana, subject="Export", body="Broken")
        target = ticket_create(customer=ana.customer, requester=ana, subject="Export (again)", body="Still")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for("support_agent").post(
            f"/api/v1/tickets/{source.pk}/merge/", {"into": target.pk}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert not Invitation.objects.exists()  # no CSAT about the duplicate
    assert not OutboundEmail.objects.exists()

    source.refresh_from_db()
    assert (source.status, source.merged_into_id, source.solved_at, source.resolution_seconds) == (
        "closed",
        target.pk,
        None,
        None,
    )
    last = source.status_changes.order_by("-at", "-pk").first()
    assert (last.from_status, last.to_status, last.reason) == ("new", "closed", f"merged into [#{target.pk}]")
    assert not source.status_changes.filter(to_status="solved").exists()
    states = dict(SlaTarget.objects.filter(ticket=source).values_list("metric", "state"))
    assert states == {"first_response": "cancelled", "resolution": "cancelled"}

    now = dt.datetime.now(dt.UTC)
    metrics = ticket_metrics(start=now - dt.timedelta(days=1), end=now + dt.timedelta(days=1))
    assert (metrics["solved"], metrics["first_contact_resolution_pct"]) == (0, None)
    assert metrics["sla_attainment"] == {}  # the duplicate's targets are neither met nor breached
    sla = api_client_for("read_only").get(f"/api/v1/tickets/{source.pk}/").json()["sla"]
    assert {metric: row["state"] for metric, row in sla.items() if row} == {
        "first_response": "cancelled",
        "resolution": "cancelled",
    }


def test_emails_to_a_merged_ticket_land_on_the_surviving_ticket(ana):
    source = open_by_email("Export fails", "<first@globex.example>")
    target = open_by_email("Export still fails", "<second@globex.example>")
    ticket_merge(source=source, target=target)

    by_message_id = inbound_email_receive(
        raw=email(subject="Re: Export fails", message_id="<r1@globex.example>", in_reply_to="<first@globex.example>")
    )
    assert (by_message_id.status, by_message_id.ticket_id, by_message_id.created_ticket) == (
        "processed",
        target.pk,
        False,
    )
    by_reference = inbound_email_receive(
        raw=email(subject=f"Re: Export fails [#{source.pk}]", message_id="<r2@globex.example>")
    )
    assert (by_reference.status, by_reference.ticket_id, by_reference.created_ticket) == (
        "processed",
        target.pk,
        False,
    )
    assert Ticket.objects.count() == 2  # no follow-up ticket of the closed duplicate

    # A chain: the surviving ticket merged again; the first duplicate's reference still finds the last one.
    third = ticket_create(customer=ana.customer, requester=ana, subject="Exports", body="Same problem")
    ticket_merge(source=target, target=third)
    chained = inbound_email_receive(
        raw=email(subject=f"Re: Export fails [#{source.pk}]", message_id="<r3@globex.example>")
    )
    assert (chained.ticket_id, chained.created_ticket) == (third.pk, False)
    assert TicketMessage.objects.filter(ticket=third).count() == 6


def test_an_api_customer_message_to_a_merged_ticket_goes_to_the_target(api_client_for, ana):
    source = ticket_create(customer=ana.customer, requester=ana, subject="Export", body="Broken")
    target = ticket_create(customer=ana.customer, requester=ana, subject="Export (again)", body="Still")
    ticket_merge(source=source, target=target)
    response = api_client_for("admin").post(
        f"/api/v1/tickets/{source.pk}/messages/", {"body": "Any news?", "from_contact": ana.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["ticket"] == target.pk
    assert Ticket.objects.count() == 2
    # A staff reply to the merged ticket is refused, naming where to reply.
    refused = api_client_for("admin").post(f"/api/v1/tickets/{source.pk}/messages/", {"body": "Hi"}, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"ticket": [f"The ticket was merged into [#{target.pk}]; reply there."]}
