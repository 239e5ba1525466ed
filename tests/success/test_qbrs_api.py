"""The QBR API: list with its filters (query count flat in the page size), schedule / reschedule / cancel / hold
through the services, bad input as the one 400 shape, the preparation pack."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import OutboundEmail, Tier
from success.qbrs import services
from success.qbrs.models import Qbr

FUTURE = dt.datetime.now(dt.UTC).replace(microsecond=0, second=0, minute=0) + dt.timedelta(days=20)


@pytest.fixture
def api(api_client_for):
    return api_client_for("csm")


@pytest.fixture
def account(customer_factory, contact_factory, make_staff):
    csm = make_staff("csm", email="owner@example.com")
    customer = customer_factory(name="Acme", tier=Tier.ENTERPRISE, timezone="America/New_York", owner=csm)
    return customer, contact_factory(customer=customer, email="ada@acme.example")


def make_qbrs(customer_factory, contact_factory, n, start):
    for i in range(n):
        customer = customer_factory()
        contact = contact_factory(customer=customer)
        services.qbr_schedule(customer=customer, starts_at=start + dt.timedelta(days=i), contacts=[contact], staff=[])


@pytest.mark.django_db
def test_schedule_reschedule_cancel_through_the_api(api, account):
    customer, contact = account
    body = {"customer": customer.pk, "starts_at": FUTURE.isoformat(), "contacts": [contact.pk], "agenda": "Goals"}
    response = api.post("/api/v1/qbrs/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["status"], data["sequence"], data["owner"], data["timezone"]) == (
        "scheduled",
        0,
        "owner@example.com",
        "America/New_York",
    )
    assert data["contacts"] == [{"id": contact.pk, "email": "ada@acme.example"}]
    qbr_id = data["id"]
    moved = (FUTURE + dt.timedelta(days=1)).isoformat()
    response = api.post(f"/api/v1/qbrs/{qbr_id}/reschedule/", {"starts_at": moved}, format="json")
    assert response.status_code == 200 and response.json()["sequence"] == 1
    response = api.get(f"/api/v1/qbrs/{qbr_id}/prep/")
    assert response.status_code == 200 and response.json()["pack"]["customer"]["name"] == "Acme"
    assert api.post(f"/api/v1/qbrs/{qbr_id}/prep/").status_code == 200
    response = api.post(f"/api/v1/qbrs/{qbr_id}/cancel/", {"reason": "Postponed"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert OutboundEmail.objects.filter(kind="qbr_invite").count() == 6  # ada and the owner, three changes


@pytest.mark.django_db
def test_bad_input_is_one_400_naming_the_field(api, account, contact_factory):
    customer, contact = account
    stranger = contact_factory()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    for body, field in [
        ({"starts_at": past}, "starts_at"),
        ({"contacts": [stranger.pk]}, "contacts"),
        ({"contacts": [999999]}, "contacts"),
        ({"staff": ["nobody@example.com"]}, "staff"),
        ({"colour": "red"}, "colour"),
    ]:
        payload = {"customer": customer.pk, "starts_at": FUTURE.isoformat(), "contacts": [contact.pk], **body}
        response = api.post("/api/v1/qbrs/", payload, format="json")
        assert response.status_code == 400, (body, response.json())
        assert field in str(response.json()), (body, response.json())
    assert not Qbr.objects.exists()


@pytest.mark.django_db
def test_list_filters(api, account, customer_factory, contact_factory):
    customer, contact = account
    first = services.qbr_schedule(customer=customer, starts_at=FUTURE, contacts=[contact])
    services.qbr_cancel(qbr=first)
    services.qbr_schedule(customer=customer, starts_at=FUTURE + dt.timedelta(days=10), contacts=[contact])
    make_qbrs(customer_factory, contact_factory, 2, FUTURE)
    ids = lambda query: [row["id"] for row in api.get(f"/api/v1/qbrs/?{query}").json()["results"]]  # noqa: E731
    assert len(ids(f"customer={customer.pk}")) == 2
    assert len(ids(f"customer={customer.pk}&status=scheduled")) == 1
    later = (FUTURE + dt.timedelta(days=5)).date().isoformat()
    assert len(ids(f"from={later}")) == 1
    assert len(ids(f"to={FUTURE.date().isoformat()}")) == 2
    assert api.get("/api/v1/qbrs/?from=yesterday").status_code == 400


@pytest.mark.django_db
def test_list_query_count_is_flat(api, customer_factory, contact_factory, make_staff):
    make_qbrs(customer_factory, contact_factory, 2, FUTURE)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert api.get("/api/v1/qbrs/?page_size=100").status_code == 200
        return len(queries)

    count()  # the first request also records the API key's use
    small = count()
    make_qbrs(customer_factory, contact_factory, 8, FUTURE + dt.timedelta(days=30))
    assert count() == small <= 6
