"""The shipped outreach plays and their email templates, disabled (success.outreach.defaults)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from success.outreach.defaults import ensure_shipped_plays

    ensure_shipped_plays(apps=apps)


class Migration(migrations.Migration):
    dependencies = [
        ("success", "0011_outreach"),
        ("crm", "0007_outbound_email_calendar"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
