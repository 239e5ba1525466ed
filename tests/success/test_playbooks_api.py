"""REST API of playbooks: templates, starting runs (errors naming the field), run lists with filters and a
query count flat in the page size, completing / skipping / re-dating / reassigning steps."""

import datetime as dt

import pytest

from success.playbooks.definitions import playbook_save
from success.playbooks.models import PlaybookRun
from success.playbooks.services import playbook_start

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/playbook-runs/"


@pytest.fixture
def template(db):
    template, _ = playbook_save(
        name="Onboard",
        next_stage="adopting",
        steps=[
            {"title": "Call", "kind": "task", "offset_days": 1},
            {"title": "Setup", "kind": "task", "offset_days": 2, "offset_from": "previous", "assignee": "customer"},
            {"title": "Live", "kind": "milestone", "offset_days": 5},
        ],
    )
    return template


def test_templates_with_steps_and_versions(api_client_for, template):
    playbook_save(template=template, description="v2 please", steps=[{"title": "Only", "kind": "milestone"}])
    [row] = api_client_for("read_only").get("/api/v1/playbooks/").json()["results"]
    assert row["name"] == "Onboard" and row["next_stage"] == "adopting"
    assert [s["title"] for s in row["steps"]] == ["Only"]
    assert [v["number"] for v in row["versions"]] == [2, 1]


def test_start_a_run(api_client_for, template, customer_factory, user_factory):
    csm = user_factory(email="csm@acme.test")
    customer = customer_factory(owner=csm)
    api = api_client_for("csm")
    response = api.post(RUNS, {"playbook": template.pk, "customer": customer.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["customer"] == customer.pk and body["owner"] == "csm@acme.test" and body["version"] == 1
    assert body["progress"]["total"] == 3 and body["progress"]["schedule_state"] == "on_track"
    assert body["progress"]["next_step"] == body["steps"][0]["id"]
    assert response["Location"].endswith(f"{RUNS}{body['id']}/")
    again = api.post(RUNS, {"playbook": template.pk, "customer": customer.pk}, format="json")
    assert again.status_code == 400 and "playbook" in again.json()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"customer": "churned"}, "customer"),
        ({"playbook": 999999}, "playbook"),
        ({"customer": None}, "customer"),
        ({"color": "red"}, "color"),
    ],
)
def test_start_refused_naming_the_field(api_client_for, template, customer_factory, payload, field):
    churned = customer_factory(lifecycle_stage="churned")
    data = {"playbook": template.pk, "customer": customer_factory().pk} | payload
    if data["customer"] == "churned":
        data["customer"] = churned.pk
    response = api_client_for("csm").post(RUNS, data, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not PlaybookRun.objects.exists()


def test_support_agent_cannot_start(api_client_for, template, customer_factory):
    response = api_client_for("support_agent").post(
        RUNS, {"playbook": template.pk, "customer": customer_factory().pk}, format="json"
    )
    assert response.status_code == 403


def test_filters(api_client_for, template, customer_factory, user_factory):
    cleo, max_ = user_factory(email="cleo@acme.test"), user_factory(email="max@acme.test")
    a, b = customer_factory(owner=cleo), customer_factory(owner=max_)
    run_a = playbook_start(template=template, customer=a)
    run_b = playbook_start(template=template, customer=b)
    run_b.status = "completed"
    run_b.save()
    api = api_client_for("read_only")
    assert [r["id"] for r in api.get(RUNS, {"customer": a.pk}).json()["results"]] == [run_a.pk]
    assert [r["id"] for r in api.get(RUNS, {"status": "completed"}).json()["results"]] == [run_b.pk]
    assert [r["id"] for r in api.get(RUNS, {"owner": "cleo@acme.test"}).json()["results"]] == [run_a.pk]
    assert api.get(RUNS, {"status": "nope"}).status_code == 400


@pytest.mark.parametrize("n", [3, 30])
def test_run_list_query_count_is_flat(api_client_for, template, customer_factory, django_assert_max_num_queries, n):
    for _ in range(n):
        playbook_start(template=template, customer=customer_factory())
    api = api_client_for("read_only")
    api.get(RUNS)
    with django_assert_max_num_queries(6):
        response = api.get(RUNS, {"page_size": 100})
    assert len(response.json()["results"]) == n
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/playbooks/").json()["results"]) == 1


def test_step_actions(api_client_for, template, customer_factory, user_factory):
    agent = user_factory(email="agent@acme.test")
    customer = customer_factory(timezone="UTC")
    run = playbook_start(template=template, customer=customer)
    call, setup, live = run.steps.all()
    api = api_client_for("csm")
    url = f"{RUNS}{run.pk}/steps/"
    assert [s["title"] for s in api.get(url).json()["results"]] == ["Call", "Setup", "Live"]

    bad = api.patch(f"{url}{call.pk}/", {"status": "skipped"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    far = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    response = api.patch(f"{url}{call.pk}/", {"assignee": "agent@acme.test", "due_date": far}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["assignee"] == "agent@acme.test" and response.json()["due_date"] == far
    past = api.patch(f"{url}{call.pk}/", {"due_date": "2020-01-01", "assignee": "csm@x.test"}, format="json")
    assert past.status_code == 400
    response = api.patch(f"{url}{call.pk}/", {"status": "skipped", "reason": "Not needed"}, format="json")
    assert response.json()["status"] == "skipped" and response.json()["skip_reason"] == "Not needed"
    response = api.patch(f"{url}{live.pk}/", {"status": "done"}, format="json")
    assert response.status_code == 200
    run.refresh_from_db()
    customer.refresh_from_db()
    assert run.status == "completed" and customer.lifecycle_stage == "adopting"
    closed = api.patch(f"{url}{setup.pk}/", {"status": "done"}, format="json")
    assert closed.status_code == 400 and "status" in closed.json()
    assert api.patch(f"{RUNS}999999/steps/{setup.pk}/", {"status": "done"}, format="json").status_code == 404
    assert api_client_for("support_agent").patch(f"{url}{setup.pk}/", {}, format="json").status_code == 403
    assert agent.playbook_steps.count() == 1
