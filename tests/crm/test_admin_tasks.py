"""The task admin: "My open tasks" by default, actions through task_close, writes through the services."""

import datetime

import pytest
from django.urls import reverse

from crm.models import Task, TimelineEvent
from crm.services import customer_create
from crm.task_services import task_create

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:crm_task_changelist")
ADD = reverse("admin:crm_task_add")


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", full_name="Casey Csm")
    client.force_login(user)
    return user


@pytest.fixture
def acme(csm):
    return customer_create(name="Acme", external_id="acme", owner=csm)


def reasons(response):
    return sorted(t.reason for t in response.context["cl"].result_list)


def test_my_open_tasks_is_the_default_view(client, csm, acme, make_staff):
    other = make_staff("csm")
    task_create(customer=acme, reason="Mine and open")
    done, _ = task_create(customer=acme, reason="Mine but done")
    Task.objects.filter(pk=done.pk).update(status="done")
    task_create(customer=acme, reason="Someone else's", owner=other)

    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert reasons(response) == ["Mine and open"]
    assert "My open tasks" in response.content.decode()
    assert reasons(client.get(CHANGELIST, {"view": "open"})) == ["Mine and open", "Someone else's"]
    assert reasons(client.get(CHANGELIST, {"view": "mine"})) == ["Mine and open", "Mine but done"]
    assert len(reasons(client.get(CHANGELIST, {"view": "all"}))) == 3


def test_columns(client, csm, acme):
    task_create(customer=acme, reason="Call about renewal", type="opportunity", priority="high",
                due_date=datetime.date(2026, 12, 1))
    content = client.get(CHANGELIST).content.decode()
    for text in ("Acme", "Casey Csm", "Opportunity", "High", "Open", "manual", "Call about renewal"):
        assert text in content


def test_mark_done_and_cancel_actions_close_through_the_service(client, csm, acme):
    one, _ = task_create(customer=acme, reason="One")
    two, _ = task_create(customer=acme, reason="Two")
    response = client.post(CHANGELIST, {"action": "mark_done", "_selected_action": [one.pk]}, follow=True)
    assert response.status_code == 200
    one.refresh_from_db()
    assert one.status == "done" and one.closed_at is not None
    assert TimelineEvent.objects.filter(customer=acme, kind="task.done", actor=csm).exists()
    assert reasons(response) == ["Two"]  # done tasks leave "My open tasks"

    # Cancelling a done task is refused with a message; the open one is cancelled.
    response = client.post(
        CHANGELIST + "?view=all", {"action": "cancel", "_selected_action": [one.pk, two.pk]}, follow=True
    )
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.status, two.status) == ("done", "cancelled")
    messages = " ".join(str(m) for m in response.context["messages"])
    assert "1 task(s) marked cancelled" in messages and "already done" in messages


def test_add_task_through_task_create_and_duplicate_is_a_form_error(client, csm, acme):
    data = {"customer": acme.pk, "type": "risk", "reason": "Usage dropped", "priority": "urgent", "owner": ""}
    response = client.post(ADD, data)
    assert response.status_code == 302
    task = Task.objects.get(reason="Usage dropped")
    assert task.owner == csm  # defaults to the customer's CSM
    assert task.created_by == csm
    assert TimelineEvent.objects.filter(customer=acme, kind="task.created", actor=csm).exists()

    response = client.post(ADD, data)
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors)
    assert "already" in errors
    assert Task.objects.filter(reason="Usage dropped").count() == 1


def test_change_task_through_task_update(client, csm, acme, make_staff):
    task, _ = task_create(customer=acme, reason="Prepare QBR")
    other = make_staff("csm")
    url = reverse("admin:crm_task_change", args=[task.pk])
    response = client.post(
        url, {"owner": other.pk, "type": "activity", "reason": "Prepare QBR deck", "priority": "high",
              "due_date": "2026-12-24"},
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.owner, task.reason, task.priority, task.due_date) == (
        other, "Prepare QBR deck", "high", datetime.date(2026, 12, 24)
    )
    assert TimelineEvent.objects.filter(customer=acme, kind="task.updated", actor=csm).exists()


def test_changing_a_task_into_a_duplicate_open_task_is_a_form_error(client, csm, acme):
    task_create(customer=acme, reason="Taken")
    task, _ = task_create(customer=acme, reason="Free")
    url = reverse("admin:crm_task_change", args=[task.pk])
    data = {"owner": csm.pk, "type": "activity", "reason": "Taken", "priority": "normal"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "already" in str(response.context["adminform"].form.errors)
    task.refresh_from_db()
    assert task.reason == "Free"


def test_task_changelist_query_count_is_flat(client, csm, acme, django_assert_max_num_queries):
    counts = []
    for size in (5, 60):
        for i in range(Task.objects.count(), size):
            task_create(customer=acme, reason=f"Task {i}")
        for params in ({}, {"view": "all"}):
            with django_assert_max_num_queries(9) as captured:
                response = client.get(CHANGELIST, params)
            assert len(response.context["cl"].result_list) == size
            counts.append(len(captured.captured_queries))
    assert counts[:2] == counts[2:]


def test_read_only_user_cannot_close_tasks(client, make_staff, acme):
    client.force_login(make_staff("read_only"))
    task, _ = task_create(customer=acme, reason="Keep open")
    response = client.post(CHANGELIST + "?view=all", {"action": "mark_done", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.status == "open"
    assert response.status_code == 200  # the changelist again: "No action selected" (they have none)
    assert response.context["action_form"] is None


def test_customer_autocomplete_for_tasks_searches_name_and_contact_email(client, csm, acme):
    from crm.services import contact_create

    contact_create(customer=acme, email="jane@acme.io")
    contact_create(customer=acme, email="john@acme.io")
    customer_create(name="Globex", external_id="globex")
    url = reverse("admin:autocomplete")
    params = {"app_label": "crm", "model_name": "task", "field_name": "customer"}
    response = client.get(url, {**params, "term": "acme.io"})
    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(acme.pk), "text": "Acme"}]
    everyone = client.get(url, {**params, "term": ""}).json()["results"]
    assert {r["text"] for r in everyone} == {"Acme", "Globex"}


def test_tasks_are_under_customers_and_old_success_links_redirect_to_them(client, csm, acme):
    task, _ = task_create(customer=acme, reason="Renewal call")
    assert CHANGELIST == "/admin/crm/task/"
    index = client.get(reverse("admin:index")).content.decode()
    assert 'href="/admin/crm/task/"' in index and "Tasks" in index

    response = client.get("/admin/success/task/", {"view": "all", "status__exact": "open"})
    assert response.status_code == 301
    assert response["Location"] == "/admin/crm/task/?view=all&status__exact=open"
    response = client.get(f"/admin/success/task/{task.pk}/change/", follow=True)
    assert response.redirect_chain == [(f"/admin/crm/task/{task.pk}/change/", 301)]
    assert response.status_code == 200
    assert "Renewal call" in response.content.decode()
