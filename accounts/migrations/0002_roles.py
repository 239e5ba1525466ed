"""The four staff roles as groups. Their permissions are (re)granted from the rules in accounts/roles.py by the
post_migrate receiver, once every app's permissions exist; this migration only makes sure the groups do."""

from django.db import migrations

ROLE_NAMES = ("admin", "csm", "support_agent", "read_only")


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    db = schema_editor.connection.alias
    for name in ROLE_NAMES:
        Group.objects.using(db).get_or_create(name=name)


def delete_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_role_groups, delete_role_groups)]
