"""Write the periodic tasks defined in code into django-celery-beat's tables. Idempotent: run it on every deploy.

Each local app (crm, tickets, success, surveys, ...) may define `PERIODIC_TASKS` in its `tasks` module (format in
crm/tasks.py). Rows are matched by name: the schedule, task, arguments and description follow the code; the
admin's `enabled` toggle survives. Rows written by this command whose name is no longer in code are deleted;
periodic tasks an admin created by hand are left alone. Each row's queue is the spec's "queue", else the periodic
queue (settings.CELERY_QUEUE_PERIODIC), so beat publishes periodic jobs where the periodic worker consumes them,
never behind a campaign's backlog.
"""

import json
from importlib import import_module
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

# Marks the rows this command owns (so rows created in the admin are never deleted by it).
MANAGED_MARKER = "Defined in code and managed by `manage.py setup_periodic_tasks`"
CRONTAB_FIELDS = ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")


def local_app_configs():
    """Our own apps: the packages at the top of the repository, not installed libraries."""
    base_dir = Path(settings.BASE_DIR).resolve()
    return [config for config in apps.get_app_configs() if Path(config.path).resolve().parent == base_dir]


def collect_periodic_tasks() -> list[tuple[str, dict]]:
    """[(module name, spec), ...] from every local app's tasks.PERIODIC_TASKS."""
    found = []
    for config in local_app_configs():
        module_name = f"{config.name}.tasks"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        found.extend((module_name, spec) for spec in getattr(module, "PERIODIC_TASKS", []))
    names = [spec["name"] for _, spec in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CommandError(f"Periodic task names must be unique; defined twice: {', '.join(duplicates)}")
    return found


def _schedule(spec: dict) -> dict:
    if ("every_seconds" in spec) == ("crontab" in spec):
        raise CommandError(f"Periodic task {spec['name']!r} needs exactly one of every_seconds or crontab.")
    if "every_seconds" in spec:
        every = int(spec["every_seconds"])
        if every < 1:
            raise CommandError(f"Periodic task {spec['name']!r}: every_seconds must be at least 1.")
        interval = IntervalSchedule.objects.filter(every=every, period=IntervalSchedule.SECONDS).first()
        interval = interval or IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)
        return {"interval": interval, "crontab": None, "solar": None, "clocked": None}
    cron = {field: str(spec["crontab"].get(field, "*")) for field in CRONTAB_FIELDS}
    unknown = set(spec["crontab"]) - set(CRONTAB_FIELDS)
    if unknown:
        raise CommandError(f"Periodic task {spec['name']!r}: unknown crontab fields {sorted(unknown)}.")
    crontab = CrontabSchedule.objects.filter(**cron, timezone="UTC").first()
    crontab = crontab or CrontabSchedule.objects.create(**cron, timezone="UTC")
    return {"interval": None, "crontab": crontab, "solar": None, "clocked": None}


def _description(module_name: str, spec: dict) -> str:
    text = spec.get("description", "").strip()
    return f"{text}\n\n{MANAGED_MARKER} ({module_name}.PERIODIC_TASKS).".strip()


@transaction.atomic
def sync_periodic_tasks() -> dict[str, list[str]]:
    """Create or update our rows, delete our rows no longer in code. Returns the names per outcome.

    Like `update_or_create(name=..., defaults=...)` without `enabled` in the defaults, except that a row already
    matching the code is not saved again (each save makes a running beat reload its whole schedule).
    """
    result: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "deleted": []}
    specs = collect_periodic_tasks()
    existing = {
        task.name: task
        for task in PeriodicTask.objects.select_for_update().filter(name__in=[spec["name"] for _, spec in specs])
    }
    for module_name, spec in specs:
        fields = {
            "task": spec["task"],
            **_schedule(spec),
            "args": json.dumps(spec.get("args", [])),
            "kwargs": json.dumps(spec.get("kwargs", {})),
            "queue": spec.get("queue") or settings.CELERY_QUEUE_PERIODIC,
            "expire_seconds": spec.get("expire_seconds"),
            "expires": None,
            "one_off": False,
            "description": _description(module_name, spec),
        }
        task = existing.get(spec["name"])
        if task is None:
            PeriodicTask.objects.create(name=spec["name"], enabled=spec.get("enabled", True), **fields)
            result["created"].append(spec["name"])
            continue
        changed = [field for field, value in fields.items() if getattr(task, field) != value]
        if not changed:
            result["unchanged"].append(spec["name"])
            continue
        for field in changed:  # never "enabled": the admin's toggle on an existing row is kept
            setattr(task, field, fields[field])
        task.save()
        result["updated"].append(spec["name"])
    stale = PeriodicTask.objects.filter(description__contains=MANAGED_MARKER).exclude(
        name__in=[spec["name"] for _, spec in specs]
    )
    for task in stale:
        task.delete()  # the model's delete() tells beat the schedule changed
        result["deleted"].append(task.name)
    return result


class Command(BaseCommand):
    help = "Write the periodic tasks defined in each app's tasks.PERIODIC_TASKS into the beat schedule."

    def handle(self, *args, **options):
        result = sync_periodic_tasks()
        for outcome in ("created", "updated", "deleted"):
            for name in result[outcome]:
                self.stdout.write(f"{outcome}: {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Periodic tasks: {len(result['created'])} created, {len(result['updated'])} updated, "
                f"{len(result['deleted'])} deleted, {len(result['unchanged'])} unchanged."
            )
        )
