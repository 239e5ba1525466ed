"""The database cache's table (settings CACHES: the shared cache when neither CACHE_URL nor a Redis broker is set),
made with createcachetable's own SQL so that `migrate` is enough. Made whatever the cache in use, so switching
from Redis to the database later needs no extra step."""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

CACHE_TABLE = "django_cache"


def create_cache_table(apps, schema_editor):
    # createcachetable skips a table that already exists (e.g. made by hand with `manage.py createcachetable`).
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, CACHE_TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
