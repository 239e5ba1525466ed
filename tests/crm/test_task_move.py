"""The CSM Task moved from success to crm (crm.0005, success.0003): a database migrated at the old layout keeps every
task, its table, constraint and index names, its permissions (groups and users) and the timeline's links to it; and
no module of crm, tickets or surveys imports success (they stand below it)."""

import ast
import datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from crm.models import Task, TimelineEvent

ROOT = Path(__file__).resolve().parents[2]
BEFORE = [("crm", "0004_contact_ledger"), ("success", "0002_task_source_index")]
TASK_DB_NAMES = {
    "success_task_one_open_per_customer_type_reason",
    "success_task_mine_idx",
    "success_task_customer_idx",
    "success_task_updated_idx",
    "success_task_source_idx",
}


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return executor


@pytest.mark.django_db(transaction=True)
def test_migrating_a_database_of_the_old_layout_keeps_tasks_permissions_and_timeline_links():
    old = _migrate(BEFORE).loader.project_state(BEFORE).apps
    try:
        OldTask = old.get_model("success", "Task")
        OldCustomer = old.get_model("crm", "Customer")
        OldTimelineEvent = old.get_model("crm", "TimelineEvent")
        # The content type is success.task again (the reverse of crm.0005 renamed it back).
        task_type = ContentType.objects.get(app_label="success", model="task")
        assert not ContentType.objects.filter(app_label="crm", model="task").exists()

        customer = OldCustomer.objects.create(name="Acme")
        task = OldTask.objects.create(
            customer_id=customer.pk, type="risk", reason="Detractor: NPS 3", due_date=datetime.date(2026, 12, 7),
            priority="high",
        )
        done = OldTask.objects.create(customer_id=customer.pk, reason="Kick-off call", status="done")
        OldTimelineEvent.objects.create(
            customer_id=customer.pk, kind="task.created", summary="Task: Detractor: NPS 3",
            occurred_at=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
            source_type_id=task_type.pk, source_id=str(task.pk),
        )
        user = get_user_model().objects.create_user(email="agent@example.com", password="x", is_staff=True)
        change_task = Permission.objects.get(content_type=task_type, codename="change_task")
        user.user_permissions.add(change_task)
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    # Same rows, same content type row (renamed in place: permission ids and generic links unchanged).
    assert list(Task.objects.order_by("pk").values_list("pk", "reason", "type", "priority", "status", "due_date")) == [
        (task.pk, "Detractor: NPS 3", "risk", "high", "open", datetime.date(2026, 12, 7)),
        (done.pk, "Kick-off call", "activity", "normal", "done", None),
    ]
    moved = ContentType.objects.get_for_model(Task)
    assert (moved.pk, moved.app_label, moved.model) == (task_type.pk, "crm", "task")
    assert not ContentType.objects.filter(app_label="success", model="task").exists()
    assert Permission.objects.get(pk=change_task.pk).content_type_id == task_type.pk
    user = get_user_model().objects.get(pk=user.pk)
    assert user.has_perm("crm.change_task")
    assert TimelineEvent.objects.get(kind="task.created", customer_id=customer.pk).source == Task.objects.get(
        pk=task.pk
    )
    # The table and the names of its constraint and indexes are those of the database before the move.
    assert Task._meta.db_table == "success_task"
    with connection.cursor() as cursor:
        names = set(connection.introspection.get_constraints(cursor, "success_task"))
    assert TASK_DB_NAMES <= names


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("app", ["crm", "tickets", "surveys"])
def test_apps_below_success_never_import_it(app):
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / app).rglob("*.py")
        for name in _imports(path)
        if (name == "success" or name.startswith("success."))
        # The demo seeder composes every installed app's demo data (tickets, surveys, usage), each looked up
        # inside the command only when its app is installed: no module of crm imports success at import time.
        and path.relative_to(ROOT).as_posix() != "crm/management/commands/seed_demo.py"
    )
    assert offenders == []
