"""`<id field>__any_of=[...]`: the rows `__in` would select, for long lists of ids (a recompute's chunk of 2,000
customers). On PostgreSQL the list goes as ONE array parameter (`col = ANY(%s)`): an IN list of 2,000
placeholders costs about 10 ms of CPU per statement to build and send. The array goes as its text form
('{1,2,3}', cast to bigint[] by the server): psycopg adapts one string instead of 2,000 integers (a few ms per
statement, and a home page has a dozen such statements). Elsewhere (SQLite) it is a plain IN list. Registered on
integer primary keys and foreign keys by CrmConfig.ready()."""

from django.core.exceptions import EmptyResultSet
from django.db import models


class AnyOf(models.Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [int(value) for value in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, "{" + ",".join(map(str, ids)) + "}")
        if not ids:
            raise EmptyResultSet
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", (*lhs_params, *ids)


def register() -> None:
    for field in (models.ForeignKey, models.AutoField, models.BigAutoField):
        field.register_lookup(AnyOf)
