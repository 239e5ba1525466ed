"""Django's SQLite backend, told SQLite's real limit of bound variables per statement.

Django 5.2 assumes 999 (`features.max_query_params`), SQLite's compile-time default before 3.32; SQLite since 3.32
allows 32,766 (Debian's and Python's builds: 250,000). Django sizes bulk_create/bulk_update batches (and the
collector's delete batches) by it, so on SQLite an insert of 50 rows of a 20-column table took three statements
where PostgreSQL takes one: the statement count grew with the data on the README's default database only.
This backend reads the limit from the open connection (as Django 6.0 does), so both databases run the same
statements. settings/base.py selects it when DATABASE_URL is SQLite (the default)."""

import sqlite3

from django.db.backends.sqlite3 import base, features
from django.utils.functional import cached_property


class DatabaseFeatures(features.DatabaseFeatures):
    @cached_property
    def max_query_params(self) -> int:
        self.connection.ensure_connection()
        return self.connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
