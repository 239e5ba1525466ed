"""FilterSets for ARR movements in the API."""

from django_filters import rest_framework as filters

from crm.filters import IdFilter, choice_filter
from success.revenue.models import ArrMovement


class ArrMovementFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    kind = choice_filter(ArrMovement.Kind.choices, help_text="One or more kinds.")
    effective_after = filters.DateFilter(
        field_name="effective_date", lookup_expr="gte", help_text="Effective on or after this date (YYYY-MM-DD)."
    )
    effective_before = filters.DateFilter(
        field_name="effective_date", lookup_expr="lte", help_text="Effective on or before this date (YYYY-MM-DD)."
    )

    class Meta:
        model = ArrMovement
        fields = []
