"""Retention (GRR, NRR, logo churn, renewals) on a crafted book, against values computed by hand from PRODUCT.md's
definitions. Period: 2025-04-01 .. 2025-06-30, both included.

    A enterprise csm1  new 1000 (2025-01-01), expansion +500 (05-10)                 renewal 05-15, renewed
    B smb        csm1  new 2000 (2024-06-01), contraction -500 (04-01: first day), +300 (07-01: after the end)
    C smb        csm2  new 3000 (2024-01-01), churn -3000 (06-30: last day)         renewal 06-30, churned
    D mid_market csm2  new 1500 (03-31: day before), churn -1500 (04-15), reactivation +1000 (05-20)
    E smb        csm1  new 800 (04-01: on the first day, so not in the cohort)
    F smb        -     new 400 (2024-01-01), churn -400 (03-31, before), reactivation +600 (05-01): not in cohort
    G enterprise csm2  new 5000 (2024-01-01), nothing in the period                   renewal 06-01, not renewed

Cohort A B C D G: 5 customers, starting ARR 1000+2000+3000+1500+5000 = 12500.
expansion 500 + 1000 (D's reactivation) = 1500; contraction 500; churn 3000 + 1500 = 4500; churned logos C, D.
GRR = (12500 - 4500 - 500) / 12500 = 0.6000; NRR = (7500 + 1500) / 12500 = 0.7200; logo churn 2/5 = 0.4000.
Ending ARR of the cohort 9000 (A 1500, B 1500, C 0, D 1000, G 5000); new business E 800 + F 600 = 1400.
Renewals due A, C, G = 3; renewed A; churned C.
"""

import datetime
from decimal import Decimal

import pytest

from crm.services import customer_create, customer_update
from success.revenue.selectors import retention
from success.revenue.services import arr_movement_create

pytestmark = pytest.mark.django_db

D = datetime.date
URL = "/api/v1/metrics/retention/"
Q2 = {"start": "2025-04-01", "end": "2025-06-30"}


def move(customer, amount, date, **kwargs):
    arr_movement_create(customer=customer, amount=Decimal(amount), effective_date=date, **kwargs)


@pytest.fixture
def book(make_staff):
    csm1 = make_staff("csm", email="csm1@example.com")
    csm2 = make_staff("csm", email="csm2@example.com")
    c = {}
    c["A"] = customer_create(name="A", tier="enterprise", owner=csm1, arr=Decimal("1000"),
                             contract_start=D(2025, 1, 1), renewal_date=D(2025, 5, 15))
    move(c["A"], "500", D(2025, 5, 10))
    customer_update(customer=c["A"], renewal_date=D(2026, 5, 15))  # renewed: the date moved on a year
    c["B"] = customer_create(name="B", tier="smb", owner=csm1, arr=Decimal("2000"), contract_start=D(2024, 6, 1),
                             renewal_date=D(2026, 1, 1))
    move(c["B"], "-500", D(2025, 4, 1))
    move(c["B"], "300", D(2025, 7, 1))
    c["C"] = customer_create(name="C", tier="smb", owner=csm2, arr=Decimal("3000"), contract_start=D(2024, 1, 1),
                             renewal_date=D(2025, 6, 30))
    move(c["C"], "-3000", D(2025, 6, 30), churn_reason="competitor")
    c["D"] = customer_create(name="D", tier="mid_market", owner=csm2, arr=Decimal("1500"),
                             contract_start=D(2025, 3, 31))
    move(c["D"], "-1500", D(2025, 4, 15), churn_reason="price")
    move(c["D"], "1000", D(2025, 5, 20))
    c["E"] = customer_create(name="E", tier="smb", owner=csm1, arr=Decimal("800"), contract_start=D(2025, 4, 1))
    c["F"] = customer_create(name="F", tier="smb", arr=Decimal("400"), contract_start=D(2024, 1, 1))
    move(c["F"], "-400", D(2025, 3, 31), churn_reason="adoption")
    move(c["F"], "600", D(2025, 5, 1))
    c["G"] = customer_create(name="G", tier="enterprise", owner=csm2, arr=Decimal("5000"),
                             contract_start=D(2024, 1, 1), renewal_date=D(2025, 6, 1))
    return c, csm1, csm2


def test_retention_of_the_crafted_book_equals_the_hand_computed_values(book):
    result = retention(start=D(2025, 4, 1), end=D(2025, 6, 30))
    assert result["starting_customers"] == 5
    assert result["starting_arr"] == Decimal("12500")
    assert result["expansion"] == Decimal("1500")
    assert result["contraction"] == Decimal("500")
    assert result["churn"] == Decimal("4500")
    assert result["ending_arr"] == Decimal("9000")
    assert result["churned_customers"] == 2
    assert result["grr"] == Decimal("0.6000")
    assert result["nrr"] == Decimal("0.7200")
    assert result["logo_churn"] == Decimal("0.4000")
    assert result["new_business_arr"] == Decimal("1400")
    assert (result["renewals_due"], result["renewals_renewed"], result["renewals_churned"]) == (3, 1, 1)


