"""The admin's metrics report: tickets.metrics.ticket_metrics over a period and filters, as human numbers."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.services import contact_create, customer_create
from tests.factories import UserFactory
from tickets.models import BusinessCalendar, SlaPolicy
from tickets.services import ticket_change_status, ticket_create, ticket_customer_message, ticket_reply

pytestmark = pytest.mark.django_db

METRICS = reverse("admin:tickets_ticket_metrics")


@pytest.fixture
def agent(client, make_staff):
    user = make_staff("support_agent", email="agent@example.com")
    client.force_login(user)
    return user


@pytest.fixture
def history(db, agent):
    calendar = BusinessCalendar.objects.create(name="24/7", always_open=True)
    SlaPolicy.objects.create(name="All", calendar=calendar, first_response_minutes=60, resolution_minutes=600)
    acme = customer_create(name="Acme Corp", tier="smb")
    jane = contact_create(customer=acme, email="jane@acme.example")
    start = timezone.now() - dt.timedelta(days=2)

    def at(minutes):
        return start + dt.timedelta(minutes=minutes)

    def make(requester, reply, solve, **kwargs):
        ticket = ticket_create(
            customer=requester.customer,
            requester=requester,
            subject="s",
            body="b",
            created_at=start,
            **kwargs,
        )
        ticket_reply(ticket=ticket, body="r", at=at(reply), actor=agent, send_email=False)
        ticket_change_status(ticket=ticket, status="solved", at=at(solve))
        return ticket

    make(jane, 10, 60)  # first response 10 min, resolved in 60
    make(jane, 30, 120)  # 30 min, 120 min
    reopened = make(jane, 120, 180)  # first response breached (120 > 60)
    ticket_customer_message(ticket=reopened, contact=jane, body="Still broken", at=at(200))
    ticket_reply(ticket=reopened, body="Fixed now", at=at(240), actor=agent, send_email=False)
    ticket_change_status(ticket=reopened, status="solved", at=at(240))  # resolution 180 + 40 = 220 min
    ticket_create(
        customer=acme,
        requester=jane,
        subject="open",
        body="b",
        created_at=timezone.now() - dt.timedelta(hours=1),
    )
    globex = customer_create(name="Globex", tier="enterprise")
    bob = contact_create(customer=globex, email="bob@globex.example")
    make(bob, 5, 10, channel="phone", assignee=agent)
    return acme, globex


def cell(content, cell_id):
    match = re.search(rf'id="{cell_id}">([^<]*)<', content)
    return match.group(1) if match else None


def test_metrics_report_shows_the_numbers(client, history):
    acme, _ = history
    response = client.get(METRICS, {"period": "7", "customer": acme.pk})
    assert response.status_code == 200
    content = response.content.decode()
    assert cell(content, "m-volume") == "4"
    assert cell(content, "m-frt-median") == "30 min"
    assert cell(content, "m-frt-p90") == "1 h 42 min"  # 30 + 0.8 x (120 - 30) min
    assert cell(content, "m-res-median") == "2 h"
    assert cell(content, "m-solved") == "3"
    assert cell(content, "m-fcr") == "66.7 %"
    assert cell(content, "m-reopen") == "33.3 %"
    sla = {row["label"]: row for row in response.context["report"]["sla"]}
    assert (sla["First response"]["met"], sla["First response"]["breached"]) == (2, 1)
    assert sla["First response"]["attainment"] == "66.7 %"
    assert sla["Resolution"]["attainment"] == "100.0 %"
    assert response.context["report"]["backlog_total"] == 1
    assert dict(response.context["report"]["backlog"])["<1d"] == 1


@pytest.mark.parametrize(
    ("params", "volume"),
    [
        ({}, "5"),  # default: last 30 days, everything
        ({"period": "7", "tier": "enterprise"}, "1"),
        ({"period": "30", "channel": "phone"}, "1"),
        ({"period": "90", "category": "billing"}, "0"),
        ({"period": "7", "assignee": "__agent__"}, "1"),
    ],
)
def test_metrics_filters(client, history, agent, params, volume):
    params = {k: (agent.pk if v == "__agent__" else v) for k, v in params.items()}
    content = client.get(METRICS, params).content.decode()
    assert cell(content, "m-volume") == volume


def test_custom_period_by_dates(client, history):
    today = timezone.localdate()
    old = (today - dt.timedelta(days=30)).isoformat()
    response = client.get(METRICS, {"period": "custom", "date_from": old, "date_to": old})
    assert cell(response.content.decode(), "m-volume") == "0"
    response = client.get(
        METRICS,
        {
            "period": "custom",
            "date_from": (today - dt.timedelta(days=3)).isoformat(),
            "date_to": today.isoformat(),
        },
    )
    assert cell(response.content.decode(), "m-volume") == "5"
    response = client.get(
        METRICS,
        {
            "period": "custom",
            "date_from": today.isoformat(),
            "date_to": (today - dt.timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 200 and response.context["report"] is None
    assert response.context["form"].errors["date_to"] == ["The period must end on or after its first day."]
    response = client.get(METRICS, {"period": "custom"})
    assert response.context["form"].errors["date_from"] == ["Give the first day of the period."]


def test_metrics_are_linked_from_the_queue_and_need_the_view_permission(client, agent):
    assert METRICS in client.get(reverse("admin:tickets_ticket_changelist")).content.decode()
    client.force_login(UserFactory(email="nobody@example.com"))  # staff, but no role: no tickets.view_ticket
    assert client.get(METRICS).status_code == 403
    client.logout()
    response = client.get(METRICS)
    assert response.status_code == 302 and "login" in response["Location"]
