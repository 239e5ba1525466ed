"""The CSM's landing view: the admin home page shows the signed-in user's book (success/revenue/home.py)."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.services import customer_create
from crm.task_services import task_create
from tests.success.health_rows import put_score

pytestmark = pytest.mark.django_db


def _customers(owner, count, *, renewal_in=30):
    today = timezone.localdate()
    return [
        customer_create(
            name=f"Acct {owner.pk}-{n}",
            owner=owner,
            arr=Decimal("1200"),
            contract_start=today - datetime.timedelta(days=365),
            renewal_date=today + datetime.timedelta(days=renewal_in + n),
        )
        for n in range(count)
    ]


def test_a_csm_lands_on_their_book(client, make_staff):
    csm = make_staff("csm", email="casey@example.com")
    other = make_staff("csm", email="olive@example.com")
    mine = _customers(csm, 3)
    _customers(other, 2)
    today = timezone.now().date()
    put_score(mine[0], day=today, nps_latest=2, events_30d=10, csat_90d_mean=1.0)  # a detractor, usage collapsing
    put_score(mine[1], day=today)
    task_create(customer=mine[0], reason="Champion left", type="risk", due_date=timezone.localdate())
    client.force_login(csm)
    page = client.get("/admin/").content.decode()
    assert "My book" in page
    assert '?mine=1">3 customers</a>' in page and "ARR USD 3,600" in page
    assert '?mine=1&amp;health=red">' in page and "Not scored</a>" not in page  # the label, then the count
    assert "Not scored 1</a>" in page
    assert "Renewals in the next 90 days (3)" in page and mine[2].name in page
    assert "Champion left" in page and "Open risk tasks (1)" in page
    assert "Acct " + str(other.pk) not in page  # only the user's own customers


def test_the_home_query_count_does_not_grow_with_the_book(client, make_staff):
    small, large = make_staff("csm"), make_staff("csm")
    _customers(small, 2)
    _customers(large, 12)
    counts = []
    for user in (small, large):
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/").status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1], counts


def test_no_book_panel_for_a_user_who_owns_no_customer(client, make_staff):
    client.force_login(make_staff("support_agent"))
    page = client.get("/admin/")
    assert page.status_code == 200 and "My book" not in page.content.decode()
