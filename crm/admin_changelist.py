"""Changelist parts that keep admin lists fast on big tables (100,000 customers, millions of events).

- `EstimatedCountPaginator`: on PostgreSQL an unfiltered changelist takes its row count from the planner's
  estimate (pg_class.reltuples scaled to the table's current size, as the planner does) instead of a
  `COUNT(*)` over the whole table. Filtered or searched lists, small tables and other databases get exact
  counts. `paginator.is_estimate` tells templates to say "about".
- `IndexFriendlyChangeList`: the primary-key tie-breaker follows the direction of the first sort key, so an
  `(field, id)` index serves both ascending and descending sorts.
- `LookaheadPaginator`: autocomplete requests fetch one row more instead of counting.
- `FastChangelistMixin`: all of the above plus no facet counts and no full-table count.
- `OwnerFilter` / `MineFilter`: "owner" without listing every user (only staff in the csm/admin roles) and
  "my customers/tasks" (owner = request.user).
"""

from django.contrib import admin
from django.contrib.admin.options import ShowFacets
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

# Roles whose members own customers and tasks (group names, see accounts.roles).
OWNER_ROLES = ("csm", "admin")

_ESTIMATE_SQL = """
SELECT CASE
         WHEN c.reltuples < 0 THEN NULL
         WHEN c.relpages = 0 THEN c.reltuples
         ELSE c.reltuples / c.relpages
              * (pg_relation_size(c.oid) / current_setting('block_size')::integer)
       END::bigint
FROM pg_class c
WHERE c.oid = to_regclass(%s)
"""


def table_row_estimate(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the queryset's table, or None (not PostgreSQL, never analyzed)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(_ESTIMATE_SQL, [connection.ops.quote_name(queryset.model._meta.db_table)])
        row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def is_unfiltered(queryset) -> bool:
    if not isinstance(queryset, QuerySet):
        return False
    query = queryset.query
    return (
        not query.where
        and not query.combinator
        and not query.distinct
        and query.low_mark == 0
        and query.high_mark is None
    )


class EstimatedCountPaginator(Paginator):
    """Exact counts for filtered lists; the planner's estimate for a whole big table on PostgreSQL."""

    # Below this many rows (by the estimate) an exact COUNT(*) is cheap, so it is used.
    estimate_threshold = 10_000

    is_estimate = False

    @cached_property
    def count(self):
        if is_unfiltered(self.object_list):
            estimate = table_row_estimate(self.object_list)
            if estimate is not None and estimate >= self.estimate_threshold:
                self.is_estimate = True
                return estimate
        return super().count


class LookaheadPaginator(Paginator):
    """For autocomplete: knows whether there is a next page by fetching one row more, never counts."""

    def page(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        # What is known without counting: enough for has_next() / has_other_pages().
        self.__dict__["count"] = bottom + len(rows)
        self.__dict__.pop("num_pages", None)
        return self._get_page(rows[: self.per_page], number, self)


class IndexFriendlyChangeList(ChangeList):
    def get_ordering(self, request, queryset):
        ordering = super().get_ordering(request, queryset)
        # Django appends "-pk" to make the order total; follow the first key's direction instead so that
        # ORDER BY arr, id (and arr DESC, id DESC) can walk the (arr, id) index.
        if (
            len(ordering) >= 2
            and ordering[-1] == "-pk"
            and isinstance(ordering[0], str)
            and not ordering[0].startswith("-")
            and "pk" not in ordering[:-1]
            and "-pk" not in ordering[:-1]
        ):
            ordering[-1] = "pk"
        return ordering


class FastChangelistMixin:
    """For admins over big tables: no COUNT(*) of the whole table, no facet counts."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return IndexFriendlyChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "autocomplete":
            # Other admins' autocomplete widgets searching this model: no COUNT per keystroke.
            return LookaheadPaginator(queryset, per_page, orphans, allow_empty_first_page)
        return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)


class DefaultChoiceFilter(admin.SimpleListFilter):
    """A filter with a default choice (`default`), applied until another is picked: no "All" link of Django's
    own (list an "all" choice in lookups() when there is one)."""

    default = ""

    def value(self):
        return super().value() or self.default

    def choices(self, changelist):
        current = self.value()
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class MineFilter(admin.SimpleListFilter):
    """ "My customers" / "My tasks": rows whose owner is the signed-in user."""

    title = "ownership"
    parameter_name = "mine"
    label = "Mine"

    def lookups(self, request, model_admin):
        return [("1", self.label)]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(owner=request.user)
        return queryset


def owner_candidates():
    """Staff who can own customers and tasks: active members of the csm/admin roles (a short list)."""
    User = get_user_model()
    return (
        User.objects.filter(groups__name__in=OWNER_ROLES, is_active=True)
        .exclude(is_service_account=True)
        .distinct()
        .order_by("full_name", "email")
    )


class OwnerFilter(admin.SimpleListFilter):
    """Filter by owner, offering only the csm/admin staff (never a list of every user)."""

    title = "owner"
    parameter_name = "owner"
    NONE = "none"

    def lookups(self, request, model_admin):
        users = list(owner_candidates().only("pk", "email", "full_name"))
        choices = [(str(u.pk), str(u)) for u in users]
        selected = self.value()
        if selected and selected != self.NONE and selected not in {c[0] for c in choices}:
            # Someone outside the roles (e.g. a former CSM) selected by URL: still show them.
            other = get_user_model().objects.filter(pk=selected).first() if selected.isdigit() else None
            if other is not None:
                choices.append((selected, str(other)))
        choices.append((self.NONE, "No owner"))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.NONE:
            return queryset.filter(owner__isnull=True)
        if value:
            if not value.isdigit():
                return queryset.none()
            return queryset.filter(owner_id=int(value))
        return queryset
