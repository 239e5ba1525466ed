"""Playbooks in the admin: the template editor saves through the service (a version per change, errors on the
step that caused them, nothing saved), runs show their steps and progress, customers get "Start a playbook…"."""

import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from success.playbooks.definitions import playbook_save
from success.playbooks.models import PlaybookRun, PlaybookTemplate
from success.playbooks.services import playbook_start

pytestmark = pytest.mark.django_db

ADD = "/admin/success/playbooktemplate/add/"


def editor_post(steps, **fields):
    data = {
        "name": "Onboard",
        "description": "",
        "lifecycle_stage": "",
        "next_stage": "adopting",
        "is_active": "on",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for index, step in enumerate(steps):
        defaults = {
            "position": index,
            "offset_days": 0,
            "offset_from": "start",
            "assignee": "owner",
            "meeting_minutes": 30,
            "instructions": "",
            "contact_role": "",
            "milestone_event": "",
        }
        for key, value in (defaults | step).items():
            data[f"steps-{index}-{key}"] = value
    return data


def test_editor_saves_through_the_service(admin_client):
    assert admin_client.get(ADD).status_code == 200
    response = admin_client.post(
        ADD, editor_post([{"title": "Call", "kind": "task"}, {"title": "Live", "kind": "milestone", "offset_days": 3}])
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    template = PlaybookTemplate.objects.get(name="Onboard")
    assert list(template.steps.values_list("title", flat=True)) == ["Call", "Live"]
    assert template.versions.get().number == 1
    page = admin_client.get(f"/admin/success/playbooktemplate/{template.pk}/change/")
    assert page.status_code == 200 and "v1" in page.content.decode()


def test_editor_shows_errors_and_saves_nothing(admin_client):
    response = admin_client.post(
        ADD, editor_post([{"title": "Call", "kind": "task"}, {"title": "Live", "kind": "task", "offset_days": 2}])
    )
    assert response.status_code == 200
    assert "final milestone" in response.content.decode()
    assert not PlaybookTemplate.objects.exists()
    response = admin_client.post(ADD, editor_post([{"title": "Mail", "kind": "email"}], next_stage=""))
    assert response.status_code == 200
    assert "An email step needs an email template." in response.content.decode()
    assert not PlaybookTemplate.objects.exists()


def test_run_pages_and_customer_action(admin_client, customer_factory):
    template, _ = playbook_save(
        name="Onboard", steps=[{"title": "Call", "kind": "task"}, {"title": "Live", "kind": "milestone"}]
    )
    a, b, churned = customer_factory(), customer_factory(), customer_factory(lifecycle_stage="churned")
    action = {"action": "start_playbook", ACTION_CHECKBOX_NAME: [a.pk, b.pk, churned.pk]}
    form = admin_client.post("/admin/crm/customer/", action)
    assert form.status_code == 200 and "Start a playbook" in form.content.decode()
    admin_client.post("/admin/crm/customer/", {**action, "apply": "1", "playbook": template.pk})
    assert set(PlaybookRun.objects.values_list("customer_id", flat=True)) == {a.pk, b.pk}
    run = PlaybookRun.objects.get(customer=a)
    assert admin_client.get("/admin/success/playbookrun/").status_code == 200
    page = admin_client.get(f"/admin/success/playbookrun/{run.pk}/change/")
    assert page.status_code == 200 and "Call" in page.content.decode() and "0/2" in page.content.decode()
    assert "Playbooks" in admin_client.get(f"/admin/crm/customer/{a.pk}/change/").content.decode()
    call = run.steps.get(position=0)
    skip = {"action": "skip", ACTION_CHECKBOX_NAME: [call.pk], "apply": "1", "reason": "Not needed"}
    admin_client.post("/admin/success/runstep/", skip)
    call.refresh_from_db()
    assert call.status == "skipped" and call.skip_reason == "Not needed"
    admin_client.post(
        "/admin/success/runstep/", {"action": "complete", ACTION_CHECKBOX_NAME: [run.steps.get(position=1).pk]}
    )
    run.refresh_from_db()
    assert run.status == "completed"
    playbook_start(template=template, customer=a)  # a new run after the first finished


def test_meeting_step_calendar_file(admin_client, customer_factory, client, make_staff):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from icalendar import Calendar

    from success.playbooks.services import run_step_redate

    template, _ = playbook_save(
        name="Meet",
        steps=[
            {"title": "Kick-off", "kind": "meeting", "offset_days": 1, "meeting_minutes": 45},
            {"title": "Follow-up", "kind": "meeting", "offset_days": 2, "offset_from": "previous"},
        ],
    )
    now = dt.datetime(2026, 3, 27, 12, tzinfo=dt.UTC)  # Friday; due Monday 30 March, after the EU DST change
    run = playbook_start(
        template=template, customer=customer_factory(name="Paris, Inc", timezone="Europe/Paris"), now=now
    )
    step, follow_up = run.steps.order_by("position")

    def event_of(pk):
        response = admin_client.get(f"/admin/success/runstep/{pk}/meeting.ics")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
        calendar = Calendar.from_ical(response.content)
        [timezone_] = calendar.walk("VTIMEZONE")
        assert timezone_["TZID"] == "Europe/Paris"
        [event] = calendar.walk("VEVENT")
        return event

    event = event_of(step.pk)
    paris = ZoneInfo("Europe/Paris")
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert start == dt.datetime(2026, 3, 30, 10, tzinfo=paris) and start.utcoffset() == dt.timedelta(hours=2)
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 8, tzinfo=dt.UTC)  # 10:00 CEST
    assert end - start == dt.timedelta(minutes=45)
    uid = f"playbook-step-{step.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}"
    assert str(event["UID"]) == uid and event.decoded("SEQUENCE") == 0
    assert str(event["SUMMARY"]) == "Kick-off: Paris, Inc"
    assert event_of(follow_up.pk).decoded("SEQUENCE") == 0

    # Re-dated across the next DST change back (25 October): same UID, next SEQUENCE, still 10:00 local (UTC+1).
    run_step_redate(step=step, due_date=dt.date(2026, 10, 26), now=now)
    moved = event_of(step.pk)
    assert str(moved["UID"]) == uid and moved.decoded("SEQUENCE") == 1
    assert moved.decoded("DTSTART").astimezone(dt.UTC) == dt.datetime(2026, 10, 26, 9, tzinfo=dt.UTC)
    # The follow-up counts from it: it moved too, so its calendar file is an update as well.
    moved_follow_up = event_of(follow_up.pk)
    assert moved_follow_up.decoded("SEQUENCE") == 1
    assert moved_follow_up.decoded("DTSTART") == dt.datetime(2026, 10, 28, 10, tzinfo=paris)

    assert ".ics" in admin_client.get(f"/admin/success/playbookrun/{run.pk}/change/").content.decode()
    client.force_login(make_staff("support_agent"))
    assert client.get(f"/admin/success/runstep/{step.pk}/meeting.ics").status_code == 200  # view permission


def test_cancel_runs(admin_client, customer_factory):
    template, _ = playbook_save(
        name="C", steps=[{"title": "Call", "kind": "task"}, {"title": "Live", "kind": "milestone"}]
    )
    run = playbook_start(template=template, customer=customer_factory())
    action = {"action": "cancel", ACTION_CHECKBOX_NAME: [run.pk]}
    assert "Cancel playbook runs" in admin_client.post("/admin/success/playbookrun/", action).content.decode()
    admin_client.post("/admin/success/playbookrun/", {**action, "apply": "1", "reason": "Customer paused"})
    run.refresh_from_db()
    assert run.status == "cancelled" and set(run.steps.values_list("status", flat=True)) == {"skipped"}
    assert run.customer.timeline_events.filter(kind="playbook.cancelled").exists()
    assert not run.customer.tasks.filter(status="open").exists()


@pytest.mark.parametrize("n", [2, 20])
def test_changelists_query_count_is_flat(admin_client, customer_factory, django_assert_max_num_queries, n):
    template, _ = playbook_save(
        name="Q", steps=[{"title": "Call", "kind": "task"}, {"title": "Live", "kind": "milestone"}]
    )
    for _ in range(n):
        playbook_start(template=template, customer=customer_factory())
    for url in ("/admin/success/playbookrun/", "/admin/success/runstep/", "/admin/success/playbooktemplate/"):
        admin_client.get(url)
        with django_assert_max_num_queries(14):
            assert admin_client.get(url).status_code == 200


def test_start_action_is_offered_to_csms_only(client, make_staff):
    client.force_login(make_staff("support_agent"))
    assert "start_playbook" not in client.get("/admin/crm/customer/").content.decode()
    client.force_login(make_staff("csm"))
    assert "start_playbook" in client.get("/admin/crm/customer/").content.decode()
