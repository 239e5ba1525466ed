"""FilterSets for CSM tasks in the API."""

from django_filters import rest_framework as filters

from crm.filters import BooleanFilter, EmailFilter, IdFilter, choice_filter
from crm.models import Task


class TaskFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    owner = EmailFilter(field_name="owner__email", lookup_expr="iexact", help_text="The owner's email.")
    status = choice_filter(Task.Status.choices, help_text="One or more statuses.")
    type = choice_filter(Task.Type.choices, help_text="One or more types.")
    priority = choice_filter(Task.Priority.choices, help_text="One or more priorities.")
    due_before = filters.DateFilter(
        field_name="due_date", lookup_expr="lte", help_text="Due on or before this date (YYYY-MM-DD)."
    )
    mine = BooleanFilter(
        method="filter_mine", help_text="true: only tasks owned by the caller; false: only others' tasks."
    )
    updated_after = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after this time (ISO 8601)."
    )

    class Meta:
        model = Task
        fields = []

    def filter_mine(self, queryset, name, value: bool):
        if value is None:
            return queryset
        user = getattr(self.request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        if value:
            return queryset.filter(owner_id=user_id) if user_id else queryset.none()
        return queryset.exclude(owner_id=user_id) if user_id else queryset
