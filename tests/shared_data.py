"""Rows made once and shared by the tests of a module (seeding the demo takes seconds to a minute; a module of
read-mostly tests need not seed it once per test).

    @pytest.fixture(scope="module")
    def seeded(django_db_setup, django_db_blocker):
        yield from shared_rows(django_db_blocker, lambda: seed(...))

The rows are made inside a transaction that is rolled back after the module's last test, so nothing outlives the
module. Each test's own transaction (the `db` fixture, or `pytest.mark.django_db`) is a savepoint inside it: what a
test writes is undone after it, and the next test sees the shared rows exactly as they were made. Tests with
`transaction=True` cannot share rows this way (they flush the tables); every test of the module that runs after the
fixture was first used sees the rows, so a test that needs an empty database belongs in another module.
"""

from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import transaction

T = TypeVar("T")


def shared_rows(django_db_blocker, make: Callable[[], T]) -> Iterator[T]:
    """Yields what make() returned; the database is open to the tests only as their own marks allow."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            made = make()
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield made
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
