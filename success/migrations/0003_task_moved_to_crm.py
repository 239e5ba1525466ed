"""The CSM Task moved to crm (crm.0005): removed from success's migration state only; its table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("success", "0002_task_source_index"),
        ("crm", "0005_task_moved_to_crm"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="Task")],
        ),
    ]
