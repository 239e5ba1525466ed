"""The admin queue and the tickets API on tickets seeded by both paths of `seed_demo` (services and bulk), seeded
once for the module (tests/tickets/test_seed_tickets.py checks the seeded data itself)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.shared_data import shared_rows
from tests.tickets.test_seed_tickets import CHANGELIST, UNSOLVED, seed
from tickets.models import Status, Ticket

pytestmark = pytest.mark.django_db


def _seed_both_paths():
    seed("--customers", 12, "--tickets", 25, "--seed", 8)
    seed("--customers", 12, "--tickets", 200, "--ticket-path", "bulk", "--seed", 9)


@pytest.fixture(scope="module")
def _shared_tickets(django_db_setup, django_db_blocker):
    """One seeding for the module (each test's writes are undone after it; see tests/shared_data.py)."""
    yield from shared_rows(django_db_blocker, _seed_both_paths)


@pytest.fixture
def seeded(_shared_tickets, db):
    return Ticket.objects.all()


def test_admin_queue_and_ticket_pages_work_on_seeded_tickets(client, make_staff, seeded):
    client.force_login(make_staff("support_agent"))

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    page = list(response.context["cl"].result_list)
    assert page and {t.status for t in page} <= UNSOLVED
    dues = [t.next_sla_due_at for t in page]
    known = [d for d in dues if d is not None]
    assert known == sorted(known) and dues[: len(known)] == known  # by due time, tickets without one last
    queries = ("sla=breached", "sla=due_1h", "assignee=none", "status=pending", "status=closed", "q=export")
    for query in queries:
        assert client.get(f"{CHANGELIST}?{query}").status_code == 200, query

    services_ticket = Ticket.objects.filter(status_changes__isnull=False).first()
    bulk_ticket = Ticket.objects.filter(status=Status.OPEN, status_changes__isnull=True).first()
    for ticket in (services_ticket, bulk_ticket):
        response = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
        assert response.status_code == 200
        assert ticket.subject in response.content.decode()


def test_api_lists_seeded_tickets_with_flat_query_counts(api_client_for, seeded):
    api = api_client_for("admin")
    api.get("/api/v1/tickets/")  # warm-up: the API key's first use is recorded once
    counts = {}
    for size in (5, 50):
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/v1/tickets/", {"page_size": size})
        assert response.status_code == 200
        rows = response.json()["results"]
        assert len(rows) == size
        counts[size] = len(queries.captured_queries)
    assert counts[5] == counts[50] <= 8, counts
    newest = Ticket.objects.order_by("-created_at", "-id").first()
    assert rows[0]["id"] == newest.pk
    assert {"id", "status", "priority", "customer", "requester", "assignee", "subject", "sla"} <= set(rows[0])

    queue = api.get("/api/v1/tickets/", {"ordering": "next_sla_due_at", "page_size": 10}).json()["results"]
    assert queue[0]["next_sla_due_at"] is not None
    for ticket_id in (queue[0]["id"], Ticket.objects.filter(status=Status.CLOSED).first().pk):
        response = api.get(f"/api/v1/tickets/{ticket_id}/sla/")
        assert response.status_code == 200, response.content
