"""REST API v1: /api/v1/tasks/."""

import datetime

import pytest

from crm.models import Task, TimelineEvent
from crm.services import customer_create
from crm.task_services import task_create

pytestmark = pytest.mark.django_db

LIST = "/api/v1/tasks/"


def detail(pk) -> str:
    return f"/api/v1/tasks/{pk}/"


def snapshot() -> tuple:
    return list(Task.objects.order_by("pk").values()), TimelineEvent.objects.count()


@pytest.fixture
def csm(make_staff):
    return make_staff("csm", email="csm@example.com")


@pytest.fixture
def customer(csm):
    return customer_create(name="Acme", owner=csm)


@pytest.fixture
def task(customer):
    task, _ = task_create(
        customer=customer, reason="Low usage", type="risk", due_date=datetime.date(2026, 6, 1)
    )
    return task


def reasons(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["reason"] for row in response.json()["results"]]


def test_401_without_credentials(client, task):
    assert client.get(LIST).status_code == 401


def test_create_defaults_owner_to_the_customer_csm(api_client_for, customer):
    api = api_client_for("csm")
    response = api.post(
        LIST, {"customer": customer.pk, "reason": "Plan QBR", "type": "lifecycle"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    task = Task.objects.get()
    assert response["Location"].endswith(detail(task.pk))
    assert body["owner"] == "csm@example.com"
    assert body["customer_name"] == "Acme"
    assert body["created_by"] == api.api_key.user.email
    assert body["status"] == "open" and body["priority"] == "normal" and body["source_type"] is None
    assert TimelineEvent.objects.filter(kind="task.created", source_id=str(task.pk)).exists()


def test_duplicate_open_task_returns_the_existing_one_with_200(api_client_for, task):
    api = api_client_for("csm")
    payload = {"customer": task.customer_id, "reason": "Low usage", "type": "risk", "priority": "urgent"}
    before = snapshot()
    response = api.post(LIST, payload, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == task.pk
    assert response.json()["priority"] == "normal"  # the existing task, unchanged
    assert snapshot() == before
    api.patch(detail(task.pk), {"status": "done"}, format="json")
    assert api.post(LIST, payload, format="json").status_code == 201  # closed tasks do not block a new one
    assert Task.objects.count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 301}, "reason"),
        ({"type": "chore"}, "type"),
        ({"priority": "meh"}, "priority"),
        ({"due_date": "tomorrow"}, "due_date"),
        ({"owner": "ghost@example.com"}, "owner"),
        ({"owner": "bad"}, "owner"),
        ({"customer": 99999999}, "customer"),
        ({"status": "done"}, "status"),
        ({"closed_at": None}, "closed_at"),
        ({"whatever": 1}, "whatever"),
    ],
)
def test_create_bad_input_is_400_and_changes_nothing(api_client_for, customer, payload, field):
    before = snapshot()
    response = api_client_for("csm").post(
        LIST, {"customer": customer.pk, "reason": "R", **payload}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert snapshot() == before


def test_patch_fields_and_close(api_client_for, task, make_staff):
    make_staff("support_agent", email="agent@example.com")
    api = api_client_for("support_agent")
    response = api.patch(detail(task.pk), {"owner": "agent@example.com", "priority": "high"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["owner"] == "agent@example.com"
    event = TimelineEvent.objects.get(kind="task.updated")
    assert event.payload["changes"]["owner"] == ["csm@example.com", "agent@example.com"]
    response = api.patch(detail(task.pk), {"status": "done", "due_date": None}, format="json")
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.status == "done" and task.closed_at is not None and task.due_date is None
    assert TimelineEvent.objects.filter(kind="task.done").count() == 1
    assert api.patch(detail(task.pk), {"status": "done"}, format="json").status_code == 200  # harmless repeat
    assert TimelineEvent.objects.filter(kind="task.done").count() == 1


def test_patch_without_changes_records_nothing(api_client_for, task):
    before = snapshot()
    response = api_client_for("csm").patch(detail(task.pk), {"priority": "normal"}, format="json")
    assert response.status_code == 200
    assert snapshot() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "open"}, "status"),  # cannot reopen
        ({"status": "cancelled"}, "status"),  # already done
        ({"status": "archived"}, "status"),
        ({"customer": 1}, "customer"),
        ({"owner": "nobody@example.com"}, "owner"),
        ({"reason": ""}, "reason"),
    ],
)
def test_patch_bad_input_is_400_and_changes_nothing(api_client_for, task, payload, field):
    api = api_client_for("csm")
    api.patch(detail(task.pk), {"status": "done"}, format="json")
    before = snapshot()
    response = api.patch(detail(task.pk), {"priority": "urgent", **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert snapshot() == before


def test_patch_into_a_duplicate_open_task_is_400(api_client_for, task):
    other, _ = task_create(customer=task.customer, reason="Other", type="risk")
    before = snapshot()
    response = api_client_for("csm").patch(detail(other.pk), {"reason": "Low usage"}, format="json")
    assert response.status_code == 400
    assert f"Open task #{task.pk}" in response.json()["reason"][0]
    assert snapshot() == before


def test_read_only_cannot_write_and_no_delete(api_client_for, task):
    api = api_client_for("read_only")
    before = snapshot()
    assert api.get(detail(task.pk)).status_code == 200
    assert api.post(LIST, {"customer": task.customer_id, "reason": "X"}, format="json").status_code == 403
    assert api.patch(detail(task.pk), {"status": "done"}, format="json").status_code == 403
    assert api_client_for("admin").delete(detail(task.pk)).status_code == 405
    assert snapshot() == before


def test_filters(api_client_for, customer, csm, make_staff, client):
    agent = make_staff("support_agent", email="agent@example.com")
    other = customer_create(name="Other")
    task_create(
        customer=customer, reason="A", type="risk", priority="high", due_date=datetime.date(2026, 1, 10)
    )
    task_create(
        customer=customer, reason="B", type="opportunity", owner=agent, due_date=datetime.date(2026, 2, 1)
    )
    c, _ = task_create(customer=other, reason="C", type="risk", priority="urgent")
    Task.objects.filter(pk=c.pk).update(status="cancelled")
    api = api_client_for("read_only")
    assert reasons(api.get(LIST)) == ["A", "B", "C"]  # due date, no due date last
    assert reasons(api.get(LIST, {"customer": other.pk})) == ["C"]
    assert reasons(api.get(LIST, {"owner": "Agent@example.com"})) == ["B"]
    assert reasons(api.get(LIST, {"status": "open"})) == ["A", "B"]
    assert reasons(api.get(LIST, {"type": "risk"})) == ["A", "C"]
    assert reasons(api.get(f"{LIST}?priority=high&priority=urgent")) == ["A", "C"]
    assert reasons(api.get(LIST, {"due_before": "2026-01-31"})) == ["A"]
    assert reasons(api.get(LIST, {"due_before": "2026-02-01"})) == ["A", "B"]
    assert reasons(api.get(LIST, {"ordering": "-due_date"})) == ["C", "B", "A"]
    assert reasons(api.get(LIST, {"mine": "true"})) == []  # the key's service user owns nothing
    client.force_login(csm)
    assert [r["reason"] for r in client.get(LIST, {"mine": "true"}).json()["results"]] == ["A"]
    assert [r["reason"] for r in client.get(LIST, {"mine": "false"}).json()["results"]] == ["B", "C"]


@pytest.mark.parametrize(
    "params",
    [
        {"customer": "x"},
        {"owner": "x"},
        {"status": "closed"},
        {"type": "chore"},
        {"priority": "p1"},
        {"due_before": "2026-02-30"},
        {"mine": "sometimes"},
        {"ordering": "priority"},
        {"page_size": "-1"},
    ],
)
def test_bad_filter_values_are_400(api_client_for, task, params):
    response = api_client_for("read_only").get(LIST, params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


@pytest.mark.parametrize("n", [5, 60])
def test_list_query_count_is_flat(api_client_for, customer, django_assert_max_num_queries, n):
    for i in range(n):
        task_create(customer=customer, reason=f"Task {i}", due_date=datetime.date(2026, 1, 1 + i % 28))
    api = api_client_for("read_only")
    api.get(LIST)
    with django_assert_max_num_queries(4):
        response = api.get(LIST, {"page_size": 100, "status": "open"})
    rows = response.json()["results"]
    assert len(rows) == n
    assert {r["owner"] for r in rows} == {"csm@example.com"} and {r["customer_name"] for r in rows} == {
        "Acme"
    }
