"""Impossible but well-formed date-times (February 30th, hour 25, minute 60, offset +99:00) are a client's
mistake: a 400 naming the field, never a 500, in a body field (a ticket's and a message's `created_at`, a status
change's `at`) and in a date-time filter."""

import pytest

from crm.services import contact_create, customer_create
from tickets.models import Ticket, TicketStatusChange
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db

IMPOSSIBLE = [
    "2026-02-30T10:00:00Z",
    "2026-01-01T25:00:00Z",
    "2026-01-01T10:60:00Z",
    "2026-01-01T10:00:00+99:00",
]


@pytest.fixture
def ticket():
    customer = customer_create(name="Acme", domain="acme.example")
    ann = contact_create(customer=customer, email="ann@acme.example")
    return ticket_create(customer=customer, requester=ann, subject="Export fails", body="Error 500.")


@pytest.mark.parametrize("value", IMPOSSIBLE)
def test_impossible_created_at_of_a_ticket_is_a_400_naming_the_field(api_client_for, ticket, value):
    body = {"customer": ticket.customer_id, "requester": ticket.requester_id, "subject": "S", "body": "B"}
    response = api_client_for("admin").post("/api/v1/tickets/", {**body, "created_at": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["created_at"]
    assert "Not a real date and time" in response.json()["created_at"][0]
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize("value", IMPOSSIBLE)
def test_impossible_at_of_a_status_change_is_a_400_naming_the_field(api_client_for, ticket, value):
    response = api_client_for("admin").post(
        f"/api/v1/tickets/{ticket.pk}/status-changes/", {"status": "open", "at": value}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["at"]
    assert TicketStatusChange.objects.filter(ticket=ticket).count() == 1  # only the ticket's creation


@pytest.mark.parametrize("value", IMPOSSIBLE)
def test_impossible_created_at_of_a_message_is_a_400_naming_the_field(api_client_for, ticket, value):
    response = api_client_for("admin").post(
        f"/api/v1/tickets/{ticket.pk}/messages/",
        {"body": "hi", "public": False, "created_at": value},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["created_at"]


@pytest.mark.parametrize("value", IMPOSSIBLE)
@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/tickets/", "created_after"),
        ("/api/v1/tickets/", "due_before"),
        ("/api/v1/customers/", "updated_after"),
        ("/api/v1/contacts/", "updated_after"),
    ],
)
def test_impossible_date_in_a_filter_is_a_400_naming_the_parameter(api_client_for, ticket, url, param, value):
    response = api_client_for("read_only").get(url, {param: value})
    assert response.status_code == 400
    assert list(response.json()) == [param]
