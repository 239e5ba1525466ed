"""Playbook templates (validation naming the field, versions, JSON export/import) and runs (start refusals, due
dates in the customer's time zone, step actions and their timeline events, auto-start once per stage entry, the
periodic scan's nudges and risk tasks)."""

import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from crm.email_templates import email_template_save
from crm.models import OutboundEmail, Task
from crm.services import customer_create, customer_update
from success.playbooks.definitions import playbook_export, playbook_import, playbook_save
from success.playbooks.models import PlaybookRun, PlaybookTemplate, PlaybookVersion, RunStep
from success.playbooks.scheduling import playbook_scan
from success.playbooks.selectors import run_progress
from success.playbooks.services import (
    add_business_days,
    playbook_start,
    run_step_complete,
    run_step_reassign,
    run_step_redate,
    run_step_skip,
)
from surveys.services import survey_create

pytestmark = pytest.mark.django_db

MON = dt.date(2026, 3, 2)  # a Monday


def steps(*kinds, **extra):
    return [{"title": f"Step {i}", "kind": kind, **extra.get(str(i), {})} for i, kind in enumerate(kinds)]


@pytest.fixture
def simple(db):
    template, _ = playbook_save(
        name="Simple",
        next_stage="adopting",
        steps=[
            {"title": "Call", "kind": "task", "offset_days": 1},
            {"title": "Setup", "kind": "task", "offset_days": 2, "offset_from": "previous"},
            {"title": "Follow-up", "kind": "meeting", "offset_days": 1, "offset_from": "previous"},
            {"title": "Live", "kind": "milestone", "offset_days": 10},
        ],
    )
    return template


def test_business_days():
    assert add_business_days(MON, 0) == MON
    assert add_business_days(MON, 4) == dt.date(2026, 3, 6)
    assert add_business_days(MON, 5) == dt.date(2026, 3, 9)
    assert add_business_days(dt.date(2026, 3, 7), 0) == dt.date(2026, 3, 9)  # Saturday -> Monday
    assert add_business_days(dt.date(2026, 3, 6), 1) == dt.date(2026, 3, 9)  # Friday + 1 -> Monday


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"steps": []}, "steps"),
        ({"steps": [{"title": "A", "kind": "task", "offset_days": -1}]}, "steps[0].offset_days"),
        ({"steps": [{"title": "A", "kind": "task"}], "next_stage": "adopting"}, "next_stage"),
        ({"steps": [{"title": "A", "kind": "email"}]}, "steps[0].email_template"),
        ({"steps": [{"title": "A", "kind": "survey", "survey": 999}]}, "steps[0].survey"),
        ({"steps": [{"title": "", "kind": "task"}]}, "steps[0].title"),
        ({"steps": [{"title": "A", "kind": "dance"}]}, "steps[0].kind"),
        ({"steps": [{"title": "A", "kind": "task", "offset_from": "previous"}]}, "steps[0].offset_from"),
        ({"steps": [{"title": "A", "kind": "task"}], "lifecycle_stage": "churned"}, "lifecycle_stage"),
        ({"steps": [{"title": "A", "kind": "task", "offset_days": "soon"}]}, "steps[0].offset_days"),
    ],
)
def test_bad_templates_are_refused_naming_the_field(fields, field):
    with pytest.raises(ValidationError) as error:
        playbook_save(name="Bad", **fields)
    assert field in error.value.message_dict
    assert not PlaybookTemplate.objects.exists() and not PlaybookVersion.objects.exists()


def test_editing_makes_a_new_version_and_runs_keep_theirs(simple, customer_factory):
    assert simple.versions.count() == 1
    _, same = playbook_save(template=simple, name="Simple")
    assert same.number == 1  # nothing changed: no new version
    run = playbook_start(template=simple, customer=customer_factory())
    new_steps = [{"title": "Only", "kind": "milestone"}]
    _, v2 = playbook_save(template=simple, steps=new_steps)
    assert v2.number == 2 and v2.definition["steps"][0]["title"] == "Only"
    run.refresh_from_db()
    assert run.version.number == 1
    assert list(run.steps.values_list("title", flat=True)) == ["Call", "Setup", "Follow-up", "Live"]
    assert playbook_start(template=simple, customer=customer_factory()).steps.count() == 1


