"""REST API v1: /api/v1/tickets/ (create, list and filters, PATCH, merge, SLA explanation)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Team
from crm.models import TimelineEvent
from crm.services import contact_create, customer_create
from tickets.models import (
    BusinessCalendar,
    SlaPolicy,
    SlaTarget,
    Ticket,
    TicketMessage,
    TicketStatusChange,
)
from tickets.services import ticket_change_status, ticket_create, ticket_reply

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tickets/"
UTC = dt.UTC

TICKET_FIELDS = {
    "id",
    "reference",
    "status",
    "priority",
    "category",
    "channel",
    "tags",
    "customer",
    "requester",
    "assignee",
    "team",
    "subject",
    "created_at",
    "updated_at",
    "first_response_due_at",
    "next_reply_due_at",
    "resolution_due_at",
    "next_sla_due_at",
    "first_response_at",
    "solved_at",
    "closed_at",
    "escalation_level",
    "reopen_count",
    "sla_policy",
    "merged_into",
    "follow_up_of",
    "imported_at",
    "sla",
}


def detail(pk) -> str:
    return f"/api/v1/tickets/{pk}/"


def snapshot() -> tuple:
    """What a refused request must leave untouched."""
    return (
        list(Ticket.objects.order_by("pk").values()),
        TicketMessage.objects.count(),
        TicketStatusChange.objects.count(),
        SlaTarget.objects.count(),
        TimelineEvent.objects.count(),
    )


@pytest.fixture
def acme():
    customer = customer_create(name="Acme", domain="acme.example")
    return customer, contact_create(customer=customer, email="ann@acme.example")


@pytest.fixture
def globex():
    customer = customer_create(name="Globex", domain="globex.example")
    return customer, contact_create(customer=customer, email="ana@globex.example")


def make_ticket(contact, **kwargs) -> Ticket:
    kwargs.setdefault("subject", "Export fails")
    kwargs.setdefault("body", "Error 500 on export.")
    return ticket_create(customer=contact.customer, requester=contact, **kwargs)


def test_401_without_credentials(client, acme):
    assert client.get(LIST).status_code == 401
    assert client.post(LIST, {}, content_type="application/json").status_code == 401


def test_create_opens_the_ticket_with_its_sla_and_timeline(
    api_client_for, make_staff, acme, standard_policy
):
    customer, ann = acme
    agent = make_staff("support_agent", email="agent@example.com")
    team = Team.objects.create(name="Tier 1")
    api = api_client_for("support_agent")
    response = api.post(
        LIST,
        {
            "customer": customer.pk,
            "requester": ann.pk,
            "subject": "Export fails",
            "body": "Clicking Export gives an error 500.",
            "priority": "high",
            "channel": "web",
            "category": "bug",
            "tags": ["Export", "csv", "export"],
            "assignee": "AGENT@example.com",
            "team": team.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == TICKET_FIELDS
    ticket = Ticket.objects.get()
    assert response["Location"].endswith(detail(ticket.pk))
    assert body["id"] == ticket.pk and body["reference"] == f"[#{ticket.pk}]"
    assert (body["status"], body["priority"], body["channel"], body["category"]) == (
        "new",
        "high",
        "web",
        "bug",
    )
    assert body["tags"] == ["csv", "export"]
    assert (body["customer"], body["requester"], body["assignee"], body["team"]) == (
        customer.pk,
        ann.pk,
        "agent@example.com",
        team.pk,
    )
    assert ticket.assignee == agent and ticket.sla_policy == standard_policy
    targets = {t.metric: t for t in ticket.sla_targets.all()}
    fr = targets["first_response"]
    assert body["first_response_due_at"] == fr.due_at.isoformat().replace("+00:00", "Z")
    assert body["resolution_due_at"] is not None and body["next_reply_due_at"] is None
    assert body["sla"]["first_response"] == {
        "due_at": body["first_response_due_at"],
        "state": "running",
        "breached": False,
        "target_seconds": 3600,
        "stopped_at": None,
        "cycle": 1,
    }
    assert body["sla"]["next_reply"] is None
    assert ticket.messages.get().body_text == "Clicking Export gives an error 500."
    assert TimelineEvent.objects.filter(customer=customer, kind="ticket.opened").count() == 1


def test_create_defaults_to_the_api_channel(api_client_for, acme):
    customer, ann = acme
    response = api_client_for("csm").post(
        LIST,
        {"customer": customer.pk, "requester": ann.pk, "subject": "Hi", "body": "Hello"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["channel"], response.json()["priority"]) == ("api", "normal")


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"customer": 999999}, {"customer": ['Invalid pk "999999" - object does not exist.']}),
        ({"requester": 999999}, {"requester": ['Invalid pk "999999" - object does not exist.']}),
        ({"body": "   "}, {"body": ["This field may not be blank."]}),
        ({"body": ""}, {"body": ["This field may not be blank."]}),
        ({"priority": "blocker"}, {"priority": ['"blocker" is not a valid choice.']}),
        ({"channel": "fax"}, {"channel": ['"fax" is not a valid choice.']}),
        (
            {"assignee": "nobody@example.com"},
            {"assignee": ["No active staff user has the email nobody@example.com."]},
        ),
        ({"status": "open"}, {"status": ["This field is read-only."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
        (
            {"created_at": "2025-03-03T09:00:00"},
            {
                "created_at": [
                    "Give the time zone (e.g. 2025-03-03T09:00:00Z or 2025-03-03T10:00:00+01:00)."
                ]
            },
        ),
        ({"created_at": "2999-01-01T00:00:00Z"}, {"created_at": ["Must not be in the future."]}),
    ],
)
def test_bad_input_is_refused_per_field_and_changes_nothing(api_client_for, acme, change, errors):
    customer, ann = acme
    make_ticket(ann)
    before = snapshot()
    payload = {"customer": customer.pk, "requester": ann.pk, "subject": "S", "body": "B", **change}
    response = api_client_for("support_agent").post(LIST, payload, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert snapshot() == before


def test_requester_of_another_customer_is_refused(api_client_for, acme, globex):
    customer, _ = acme
    _, ana = globex
    before = snapshot()
    response = api_client_for("support_agent").post(
        LIST, {"customer": customer.pk, "requester": ana.pk, "subject": "S", "body": "B"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"requester": ["The requester is not a contact of this customer."]}
    assert snapshot() == before


def test_read_only_may_read_but_not_write(api_client_for, acme):
    customer, ann = acme
    ticket = make_ticket(ann)
    api = api_client_for("read_only")
    assert api.get(detail(ticket.pk)).status_code == 200
    before = snapshot()
    assert api.post(LIST, {"customer": customer.pk}, format="json").status_code == 403
    assert api.patch(detail(ticket.pk), {"priority": "urgent"}, format="json").status_code == 403
    assert snapshot() == before


def test_retrieve_and_404(api_client_for, acme):
    _, ann = acme
    ticket = make_ticket(ann)
    api = api_client_for("read_only")
    row = api.get(detail(ticket.pk)).json()
    assert row["id"] == ticket.pk and set(row) == TICKET_FIELDS
    assert api.get(detail(ticket.pk + 1000)).status_code == 404
    assert api.get("/api/v1/tickets/abc/").status_code == 404


# --- PATCH ------------------------------------------------------------------------------------------


def test_patch_changes_status_and_fields_together(api_client_for, make_staff, acme, standard_policy):
    _, ann = acme
    agent = make_staff("support_agent", email="agent@example.com")
    ticket = make_ticket(ann)
    response = api_client_for("support_agent").patch(
        detail(ticket.pk),
        {
            "status": "pending",
            "priority": "urgent",
            "assignee": agent.email,
            "tags": ["VIP"],
            "subject": "New",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["priority"], body["assignee"], body["tags"], body["subject"]) == (
        "pending",
        "urgent",
        "agent@example.com",
        ["vip"],
        "New",
    )
    # Pending on the customer: the clocks pause (no due time while paused).
    assert body["sla"]["first_response"]["state"] == "paused" and body["first_response_due_at"] is None
    assert list(ticket.status_changes.values_list("to_status", flat=True)) == ["new", "pending"]
    response = api_client_for("support_agent").patch(
        detail(ticket.pk), {"assignee": None}, format="json"
    )
    assert response.json()["assignee"] is None


def test_forbidden_transition_changes_nothing_even_with_other_fields(api_client_for, acme):
    _, ann = acme
    ticket = make_ticket(ann)
    before = snapshot()
    response = api_client_for("support_agent").patch(
        detail(ticket.pk), {"priority": "urgent", "status": "closed"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"status": ["A ticket cannot go from new to closed."]}
    assert snapshot() == before  # the priority change was rolled back with it


def test_patch_refuses_unknown_read_only_and_closed(api_client_for, acme):
    _, ann = acme
    ticket = make_ticket(ann)
    api = api_client_for("support_agent")
    response = api.patch(
        detail(ticket.pk), {"customer": 3, "status": "gone", "team": 999999}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "customer": ["This field is read-only."],
        "status": ['"gone" is not a valid choice.'],
        "team": ['Invalid pk "999999" - object does not exist.'],
    }
    ticket_change_status(ticket=ticket, status="solved")
    ticket_change_status(ticket=ticket, status="closed")
    before = snapshot()
    response = api.patch(detail(ticket.pk), {"priority": "low"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"status": ["A closed ticket cannot be changed."]}
    assert snapshot() == before
    assert api.patch(detail(ticket.pk + 1000), {"priority": "low"}, format="json").status_code == 404


# --- List, filters, ordering, query count ------------------------------------------------------------


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def round_the_clock():
    """A 24/7 policy, so that which targets are past due does not depend on when the tests run."""
    calendar = BusinessCalendar.objects.create(name="24/7", always_open=True)
    return SlaPolicy.objects.create(
        name="Round the clock", calendar=calendar, first_response_minutes=60, resolution_minutes=480
    )


@pytest.fixture
def queue(acme, globex, make_staff, round_the_clock):
    """Five tickets of two customers, with assignees, priorities and statuses. First response is due one hour
    after creation, so the tickets opened days ago are breached (one of them while pending)."""
    _, ann = acme
    _, ana = globex
    agent = make_staff("support_agent", email="agent@example.com")
    now = timezone.now()
    t = {
        "old_low": make_ticket(
            ann, priority="low", created_at=now - dt.timedelta(days=10), channel="email"
        ),
        "urgent": make_ticket(ann, priority="urgent", assignee=agent, category="bug"),
        "high": make_ticket(ana, priority="high", created_at=now - dt.timedelta(days=2)),
        "normal": make_ticket(ana, priority="normal", assignee=agent),
        "pending": make_ticket(ann, priority="normal", created_at=now - dt.timedelta(days=1)),
    }
    ticket_change_status(ticket=t["pending"], status="pending")
    t["agent"] = agent
    return t


def test_filters(api_client_for, queue, acme, globex):
    api = api_client_for("read_only")
    t = queue
    everyone = {t[k].pk for k in ("old_low", "urgent", "high", "normal", "pending")}
    assert set(ids(api.get(LIST))) == everyone
    assert set(ids(api.get(LIST, {"status": ["new", "pending"]}))) == everyone
    assert ids(api.get(LIST, {"status": "pending"})) == [t["pending"].pk]
    assert ids(api.get(LIST, {"priority": "urgent"})) == [t["urgent"].pk]
    assert set(ids(api.get(LIST, {"assignee": "AGENT@example.com"}))) == {t["urgent"].pk, t["normal"].pk}
    assert set(ids(api.get(LIST, {"assignee": "none"}))) == everyone - {t["urgent"].pk, t["normal"].pk}
    assert ids(api.get(LIST, {"assignee": "me"})) == []  # the API key's own user has no tickets
    assert set(ids(api.get(LIST, {"customer": globex[0].pk}))) == {t["high"].pk, t["normal"].pk}
    assert ids(api.get(LIST, {"channel": "email"})) == [t["old_low"].pk]
    assert ids(api.get(LIST, {"category": "bug"})) == [t["urgent"].pk]
    breached = {t["old_low"].pk, t["high"].pk, t["pending"].pk}
    assert set(ids(api.get(LIST, {"breached": "true"}))) == breached
    assert set(ids(api.get(LIST, {"breached": "false"}))) == everyone - breached
    rows = {row["id"]: row for row in api.get(LIST).json()["results"]}
    assert rows[t["high"].pk]["sla"]["first_response"]["breached"] is True
    assert rows[t["pending"].pk]["sla"]["first_response"]["state"] == "paused"
    assert rows[t["urgent"].pk]["sla"]["first_response"]["breached"] is False
    soon = (timezone.now() + dt.timedelta(days=60)).isoformat()
    assert t["pending"].pk not in ids(api.get(LIST, {"due_before": soon}))  # paused: no due time
    long_ago = (timezone.now() - dt.timedelta(days=5)).isoformat()
    assert ids(api.get(LIST, {"created_before": long_ago})) == [t["old_low"].pk]
    assert t["old_low"].pk not in ids(api.get(LIST, {"created_after": long_ago}))
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    assert ids(api.get(LIST, {"updated_after": future})) == []


def test_filters_me_for_a_signed_in_agent(client, queue):
    client.force_login(queue["agent"])
    assert set(ids(client.get(LIST, {"assignee": "me"}))) == {queue["urgent"].pk, queue["normal"].pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"assignee": "not-an-email"}, "assignee"),
        ({"customer": "abc"}, "customer"),
        ({"breached": "maybe"}, "breached"),
        ({"due_before": "tomorrow"}, "due_before"),
        ({"ordering": "subject"}, "ordering"),
        ({"page_size": "501"}, "page_size"),
    ],
)
def test_bad_filters_answer_400(api_client_for, queue, params, field):
    response = api_client_for("read_only").get(LIST, params)
    assert response.status_code == 400
    assert field in response.json()


def walk(api, params) -> list[int]:
    seen, url, query = [], LIST, params
    while url:
        response = api.get(url, query)
        seen += ids(response)
        url, query = response.json()["next"], None
    return seen


def test_ordering_by_priority_and_queue_across_pages(api_client_for, queue):
    api = api_client_for("read_only")
    t = queue
    by_priority = walk(api, {"ordering": "-priority", "page_size": 2})
    assert by_priority[0] == t["urgent"].pk and by_priority[1] == t["high"].pk
    assert by_priority[-1] == t["old_low"].pk
    assert sorted(by_priority) == sorted(
        {t[k].pk for k in ("old_low", "urgent", "high", "normal", "pending")}
    )
    ascending = walk(api, {"ordering": "priority", "page_size": 2})
    assert ascending[0] == t["old_low"].pk and ascending[-1] == t["urgent"].pk
    queue_order = walk(api, {"ordering": "next_sla_due_at", "page_size": 2})
    assert queue_order[-1] == t["pending"].pk  # paused: no due time, last
    dues = [Ticket.objects.get(pk=pk).next_sla_due_at for pk in queue_order[:-1]]
    assert dues == sorted(dues)
    assert walk(api, {"ordering": "-created_at", "page_size": 2}) == walk(api, {"page_size": 50})


def test_list_query_count_is_flat_in_page_size(api_client_for, acme, make_staff, standard_policy):
    _, ann = acme
    agent = make_staff("support_agent")
    api = api_client_for("read_only")
    api.get(LIST)  # warm-up: the API key's first use is recorded once

    def count(n) -> int:
        while Ticket.objects.count() < n:
            ticket = make_ticket(ann, assignee=agent)
            ticket_reply(ticket=ticket, body="On it.", send_email=False)
        with CaptureQueriesContext(connection) as queries:
            response = api.get(LIST, {"page_size": n})
        assert len(response.json()["results"]) == n
        assert all(row["sla"]["first_response"]["state"] == "met" for row in response.json()["results"])
        return len(queries)

    small, large = count(2), count(25)
    assert small == large
    assert large <= 8, large


def test_list_rows_render_exactly_as_the_ticket_itself(api_client_for, acme, make_staff, standard_policy):
    """The list loads its page's SLA targets as light rows; the detail as model instances: same output, the
    latest cycle of each target included."""
    from tickets.services import ticket_customer_message

    _, ann = acme
    agent = make_staff("support_agent")
    replied = make_ticket(ann, assignee=agent)
    ticket_reply(ticket=replied, body="On it.", send_email=False)
    ticket_customer_message(ticket=replied, contact=ann, body="Still broken.")  # a next-reply cycle
    ticket_reply(ticket=replied, body="Fixed now.", send_email=False)  # met
    ticket_customer_message(ticket=replied, contact=ann, body="Thanks, one more thing.")  # the next one runs
    fresh = make_ticket(ann)
    api = api_client_for("read_only")
    rows = {row["id"]: row for row in api.get(LIST).json()["results"]}
    assert rows[replied.pk]["sla"]["next_reply"]["cycle"] == 2  # the latest of its two cycles
    assert rows[replied.pk]["sla"]["next_reply"]["state"] == "running"
    for ticket in (replied, fresh):
        assert rows[ticket.pk] == api.get(f"{LIST}{ticket.pk}/").json()


# --- Merge --------------------------------------------------------------------------------------------


def test_merge_moves_messages_and_closes_the_source(api_client_for, acme):
    _, ann = acme
    source, target = make_ticket(ann, subject="one"), make_ticket(ann, subject="two")
    response = api_client_for("support_agent").post(
        f"{detail(source.pk)}merge/", {"into": target.pk}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == target.pk
    source.refresh_from_db()
    assert (source.status, source.merged_into_id) == ("closed", target.pk)
    assert target.messages.count() == 2 and source.messages.count() == 0


def test_merge_refusals_change_nothing(api_client_for, acme, globex):
    _, ann = acme
    _, ana = globex
    source, other = make_ticket(ann), make_ticket(ana)
    api = api_client_for("support_agent")
    before = snapshot()
    url = f"{detail(source.pk)}merge/"
    response = api.post(url, {"into": other.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"into": ["Only tickets of the same customer can be merged."]}
    response = api.post(url, {"into": 999999}, format="json")
    assert response.json() == {"into": ['Invalid pk "999999" - object does not exist.']}
    response = api.post(url, {"into": source.pk}, format="json")
    assert response.json() == {"into": ["A ticket cannot be merged into itself."]}
    assert snapshot() == before
    assert api_client_for("read_only").post(url, {"into": other.pk}, format="json").status_code == 403


# --- SLA explanation ----------------------------------------------------------------------------------


def test_sla_explains_counted_and_paused_intervals(api_client_for, acme, standard_policy):
    _, ann = acme
    # Paris office 9-17 Mon-Fri. Friday 2025-03-07 16:00 Paris (15:00 UTC): one business hour, then the
    # weekend.
    opened = dt.datetime(2025, 3, 7, 15, 0, tzinfo=UTC)
    ticket = make_ticket(ann, created_at=opened)
    ticket_change_status(ticket=ticket, status="pending", at=opened + dt.timedelta(minutes=30))
    ticket_change_status(ticket=ticket, status="open", at=dt.datetime(2025, 3, 10, 8, 0, tzinfo=UTC))
    ticket_reply(
        ticket=ticket, body="Fixed.", at=dt.datetime(2025, 3, 10, 8, 45, tzinfo=UTC), send_email=False
    )
    response = api_client_for("read_only").get(f"{detail(ticket.pk)}sla/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ticket"] == ticket.pk and body["policy"] == {
        "id": standard_policy.pk,
        "name": "Standard",
    }
    assert body["calendar"]["timezone"] == "Europe/Paris"
    fr = next(t for t in body["targets"] if t["metric"] == "first_response")
    # 30 min on Friday + 45 min on Monday morning (opened at 9:00 Paris); pending and the weekend not counted.
    assert (fr["state"], fr["elapsed_seconds"], fr["met"], fr["breached"]) == (
        "breached",
        75 * 60,
        False,
        True,
    )
    assert fr["remaining_seconds"] == 0 and fr["overdue_seconds"] == 15 * 60
    reasons = [(i["counted"], i["reason"]) for i in fr["intervals"]]
    assert reasons[0] == (True, "business hours")
    assert (False, "pending: waiting on the customer") in reasons
    assert reasons[-1] == (True, "business hours")
    assert fr["intervals"][0]["from"] == "2025-03-07T15:00:00Z"
    assert sum(i["seconds"] for i in fr["intervals"]) == 75 * 60
    resolution = next(t for t in body["targets"] if t["metric"] == "resolution")
    assert resolution["state"] == "running" and resolution["stopped_at"] is None
    assert api_client_for("read_only").get(f"{detail(ticket.pk + 1000)}sla/").status_code == 404
