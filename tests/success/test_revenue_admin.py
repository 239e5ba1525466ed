"""ARR movements in the admin (recorded through the service, refused with form errors, never edited or deleted)
and the retention report: the crafted book's figures, a server-side SVG chart, no inline script."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.models import Customer
from crm.services import customer_create
from success.models import ArrMovement
from tests.success.test_revenue_retention import book  # noqa: F401  (the crafted book fixture)

pytestmark = pytest.mark.django_db

ADD = reverse("admin:success_arrmovement_add")
REPORT = reverse("admin:success_arrmovement_retention")


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", full_name="Casey Csm")
    client.force_login(user)
    return user


@pytest.fixture
def acme(csm):
    return customer_create(name="Acme", arr=Decimal("1000"), contract_start=datetime.date(2025, 1, 1))


def test_admin_records_a_movement_through_the_service(client, acme):
    response = client.post(ADD, {"customer": acme.pk, "amount": "400", "effective_date": "2025-05-01"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    movement = ArrMovement.objects.get(customer=acme, amount=Decimal("400"))
    assert movement.kind == "expansion" and movement.created_by.full_name == "Casey Csm"
    assert Customer.objects.get(pk=acme.pk).arr == Decimal("1400")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "-1500", "effective_date": "2025-05-01"}, "amount", "negative"),
        ({"amount": "-1000", "effective_date": "2025-05-01"}, "churn_reason", "churn reason"),
    ],
)
def test_admin_refuses_bad_movements_with_a_form_error(client, acme, data, field, message):
    response = client.post(ADD, {"customer": acme.pk, **data})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert ArrMovement.objects.filter(customer=acme).count() == 1
    assert Customer.objects.get(pk=acme.pk).arr == Decimal("1000")


def test_movement_change_page_is_read_only_and_cannot_be_deleted(client, acme):
    movement = ArrMovement.objects.get(customer=acme)
    page = client.get(reverse("admin:success_arrmovement_change", args=[movement.pk]))
    assert page.status_code == 200 and b'name="amount"' not in page.content
    assert client.get(reverse("admin:success_arrmovement_delete", args=[movement.pk])).status_code == 403


def test_retention_report_shows_the_crafted_book_and_an_svg_chart(client, csm, book):  # noqa: F811
    response = client.get(REPORT, {"start": "2025-04-01", "end": "2025-06-30"})
    assert response.status_code == 200
    html = response.content.decode()
    total = html[html.index('id="retention-total"'):]
    total = total[: total.index("</tr>")]
    for figure in ("USD 12,500", "USD 9,000", "60.0 %", "72.0 %", "40.0 %", "USD 1,400"):
        assert figure in total, figure
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and "<polyline" in html
    assert "<script>" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]
    months = html[html.index('id="retention-months"'):]
    assert "April 2025" in months and "June 2025" in months
    policy = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";") if d.strip())
    assert "'unsafe-inline'" not in policy["script-src"]


def test_retention_report_default_period_and_bad_period(client, csm):
    assert client.get(REPORT).status_code == 200
    response = client.get(REPORT, {"start": "2025-06-30", "end": "2025-04-01"})
    assert response.status_code == 200
    assert "cannot be before its start" in " ".join(response.context["form"].errors["end"])
    assert response.context["result"] is None


def test_changelist_links_the_report(client, csm):
    page = client.get(reverse("admin:success_arrmovement_changelist"))
    assert page.status_code == 200 and REPORT.encode() in page.content


def test_customer_admin_churn_needs_a_reason_and_records_it(client, csm, acme):
    url = reverse("admin:crm_customer_change", args=[acme.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update({"owner": "", "arr": "0", "churn_reason": "", "churn_note": ""})
    for prefix in ("contacts", "notes"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    response = client.post(url, data)
    assert response.status_code == 200
    assert "churn reason" in str(response.context["adminform"].form.errors).lower()
    assert Customer.objects.get(pk=acme.pk).arr == Decimal("1000")
    response = client.post(url, {**data, "churn_reason": "price", "churn_note": "Too expensive"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    churn = ArrMovement.objects.get(customer=acme, kind="churn")
    assert (churn.churn_reason, churn.churn_note, churn.created_by) == ("price", "Too expensive", csm)