def test_start_refusals_change_nothing(simple, customer_factory):
    churned = customer_factory(lifecycle_stage="churned")
    with pytest.raises(ValidationError) as error:
        playbook_start(template=simple, customer=churned)
    assert list(error.value.message_dict) == ["customer"]
    customer = customer_factory()
    playbook_start(template=simple, customer=customer)
    with pytest.raises(ValidationError) as error:
        playbook_start(template=simple, customer=customer)
    assert list(error.value.message_dict) == ["playbook"]
    simple.is_active = False
    simple.save()
    with pytest.raises(ValidationError) as error:
        playbook_start(template=simple, customer=customer_factory())
    assert list(error.value.message_dict) == ["playbook"]
    assert PlaybookRun.objects.count() == 1 and Task.objects.count() == 3


def test_due_dates_count_business_days_from_the_customer_local_date(simple, customer_factory):
    # Friday 23:30 UTC is already Saturday in Auckland and still Friday in Los Angeles.
    now = dt.datetime(2026, 3, 6, 23, 30, tzinfo=dt.UTC)
    auckland = playbook_start(template=simple, customer=customer_factory(timezone="Pacific/Auckland"), now=now)
    la = playbook_start(template=simple, customer=customer_factory(timezone="America/Los_Angeles"), now=now)
    assert auckland.started_on == dt.date(2026, 3, 7) and la.started_on == dt.date(2026, 3, 6)
    assert [s.due_date for s in auckland.steps.all()] == [
        dt.date(2026, 3, 10),  # Monday + 1
        dt.date(2026, 3, 12),  # + 2 from the previous
        dt.date(2026, 3, 13),
        dt.date(2026, 3, 23),  # Monday + 10
    ]
    assert [s.due_date for s in la.steps.all()][:2] == [dt.date(2026, 3, 9), dt.date(2026, 3, 11)]


def test_step_actions_are_timeline_events_and_move_their_tasks(simple, customer_factory, user_factory):
    csm, agent = user_factory(), user_factory()
    customer = customer_factory(owner=csm)
    now = dt.datetime(2026, 3, 2, 9, tzinfo=ZoneInfo("Europe/Paris"))
    run = playbook_start(template=simple, customer=customer, now=now)
    call, setup, follow, live = run.steps.all()
    with pytest.raises(ValidationError) as error:
        run_step_skip(step=call, reason="  ", actor=csm)
    assert list(error.value.message_dict) == ["reason"]
    run_step_skip(step=call, reason="Customer declined", actor=csm)
    call.refresh_from_db()
    assert call.status == "skipped" and call.skip_reason == "Customer declined"
    assert Task.objects.get(pk=call.task_id).status == "cancelled"
    with pytest.raises(ValidationError) as error:
        run_step_complete(step=call, actor=csm)
    assert list(error.value.message_dict) == ["status"]

    run_step_reassign(step=setup, assignee=agent, actor=csm)
    assert Task.objects.get(pk=setup.task_id).owner == agent
    with pytest.raises(ValidationError) as error:
        run_step_redate(step=setup, due_date=dt.date(2026, 2, 1), actor=csm, now=now)
    assert list(error.value.message_dict) == ["due_date"]
    run_step_redate(step=setup, due_date=dt.date(2026, 3, 16), actor=csm, now=now)
    setup.refresh_from_db()
    follow.refresh_from_db()
    assert (
        setup.due_date == dt.date(2026, 3, 16) and setup.redated_count == 1 and setup.planned_due_date < setup.due_date
    )
    assert follow.due_date == dt.date(2026, 3, 17)  # counts from the previous step: moved too
    assert Task.objects.get(pk=follow.task_id).due_date == dt.date(2026, 3, 17)
    with pytest.raises(ValidationError):
        run_step_skip(step=live, reason="no", actor=csm)  # the final milestone cannot be skipped
    kinds = list(customer.timeline_events.values_list("kind", flat=True))
    for kind in ("playbook.started", "playbook.step_skipped", "playbook.step_reassigned", "playbook.step_redated"):
        assert kind in kinds

    run_step_complete(step=live, actor=csm)
    run.refresh_from_db()
    customer.refresh_from_db()
    assert run.status == "completed" and customer.lifecycle_stage == "adopting"
    assert set(run.steps.values_list("status", flat=True)) == {"skipped", "done"}
    assert not Task.objects.filter(customer=customer, status="open").exists()


