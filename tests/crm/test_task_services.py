"""crm.task_services.task_create: an open task with the same customer, type and reason is never made twice, by the
database constraint and by the service (including two requests racing past its first check)."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from crm.models import Task, TimelineEvent
from crm.services import customer_create
from crm.task_services import task_close, task_create


@pytest.mark.django_db
def test_the_database_refuses_a_second_open_task_with_the_same_customer_type_and_reason():
    customer = customer_create(name="Acme")
    first = Task.objects.create(customer=customer, type="risk", reason="Low usage")
    # PostgreSQL names the violated constraint; SQLite names the columns of the (partial) unique index instead.
    if connection.vendor == "postgresql":
        refusal = "success_task_one_open_per_customer_type_reason"
    else:
        refusal = r"UNIQUE constraint failed: success_task\.customer_id, success_task\.type, success_task\.reason$"
    with pytest.raises(IntegrityError, match=refusal):
        with transaction.atomic():
            Task.objects.create(customer=customer, type="risk", reason="Low usage")
    # Another type, or once the first is closed, is a new task.
    Task.objects.create(customer=customer, type="opportunity", reason="Low usage")
    first.status = Task.Status.DONE
    first.save()
    Task.objects.create(customer=customer, type="risk", reason="Low usage")
    assert Task.objects.filter(customer=customer, reason="Low usage").count() == 3


@pytest.mark.django_db
def test_task_create_twice_returns_the_same_open_task():
    customer = customer_create(name="Acme")
    first, created = task_create(customer=customer, type="risk", reason="Low usage")
    again, created_again = task_create(customer=customer, type="risk", reason="  Low usage ")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Task.objects.filter(customer=customer).count() == 1
    assert TimelineEvent.objects.filter(customer=customer, kind="task.created").count() == 1
    task_close(task=first, status="done")
    reopened, created = task_create(customer=customer, type="risk", reason="Low usage")
    assert created and reopened.pk != first.pk


@pytest.mark.django_db(transaction=True)
def test_a_racing_task_create_that_misses_the_first_check_returns_the_winners_row():
    """The first request has inserted its task but not committed when the second runs its check: the second
    sees no open task, its insert waits on the unique index, fails when the first commits, and the service
    returns the first request's row instead of an error."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the second check cannot miss")
    customer = customer_create(name="Acme")
    inserted, results, errors = threading.Event(), {}, []

    def first():
        try:
            with transaction.atomic():
                results["first"] = task_create(customer=customer, type="risk", reason="Low usage")
                inserted.set()
                # Commit only once the second request's insert is waiting on this one's row. (Inside a
                # transaction pg_stat_activity is a snapshot: clear it before each look.)
                for _ in range(200):
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_stat_clear_snapshot()")
                        cursor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock' AND query LIKE %s",
                            ['INSERT INTO "success_task"%'],
                        )
                        if cursor.fetchone()[0]:
                            results["second_waited"] = True
                            break
                    threading.Event().wait(0.05)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            inserted.set()
            connection.close()

    def second():
        try:
            inserted.wait(10)
            results["second"] = task_create(customer=customer, type="risk", reason="Low usage")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert results.get("second_waited"), "the second insert never waited on the first: no race was tested"
    (first_task, first_created), (second_task, second_created) = results["first"], results["second"]
    assert (first_created, second_created) == (True, False)
    assert second_task.pk == first_task.pk
    assert list(Task.objects.filter(customer=customer).values_list("pk", flat=True)) == [first_task.pk]
    assert TimelineEvent.objects.filter(customer=customer, kind="task.created").count() == 1
