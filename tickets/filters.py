"""django-filter FilterSets for the ticket API. Invalid values answer 400 with a message per parameter."""

from django import forms
from django.core.validators import validate_email
from django_filters import rest_framework as filters

from crm.filters import BooleanFilter, IdFilter, SchemaTypeMixin, choice_filter
from tickets.models import Category, Channel, Priority, Status, Ticket
from tickets.selectors import ticket_breached_filter


class AssigneeField(forms.CharField):
    """An agent's email, or `me` (the caller) or `none` (unassigned)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return None
        value = value.strip()
        if value.lower() in ("me", "none"):
            return value.lower()
        try:
            validate_email(value)
        except forms.ValidationError:
            raise forms.ValidationError("Enter an agent's email, me or none.", code="invalid") from None
        return value


class AssigneeFilter(SchemaTypeMixin, filters.Filter):
    field_class = AssigneeField
    schema_type = {"type": "string"}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        if value == "none":
            return qs.filter(assignee__isnull=True)
        if value == "me":
            user = getattr(self.parent.request, "user", None)
            user_id = user.pk if user is not None and user.is_authenticated else None
            return qs.filter(assignee_id=user_id) if user_id else qs.none()
        return qs.filter(assignee__email__iexact=value)


class TicketFilterSet(filters.FilterSet):
    status = choice_filter(Status.choices, help_text="One or more statuses (`?status=new&status=open`).")
    priority = choice_filter(Priority.choices, help_text="One or more priorities.")
    channel = choice_filter(Channel.choices, help_text="One or more channels.")
    category = choice_filter(Category.choices, help_text="One or more categories.")
    assignee = AssigneeFilter(help_text="The agent's email, `me` (the caller) or `none` (unassigned).")
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    requester = IdFilter(field_name="requester_id", help_text="The requester's (contact) id.")
    team = IdFilter(field_name="team_id", help_text="The team's id.")
    breached = BooleanFilter(
        method="filter_breached",
        help_text="true: tickets with at least one breached SLA target (met late, or running past due); "
        "false: none breached.",
    )
    due_before = filters.IsoDateTimeFilter(
        field_name="next_sla_due_at",
        lookup_expr="lte",
        help_text="The next SLA due time (of a running target) is at or before this time (ISO 8601).",
    )
    created_after = filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after this time (ISO 8601)."
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        help_text="Created strictly before this time (ISO 8601).",
    )
    updated_after = filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after this time (ISO 8601)."
    )

    class Meta:
        model = Ticket
        fields = []

    def filter_breached(self, queryset, name, value):
        if value is None:
            return queryset
        return ticket_breached_filter(queryset, value)
