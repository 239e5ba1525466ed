"""Historical import through the API (dated ticket, messages and status changes), then /sla/ and /metrics/
computed from those dates; and the metrics endpoint's filters and bad input."""

import datetime as dt

import pytest

from crm.models import OutboundEmail, TimelineEvent
from crm.services import contact_create, customer_create
from tickets.models import Ticket
from tickets.services import ticket_change_status, ticket_create, ticket_reply

pytestmark = pytest.mark.django_db

METRICS = "/api/v1/tickets/metrics/"


def utc(*args) -> str:
    return dt.datetime(*args, tzinfo=dt.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def ann():
    customer = customer_create(name="Acme", domain="acme.example", tier="enterprise")
    return contact_create(customer=customer, email="ann@acme.example")


def test_historical_import_drives_the_clock_and_the_metrics(
    api_client_for, make_staff, ann, standard_policy
):
    """Paris office 9-17 Mon-Fri (CET, UTC+1 in March 2025); first response 60 min, next reply 120, resolution
    480. Monday 3 March 2025 09:00 Paris = 08:00 UTC."""
    assert dt.date(2025, 3, 3).weekday() == 0
    agent = make_staff("support_agent", email="agent@example.com")
    api = api_client_for("admin")
    response = api.post(
        "/api/v1/tickets/",
        {
            "customer": ann.customer_id,
            "requester": ann.pk,
            "subject": "Export fails",
            "body": "Error 500 on export.",
            "channel": "email",
            "created_at": "2025-03-03T09:00:00+01:00",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    ticket_id = response.json()["id"]
    assert response.json()["created_at"] == utc(2025, 3, 3, 8)
    messages, changes = (
        f"/api/v1/tickets/{ticket_id}/messages/",
        f"/api/v1/tickets/{ticket_id}/status-changes/",
    )

    def ok(response, code=201):
        assert response.status_code == code, response.json()
        return response.json()

    reply = ok(
        api.post(
            messages,
            {"body": "Looking into it.", "created_at": utc(2025, 3, 3, 8, 45), "author": agent.email},
            format="json",
        )
    )
    assert reply["author"] == "agent@example.com" and reply["created_at"] == utc(2025, 3, 3, 8, 45)
    ok(api.post(changes, {"status": "pending", "at": utc(2025, 3, 3, 9)}, format="json"))
    ok(
        api.post(
            messages,
            {"body": "Here is the file.", "from_contact": ann.pk, "created_at": utc(2025, 3, 4, 8)},
            format="json",
        )
    )
    ok(
        api.post(
            messages,
            {"body": "Fixed in 4.2.", "created_at": utc(2025, 3, 4, 8, 30), "author": agent.email},
            format="json",
        )
    )
    ok(
        api.post(
            changes, {"status": "solved", "at": utc(2025, 3, 4, 9, 30), "reason": "fixed"}, format="json"
        )
    )

    # Out of order: refused, nothing changed.
    before = Ticket.objects.values().get(pk=ticket_id)
    late = api.post(messages, {"body": "late", "created_at": utc(2025, 3, 3, 10)}, format="json")
    assert late.status_code == 400 and list(late.json()) == ["created_at"]
    assert Ticket.objects.values().get(pk=ticket_id) == before

    assert not OutboundEmail.objects.exists()  # imported replies are recorded, never emailed
    log = api.get(changes).json()["results"]
    assert [(row["to_status"], row["at"]) for row in log] == [
        ("new", utc(2025, 3, 3, 8)),
        ("open", utc(2025, 3, 3, 8, 45)),
        ("pending", utc(2025, 3, 3, 9)),
        ("open", utc(2025, 3, 4, 8)),
        ("solved", utc(2025, 3, 4, 9, 30)),
    ]
    assert TimelineEvent.objects.filter(kind="ticket.replied").earliest(
        "occurred_at"
    ).occurred_at == dt.datetime(2025, 3, 3, 8, 45, tzinfo=dt.UTC)

    ticket = api.get(f"/api/v1/tickets/{ticket_id}/").json()
    assert (ticket["status"], ticket["first_response_at"], ticket["solved_at"]) == (
        "solved",
        utc(2025, 3, 3, 8, 45),
        utc(2025, 3, 4, 9, 30),
    )
    assert {metric: state["state"] for metric, state in ticket["sla"].items()} == {
        "first_response": "met",
        "next_reply": "met",
        "resolution": "met",
    }

    sla = {t["metric"]: t for t in api.get(f"/api/v1/tickets/{ticket_id}/sla/").json()["targets"]}
    fr = sla["first_response"]
    assert (fr["elapsed_seconds"], fr["met"], fr["breached"], fr["stopped_at"]) == (
        45 * 60,
        True,
        False,
        utc(2025, 3, 3, 8, 45),
    )
    assert (sla["next_reply"]["elapsed_seconds"], sla["next_reply"]["started_at"]) == (
        30 * 60,
        utc(2025, 3, 4, 8),
    )
    resolution = sla["resolution"]
    # Monday 9:00-10:00 counted, pending until Tuesday 9:00 paused, Tuesday 9:00-10:30 counted.
    assert resolution["elapsed_seconds"] == 150 * 60 and resolution["met"]
    assert [
        (i["from"], i["to"], i["counted"], i["reason"], i["seconds"]) for i in resolution["intervals"]
    ] == [
        (utc(2025, 3, 3, 8), utc(2025, 3, 3, 9), True, "business hours", 3600),
        (utc(2025, 3, 3, 9), utc(2025, 3, 4, 8), False, "pending: waiting on the customer", 0),
        (utc(2025, 3, 4, 8), utc(2025, 3, 4, 9, 30), True, "business hours", 5400),
    ]

    metrics = api.get(METRICS, {"start": "2025-03-03", "end": "2025-03-09"})
    assert metrics.status_code == 200, metrics.json()
    m = metrics.json()
    assert m["period"] == {"start": utc(2025, 3, 3), "end": utc(2025, 3, 10)}
    assert (m["volume"], m["solved"]) == (1, 1)
    assert m["first_response_seconds"] == {"median": 2700.0, "p90": 2700.0, "count": 1}
    assert m["resolution_seconds"] == {"median": 9000.0, "p90": 9000.0, "count": 1}
    assert (m["first_contact_resolution_pct"], m["reopen_rate_pct"]) == (0.0, 0.0)  # two public replies
    assert m["sla_attainment"] == {
        metric: {"targets": 1, "met": 1, "breached": 0, "attainment_pct": 100.0}
        for metric in ("first_response", "next_reply", "resolution")
    }
    assert m["backlog"]["total"] == 0
    assert api.get(METRICS, {"start": "2025-04-01", "end": "2025-04-30"}).json()["volume"] == 0
    assert (
        api.get(METRICS, {"start": utc(2025, 3, 3, 8, 0, 1), "end": "2025-03-09"}).json()["volume"] == 0
    )


@pytest.fixture
def spread(ann, make_staff):
    """Tickets of two customers and tiers, channels, categories and assignees, all created yesterday."""
    agent = make_staff("support_agent", email="agent@example.com")
    other = contact_create(
        customer=customer_create(name="Globex", tier="smb"), email="ana@globex.example"
    )
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    made = [
        ticket_create(
            customer=ann.customer, requester=ann, subject="a", body="b", created_at=at, assignee=agent
        ),
        ticket_create(
            customer=ann.customer, requester=ann, subject="a", body="b", created_at=at, channel="email"
        ),
        ticket_create(
            customer=other.customer,
            requester=other,
            subject="a",
            body="b",
            created_at=at,
            category="bug",
        ),
    ]
    ticket_reply(ticket=made[0], body="r", send_email=False)
    ticket_change_status(ticket=made[0], status="solved")
    return agent, other


@pytest.mark.parametrize(
    ("params", "volume"),
    [
        ({}, 3),
        ({"tier": "enterprise"}, 2),
        ({"tier": "smb"}, 1),
        ({"channel": "email"}, 1),
        ({"category": "bug"}, 1),
        ({"assignee": "agent@example.com"}, 1),
        ({"assignee": "none"}, 2),
        ({"assignee": "me"}, 0),
    ],
)
def test_metrics_filters(api_client_for, spread, params, volume):
    response = api_client_for("read_only").get(METRICS, params)
    assert response.status_code == 200, response.json()
    assert response.json()["volume"] == volume


def test_metrics_customer_and_team_filters(api_client_for, spread):
    _, other = spread
    api = api_client_for("read_only")
    assert api.get(METRICS, {"customer": other.customer_id}).json()["volume"] == 1
    assert api.get(METRICS, {"team": 999}).json()["volume"] == 0
    assert api.get(METRICS).json()["solved"] == 1


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        (
            {"start": "yesterday"},
            {"start": ["Enter an ISO 8601 date (2026-11-01) or date-time (2026-11-01T09:00:00Z)."]},
        ),
        (
            {"end": "2025-02-30"},
            {"end": ["Enter an ISO 8601 date (2026-11-01) or date-time (2026-11-01T09:00:00Z)."]},
        ),
        (
            {"start": "2025-03-10", "end": "2025-03-01"},
            {"end": ["The period must end after it starts."]},
        ),
        ({"start": "2020-01-01", "end": "2025-01-01"}, {"end": ["A period is at most 731 days."]}),
        ({"tier": "gold"}, {"tier": ['"gold" is not a valid choice.']}),
        ({"customer": "abc"}, {"customer": ["A valid integer is required."]}),
        (
            {"assignee": "nobody@example.com"},
            {"assignee": ["No user has the email nobody@example.com."]},
        ),
        ({"assignee": "bob"}, {"assignee": ["Enter an agent's email, me or none."]}),
        ({"colour": "red"}, {"colour": ["Unknown field."]}),
    ],
)
def test_metrics_bad_input(api_client_for, ann, params, errors):
    response = api_client_for("read_only").get(METRICS, params)
    assert response.status_code == 400
    assert response.json() == errors


def test_metrics_needs_credentials(client):
    assert client.get(METRICS).status_code == 401
