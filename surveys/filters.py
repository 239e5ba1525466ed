"""django-filter FilterSets for the surveys API. Invalid values answer 400 with a message per parameter."""

from django import forms
from django_filters import rest_framework as filters

from crm.filters import BooleanFilter, IdFilter, SchemaTypeMixin, choice_filter
from surveys.models import Campaign, Invitation, Kind, Response, Survey
from surveys.selectors import BAND_CHOICES, band_condition


class ScoreFilter(SchemaTypeMixin, filters.Filter):
    """A score, 0 to 10 (the widest scale)."""

    field_class = forms.IntegerField
    schema_type = {"type": "integer", "minimum": 0, "maximum": 10}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 10)
        super().__init__(*args, **kwargs)


class SurveyFilterSet(filters.FilterSet):
    kind = choice_filter(Kind.choices, help_text="One or more kinds.")
    is_active = BooleanFilter(help_text="true or false.")

    class Meta:
        model = Survey
        fields = []


class InvitationFilterSet(filters.FilterSet):
    survey = IdFilter(field_name="survey_id", help_text="The survey's id.")
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    contact = IdFilter(field_name="contact_id", help_text="The contact's id.")
    status = choice_filter(
        Invitation.Status.choices,
        help_text="One or more statuses; `suppressed` rows carry the reason in `suppressed_reason`.",
    )
    trigger = choice_filter(Invitation.Trigger.choices, help_text="One or more triggers.")
    sent_after = filters.IsoDateTimeFilter(
        field_name="sent_at", lookup_expr="gte", help_text="Sent at or after this time (ISO 8601)."
    )
    sent_before = filters.IsoDateTimeFilter(
        field_name="sent_at", lookup_expr="lt", help_text="Sent strictly before this time (ISO 8601)."
    )

    class Meta:
        model = Invitation
        fields = []


class CampaignFilterSet(filters.FilterSet):
    survey = IdFilter(field_name="survey_id", help_text="The survey's id.")
    status = choice_filter(Campaign.Status.choices, help_text="One or more statuses: queued, running, done.")

    class Meta:
        model = Campaign
        fields = []


class ResponseFilterSet(filters.FilterSet):
    survey = IdFilter(field_name="survey_id", help_text="The survey's id.")
    kind = choice_filter(Kind.choices, help_text="One or more kinds.")
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    contact = IdFilter(field_name="contact_id", help_text="The contact's id.")
    band = filters.MultipleChoiceFilter(
        choices=BAND_CHOICES,
        method="filter_band",
        help_text="One or more bands: promoter, passive, detractor (NPS); happy, neutral, unhappy (CSAT, CES).",
    )
    answered_after = filters.IsoDateTimeFilter(
        field_name="answered_at", lookup_expr="gte", help_text="Answered at or after this time (ISO 8601)."
    )
    answered_before = filters.IsoDateTimeFilter(
        field_name="answered_at", lookup_expr="lt", help_text="Answered strictly before this time (ISO 8601)."
    )
    score_min = ScoreFilter(field_name="score", lookup_expr="gte", help_text="Score at least this.")
    score_max = ScoreFilter(field_name="score", lookup_expr="lte", help_text="Score at most this.")

    class Meta:
        model = Response
        fields = []

    def filter_band(self, queryset, name, value):
        return queryset.filter(band_condition(value)) if value else queryset
