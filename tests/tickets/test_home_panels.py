"""An agent's queue on the home (tickets.selectors.assigned_queue), and the CSM home's escalated and flagged
tickets of a book (tickets.selectors.attention_tickets): escalated ones first (most escalated, then oldest), then
flagged ones; solved tickets and other books' tickets never; the count covers every one of them, whatever the limit."""

import datetime as dt

import pytest
from django.utils import timezone

from crm.services import contact_create, customer_create
from tickets.models import SlaTarget, Status, Ticket, TicketFlag
from tickets.selectors import assigned_queue, attention_tickets
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db


def _ticket(customer, subject, *, level=0, flagged=False, status=None, age_days=0):
    contact = customer.contacts.first() or contact_create(customer=customer, email=f"x@{customer.domain}")
    ticket = ticket_create(customer=customer, requester=contact, subject=subject, body="Help.")
    changes = {"escalation_level": level, "created_at": timezone.now() - dt.timedelta(days=age_days)}
    if status:
        changes["status"] = status
    Ticket.objects.filter(pk=ticket.pk).update(**changes)
    if flagged:
        TicketFlag.objects.create(ticket=ticket, trigger="opened")
    return ticket


def test_escalated_then_flagged_of_my_book_with_the_count_of_all():
    mine = customer_create(name="Mine", domain="mine.example.com")
    theirs = customer_create(name="Theirs", domain="theirs.example.com")
    _ticket(mine, "Quiet")
    _ticket(mine, "Flagged old", flagged=True, age_days=5)
    _ticket(mine, "Flagged new", flagged=True, age_days=1)
    _ticket(mine, "Escalated once", level=1, age_days=9)
    _ticket(mine, "Escalated twice", level=2, age_days=1)
    _ticket(mine, "Escalated and flagged", level=1, flagged=True, age_days=3)
    _ticket(mine, "Solved escalated", level=3, status=Status.SOLVED)
    _ticket(mine, "Solved flagged", flagged=True, status=Status.SOLVED)
    _ticket(theirs, "Other book", level=3, flagged=True)

    rows, count = attention_tickets(customer_ids=[mine.pk], limit=10)
    assert [t.subject for t in rows] == [
        "Escalated twice",
        "Escalated once",
        "Escalated and flagged",
        "Flagged old",
        "Flagged new",
    ]
    assert count == 5
    assert rows[0].customer.name == "Mine"

    rows, count = attention_tickets(customer_ids=[mine.pk], limit=2)
    assert [t.subject for t in rows] == ["Escalated twice", "Escalated once"] and count == 5
    rows, count = attention_tickets(customer_ids=[mine.pk], limit=4)
    assert [t.subject for t in rows][-1] == "Flagged old" and count == 5
    assert attention_tickets(customer_ids=[], limit=10) == ([], 0)


def test_a_fixed_number_of_queries(django_assert_max_num_queries):
    customers = [customer_create(name=f"C{i}", domain=f"c{i}.example.com") for i in range(6)]
    for i, customer in enumerate(customers):
        _ticket(customer, f"E{i}", level=1)
        _ticket(customer, f"F{i}", flagged=True)
    with django_assert_max_num_queries(4):
        rows, count = attention_tickets(customer_ids=[c.pk for c in customers], limit=3)
    assert count == 12 and [t.subject for t in rows] == ["E0", "E1", "E2"]


def test_an_agents_queue_on_the_home_next_due_first_with_breaches(client, make_staff, django_assert_max_num_queries):
    agent, csm = make_staff("support_agent"), make_staff("csm")
    acme = customer_create(name="Acme", domain="acme.example.com")
    now = timezone.now()
    later = _ticket(acme, "Due later")
    sooner = _ticket(acme, "Due sooner")
    late = _ticket(acme, "Breached")
    _ticket(acme, "Someone else's")
    solved = _ticket(acme, "Solved", status=Status.SOLVED)
    Ticket.objects.filter(pk__in=[later.pk, sooner.pk, late.pk, solved.pk]).update(assignee=agent)
    Ticket.objects.filter(pk=later.pk).update(next_sla_due_at=now + dt.timedelta(days=2))
    Ticket.objects.filter(pk=sooner.pk).update(next_sla_due_at=now + dt.timedelta(minutes=30))
    Ticket.objects.filter(pk=late.pk).update(next_sla_due_at=now - dt.timedelta(hours=1))
    SlaTarget.objects.filter(ticket=late).update(state="breached", breached=True)  # ticket_create started them

    rows, count, breached = assigned_queue(assignee=agent, limit=2, now=now)
    assert [t.subject for t in rows] == ["Breached", "Due sooner"] and (count, breached) == (3, 1)
    with django_assert_max_num_queries(1):
        rows, count, breached = assigned_queue(assignee=agent, limit=10, now=now)
    assert [t.subject for t in rows] == ["Breached", "Due sooner", "Due later"] and (count, breached) == (3, 1)

    client.force_login(agent)
    page = client.get("/admin/").content.decode()
    assert "My ticket queue (3)" in page and "1 breached" in page and "?assignee=me&amp;sla=breached" in page
    assert page.index("Breached") < page.index("Due sooner") < page.index("Due later")
    assert "Someone else" not in page and "Solved" not in page
    client.force_login(csm)  # nothing assigned: no queue panel
    assert "My ticket queue" not in client.get("/admin/").content.decode()
