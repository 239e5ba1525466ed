"""A CSM's book: GET /api/v1/book/ (the caller) and /api/v1/users/{id}/book/."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.services import customer_create
from crm.task_services import task_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def csm(make_staff):
    return make_staff("csm", email="casey@example.com")


@pytest.fixture
def owned(csm, make_staff):
    today = timezone.localdate()
    year_ago = today - datetime.timedelta(days=365)
    soon = customer_create(name="Soon", owner=csm, arr=Decimal("1000"), contract_start=year_ago,
                           renewal_date=today + datetime.timedelta(days=30))
    later = customer_create(name="Later", owner=csm, arr=Decimal("2500"), contract_start=year_ago,
                            renewal_date=today + datetime.timedelta(days=200))
    edge = customer_create(name="Edge", owner=csm, arr=Decimal("500"), contract_start=year_ago,
                           renewal_date=today + datetime.timedelta(days=90))
    other = customer_create(name="Other's", owner=make_staff("csm"), arr=Decimal("9999"),
                            renewal_date=today + datetime.timedelta(days=10))
    task_create(customer=soon, reason="Usage dropped", type="risk", due_date=today)
    task_create(customer=later, reason="Call them", type="activity")
    task_create(customer=other, reason="Not mine", type="risk")
    return soon, later, edge


def test_book_of_the_caller(client, csm, owned, django_assert_max_num_queries):
    client.force_login(csm)
    with django_assert_max_num_queries(8):
        response = client.get("/api/v1/book/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["owner"] == "casey@example.com"
    assert (body["customers"], body["total_arr"]) == (3, "4000.00")
    assert [r["name"] for r in body["renewals_next_90_days"]] == ["Soon", "Edge"]
    assert body["renewals_next_90_days"][0]["band"] is None  # health bands come with health scores
    assert body["health"] is None
    assert [t["reason"] for t in body["open_risk_tasks"]] == ["Usage dropped"]


def test_book_of_another_user_and_unknown_user(api_client_for, csm, owned):
    api = api_client_for("read_only")
    body = api.get(f"/api/v1/users/{csm.pk}/book/").json()
    assert (body["owner"], body["customers"]) == ("casey@example.com", 3)
    assert api.get("/api/v1/users/999999/book/").status_code == 404
