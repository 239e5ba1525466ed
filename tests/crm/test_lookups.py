"""`<id>__any_of=[...]`: the same rows as `__in`, for primary keys and foreign keys (one array parameter on
PostgreSQL, an IN list elsewhere)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact, Customer

pytestmark = pytest.mark.django_db


def test_any_of_selects_what_in_selects(customer_factory, contact_factory):
    customers = [customer_factory() for _ in range(4)]
    for customer in customers[:3]:
        contact_factory(customer=customer)
    wanted = [customers[0].pk, customers[2].pk, customers[3].pk, 10**9]
    assert set(Customer.objects.filter(pk__any_of=wanted)) == set(Customer.objects.filter(pk__in=wanted))
    assert {c.customer_id for c in Contact.objects.filter(customer_id__any_of=wanted)} == {
        customers[0].pk,
        customers[2].pk,
    }
    assert list(Customer.objects.filter(pk__any_of=[])) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array parameter is PostgreSQL's")
def test_any_of_is_one_parameter_on_postgresql(customer_factory):
    ids = [customer_factory().pk for _ in range(3)]
    with CaptureQueriesContext(connection) as queries:
        assert Customer.objects.filter(pk__any_of=ids).count() == 3
    assert "= ANY(" in queries.captured_queries[0]["sql"]