def test_progress(simple, customer_factory):
    run = playbook_start(
        template=simple, customer=customer_factory(timezone="UTC"), now=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    )
    call = run.steps.get(position=0)  # due Tuesday 3 March
    progress = run_progress(run, today=dt.date(2026, 3, 3))
    assert (progress.state, progress.days_late, progress.done, progress.total) == ("on_track", 0, 0, 4)
    assert progress.next_step == call
    assert run_progress(run, today=dt.date(2026, 3, 5)).state == "at_risk"  # 2 days late
    late = run_progress(run, today=dt.date(2026, 3, 9))
    assert (late.state, late.days_late) == ("late", 6)
    run_step_complete(step=call)
    assert run_progress(PlaybookRun.objects.get(pk=run.pk), today=dt.date(2026, 3, 3)).done == 1


def test_auto_start_once_per_stage_entry(simple, django_capture_on_commit_callbacks):
    playbook_save(template=simple, lifecycle_stage="onboarding")
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(name="Initech", lifecycle_stage="onboarding")
    assert PlaybookRun.objects.filter(customer=customer).count() == 1
    playbook_scan()  # the scan's safety net finds the entry already served
    assert PlaybookRun.objects.filter(customer=customer).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        customer_create(name="Adopter", lifecycle_stage="adopting")
    # A new entry while a run is active starts nothing; after it ends, the next entry starts a new one.
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(customer=customer, lifecycle_stage="at_risk")
        customer_update(customer=customer, lifecycle_stage="onboarding")
    assert PlaybookRun.objects.filter(customer=customer).count() == 1
    run = PlaybookRun.objects.get(customer=customer)
    run_step_complete(step=run.steps.get(position=3))
    customer.refresh_from_db()
    assert customer.lifecycle_stage == "adopting"
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(customer=customer, lifecycle_stage="onboarding")
    assert PlaybookRun.objects.filter(customer=customer).count() == 2
    assert PlaybookRun.objects.count() == 2  # the adopting customer has none


def test_scan_starts_what_the_receiver_missed(simple):
    playbook_save(template=simple, lifecycle_stage="onboarding")
    customer = customer_create(name="Missed", lifecycle_stage="onboarding")  # on-commit callbacks never ran
    assert not PlaybookRun.objects.exists()
    assert playbook_scan()["started"] == 1
    assert playbook_scan()["started"] == 0
    assert PlaybookRun.objects.get().customer == customer


def test_nudges_once_a_day_and_a_risk_task_when_late(simple, customer_factory, user_factory, settings):
    settings.PLAYBOOK_RISK_AFTER_DAYS = 5
    csm = user_factory(email="csm@acme.test")
    customer = customer_factory(owner=csm, timezone="UTC")
    run = playbook_start(template=simple, customer=customer, now=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC))
    day = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)  # "Call" is 2 days late, "Setup" due today
    assert playbook_scan(now=day)["nudged"] == 1
    assert playbook_scan(now=day + dt.timedelta(hours=3))["nudged"] == 0
    assert playbook_scan(now=day + dt.timedelta(days=1))["nudged"] == 2
    nudges = OutboundEmail.objects.filter(kind="playbook_nudge")
    assert nudges.count() == 3 and set(nudges.values_list("to_email", flat=True)) == {"csm@acme.test"}
    assert not Task.objects.filter(type="risk").exists()
    later = dt.datetime(2026, 3, 10, 10, tzinfo=dt.UTC)  # "Call" 7 days late
    assert playbook_scan(now=later)["risk_tasks"] == 1
    assert playbook_scan(now=later)["risk_tasks"] == 0
    [risk] = Task.objects.filter(type="risk")
    assert risk.owner == csm and risk.source == run and risk.priority == "high"


