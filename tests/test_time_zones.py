"""Every time shown says its zone: staff read pages in their own time zone (accounts.User.time_zone, default the
server's), set on "My time zone"; customer pages show the customer's local time beside; the API stays UTC."""

import datetime as dt
import html
import re

import pytest
from django.urls import reverse

from crm.services import contact_create, customer_create
from crm.timeline import timeline_record
from tickets.models import BusinessCalendar, SlaPolicy
from tickets.services import ticket_create, ticket_reply

pytestmark = pytest.mark.django_db

# 16:40 UTC = 17:40 CET (Paris, winter) = 22:10 IST (Kolkata)
AT = dt.datetime(2026, 1, 15, 16, 40, tzinfo=dt.UTC)


def text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


@pytest.fixture
def ticket(db, make_staff):
    calendar = BusinessCalendar.objects.create(name="Paris", timezone="Europe/Paris", always_open=True)
    SlaPolicy.objects.create(name="All", calendar=calendar, first_response_minutes=60)
    customer = customer_create(name="Tata Widgets", timezone="Asia/Kolkata")
    contact = contact_create(customer=customer, email="ravi@tata.example", first_name="Ravi")
    ticket = ticket_create(customer=customer, requester=contact, subject="Export fails", body="Help", created_at=AT)
    ticket_reply(ticket=ticket, body="On it", actor=make_staff("admin"), at=AT + dt.timedelta(minutes=30))
    return ticket


def test_the_ticket_page_shows_times_in_the_viewers_zone_with_its_label(client, make_staff, ticket):
    page = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    client.force_login(make_staff("admin", time_zone="Asia/Kolkata"))
    body = text(client.get(page))
    assert "Thu 15 Jan 2026 22:10 IST" in body  # the conversation, in the viewer's zone
    assert "Thu 15 Jan 2026 22:40 IST" in body
    assert "Times in your time zone (Asia/Kolkata). Tata Widgets's local time now:" in body
    assert re.search(r"local time now: \w{3} \d\d \w{3} \d{4} \d\d:\d\d IST \(Asia/Kolkata\)", body)
    assert "Jan. 15, 2026, 10:10 p.m. IST" in body  # the admin's own date fields (created at)
    assert not re.search(r"\d p\.m\.(?! [A-Z+])", body)  # no unlabelled time anywhere
    header = client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{reverse("my_time_zone")}" title="My time zone">Asia/Kolkata</a>' in header

    # Without a zone of their own: the server's (settings.TIME_ZONE, UTC), labelled too.
    client.force_login(make_staff("admin"))
    body = text(client.get(page))
    assert "Thu 15 Jan 2026 16:40 UTC" in body and "Jan. 15, 2026, 4:40 p.m. UTC" in body
    assert "22:10 IST" not in body and "Times in your time zone (UTC)." in body


def test_the_customer_page_shows_the_timeline_in_the_viewers_zone_and_the_customers_local_time(client, make_staff):
    customer = customer_create(name="Tata Widgets", timezone="Asia/Kolkata")
    timeline_record(customer=customer, kind="note.added", summary="Kick-off call", occurred_at=AT)
    client.force_login(make_staff("csm", time_zone="Europe/Paris"))
    body = text(client.get(reverse("admin:crm_customer_change", args=[customer.pk])))
    assert "Jan. 15, 2026, 5:40 p.m. CET Jan. 15, 2026, 10:10 p.m. IST note.added Kick-off call" in body
    assert "Customer's local time (Asia/Kolkata)" in body
    # The full timeline: each event in the viewer's zone and in the customer's.
    full = reverse("admin:crm_timelineevent_changelist") + f"?customer={customer.pk}"
    assert "Jan. 15, 2026, 5:40 p.m. CET Jan. 15, 2026, 10:10 p.m. IST Tata Widgets note.added" in text(
        client.get(full)
    )
    assert re.search(r"Customer's local time: \w{3} \w+\.? \d+, [\d:]+ [ap]\.m\. IST \(Asia/Kolkata\)", body), body


def test_my_time_zone_page_sets_the_users_zone(client, make_staff):
    user = make_staff("read_only")  # no permission on users: the zone is theirs to set
    client.force_login(user)
    url = reverse("my_time_zone")
    response = client.get(url)
    assert response.status_code == 200 and "Times are shown in <strong>UTC</strong>" in response.content.decode()
    response = client.post(url, {"time_zone": "Asia/Kolkata"}, follow=True)
    assert "Times are now shown in Asia/Kolkata." in response.content.decode()
    user.refresh_from_db()
    assert user.time_zone == "Asia/Kolkata"
    response = client.post(url, {"time_zone": "Mars/Olympus"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    user.refresh_from_db()
    assert user.time_zone == "Asia/Kolkata"
    client.logout()
    assert client.get(url).status_code == 302  # staff only


def test_the_api_stays_utc_whatever_the_users_zone(client, make_staff, ticket):
    client.force_login(make_staff("admin", time_zone="Asia/Kolkata"))
    body = client.get(f"/api/v1/tickets/{ticket.pk}/").json()
    assert body["created_at"] in ("2026-01-15T16:40:00Z", "2026-01-15T16:40:00+00:00")
