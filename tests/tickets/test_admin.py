"""The ticket admin: the queue, its filters and search, the ticket page (reply, note, edits, SLA panel), bulk
actions and roles. Data is made through the ticket services."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team
from crm.models import Contact, OutboundEmail, TimelineEvent
from crm.services import contact_create, customer_create
from tickets.admin import TicketAdmin, due_text, duration_text
from tickets.models import BusinessCalendar, SlaPolicy, Ticket, TicketMessage, TicketStatusChange
from tickets.services import ticket_change_status, ticket_create, ticket_reply, ticket_update

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:tickets_ticket_changelist")
ADD = reverse("admin:tickets_ticket_add")


def change_url(ticket):
    return reverse("admin:tickets_ticket_change", args=[ticket.pk])


def result_pks(response):
    return [obj.pk for obj in response.context["cl"].result_list]


@pytest.fixture
def around_the_clock(db):
    """24/7 policies by priority, so due times are simple sums: urgent 30 min, high 60, normal 240, low
    none."""
    calendar = BusinessCalendar.objects.create(name="24/7", timezone="UTC", always_open=True)
    for order, (priority, minutes) in enumerate([("urgent", 30), ("high", 60), ("normal", 240)]):
        SlaPolicy.objects.create(
            name=priority,
            order=order,
            priorities=[priority],
            calendar=calendar,
            first_response_minutes=minutes,
            resolution_minutes=minutes * 10,
        )
    return calendar


@pytest.fixture
def agent(client, make_staff):
    user = make_staff("support_agent", email="agent@example.com", full_name="Alex Agent")
    client.force_login(user)
    return user


@pytest.fixture
def acme(db):
    customer = customer_create(name="Acme Corp", domain="acme.example")
    jane = contact_create(customer=customer, email="jane@acme.example", first_name="Jane")
    return customer, jane


def open_ticket(requester, *, minutes_ago=0, **kwargs):
    kwargs.setdefault("subject", "Something is broken")
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        body=kwargs.pop("body", "Please help"),
        created_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
        **kwargs,
    )


def form_data(ticket, **overrides):
    """The POST the ticket page sends, with `overrides`."""
    ticket.refresh_from_db()
    data = {
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "tags": ", ".join(ticket.tags),
        "assignee": ticket.assignee_id or "",
        "team": ticket.team_id or "",
        "reply_kind": "public",
        "reply_body": "",
    }
    data.update(overrides)
    return data


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- helpers ---------------------------------------------------------------------------------------


def test_durations_are_human():
    assert duration_text(45) == "45 s"
    assert duration_text(35 * 60) == "35 min"
    assert duration_text(2 * 3600 + 5 * 60) == "2 h 5 min"
    assert duration_text(3 * 86400 + 4 * 3600 + 59) == "3 d 4 h"
    now = timezone.now()
    assert due_text(now + dt.timedelta(minutes=35, seconds=10), now) == "in 35 min"
    assert due_text(now - dt.timedelta(hours=2, minutes=5), now) == "overdue by 2 h 5 min"


# --- the queue -------------------------------------------------------------------------------------


@pytest.fixture
def queue(around_the_clock, acme, make_staff, agent):
    _, jane = acme
    other = make_staff("support_agent", email="other@example.com")
    tickets = {
        "normal": open_ticket(jane, minutes_ago=10, subject="Normal one", priority="normal", assignee=agent),
        "urgent": open_ticket(jane, minutes_ago=5, subject="Urgent one", priority="urgent", assignee=other),
        "overdue": open_ticket(jane, minutes_ago=90, subject="Late one", priority="high", channel="phone"),
        "no_policy": open_ticket(jane, minutes_ago=300, subject="Low one", priority="low", assignee=agent),
        "pending": open_ticket(jane, minutes_ago=200, subject="Waiting one", priority="normal"),
        "solved": open_ticket(jane, minutes_ago=100, subject="Done one", priority="normal"),
        # First response 60 min after creation: breached, then answered; the ticket is still open.
        "answered_late": open_ticket(jane, minutes_ago=180, subject="Answered late", priority="high"),
    }
    ticket_change_status(ticket=tickets["pending"], status="pending")
    ticket_change_status(ticket=tickets["solved"], status="solved")
    ticket_reply(
        ticket=tickets["answered_late"],
        body="Sorry",
        at=timezone.now() - dt.timedelta(minutes=60),
        send_email=False,
    )
    return tickets


def test_queue_is_sorted_by_next_due_time_and_shows_humanised_due(client, queue):
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    t = queue
    # Overdue first, then the nearest due; tickets with no running clock last, oldest first. Solved: not
    # queued.
    assert result_pks(response) == [
        t["overdue"].pk,
        t["urgent"].pk,
        t["normal"].pk,  # first response due in 230 min
        t["answered_late"].pk,  # resolution due 600 min after creation: in 420 min
        t["no_policy"].pk,
        t["pending"].pk,
    ]
    content = response.content.decode()
    assert re.search(r"overdue by (29|30) min", content)  # high: 60 min target, created 90 min ago
    assert re.search(r"in 2[45] min", content)  # urgent: 30 min target, created 5 min ago
    assert "paused" in content  # the pending ticket
    for header in ("Ref.", "Subject", "Customer", "Requester", "Status", "Priority", "Assignee", "Next due"):
        assert header in content
    assert f"#{t['overdue'].pk}" in content and "jane@acme.example" in content and "Acme Corp" in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("assignee=me", ["normal", "no_policy"]),
        ("assignee=none", ["overdue", "answered_late", "pending"]),
        ("sla=breached", ["overdue", "answered_late"]),
        ("sla=due_1h", ["urgent"]),
        ("status=pending", ["pending"]),
        ("status=solved", ["solved"]),
        ("priority__exact=urgent", ["urgent"]),
        ("channel__exact=phone", ["overdue"]),
        ("status=all&assignee=me", ["normal", "no_policy"]),  # all statuses: latest first
    ],
)
def test_queue_filters(client, queue, query, expected):
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    assert result_pks(response) == [queue[name].pk for name in expected]


def test_team_filter(client, queue, agent):
    team = Team.objects.create(name="Tier 2")
    ticket_update(ticket=queue["urgent"], team=team, actor=agent)
    assert result_pks(client.get(f"{CHANGELIST}?team__id__exact={team.pk}")) == [queue["urgent"].pk]


def test_search_by_reference_subject_requester_email_and_customer_name(client, queue, acme):
    other_customer = customer_create(name="Globex", domain="globex.example")
    bob = contact_create(customer=other_customer, email="bob@globex.example")
    globex_ticket = open_ticket(bob, subject="Invoice missing")
    target = queue["urgent"]
    all_statuses = CHANGELIST + "?status=all&q="
    assert result_pks(client.get(all_statuses + f"%23{target.pk}")) == [target.pk]
    assert target.pk in result_pks(client.get(all_statuses + f"{target.pk}"))
    assert result_pks(client.get(all_statuses + f"[%23{globex_ticket.pk}]")) == [globex_ticket.pk]
    assert result_pks(client.get(all_statuses + "invoice")) == [globex_ticket.pk]
    assert result_pks(client.get(all_statuses + "bob@globex")) == [globex_ticket.pk]
    assert result_pks(client.get(all_statuses + "globex")) == [globex_ticket.pk]
    acme_pks = set(result_pks(client.get(all_statuses + "acme")))
    assert acme_pks == {t.pk for t in queue.values()}
    assert result_pks(client.get(all_statuses + "%23999999")) == []
    assert result_pks(client.get(all_statuses + "acme urgent")) == [target.pk]  # every word must match


def _tickets_for_count(count, staff):
    """Tickets of distinct customers, requesters and assignees, so any per-row query would show."""
    for i in range(count - Ticket.objects.count()):
        customer = customer_create(name=f"Count customer {Ticket.objects.count()}-{i}")
        requester = contact_create(customer=customer, email=f"r{Ticket.objects.count()}-{i}@count.example")
        open_ticket(
            requester, subject=f"Problem {i}", minutes_ago=i, priority="high", assignee=staff[i % len(staff)]
        )


URLS_FOR_COUNTS = (
    "",
    "?assignee=me",
    "?sla=breached",
    "?sla=due_1h",
    "?q=problem",
    "?status=all",
    "?status=open",
)


def test_changelist_query_count_is_flat_in_rows_shown(
    client, agent, make_staff, around_the_clock, django_assert_max_num_queries
):
    staff = [agent, make_staff("support_agent"), make_staff("admin")]
    counts = {}
    for size in (3, 30):  # one page each: every ticket is shown
        _tickets_for_count(size, staff)
        for url in URLS_FOR_COUNTS:
            with django_assert_max_num_queries(12) as captured:
                response = client.get(CHANGELIST + url)
            assert response.status_code == 200
            counts.setdefault(url, []).append(len(captured.captured_queries))
        assert len(result_pks(client.get(CHANGELIST))) == size
    assert all(small == large for small, large in counts.values()), counts


def test_paginated_changelist_query_count_is_flat(
    client, agent, make_staff, around_the_clock, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(TicketAdmin, "list_per_page", 10)
    staff = [agent, make_staff("support_agent")]
    counts = {}
    for size in (25, 40):
        _tickets_for_count(size, staff)
        for url in ("", "?p=2", "?status=all"):
            with django_assert_max_num_queries(12) as captured:
                response = client.get(CHANGELIST + url)
            assert response.status_code == 200
            assert len(result_pks(response)) == 10
            counts.setdefault(url, []).append(len(captured.captured_queries))
    assert all(small == large for small, large in counts.values()), counts
    # The page is still in queue order: due times ascending.
    rows = client.get(CHANGELIST).context["cl"].result_list
    dues = [t.next_sla_due_at for t in rows]
    assert dues == sorted(dues)


# --- the ticket page ---------------------------------------------------------------------------------


def test_ticket_page_shows_the_conversation_and_the_sla_clock(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane, minutes_ago=120, priority="normal", subject="Export fails")
    ticket_reply(
        ticket=ticket,
        body="Looking into it",
        at=timezone.now() - dt.timedelta(minutes=100),
        actor=agent,
        send_email=False,
    )
    ticket_reply(
        ticket=ticket,
        body="Customer is on the old plan",
        public=False,
        actor=agent,
        at=timezone.now() - dt.timedelta(minutes=95),
    )
    ticket_change_status(ticket=ticket, status="pending", at=timezone.now() - dt.timedelta(minutes=60))
    response = client.get(change_url(ticket))
    assert response.status_code == 200
    content = response.content.decode()
    # Conversation: each message with its author, badge and channel.
    assert (
        "Please help" in content and "Looking into it" in content and "Customer is on the old plan" in content
    )
    assert "internal note" in content and "Alex Agent" in content and "jane@acme.example" in content
    # SLA panel: per target, met/paused, with the intervals counted and paused and why.
    panel = response.context["sla_panel"]
    by_label = {row["label"]: row for row in panel}
    assert by_label["First response"]["outcome"] == "met"
    assert by_label["First response"]["elapsed"] == "20 min"
    resolution = by_label["Resolution"]
    assert resolution["outcome"] == "paused"
    reasons = [(i["counted"], i["reason"]) for i in resolution["intervals"]]
    assert reasons == [(True, "business hours"), (False, "pending: waiting on the customer")]
    assert resolution["intervals"][0]["duration"] == "1 h"
    assert "pending: waiting on the customer" in content
    assert reverse("admin:crm_customer_change", args=[jane.customer_id]) in content


def test_public_reply_from_the_ticket_page_emails_the_requester(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane, subject="Login loop")
    response = client.post(change_url(ticket), form_data(ticket, reply_body="Clear your cookies, please."))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    message = TicketMessage.objects.filter(ticket=ticket, author_user=agent).get()
    assert message.public and message.body_text == "Clear your cookies, please."
    email = OutboundEmail.objects.get(kind="ticket_reply")
    assert email.to_email == "jane@acme.example"
    assert "Clear your cookies, please." in email.text_body
    assert f"[#{ticket.pk}]" in email.subject
    ticket.refresh_from_db()
    assert ticket.status == "open" and ticket.first_response_at is not None  # a reply opens a new ticket
    assert TimelineEvent.objects.filter(customer=jane.customer, kind="ticket.replied").count() == 1
    assert "Reply sent to jane@acme.example." in messages_of(client.get(CHANGELIST))


def test_internal_note_is_not_emailed(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane)
    response = client.post(
        change_url(ticket), form_data(ticket, reply_body="Escalate to billing", reply_kind="internal")
    )
    assert response.status_code == 302
    note = TicketMessage.objects.get(ticket=ticket, author_user=agent)
    assert note.public is False
    assert not OutboundEmail.objects.exists()
    ticket.refresh_from_db()
    assert ticket.status == "new" and ticket.first_response_at is None


def test_reply_and_edits_together_go_through_the_services(client, agent, around_the_clock, acme, make_staff):
    _, jane = acme
    other = make_staff("support_agent", email="bo@example.com")
    ticket = open_ticket(jane, priority="low")
    data = form_data(
        ticket,
        reply_body="Can you send a screenshot?",
        status="pending",
        priority="high",
        assignee=other.pk,
        tags="sso, Export",
    )
    assert client.post(change_url(ticket), data).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee, ticket.tags) == (
        "pending",
        "high",
        other,
        ["export", "sso"],
    )
    # new -> open (the reply) -> pending, each logged; the high-priority policy now applies.
    assert list(ticket.status_changes.values_list("to_status", flat=True)) == ["new", "open", "pending"]
    assert ticket.sla_policy.name == "high"
    assert OutboundEmail.objects.filter(kind="ticket_reply").count() == 1


def test_forbidden_transition_is_a_form_error_and_saves_nothing(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane, priority="normal")
    data = form_data(ticket, status="closed", priority="urgent", reply_body="Closing this")
    response = client.post(change_url(ticket), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["status"] == ["A ticket cannot go from new to closed."]
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == ("new", "normal")
    assert ticket.messages.count() == 1 and not OutboundEmail.objects.exists()
    assert ticket.status_changes.count() == 1


def test_service_refusal_after_the_reply_rolls_everything_back(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane, priority="normal")
    data = form_data(ticket, priority="urgent", reply_body="x" * 100_001)  # over the service's body limit
    response = client.post(change_url(ticket), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["reply_body"] == [
        "Ensure this field has no more than 100000 characters."
    ]
    ticket.refresh_from_db()
    assert ticket.priority == "normal" and ticket.messages.count() == 1
    assert not OutboundEmail.objects.exists()


def test_solved_ticket_can_only_reopen_or_close(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane)
    ticket_change_status(ticket=ticket, status="solved")
    response = client.post(change_url(ticket), form_data(ticket, status="pending"))
    assert response.context["adminform"].form.errors["status"] == [
        "A ticket cannot go from solved to pending."
    ]
    assert client.post(change_url(ticket), form_data(ticket, status="open")).status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "open" and ticket.reopen_count == 1


def test_closed_ticket_page_is_read_only(client, agent, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane)
    ticket_change_status(ticket=ticket, status="solved")
    ticket_change_status(ticket=ticket, status="closed")
    response = client.get(change_url(ticket))
    assert response.status_code == 200
    assert "reply_body" not in response.context["adminform"].form.fields
    assert "This ticket is closed" in response.content.decode()


def test_read_only_role_sees_the_ticket_but_cannot_reply(client, make_staff, around_the_clock, acme):
    _, jane = acme
    ticket = open_ticket(jane)
    client.force_login(make_staff("read_only"))
    response = client.get(change_url(ticket))
    assert response.status_code == 200
    assert 'name="reply_body"' not in response.content.decode()
    response = client.post(change_url(ticket), form_data(ticket, reply_body="I should not be able to"))
    assert response.status_code == 403
    assert ticket.messages.count() == 1 and not OutboundEmail.objects.exists()


def test_add_ticket_through_the_admin(client, agent, around_the_clock, acme):
    customer, jane = acme
    other = customer_create(name="Globex")
    stranger = contact_create(customer=other, email="x@globex.example")
    data = {
        "customer": customer.pk,
        "requester": stranger.pk,
        "subject": "Phone call: cannot log in",
        "body": "Called at 10:00, SSO loop.",
        "channel": "phone",
        "priority": "urgent",
        "category": "problem",
        "tags": "sso",
        "assignee": agent.pk,
        "team": "",
    }
    response = client.post(ADD, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["requester"] == [
        "x@globex.example is not a contact of Acme Corp."
    ]
    assert not Ticket.objects.exists()

    response = client.post(ADD, {**data, "requester": jane.pk})
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert (ticket.customer, ticket.requester, ticket.channel, ticket.priority) == (
        customer,
        jane,
        "phone",
        "urgent",
    )
    assert ticket.tags == ["sso"] and ticket.assignee == agent and ticket.sla_policy.name == "urgent"
    first = ticket.messages.get()
    assert first.author_contact == jane and first.body_text == "Called at 10:00, SSO loop."
    assert TicketStatusChange.objects.filter(ticket=ticket, to_status="new").exists()
    assert TimelineEvent.objects.filter(kind="ticket.opened", customer=customer).exists()


def test_tickets_are_never_deleted_in_the_admin(client, agent, around_the_clock, acme):
    ticket = open_ticket(acme[1])
    assert client.get(reverse("admin:tickets_ticket_delete", args=[ticket.pk])).status_code == 403
    assert "delete_selected" not in client.get(CHANGELIST).content.decode()


# --- bulk actions ---------------------------------------------------------------------------------


def test_bulk_assign_to_me(client, agent, around_the_clock, acme):
    _, jane = acme
    a, b = open_ticket(jane), open_ticket(jane)
    response = client.post(
        CHANGELIST, {"action": "assign_to_me", "_selected_action": [a.pk, b.pk], "index": 0}
    )
    assert response.status_code == 302
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {agent.pk}
    assert TimelineEvent.objects.filter(kind="ticket.updated").count() == 2


def test_bulk_assign_to_an_agent_through_an_intermediate_form(
    client, agent, make_staff, around_the_clock, acme
):
    _, jane = acme
    bo = make_staff("support_agent", email="bo@example.com", full_name="Bo")
    a, b = open_ticket(jane, subject="First"), open_ticket(jane, subject="Second")
    closed = open_ticket(jane, subject="Old")
    ticket_change_status(ticket=closed, status="solved")
    ticket_change_status(ticket=closed, status="closed")
    selection = {"action": "assign_to", "_selected_action": [a.pk, b.pk, closed.pk]}
    every_status = CHANGELIST + "?status=all"
    page = client.post(every_status, {**selection, "index": 0})
    assert page.status_code == 200
    assert "Assign tickets" in page.content.decode() and "First" in page.content.decode()
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {None}  # nothing yet

    # No agent chosen: the form says so, nothing changes.
    page = client.post(every_status, {**selection, "apply": "Assign", "assignee": ""})
    assert page.status_code == 200 and page.context["form"].errors["assignee"]

    response = client.post(every_status, {**selection, "apply": "Assign", "assignee": bo.pk}, follow=True)
    assert response.status_code == 200
    assert {a.pk, b.pk} == set(Ticket.objects.filter(assignee=bo).values_list("pk", flat=True))
    closed.refresh_from_db()
    assert closed.assignee is None
    texts = messages_of(response)
    assert "Assigned to Bo: 2 ticket(s)." in texts
    assert f"Ticket #{closed.pk} (Old): A closed ticket cannot be changed." in texts


def test_bulk_change_status_reports_each_refused_ticket(client, agent, around_the_clock, acme):
    _, jane = acme
    fresh = open_ticket(jane, subject="Fresh")
    solved = open_ticket(jane, subject="Done")
    ticket_change_status(ticket=solved, status="solved")
    selection = {"action": "change_status", "_selected_action": [fresh.pk, solved.pk]}
    every_status = CHANGELIST + "?status=all"
    assert client.post(every_status, {**selection, "index": 0}).status_code == 200
    response = client.post(
        every_status, {**selection, "apply": "1", "status": "pending", "reason": "asked"}, follow=True
    )
    assert response.status_code == 200
    fresh.refresh_from_db()
    solved.refresh_from_db()
    assert (fresh.status, solved.status) == ("pending", "solved")
    assert fresh.status_changes.last().reason == "asked"
    texts = messages_of(response)
    assert "Moved to pending: 1 ticket(s)." in texts
    assert f"Ticket #{solved.pk} (Done): A ticket cannot go from solved to pending." in texts


def test_read_only_role_has_no_bulk_actions(client, make_staff, around_the_clock, acme):
    ticket = open_ticket(acme[1])
    client.force_login(make_staff("read_only"))
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "assign_to_me" not in response.content.decode()
    response = client.post(
        CHANGELIST, {"action": "assign_to_me", "_selected_action": [ticket.pk], "index": 0}
    )
    ticket.refresh_from_db()
    assert ticket.assignee is None
    assert Contact.objects.count() == 1


def test_bulk_actions_refuse_oversized_selections(client, agent, around_the_clock, acme, monkeypatch):
    monkeypatch.setattr("tickets.admin.queue.MAX_BULK", 1)
    a, b = open_ticket(acme[1]), open_ticket(acme[1])
    for action in ("assign_to_me", "assign_to", "change_status"):
        response = client.post(
            CHANGELIST, {"action": action, "_selected_action": [a.pk, b.pk], "index": 0}, follow=True
        )
        assert "Select at most 1 tickets at a time; nothing was changed." in messages_of(response)
    assert set(Ticket.objects.values_list("assignee", "status")) == {(None, "new")}


def test_the_queue_counts_exactly_up_to_its_limit_then_says_about(client, agent, acme, monkeypatch):
    from django.db import connection

    from tickets.admin import TicketQueuePaginator

    _, jane = acme
    monkeypatch.setattr(TicketQueuePaginator, "exact_limit", 3)
    tickets = [open_ticket(jane, minutes_ago=i, priority="high" if i else "urgent") for i in range(5)]
    urgent = client.get(CHANGELIST, {"priority__exact": "urgent"})
    assert urgent.context["cl"].paginator.is_estimate is False
    assert urgent.context["cl"].result_count == 1 and result_pks(urgent) == [tickets[0].pk]
    everything = client.get(CHANGELIST, {"priority__exact": "high"})
    assert sorted(result_pks(everything)) == sorted(t.pk for t in tickets[1:])  # the page itself is exact
    if connection.vendor == "postgresql":  # the planner's estimate, shown as "about"
        assert everything.context["cl"].paginator.is_estimate is True
        assert "about" in everything.content.decode().split('class="paginator"')[1][:300]
