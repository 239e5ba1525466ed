"""The database backend: the same statements on SQLite (the README's default) as on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Task
from crm.services import customer_create


@pytest.mark.django_db
def test_a_bulk_insert_of_hundreds_of_rows_is_one_statement_on_every_database():
    """Django 5.2's SQLite backend assumes 999 bound variables per statement and split this insert into three;
    config/sqlite3 reads SQLite's real limit, so statement counts do not grow with the rows on SQLite either."""
    customer = customer_create(name="Acme")
    tasks = [Task(customer=customer, type="risk", reason=f"Reason {n}") for n in range(300)]
    with CaptureQueriesContext(connection) as queries:
        Task.objects.bulk_create(tasks)
    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert Task.objects.filter(customer=customer).count() == 300