def test_retention_api_totals_per_tier_and_per_csm(api_client_for, book, django_assert_max_num_queries):
    client = api_client_for("read_only")
    with django_assert_max_num_queries(8):
        response = client.get(URL, {**Q2, "group_by": "tier"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["grr"], body["nrr"], body["logo_churn"]) == ("0.6000", "0.7200", "0.4000")
    assert (body["starting_arr"], body["ending_arr"]) == ("12500.00", "9000.00")
    groups = {g["key"]: g for g in body["groups"]}
    # enterprise A+G: 6000, +500. smb B C (E, F outside the cohort): 5000, -500, -3000. mid_market D: 1500.
    assert (groups["enterprise"]["starting_arr"], groups["enterprise"]["grr"], groups["enterprise"]["nrr"]) == (
        "6000.00", "1.0000", "1.0833"
    )
    assert (groups["smb"]["grr"], groups["smb"]["nrr"], groups["smb"]["logo_churn"]) == ("0.3000", "0.3000", "0.5000")
    assert (groups["mid_market"]["grr"], groups["mid_market"]["nrr"]) == ("0.0000", "0.6667")
    assert groups["smb"]["new_business_arr"] == "1400.00"

    # csm1 owns A, B, E: start 3000, +500, -500 -> GRR 2500/3000, NRR 3000/3000.
    mine = client.get(URL, {**Q2, "owner": "csm1@example.com"}).json()
    figures = (mine["starting_arr"], mine["grr"], mine["nrr"], mine["logo_churn"])
    assert figures == ("3000.00", "0.8333", "1.0000", "0.0000")
    by_owner = {g["key"]: g for g in client.get(URL, {**Q2, "group_by": "owner"}).json()["groups"]}
    assert by_owner["csm2@example.com"]["starting_arr"] == "9500.00"  # C 3000 + D 1500 + G 5000
    assert by_owner[None]["starting_customers"] == 0  # F was not in the cohort
    tiers = client.get(URL, {**Q2, "tier": ["enterprise", "mid_market"]}).json()
    assert tiers["starting_arr"] == "7500.00"


def test_retention_by_month(api_client_for, book):
    body = api_client_for("csm").get(URL, {**Q2, "by_month": "true"}).json()
    months = {m["start"]: m for m in body["months"]}
    assert list(months) == ["2025-04-01", "2025-05-01", "2025-06-01"]
    # April: cohort A B C D G = 12500; B -500, D churns -1500: GRR 10500/12500.
    assert (months["2025-04-01"]["grr"], months["2025-04-01"]["churned_customers"]) == ("0.8400", 1)
    # June: cohort A 1500 B 1500 C 3000 D 1000 G 5000, and now E 800 and F 600 = 13400; C churns 3000:
    # GRR = 10400 / 13400 = 0.77612 -> 0.7761.
    assert (months["2025-06-01"]["starting_arr"], months["2025-06-01"]["grr"]) == ("13400.00", "0.7761")
    assert months["2025-06-01"]["starting_customers"] == 7


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2025-06-30", "end": "2025-04-01"}, "end"),
        ({"start": "2025-04-01"}, "end"),
        ({"start": "nope", "end": "2025-04-01"}, "start"),
        ({**Q2, "tier": "gold"}, "tier"),
        ({**Q2, "owner": "nobody@example.com"}, "owner"),
        ({**Q2, "group_by": "planet"}, "group_by"),
        ({"start": "2020-01-01", "end": "2025-01-01", "by_month": "true"}, "by_month"),
        ({**Q2, "colour": "red"}, "colour"),
    ],
)
def test_bad_period_is_a_400_naming_the_parameter(api_client_for, params, field):
    response = api_client_for("csm").get(URL, params)
    assert response.status_code == 400
    assert field in response.json(), response.json()


def test_retention_is_one_statement_whatever_the_number_of_customers(book, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        retention(start=D(2025, 4, 1), end=D(2025, 6, 30))
    for n in range(20):
        customer_create(name=f"More {n}", arr=Decimal("100"), contract_start=D(2024, 1, 1))
    with django_assert_max_num_queries(2):
        result = retention(start=D(2025, 4, 1), end=D(2025, 6, 30), group_by="tier")
    assert result["starting_arr"] == Decimal("14500")
