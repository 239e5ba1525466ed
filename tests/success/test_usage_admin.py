"""Product usage in the admin: events and rollups are listed read-only (they arrive through the API)."""

import datetime as dt

import pytest

from success.usage.services import usage_events_record

pytestmark = pytest.mark.django_db


def test_usage_lists_are_read_only(client, make_staff, customer_factory):
    customer = customer_factory(name="Umbrella Corp")
    now = dt.datetime.now(dt.UTC)
    usage_events_record(
        events=[
            {
                "id": "adm-1",
                "customer": customer.pk,
                "contact_email": "a@u.example",
                "name": "report_exported",
                "occurred_at": (now - dt.timedelta(hours=1)).isoformat(),
                "quantity": 3,
            }
        ]
    )
    client.force_login(make_staff("csm"))
    page = client.get("/admin/success/usageevent/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Umbrella Corp" in html and "report_exported" in html and "adm-1" in html
    assert "/admin/success/usageevent/add/" not in html
    assert client.get("/admin/success/usageevent/add/").status_code == 403
    daily = client.get("/admin/success/usagedaily/")
    assert daily.status_code == 200 and "Umbrella Corp" in daily.content.decode()
    assert "report_exported" in client.get("/admin/success/usagedailyname/").content.decode()
