"""Substring search (the admin's and the API's `search`) over 100,000+ customers uses trigram indexes on
PostgreSQL. Django's icontains compiles to UPPER(col::text) LIKE UPPER(%s), so the indexes are on UPPER(col).
Skipped on other databases, and when the role may not create the pg_trgm extension (search still works, slower)."""

import logging

from django.db import migrations, transaction

logger = logging.getLogger(__name__)

INDEXES = [
    ("crm_customer_name_trgm", "crm_customer", "name"),
    ("crm_customer_domain_trgm", "crm_customer", "domain"),
    ("crm_customer_external_id_trgm", "crm_customer", "external_id"),
    ("crm_contact_email_trgm", "crm_contact", "email"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001
        logger.warning("pg_trgm not available (%s): substring search will not use trigram indexes", exc)
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_timeline_recent_index")]

    operations = [migrations.RunPython(create, drop)]
