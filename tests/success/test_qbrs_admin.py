"""QBRs in the admin: the customer page's QBR panel (last and next QBR, flat query count), the scheduling form (field
errors, nothing changed on error), rescheduling and cancelling, and the customer list's action leading to the form."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import OutboundEmail, Task, Tier
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
    panel = page.split("<h2>QBRs</h2>", 1)[1].split(">Upcoming</a>", 1)[0]
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


# --- Scheduling, moving and cancelling from the admin ----------------------------------------------------------


def future(days: int, hour: int = 10) -> dt.datetime:
    day = dt.datetime.now(NY).date() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=NY)


def form_data(start: dt.datetime, contacts, staff=(), duration=60, agenda="Goals"):
    local = start.astimezone(NY)
    return {
        "date": local.date().isoformat(),
        "start_time": local.strftime("%H:%M"),
        "duration_minutes": duration,
        "contacts": [c.pk for c in contacts],
        "staff": [u.pk for u in staff],
        "agenda": agenda,
    }


@pytest.mark.django_db
def test_admin_schedules_a_proposed_qbr_in_the_customer_zone(client, account, make_staff):
    customer, contact = account
    colleague = make_staff("csm", email="colleague@example.com")
    qbr = services.qbr_propose(customer=customer, starts_at=future(20))
    client.force_login(customer.owner)
    url = f"/admin/success/qbr/{qbr.pk}/schedule/"
    page = client.get(url)
    assert page.status_code == 200 and "America/New_York" in page.content.decode()
    assert "ada@acme.example" in page.content.decode()
    start = future(21, hour=15)
    response = client.post(url, form_data(start, [contact], [colleague], duration=90, agenda="Roadmap"))
    assert response.status_code == 302 and response.url == f"/admin/success/qbr/{qbr.pk}/change/"
    qbr.refresh_from_db()
    assert (qbr.status, qbr.starts_at, qbr.duration_minutes, qbr.agenda) == ("scheduled", start, 90, "Roadmap")
    assert qbr.starts_at.astimezone(NY).hour == 15 and list(qbr.contacts.all()) == [contact]
    invites = OutboundEmail.objects.filter(kind="qbr_invite").order_by("to_email")
    assert [e.to_email for e in invites] == ["ada@acme.example", "colleague@example.com", "csm@example.com"]
    change = client.get(f"/admin/success/qbr/{qbr.pk}/change/").content.decode()
    assert "Move or change attendees" in change and f"/admin/success/qbr/{qbr.pk}/cancel/" in change


@pytest.mark.django_db
def test_admin_scheduling_errors_name_the_field_and_change_nothing(client, account, customer_factory, contact_factory):
    customer, contact = account
    other_contact = contact_factory(customer=customer_factory(name="Globex"), email="bob@globex.example")
    qbr = services.qbr_propose(customer=customer, starts_at=future(20))
    taken = services.qbr_schedule(customer=customer, starts_at=future(30, hour=9), contacts=[contact])
    before = (qbr.starts_at, OutboundEmail.objects.count())
    client.force_login(customer.owner)
    url = f"/admin/success/qbr/{qbr.pk}/schedule/"

    def errors(data):
        response = client.post(url, data)
        assert response.status_code == 200
        qbr.refresh_from_db()
        assert (qbr.status, qbr.starts_at, OutboundEmail.objects.count()) == ("proposed", *before)
        return response.context["form"].errors

    past = dt.datetime.now(NY) - dt.timedelta(days=2)
    assert errors(form_data(past, [contact]))["date"] == ["A QBR cannot be planned in the past."]
    overlap = errors(form_data(future(30, hour=9) + dt.timedelta(minutes=30), [contact]))["date"]
    assert overlap[0].startswith(f"It overlaps QBR #{taken.pk} of this customer")
    assert errors(form_data(future(22), [contact, other_contact]))["contacts"] == [
        "bob@globex.example is not a contact of Acme."
    ]
    assert "contacts" in errors(form_data(future(22), []))
    assert "start_time" in errors({**form_data(future(22), [contact]), "start_time": "25:99"})
    assert "duration_minutes" in errors(form_data(future(22), [contact], duration=5))


@pytest.mark.django_db
def test_admin_moves_and_cancels_a_scheduled_qbr(client, account, make_staff):
    customer, contact = account
    qbr = services.qbr_schedule(customer=customer, starts_at=future(20), contacts=[contact])
    client.force_login(customer.owner)
    moved_to = future(25, hour=11)
    response = client.post(f"/admin/success/qbr/{qbr.pk}/schedule/", form_data(moved_to, [contact]))
    assert response.status_code == 302
    qbr.refresh_from_db()
    assert (qbr.starts_at, qbr.sequence) == (moved_to, 1)
    assert OutboundEmail.objects.filter(to_email="ada@acme.example", kind="qbr_invite").count() == 2
    long_reason = {"reason": "x" * 301}
    assert "reason" in client.post(f"/admin/success/qbr/{qbr.pk}/cancel/", long_reason).context["form"].errors
    qbr.refresh_from_db()
    assert qbr.status == "scheduled"
    response = client.post(f"/admin/success/qbr/{qbr.pk}/cancel/", {"reason": "Customer asked to postpone"})
    assert response.status_code == 302
    qbr.refresh_from_db()
    assert (qbr.status, qbr.cancel_reason, qbr.sequence) == ("cancelled", "Customer asked to postpone", 2)
    cancel = OutboundEmail.objects.filter(to_email="ada@acme.example").order_by("-pk").first()
    assert "METHOD:CANCEL" in cancel.calendar
    page = client.get(f"/admin/success/qbr/{qbr.pk}/schedule/", follow=True).content.decode()
    assert "A cancelled QBR cannot be changed." in page
    client.force_login(make_staff("read_only"))
    assert client.get(f"/admin/success/qbr/{qbr.pk}/schedule/").status_code == 403


@pytest.mark.django_db
def test_customer_action_leads_to_the_scheduling_form(client, account):
    customer, _contact = account
    client.force_login(customer.owner)
    response = client.post("/admin/crm/customer/", {"action": "propose_qbr", "_selected_action": [customer.pk]})
    qbr = customer.qbrs.get()
    assert response.status_code == 302 and response.url == f"/admin/success/qbr/{qbr.pk}/schedule/"
    page = client.get(response.url).content.decode()
    assert "1 QBR proposed" in page and "Schedule and invite" in page
