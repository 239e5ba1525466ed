"""The "Done when" walk of issue 10: a customer created in onboarding gets the default onboarding playbook once,
its email and survey steps arrive in a real SMTP server (aiosmtpd) exactly once each, the final milestone
completes the run and the customer moves to adopting."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.models import OutboundEmail, Task
from crm.outbound_email import email_send
from crm.services import contact_create, customer_create
from crm.task_services import task_close
from crm.tasks import send_email
from success.playbooks.defaults import ensure_default_playbook
from success.playbooks.models import PlaybookRun, RunStep
from success.playbooks.scheduling import playbook_scan
from success.playbooks.selectors import run_progress
from success.playbooks.services import add_business_days, run_step_complete, run_step_execute
from success.playbooks.tasks import execute_step
from success.usage.services import usage_events_record
from surveys.models import Invitation

pytestmark = pytest.mark.django_db


class Worker:
    """Tasks published on commit run at once, as a worker would run them (same code path, no broker), at
    `worker.now` (None: the real time)."""

    now = None


@pytest.fixture
def worker(monkeypatch):
    clock = Worker()
    monkeypatch.setattr(send_email, "apply_async", lambda args, **kwargs: email_send(email_id=args[0]))
    monkeypatch.setattr(
        execute_step, "apply_async", lambda args, **kwargs: run_step_execute(step_id=args[0], now=clock.now)
    )
    return clock


def local_noon(day: dt.date, zone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


def test_customer_walks_through_onboarding(
    smtp_settings, smtp_server, worker, django_capture_on_commit_callbacks, user_factory
):
    template = ensure_default_playbook()
    csm = user_factory(full_name="Cleo Manager", email="cleo@acme.test", time_zone="America/Los_Angeles")
    zone = "America/Los_Angeles"
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(name="Globex", owner=csm, lifecycle_stage="onboarding", timezone=zone)
    [run] = PlaybookRun.objects.filter(customer=customer)
    assert run.template == template and run.status == "active" and run.version.number == 1
    assert run.started_on == timezone.now().astimezone(ZoneInfo(zone)).date()
    steps = list(run.steps.order_by("position"))
    assert [s.kind for s in steps] == ["email", "meeting", "task", "survey", "milestone", "meeting", "milestone"]
    start = add_business_days(run.started_on, 0)
    assert steps[1].due_date == add_business_days(start, 2)
    assert steps[3].due_date == add_business_days(add_business_days(add_business_days(start, 2), 5), 1)
    # Staff steps are CSM tasks linked to their step; the customer's own milestone has none.
    assert steps[1].task.owner == csm and steps[1].task.source == steps[1] and steps[1].task.type == "lifecycle"
    assert steps[4].task is None
    # The welcome email was due at once but the customer had no contact yet: it waits.
    assert steps[0].status == "pending" and "waiting" in RunStep.objects.get(pk=steps[0].pk).result
    assert smtp_server.messages == []

    with django_capture_on_commit_callbacks(execute=True):
        contact = contact_create(customer=customer, email="ada@globex.test", first_name="Ada", is_primary=True)
    with django_capture_on_commit_callbacks(execute=True):
        playbook_scan()
        playbook_scan()  # again: nothing more
    [welcome] = [m for m in smtp_server.messages if m.rcpt_tos == [contact.email]]
    assert welcome.message["Subject"] == "Welcome to Acme Software, Globex: let's get you started"
    assert "Hi Ada," in welcome.text and "Cleo Manager" in welcome.text and "{" not in welcome.text
    assert welcome.message["List-Unsubscribe"]

    # The survey step's day, in the customer's time zone: the CES invitation goes out once.
    survey_day = worker.now = local_noon(steps[3].due_date, zone)
    with django_capture_on_commit_callbacks(execute=True):
        playbook_scan(now=survey_day)
        playbook_scan(now=survey_day)
        execute_step.apply_async((steps[3].pk,))  # a redelivered task
    to_contact = [m for m in smtp_server.messages if m.rcpt_tos == [contact.email]]
    assert len(to_contact) == 2
    survey_email = to_contact[1]
    assert "easy for me to get set up" in survey_email.message["Subject"]
    [invitation] = Invitation.objects.filter(contact=contact)
    assert invitation.trigger == "playbook" and invitation.status == "sent"
    assert OutboundEmail.objects.filter(contact=contact).count() == 2

    # Overdue staff steps nudged their owner (once per step per day), not the contact.
    nudges = [m for m in smtp_server.messages if m.rcpt_tos == [csm.email]]
    assert nudges and all(m.message["Subject"].startswith("Overdue: ") for m in nudges)
    assert len(nudges) == len({m.message["Subject"] for m in nudges})

    # The CSM marks the kick-off task done: the scan completes its step.
    task_close(task=steps[1].task, status=Task.Status.DONE, actor=csm)
    with django_capture_on_commit_callbacks(execute=True):
        recorded = usage_events_record(
            events=[
                {
                    "id": "ev-1",
                    "customer": customer.pk,
                    "name": "report_shared",
                    "occurred_at": timezone.now().isoformat(),
                }
            ]
        )
        assert recorded.accepted == 1, recorded.errors
        playbook_scan(now=survey_day)
    states = dict(run.steps.values_list("position", "status"))
    assert states[1] == "done" and states[4] == "done"  # the task, and the milestone by its usage event
    progress = run_progress(PlaybookRun.objects.get(pk=run.pk), today=steps[3].due_date)
    assert progress.done == 4 and progress.total == 7 and progress.next_step.position == 2

    run_step_complete(step=steps[2], actor=csm)
    run_step_complete(step=steps[5], actor=csm)
    with django_capture_on_commit_callbacks(execute=True):
        run_step_complete(step=steps[6], actor=csm)
    run.refresh_from_db()
    customer.refresh_from_db()
    assert run.status == "completed" and run.completed_at
    assert customer.lifecycle_stage == "adopting"
    assert set(run.steps.values_list("status", flat=True)) == {"done"}
    assert not Task.objects.filter(customer=customer, status="open", type="lifecycle").exists()
    kinds = list(customer.timeline_events.values_list("kind", flat=True))
    assert kinds.count("playbook.started") == 1 and kinds.count("playbook.completed") == 1
    assert kinds.count("playbook.step_sent") == 2 and "customer.stage_changed" in kinds
    # Exactly once each, whatever ran twice.
    assert len([m for m in smtp_server.messages if m.rcpt_tos == [contact.email]]) == 2
    assert PlaybookRun.objects.filter(customer=customer).count() == 1