def test_email_step_respects_unsubscribe(customer_factory, contact_factory):
    from crm.ledger import contact_unsubscribe
    from success.playbooks.services import run_step_execute

    template_row = email_template_save(name="Hello", subject="Hi {customer.name}", text_body="Hi {contact.first_name}")
    survey = survey_create(name="CES", kind="ces")
    template, _ = playbook_save(
        name="Mail",
        steps=[
            {"title": "Hello", "kind": "email", "email_template": template_row, "contact_role": "champion"},
            {"title": "CES", "kind": "survey", "survey": survey, "contact_role": "champion"},
        ],
    )
    customer = customer_factory(timezone="UTC")
    yes = contact_factory(customer=customer, role="champion")
    no = contact_factory(customer=customer, role="champion")
    contact_factory(customer=customer, role="billing")
    contact_unsubscribe(contact=no, source="test")
    run = playbook_start(template=template, customer=customer)
    email_step, survey_step = run.steps.all()
    run_step_execute(step_id=email_step.pk)
    email_step.refresh_from_db()
    assert email_step.status == "done" and "unsubscribed" in email_step.result
    assert list(OutboundEmail.objects.filter(kind="playbook_email").values_list("to_email", flat=True)) == [yes.email]
    assert run_step_execute(step_id=email_step.pk) is None  # once
    run_step_execute(step_id=survey_step.pk)
    run.refresh_from_db()
    assert run.status == "completed"  # every step closed, no final milestone: the run ends, the stage stays


def test_export_import_round_trip(simple):
    email_template_save(name="Hello", subject="Hi", text_body="Hi {contact.first_name}")
    survey_create(name="CES", kind="ces")
    data = playbook_export(simple)
    data["name"] = "Copy"
    data["steps"].insert(0, {"title": "Hello", "kind": "email", "email_template": "Hello"})
    data["steps"].insert(1, {"title": "CES", "kind": "survey", "survey": "CES"})
    copy, version = playbook_import(data=json.loads(json.dumps(data)))
    assert copy.name == "Copy" and version.number == 1 and copy.steps.count() == 6
    assert playbook_export(copy)["steps"][0]["email_template"] == "Hello"
    bad = dict(data, steps=[{"title": "X", "kind": "email", "email_template": "Nope"}])
    with pytest.raises(ValidationError) as error:
        playbook_import(data=bad)
    assert list(error.value.message_dict) == ["steps[0].email_template"]
    assert copy.steps.count() == 6


def test_export_import_command(simple, tmp_path):
    out = StringIO()
    call_command("playbooks", "export", "Simple", stdout=out)
    data = json.loads(out.getvalue())
    data["name"] = "From file"
    path = tmp_path / "playbook.json"
    path.write_text(json.dumps(data))
    call_command("playbooks", "import", str(path), stdout=StringIO())
    assert PlaybookTemplate.objects.get(name="From file").steps.count() == 4


def test_runstep_statuses():
    assert set(RunStep.Status.values) == {"pending", "done", "skipped"}


@pytest.mark.parametrize("offset", [1.5, "2.0", True, [1], None])
def test_offsets_must_be_whole_numbers(offset):
    if offset is None:
        template, _ = playbook_save(name="Default offset", steps=[{"title": "A", "kind": "task", "offset_days": None}])
        assert template.steps.get().offset_days == 0
        return
    with pytest.raises(ValidationError) as error:
        playbook_save(name="Bad", steps=[{"title": "A", "kind": "task", "offset_days": offset}])
    assert list(error.value.message_dict) == ["steps[0].offset_days"]


def test_redate_is_bounded(simple, customer_factory):
    run = playbook_start(template=simple, customer=customer_factory(), now=dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    with pytest.raises(ValidationError) as error:
        run_step_redate(
            step=run.steps.first(), due_date=dt.date(9999, 12, 31), now=dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
        )
    assert list(error.value.message_dict) == ["due_date"]


def test_nudges_wait_for_the_owner_business_hours(simple, customer_factory, user_factory):
    csm = user_factory(email="tokyo@acme.test", time_zone="Asia/Tokyo")
    run = playbook_start(
        template=simple,
        customer=customer_factory(owner=csm, timezone="UTC"),
        now=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC),
    )
    assert run.steps.get(position=0).due_date == dt.date(2026, 3, 3)
    evening_in_tokyo = dt.datetime(2026, 3, 5, 10, tzinfo=dt.UTC)  # Thursday 19:00 in Tokyo
    assert playbook_scan(now=evening_in_tokyo)["nudged"] == 0
    friday_morning = dt.datetime(2026, 3, 6, 0, 30, tzinfo=dt.UTC)  # Friday 9:30 in Tokyo, Friday in UTC
    assert playbook_scan(now=friday_morning)["nudged"] == 2  # Call and Setup (due the 4th) are overdue
    saturday = dt.datetime(2026, 3, 7, 1, tzinfo=dt.UTC)
    assert playbook_scan(now=saturday)["nudged"] == 0
