"""ARR movements: the customer's ARR is always the sum of its movements, kinds are derived, bad input is a 400
naming the field with nothing changed; recorded from the API, from the customer API / upsert (billing sync)
through crm.signals.customer_arr_changed, and from the admin."""

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from crm.models import Customer, TimelineEvent
from crm.services import customer_create, customer_update
from success.models import ArrMovement
from success.revenue.services import arr_movement_create

pytestmark = pytest.mark.django_db

LIST = "/api/v1/arr-movements/"
D = datetime.date


def movements_sum(customer) -> Decimal:
    return ArrMovement.objects.filter(customer=customer).aggregate(s=Sum("amount"))["s"] or Decimal("0")


def kinds(customer) -> list[tuple[str, str, str]]:
    rows = ArrMovement.objects.filter(customer=customer).order_by("effective_date", "id")
    return [(m.effective_date.isoformat(), m.kind, str(m.amount)) for m in rows]


def snapshot():
    return (
        list(ArrMovement.objects.order_by("pk").values()),
        list(Customer.objects.order_by("pk").values("pk", "arr")),
        TimelineEvent.objects.count(),
    )


@pytest.fixture
def admin_api(api_client_for):
    return api_client_for("admin")


@pytest.fixture
def customer():
    return customer_create(name="Acme", arr=Decimal("1000"), contract_start=D(2025, 1, 1))


def test_creating_a_customer_with_arr_records_a_new_movement_at_its_contract_start(customer):
    assert kinds(customer) == [("2025-01-01", "new", "1000.00")]
    assert movements_sum(customer) == Decimal("1000")


def test_kinds_are_derived_and_arr_follows_the_movements(customer):
    arr_movement_create(customer=customer, amount=Decimal("500"), effective_date=D(2025, 3, 1))
    arr_movement_create(customer=customer, amount=Decimal("-300"), effective_date=D(2025, 6, 1))
    arr_movement_create(
        customer=customer, amount=Decimal("-1200"), effective_date=D(2025, 9, 1), churn_reason="price"
    )
    arr_movement_create(customer=customer, amount=Decimal("800"), effective_date=D(2026, 2, 1))
    assert kinds(customer) == [
        ("2025-01-01", "new", "1000.00"),
        ("2025-03-01", "expansion", "500.00"),
        ("2025-06-01", "contraction", "-300.00"),
        ("2025-09-01", "churn", "-1200.00"),
        ("2026-02-01", "reactivation", "800.00"),
    ]
    customer.refresh_from_db()
    assert customer.arr == Decimal("800") == movements_sum(customer)
    churn = ArrMovement.objects.get(customer=customer, kind="churn")
    assert churn.churn_reason == "price" and churn.arr_after == 0


def test_history_before_the_customer_existed_and_backdated_movements_reclassify_later_ones(customer):
    # Billing history from 2024 arrives after the 2025 "new": it becomes the new, the 2025 one an expansion.
    arr_movement_create(customer=customer, amount=Decimal("200"), effective_date=D(2024, 5, 1), source="import")
    assert kinds(customer) == [("2024-05-01", "new", "200.00"), ("2025-01-01", "expansion", "1000.00")]
    customer.refresh_from_db()
    assert customer.arr == Decimal("1200") == movements_sum(customer)


