"""QBRs in the admin: the customer page's QBR panel (last and next QBR, flat query count), the scheduling form (field
errors, nothing changed on error), rescheduling and cancelling, and the customer list's action leading to the form."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Task, Tier
from success.qbrs import services

UTC = dt.UTC
NY = ZoneInfo("America/New_York")


def at(day: str, hour=12, zone=UTC) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=zone)


@pytest.fixture
def account(customer_factory, contact_factory, make_staff):
    csm = make_staff("csm", email="csm@example.com")
    customer = customer_factory(name="Acme", tier=Tier.ENTERPRISE, timezone="America/New_York", owner=csm)
    contact = contact_factory(customer=customer, email="ada@acme.example", first_name="Ada", last_name="L")
    return customer, contact


def held(customer, contact, day: str, outcomes="", items=()):
    qbr = services.qbr_schedule(
        customer=customer, starts_at=at(day, 10, NY), contacts=[contact], now=at(day) - dt.timedelta(days=5)
    )
    return services.qbr_hold(qbr=qbr, outcomes=outcomes, action_items=items, now=at(day, 20))


# --- The customer page's panel --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_page_shows_last_and_next_qbr(client, account):
    customer, contact = account
    held(customer, contact, "2025-01-14", outcomes="Old outcome")
    last = held(
        customer,
        contact,
        "2025-04-15",
        outcomes="Agreed to roll out to the EU team",
        items=[{"title": "Send the EU rollout plan", "due_date": dt.date(2025, 5, 1)}, {"title": "Book training"}],
    )
    Task.objects.filter(reason__contains="Book training").update(status=Task.Status.DONE)
    upcoming = services.qbr_schedule(
        customer=customer, starts_at=at("2030-03-05", 10, NY), contacts=[contact], now=at("2030-02-01")
    )
    client.force_login(customer.owner)
    page = client.get(f"/admin/crm/customer/{customer.pk}/change/").content.decode()
    panel = page.split("<h3>QBRs</h3>", 1)[1].split(">Upcoming</a>", 1)[0]
    assert f"/admin/success/qbr/{last.pk}/change/" in panel and "Tue 15 Apr 2025 10:00 (America/New_York)" in panel
    assert "held" in panel and "Agreed to roll out to the EU team" in panel and "Old outcome" not in panel
    assert "QBR 2025-04-15: Send the EU rollout plan (due 2025-05-01)" in panel and "Book training" not in panel
    assert "Tue 05 Mar 2030 10:00 (America/New_York)</a>, scheduled" in panel
    assert f"/admin/success/qbr/{upcoming.pk}/prep/" in panel
    assert f"/admin/success/qbr/?customer__id__exact={customer.pk}&amp;owner=all" in panel
    listing = client.get(f"/admin/success/qbr/?customer__id__exact={customer.pk}&owner=all")
    assert listing.status_code == 200 and listing.context["cl"].result_count == 3


@pytest.mark.django_db
def test_customer_page_without_qbrs(client, account):
    customer, _contact = account
    client.force_login(customer.owner)
    page = client.get(f"/admin/crm/customer/{customer.pk}/change/").content.decode()
    assert "Last QBR: none held yet." in page and "Next QBR: none planned." in page


@pytest.mark.django_db
def test_customer_page_query_count_does_not_grow_with_qbrs(client, account):
    customer, contact = account
    client.force_login(customer.owner)
    url = f"/admin/crm/customer/{customer.pk}/change/"
    held(customer, contact, "2024-01-16", items=[{"title": "First"}])
    services.qbr_schedule(
        customer=customer, starts_at=at("2030-03-05", 10, NY), contacts=[contact], now=at("2030-02-01")
    )
    client.get(url)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    small = count()
    for month in range(2, 12):
        held(customer, contact, f"2024-{month:02d}-13", items=[{"title": f"Item {month}"}, {"title": "Another"}])
    for day in range(6, 12):
        services.qbr_schedule(
            customer=customer, starts_at=at(f"2030-03-{day:02d}", 10, NY), contacts=[contact], now=at("2030-02-01")
        )
    assert count() == small
