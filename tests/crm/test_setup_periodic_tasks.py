import io

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

import crm.tasks
from crm.management.commands.setup_periodic_tasks import MANAGED_MARKER

pytestmark = pytest.mark.django_db


def setup_periodic_tasks() -> str:
    out = io.StringIO()
    call_command("setup_periodic_tasks", stdout=out)
    return out.getvalue()


def rows():
    return {
        task.name: (task.task, str(task.interval or task.crontab), task.enabled, task.queue, task.expire_seconds)
        for task in PeriodicTask.objects.select_related("interval", "crontab")
    }


def test_writes_every_periodic_task_defined_in_code_and_is_idempotent():
    from crm.management.commands.setup_periodic_tasks import collect_periodic_tasks

    output = setup_periodic_tasks()
    assert "created: Heartbeat" in output
    first = rows()
    assert set(first) == {spec["name"] for _, spec in collect_periodic_tasks()}  # every local app's, e.g. tickets
    assert first["Heartbeat"] == ("crm.heartbeat", "every 60 seconds", True, "periodic", 50)
    assert first["Email retry sweep"] == ("crm.email_sweep", "every 120 seconds", True, "periodic", None)
    assert {row[3] for row in first.values()} == {"periodic"}  # every periodic job on the periodic queue
    heartbeat = PeriodicTask.objects.get(name="Heartbeat")
    assert MANAGED_MARKER in heartbeat.description and "crm.tasks.PERIODIC_TASKS" in heartbeat.description
    changed_at = PeriodicTasks.last_change()

    output = setup_periodic_tasks()

    assert rows() == first
    assert f"0 created, 0 updated, 0 deleted, {len(first)} unchanged" in output
    assert PeriodicTasks.last_change() == changed_at  # a running beat is not made to reload for nothing
    assert IntervalSchedule.objects.filter(every=60, period="seconds").count() == 1


def test_the_admins_toggle_survives_and_schedule_changes_in_code_are_applied(monkeypatch):
    setup_periodic_tasks()
    PeriodicTask.objects.filter(name="Heartbeat").update(enabled=False)  # switched off in the admin
    monkeypatch.setattr(
        crm.tasks,
        "PERIODIC_TASKS",
        [{**spec, "every_seconds": 30} if spec["name"] == "Heartbeat" else spec for spec in crm.tasks.PERIODIC_TASKS],
    )

    output = setup_periodic_tasks()

    assert "updated: Heartbeat" in output
    heartbeat = PeriodicTask.objects.get(name="Heartbeat")
    assert heartbeat.enabled is False
    assert (heartbeat.interval.every, heartbeat.interval.period) == (30, "seconds")
    assert PeriodicTask.objects.get(name="Email retry sweep").enabled is True


def test_tasks_removed_from_code_are_deleted_and_hand_made_ones_kept(monkeypatch):
    every_hour, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.create(name="Made in the admin", task="crm.heartbeat", interval=every_hour)
    monkeypatch.setattr(
        crm.tasks,
        "PERIODIC_TASKS",
        [
            *crm.tasks.PERIODIC_TASKS,
            {"name": "Nightly", "task": "crm.email_sweep", "crontab": {"minute": "0", "hour": "2"}},
        ],
    )
    setup_periodic_tasks()
    nightly = PeriodicTask.objects.get(name="Nightly")
    assert (nightly.crontab.minute, nightly.crontab.hour, str(nightly.crontab.timezone)) == ("0", "2", "UTC")

    monkeypatch.setattr(crm.tasks, "PERIODIC_TASKS", crm.tasks.PERIODIC_TASKS[:1])
    output = setup_periodic_tasks()

    assert "deleted: Nightly" in output and "deleted: Email retry sweep" in output
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {"Heartbeat", "Made in the admin"} <= names
    assert not {"Nightly", "Email retry sweep"} & names
    assert CrontabSchedule.objects.filter(hour="2").exists()  # schedules may be shared: left in place


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "Both", "task": "crm.heartbeat", "every_seconds": 5, "crontab": {"minute": "0"}}, "exactly one"),
        ({"name": "Neither", "task": "crm.heartbeat"}, "exactly one"),
        ({"name": "Zero", "task": "crm.heartbeat", "every_seconds": 0}, "at least 1"),
        ({"name": "Cron", "task": "crm.heartbeat", "crontab": {"minutes": "0"}}, "unknown crontab fields"),
        ({"name": "Heartbeat", "task": "crm.heartbeat", "every_seconds": 5}, "defined twice: Heartbeat"),
    ],
)
def test_a_mistake_in_code_changes_nothing(monkeypatch, spec, message):
    from django.core.management.base import CommandError

    monkeypatch.setattr(crm.tasks, "PERIODIC_TASKS", [*crm.tasks.PERIODIC_TASKS, spec])
    with pytest.raises(CommandError, match=message):
        setup_periodic_tasks()
    assert not PeriodicTask.objects.exists()


def test_a_spec_may_name_its_own_queue_and_the_queue_follows_the_settings(monkeypatch, settings):
    settings.CELERY_QUEUE_PERIODIC = "periodic-eu"
    monkeypatch.setattr(
        crm.tasks,
        "PERIODIC_TASKS",
        [{**spec, "queue": "ops"} if spec["name"] == "Heartbeat" else spec for spec in crm.tasks.PERIODIC_TASKS],
    )

    setup_periodic_tasks()

    assert PeriodicTask.objects.get(name="Heartbeat").queue == "ops"
    assert PeriodicTask.objects.get(name="Email retry sweep").queue == "periodic-eu"
