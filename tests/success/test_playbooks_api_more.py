"""REST API of playbooks, continued: the time-to-value and friction reports (hand-computed values, filters, query
counts flat in the number of runs), export / import as JSON (the command's JSON and validation; an unchanged import
makes no version) and cancelling a run."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command

from crm.email_templates import email_template_save
from crm.models import Task, TimelineEvent
from success.playbooks.definitions import playbook_save
from success.playbooks.models import PlaybookRun, PlaybookTemplate, PlaybookVersion, RunStep
from success.playbooks.services import playbook_start, run_step_complete, run_step_redate, run_step_skip

pytestmark = pytest.mark.django_db

PLAYBOOKS = "/api/v1/playbooks/"
RUNS = "/api/v1/playbook-runs/"


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def template(db):
    template, _ = playbook_save(
        name="TTV",
        next_stage="adopting",
        steps=[
            {"title": "Call", "kind": "task", "offset_days": 1},
            {"title": "Setup", "kind": "task", "offset_days": 2},
            {"title": "Live", "kind": "milestone", "offset_days": 5},
        ],
    )
    return template


def start(template, customer_factory, owner, day="2026-03-02"):
    return playbook_start(template=template, customer=customer_factory(owner=owner, timezone="UTC"), now=at(day))


def finish(run, day):
    run_step_complete(step=run.steps.get(position=2), now=at(day))


# --- Time to value and friction ------------------------------------------------------------------------------


@pytest.fixture
def crafted(template, customer_factory, user_factory):
    """Started Monday 2 March 2026: Call due Tue 3, Setup due Wed 4, Live due Mon 9."""
    cleo, max_ = user_factory(email="cleo@acme.test"), user_factory(email="max@acme.test")
    a, b, c = (start(template, customer_factory, cleo) for _ in range(3))
    d = start(template, customer_factory, max_)
    late_start = start(template, customer_factory, max_, day="2026-03-16")
    run_step_complete(step=a.steps.get(position=0), now=at("2026-03-03"))
    run_step_complete(step=a.steps.get(position=1), now=at("2026-03-06"))  # 2 days late
    finish(a, "2026-03-12")  # 10 days
    run_step_complete(step=b.steps.get(position=0), now=at("2026-03-07"))  # 4 days late
    run_step_skip(step=b.steps.get(position=1), reason="not needed", now=at("2026-03-07"))
    finish(b, "2026-04-11")  # 40 days
    run_step_redate(step=c.steps.get(position=1), due_date=dt.date(2026, 3, 20), now=at("2026-03-03"))
    finish(c, "2026-03-27")  # 25 days
    finish(d, "2026-03-07")  # 5 days
    finish(late_start, "2026-03-20")  # 4 days
    return {"a": a, "b": b, "c": c, "d": d, "late_start": late_start}


def test_time_to_value(api_client_for, template, crafted):
    response = api_client_for("read_only").get(f"{PLAYBOOKS}{template.pk}/time-to-value/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["playbook"] == {"id": template.pk, "name": "TTV"}
    # [10, 40, 25, 5, 4]: median 10, p90 = the 5th smallest = 40, within 30 days: 4 of 5.
    assert body["distribution"] == {
        "finished": 5,
        "median_days": 10.0,
        "p90_days": 40,
        "decided": 5,
        "within_30": 4,
        "share_within_30": 0.8,
    }
    by_csm = {row["owner"]: row for row in body["by_csm"]}
    assert (by_csm["cleo@acme.test"]["median_days"], by_csm["cleo@acme.test"]["share_within_30"]) == (25.0, 0.6667)
    assert (by_csm["max@acme.test"]["median_days"], by_csm["max@acme.test"]["finished"]) == (4.5, 2)
    assert body["runs_total"] == 5
    rows = {row["run"]: row for row in body["runs"]}
    b = rows[crafted["b"].pk]
    assert b["days"] == 40 and b["within_30"] is False and b["completed_on"] == "2026-04-11"
    assert b["owner"] == "cleo@acme.test" and b["started_on"] == "2026-03-02" and b["status"] == "completed"
    assert body["runs"][0]["run"] == crafted["late_start"].pk  # latest start first


def test_time_to_value_filters(api_client_for, template, crafted):
    api = api_client_for("csm")
    url = f"{PLAYBOOKS}{template.pk}/time-to-value/"
    body = api.get(url, {"owner": "MAX@acme.test"}).json()
    assert {row["run"] for row in body["runs"]} == {crafted["d"].pk, crafted["late_start"].pk}
    assert [row["owner"] for row in body["by_csm"]] == ["max@acme.test"]
    body = api.get(url, {"from": "2026-03-10"}).json()
    assert [row["run"] for row in body["runs"]] == [crafted["late_start"].pk]
    assert body["distribution"]["median_days"] == 4.0
    body = api.get(url, {"to": "2026-03-02", "owner": "cleo@acme.test"}).json()
    assert body["distribution"]["finished"] == 3 and body["distribution"]["median_days"] == 25.0


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"owner": "nobody"}, "owner"),
    ],
)
def test_time_to_value_bad_filters(api_client_for, template, params, field):
    response = api_client_for("csm").get(f"{PLAYBOOKS}{template.pk}/time-to-value/", params)
    assert response.status_code == 400 and field in response.json()


def test_friction(api_client_for, template, crafted):
    response = api_client_for("read_only").get(f"{PLAYBOOKS}{template.pk}/friction/")
    assert response.status_code == 200, response.json()
    steps = {row["title"]: row for row in response.json()["steps"]}
    assert [row["position"] for row in response.json()["steps"]] == [0, 1, 2]
    # Call: a on time, b 4 days late; c, d, late_start closed "run completed" (not done, not skipped).
    assert steps["Call"] | {} == {
        "position": 0,
        "title": "Call",
        "runs": 5,
        "late": 1,
        "skipped": 0,
        "redated": 0,
        "late_share": 0.2,
        "skipped_share": 0.0,
        "redated_share": 0.0,
        "median_delay": 2.0,
    }
    # Setup: a 2 days late, b skipped, c re-dated (closed by the run's completion).
    setup = steps["Setup"]
    assert (setup["late"], setup["skipped"], setup["redated"], setup["median_delay"]) == (1, 1, 1, 2.0)
    assert (setup["skipped_share"], setup["redated_share"]) == (0.2, 0.2)
    # Live: a 3 days late (12th vs 9th), b 33, c 18, d 0, late_start (due 23rd) 0: median 3.
    live = steps["Live"]
    assert (live["late"], live["late_share"], live["median_delay"]) == (3, 0.6, 3.0)


@pytest.mark.parametrize("report", ["time-to-value", "friction"])
def test_report_query_count_is_flat(
    api_client_for, template, customer_factory, user_factory, django_assert_max_num_queries, report
):
    api = api_client_for("csm")
    url = f"{PLAYBOOKS}{template.pk}/{report}/"
    owners = [user_factory() for _ in range(3)]
    assert api.get(url).status_code == 200  # the key's first use is remembered once
    counts = []
    for size in (2, 12):
        while PlaybookRun.objects.count() < size:
            run = start(template, customer_factory, owners[PlaybookRun.objects.count() % 3])
            finish(run, "2026-03-20")
        with django_assert_max_num_queries(6) as captured:
            assert api.get(url).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


def test_reports_of_an_unknown_playbook(api_client_for):
    api = api_client_for("csm")
    for report in ("time-to-value", "friction", "export"):
        assert api.get(f"{PLAYBOOKS}999999/{report}/").status_code == 404


# --- Export and import ---------------------------------------------------------------------------------------


@pytest.fixture
def welcome(db):
    return email_template_save(name="Welcome", subject="Welcome {customer.name}", text_body="Hi {contact.first_name}")


@pytest.fixture
def emailing(db, welcome):
    template, _ = playbook_save(
        name="Emailing",
        description="Mails first",
        lifecycle_stage="onboarding",
        next_stage="adopting",
        steps=[
            {"title": "Welcome", "kind": "email", "email_template": welcome, "contact_role": "champion"},
            {"title": "Call", "kind": "meeting", "offset_days": 2, "meeting_minutes": 45},
            {"title": "Live", "kind": "milestone", "offset_days": 5, "milestone_event": "report.shared"},
        ],
    )
    return template


def test_export_is_the_commands_json(api_client_for, emailing):
    response = api_client_for("read_only").get(f"{PLAYBOOKS}{emailing.pk}/export/")
    assert response.status_code == 200
    out = StringIO()
    call_command("playbooks", "export", "Emailing", stdout=out)
    assert response.json() == json.loads(out.getvalue())
    assert response.json()["steps"][0]["email_template"] == "Welcome"


def test_import_unchanged_makes_no_version_and_changed_makes_one(api_client_for, emailing):
    api = api_client_for("csm")
    exported = api.get(f"{PLAYBOOKS}{emailing.pk}/export/").json()
    again = api.post(f"{PLAYBOOKS}import/", exported, format="json")
    assert again.status_code == 200, again.json()
    assert [v["number"] for v in again.json()["versions"]] == [1]
    assert PlaybookVersion.objects.filter(template=emailing).count() == 1

    exported["steps"][1]["offset_days"] = 3
    changed = api.post(f"{PLAYBOOKS}import/", exported, format="json")
    assert changed.status_code == 200
    assert [v["number"] for v in changed.json()["versions"]] == [2, 1]
    assert changed.json()["steps"][1]["offset_days"] == 3

    exported["name"] = "Emailing (copy)"
    created = api.post(f"{PLAYBOOKS}import/", exported, format="json")
    assert created.status_code == 201
    assert created["Location"].endswith(f"{PLAYBOOKS}{created.json()['id']}/")
    assert created.json()["steps"][0]["email_template"] == emailing.steps.get(position=0).email_template_id


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda d: d["steps"][2].update(offset_days=-1), "steps.2.offset_days", "cannot be negative"),
        (lambda d: d["steps"][0].update(email_template="Nope"), "steps.0.email_template", "'Nope'"),
        (lambda d: d["steps"][1].update(colour="red"), "steps.1.colour", "Unknown field"),
        (lambda d: d.update(steps=[]), "steps", "at least one step"),
        (lambda d: d["steps"].pop(), "next_stage", "final milestone"),
        (lambda d: d.update(format="playbook/9"), "format", "playbook/1"),
    ],
)
def test_import_refused_naming_the_step(api_client_for, emailing, change, field, message):
    api = api_client_for("csm")
    data = api.get(f"{PLAYBOOKS}{emailing.pk}/export/").json()
    data["steps"][1]["title"] = "Call, renamed"  # a valid change that must not be saved either
    change(data)
    response = api.post(f"{PLAYBOOKS}import/", data, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field]), response.json()
    assert list(emailing.steps.values_list("title", flat=True)) == ["Welcome", "Call", "Live"]
    assert PlaybookVersion.objects.filter(template=emailing).count() == 1


def test_import_not_json_and_not_an_object(api_client_for):
    api = api_client_for("csm")
    response = api.post(f"{PLAYBOOKS}import/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    response = api.post(f"{PLAYBOOKS}import/", [1, 2], format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    assert not PlaybookTemplate.objects.exists()


def test_import_needs_a_writing_role(api_client_for, emailing):
    data = api_client_for("support_agent").get(f"{PLAYBOOKS}{emailing.pk}/export/").json()
    data["name"] = "New"
    for role in ("support_agent", "read_only"):
        assert api_client_for(role).post(f"{PLAYBOOKS}import/", data, format="json").status_code == 403
    assert not PlaybookTemplate.objects.filter(name="New").exists()


# --- Cancel a run --------------------------------------------------------------------------------------------


def test_cancel_a_run(api_client_for, template, customer_factory, user_factory):
    run = start(template, customer_factory, user_factory())
    run_step_complete(step=run.steps.get(position=0), now=at("2026-03-03"))
    api = api_client_for("csm")
    response = api.post(f"{RUNS}{run.pk}/cancel/", {"reason": "Customer paused the project"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "cancelled" and body["progress"]["schedule_state"] == "cancelled"
    steps = {s.title: s for s in run.steps.select_related("task")}
    assert steps["Call"].status == RunStep.Status.DONE and steps["Call"].task.status == Task.Status.DONE
    assert steps["Setup"].status == RunStep.Status.SKIPPED and steps["Setup"].task.status == Task.Status.CANCELLED
    event = TimelineEvent.objects.get(customer=run.customer, kind="playbook.cancelled")
    assert event.payload["reason"] == "Customer paused the project"
    assert event.summary == "Playbook TTV cancelled: Customer paused the project"

    again = api.post(f"{RUNS}{run.pk}/cancel/", {"reason": "twice"}, format="json")
    assert again.status_code == 400
    assert again.json() == {"status": ["The run is already cancelled: only an active run can be cancelled."]}
    assert TimelineEvent.objects.filter(kind="playbook.cancelled").count() == 1


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 301}])
def test_cancel_needs_a_reason(api_client_for, template, customer_factory, user_factory, payload):
    run = start(template, customer_factory, user_factory())
    response = api_client_for("csm").post(f"{RUNS}{run.pk}/cancel/", payload, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    run.refresh_from_db()
    assert run.status == "active"
    assert not Task.objects.filter(status=Task.Status.CANCELLED).exists()


def test_cancel_a_completed_run_or_as_support_agent(api_client_for, template, customer_factory, user_factory):
    run = start(template, customer_factory, user_factory())
    response = api_client_for("support_agent").post(f"{RUNS}{run.pk}/cancel/", {"reason": "no"}, format="json")
    assert response.status_code == 403
    finish(run, "2026-03-10")
    response = api_client_for("csm").post(f"{RUNS}{run.pk}/cancel/", {"reason": "late"}, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == ["The run is already completed: only an active run can be cancelled."]
    run.refresh_from_db()
    assert run.status == "completed"
    assert api_client_for("csm").post(f"{RUNS}999999/cancel/", {"reason": "x"}, format="json").status_code == 404