def test_api_records_a_movement_and_changes_the_arr(admin_api, customer):
    response = admin_api.post(
        LIST, {"customer": customer.pk, "amount": "250.00", "effective_date": "2025-04-01"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["amount"], body["arr_after"]) == ("expansion", "250.00", "1250.00")
    assert Customer.objects.get(pk=customer.pk).arr == Decimal("1250")
    assert TimelineEvent.objects.filter(customer=customer, kind="arr.expansion").exists()
    listed = admin_api.get(LIST, {"customer": customer.pk, "kind": "expansion"}).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]
    ranged = admin_api.get(LIST, {"effective_after": "2025-02-01", "effective_before": "2025-12-31"}).json()
    assert [row["id"] for row in ranged["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"amount": "-1000.01", "effective_date": "2025-04-01"}, "amount"),
        # Negative at an earlier date although the final ARR would be fine.
        ({"amount": "-500", "effective_date": "2024-12-01"}, "amount"),
        ({"amount": "-1000", "effective_date": "2025-04-01"}, "churn_reason"),
        ({"amount": "0", "effective_date": "2025-04-01"}, "amount"),
        ({"amount": "10", "effective_date": "2999-01-01"}, "effective_date"),
        ({"amount": "10", "effective_date": "2025-04-01", "kind": "new"}, "kind"),
        ({"amount": "10", "effective_date": "2025-04-01", "arr_after": "5"}, "arr_after"),
    ],
)
def test_bad_movement_is_a_400_naming_the_field_and_changes_nothing(admin_api, customer, payload, field):
    before = snapshot()
    response = admin_api.post(LIST, {"customer": customer.pk, **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert snapshot() == before


def test_support_agent_and_read_only_may_not_record_movements(api_client_for, customer):
    for role in ("support_agent", "read_only"):
        response = api_client_for(role).post(
            LIST, {"customer": customer.pk, "amount": "5", "effective_date": "2025-04-01"}, format="json"
        )
        assert response.status_code == 403
    assert api_client_for("csm").post(
        LIST, {"customer": customer.pk, "amount": "5", "effective_date": "2025-04-01"}, format="json"
    ).status_code == 201


def test_customer_api_arr_change_records_the_movement(admin_api, customer):
    response = admin_api.patch(f"/api/v1/customers/{customer.pk}/", {"arr": "1500"}, format="json")
    assert response.status_code == 200, response.json()
    last = ArrMovement.objects.filter(customer=customer).order_by("-id").first()
    assert (last.kind, last.amount, last.source) == ("expansion", Decimal("500"), "customer")
    assert movements_sum(customer) == Decimal("1500")


def test_customer_api_churn_needs_a_reason(admin_api, customer):
    before = snapshot()
    response = admin_api.patch(f"/api/v1/customers/{customer.pk}/", {"arr": "0"}, format="json")
    assert response.status_code == 400
    assert "churn_reason" in response.json()
    assert snapshot() == before
    response = admin_api.patch(
        f"/api/v1/customers/{customer.pk}/",
        {"arr": "0", "churn_reason": "competitor", "churn_note": "Went to BigCo"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    churn = ArrMovement.objects.get(customer=customer, kind="churn")
    assert (churn.churn_reason, churn.churn_note, churn.amount) == ("competitor", "Went to BigCo", Decimal("-1000"))
    assert "churn_reason" not in response.json()


def test_billing_sync_upsert_records_movements(admin_api):
    url = "/api/v1/customers/by-external-id/bill-42/"
    assert admin_api.put(url, {"name": "Billed", "arr": "900"}, format="json").status_code == 201
    assert admin_api.put(url, {"arr": "600"}, format="json").status_code == 200
    customer = Customer.objects.get(external_id="bill-42")
    assert [k for _, k, _ in kinds(customer)] == ["new", "contraction"]
    assert movements_sum(customer) == customer.arr == Decimal("600")


def test_customer_with_arr_but_no_movements_gets_an_opening_balance(customer_factory):
    # Rows bulk-loaded without the services (seed_demo, factories) have ARR and no movement yet.
    customer = customer_factory(arr=Decimal("12000"), contract_start=D(2025, 2, 1))
    customer_update(customer=customer, arr=Decimal("10000"))
    assert kinds(customer) == [("2025-02-01", "new", "12000.00"), (kinds(customer)[1][0], "contraction", "-2000.00")]
    assert ArrMovement.objects.filter(customer=customer, source="opening").count() == 1
    assert movements_sum(customer) == Decimal("10000")


def test_data_migration_gives_existing_customers_an_opening_movement(customer_factory):
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("success.migrations.0005_revenue_arr_movements")
    with_start = customer_factory(arr=Decimal("5000"), contract_start=D(2023, 3, 1))
    without_start = customer_factory(arr=Decimal("700"), contract_start=None, renewal_date=None)
    customer_factory(arr=Decimal("0"))
    migration.opening_movements(apps, type("Editor", (), {"connection": connection})())
    assert kinds(with_start) == [("2023-03-01", "new", "5000.00")]
    assert kinds(without_start) == [(without_start.created_at.date().isoformat(), "new", "700.00")]
    assert ArrMovement.objects.count() == 2 and set(ArrMovement.objects.values_list("source", flat=True)) == {"opening"}
