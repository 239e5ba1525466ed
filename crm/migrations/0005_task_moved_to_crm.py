"""The CSM Task moves from success to crm, keeping its table `success_task`, its rows and the names of its
constraint and indexes: in the migration state only (success.0003 deletes it from success's state, after this).

Its content type is renamed success.task -> crm.task in place, so its permissions keep their ids (groups and users
keep them) and every generic reference to a task (timeline events' source) still points at it. On a new database
the content type does not exist yet (post_migrate creates crm.task): nothing to rename.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _rename_content_type(apps, schema_editor, *, old: str, new: str):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    types = ContentType.objects.using(db)
    if not types.filter(app_label=new, model="task").exists():
        types.filter(app_label=old, model="task").update(app_label=new)
    # The running process caches content types by (app_label, model) and by id.
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    LiveContentType.objects.clear_cache()


def task_content_type_to_crm(apps, schema_editor):
    _rename_content_type(apps, schema_editor, old="success", new="crm")


def task_content_type_to_success(apps, schema_editor):
    _rename_content_type(apps, schema_editor, old="crm", new="success")


class Migration(migrations.Migration):
    dependencies = [
        ("success", "0002_task_source_index"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0004_contact_ledger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Task",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "type",
                            models.CharField(
                                choices=[
                                    ("risk", "Risk"),
                                    ("opportunity", "Opportunity"),
                                    ("lifecycle", "Lifecycle"),
                                    ("activity", "Activity"),
                                ],
                                default="activity",
                                max_length=20,
                            ),
                        ),
                        (
                            "reason",
                            models.CharField(help_text="What to do and why, e.g. 'Detractor: NPS 3'.", max_length=300),
                        ),
                        ("due_date", models.DateField(blank=True, null=True)),
                        (
                            "priority",
                            models.CharField(
                                choices=[("low", "Low"), ("normal", "Normal"), ("high", "High"), ("urgent", "Urgent")],
                                default="normal",
                                max_length=10,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("open", "Open"), ("done", "Done"), ("cancelled", "Cancelled")],
                                default="open",
                                max_length=10,
                            ),
                        ),
                        ("source_id", models.CharField(blank=True, max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("closed_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "customer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="tasks", to="crm.customer"
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="tasks",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "source_type",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="contenttypes.contenttype",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "success_task",
                        "ordering": ["due_date", "id"],
                        "indexes": [
                            models.Index(fields=["owner", "status", "due_date"], name="success_task_mine_idx"),
                            models.Index(fields=["customer", "status"], name="success_task_customer_idx"),
                            models.Index(fields=["updated_at", "id"], name="success_task_updated_idx"),
                            models.Index(fields=["source_type", "source_id"], name="success_task_source_idx"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("status", "open")),
                                fields=("customer", "type", "reason"),
                                name="success_task_one_open_per_customer_type_reason",
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(task_content_type_to_crm, task_content_type_to_success),
    ]
