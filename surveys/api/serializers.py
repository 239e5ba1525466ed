"""API shapes for surveys (see crm.api.serializers for the conventions: input serializers check shape only and
refuse unknown fields; output serializers render rows the selectors loaded, never querying per row)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.serializers import InputSerializer, OutputSerializer, StaffEmailField
from crm.models import ContactRole, LifecycleStage, Tier
from surveys import wording
from surveys.campaigns import MAX_CONTACTS_PER_REQUEST
from surveys.models import Campaign, Invitation, Kind, Response, Survey
from surveys.results import INTERVALS

BIGINT_MAX = 2**63 - 1
SURVEY_READ_ONLY = ("id", "created_at", "updated_at")

# --- Surveys ------------------------------------------------------------------------------------------


class SurveyInputSerializer(InputSerializer):
    """A new survey. Only `name` and `kind` are required."""

    read_only_names = SURVEY_READ_ONLY

    name = serializers.CharField(max_length=150)
    kind = serializers.ChoiceField(Kind.choices, help_text="nps (0-10), ces (1-7) or csat (1-5); fixed once created.")
    question = serializers.CharField(
        max_length=300,
        allow_blank=True,
        required=False,
        help_text="Empty or left out: the kind's standard question with the company's name. `{company}` is "
        "filled in with the company's name wherever the question is shown; any other placeholder is a 400.",
    )
    follow_up_question = serializers.CharField(
        max_length=300, required=False, help_text="Asked after the score, to everyone."
    )
    follow_up_unhappy = serializers.CharField(
        max_length=300,
        allow_blank=True,
        required=False,
        help_text="Asked instead to detractors / unhappy answers; empty: the general follow-up question.",
    )
    reminder_after_days = serializers.IntegerField(
        min_value=1, max_value=365, allow_null=True, required=False, help_text="null: no reminder."
    )
    expiry_days = serializers.IntegerField(
        min_value=1,
        max_value=365,
        required=False,
        help_text="Days an invitation can be answered (default 30).",
    )
    is_active = serializers.BooleanField(required=False, help_text="Inactive surveys send nothing.")
    on_unhappy = serializers.ChoiceField(
        Survey.OnUnhappy.choices,
        required=False,
        help_text="What an unhappy answer creates: a CSM task (default) or a support ticket.",
    )
    thank_promoters = serializers.BooleanField(required=False)
    send_after_ticket_solved = serializers.BooleanField(
        required=False, help_text="CSAT/CES: invite the requester when a ticket is solved."
    )
    ticket_solved_delay_hours = serializers.IntegerField(
        min_value=0, max_value=720, required=False, help_text="Hours after the solve (default 24)."
    )
    recurring_months = serializers.ChoiceField(
        [(3, "Every 3 months"), (6, "Every 6 months"), (12, "Every 12 months")],
        allow_null=True,
        required=False,
        help_text="Recurring NPS per contact: 3, 6 or 12; null: not recurring.",
    )


class SurveyUpdateInputSerializer(SurveyInputSerializer):
    """Changes to a survey. `kind` cannot change (its responses are on that scale)."""

    read_only_names = (*SURVEY_READ_ONLY, "kind")

    kind = None
    name = serializers.CharField(max_length=150, required=False)


class FilledText(serializers.CharField):
    """A survey text as contacts see it: {company} filled in (surveys.wording)."""

    def to_representation(self, value):
        return wording.fill(value)


class SurveySerializer(OutputSerializer):
    question = FilledText(read_only=True, help_text="As contacts see it: the {company} placeholder is filled in.")
    follow_up_question = FilledText(read_only=True)
    follow_up_unhappy = FilledText(read_only=True)

    class Meta:
        model = Survey
        fields = [
            "id",
            "name",
            "kind",
            "question",
            "follow_up_question",
            "follow_up_unhappy",
            "reminder_after_days",
            "expiry_days",
            "is_active",
            "on_unhappy",
            "thank_promoters",
            "send_after_ticket_solved",
            "ticket_solved_delay_hours",
            "recurring_months",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- Invitations --------------------------------------------------------------------------------------


class SurveyInvitationSendInputSerializer(InputSerializer):
    contacts = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX),
        allow_empty=False,
        max_length=MAX_CONTACTS_PER_REQUEST,
        help_text=f"Contact ids (at most {MAX_CONTACTS_PER_REQUEST}; a bigger audience is a campaign). "
        "Duplicates count once.",
    )
    trigger_key = serializers.RegexField(
        r"^[\w.:@/+-]+$",
        max_length=90,
        required=False,
        help_text="Makes the request idempotent: the same key never invites the same contact to this survey "
        "twice (stored as `api:<key>`). Letters, digits and . _ : @ / + -. Default: the `Idempotency-Key` "
        "header, else a new key per request.",
    )


class SurveyInvitationSerializer(OutputSerializer):
    survey_name = serializers.CharField(read_only=True)
    contact_email = serializers.EmailField(read_only=True)
    response = serializers.IntegerField(
        source="response_id",
        allow_null=True,
        read_only=True,
        help_text="The response's id; null: not answered.",
    )
    suppressed_reason = serializers.CharField(
        read_only=True,
        help_text='Why it was not sent (status suppressed or cancelled), e.g. "surveyed 12 days ago", '
        '"unsubscribed", "bounced"; empty otherwise.',
    )
    email_state = serializers.ChoiceField(
        ["queued", "sending", "sent", "resent", "unknown", "failed"],
        read_only=True,
        allow_null=True,
        help_text="How its email went: queued, sending, sent, failed; unknown: the worker stopped mid-send "
        "(resent automatically once with the same Message-ID); resent: it went out on that resend. "
        "null: no email (not sent, or history recorded without one).",
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "survey",
            "survey_name",
            "customer",
            "contact",
            "contact_email",
            "trigger",
            "trigger_key",
            "ticket",
            "status",
            "suppressed_reason",
            "email_state",
            "scheduled_for",
            "sent_at",
            "reminded_at",
            "expires_at",
            "response",
            "created_at",
        ]
        read_only_fields = fields


class SurveySuppressedContactSerializer(serializers.Serializer):
    contact = serializers.IntegerField(help_text="The contact's id.")
    invitation = serializers.IntegerField(help_text="The invitation that records the suppression.")
    reason = serializers.CharField(help_text='e.g. "surveyed 12 days ago", "unsubscribed", "bounced".')


class SurveyInvitationSendResultSerializer(serializers.Serializer):
    invitations = SurveyInvitationSerializer(
        many=True, help_text="One per contact, in the order given: sent, or suppressed with its reason."
    )
    suppressed = SurveySuppressedContactSerializer(many=True, help_text="The contacts that were not emailed, and why.")


# --- Campaigns ----------------------------------------------------------------------------------------

MAX_CAMPAIGN_OWNERS = 50
# API name -> the name in a campaign's audience (surveys.scheduling.campaign_start).
CAMPAIGN_AUDIENCE_FIELDS = {
    "tiers": "tiers",
    "lifecycle_stages": "lifecycle_stages",
    "owners": "owners",
    "contact_roles": "roles",
}


class SurveyCampaignInputSerializer(InputSerializer):
    """An audience: every contact matching all the filters given (any value within a filter). Shape only."""

    read_only_names = ("id", "status", "survey", "invited", "suppressed", "created_at")

    tiers = serializers.ListField(
        child=serializers.ChoiceField(Tier.choices),
        required=False,
        max_length=20,
        help_text="Contacts of customers in these tiers.",
    )
    lifecycle_stages = serializers.ListField(
        child=serializers.ChoiceField(LifecycleStage.choices),
        required=False,
        max_length=20,
        help_text="Contacts of customers in these lifecycle stages.",
    )
    owners = serializers.ListField(
        child=StaffEmailField(),
        required=False,
        max_length=MAX_CAMPAIGN_OWNERS,
        help_text=f"Contacts of customers owned by these CSMs (emails of active staff; at most {MAX_CAMPAIGN_OWNERS}).",
    )
    contact_roles = serializers.ListField(
        child=serializers.ChoiceField(ContactRole.choices),
        required=False,
        max_length=20,
        help_text="Contacts with these roles.",
    )
    all = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: every contact (then give no filter). Without any filter, `all: true` is required.",
    )

    def validate(self, attrs):
        filters = [name for name in CAMPAIGN_AUDIENCE_FIELDS if attrs.get(name)]
        if attrs.get("all") and filters:
            raise serializers.ValidationError(
                {"all": [f"Give either `all: true` or filters, not both (got {', '.join(filters)})."]}
            )
        if not attrs.get("all") and not filters:
            raise serializers.ValidationError(
                {
                    "all": [
                        "An empty audience is every contact: give at least one of tiers, lifecycle_stages, "
                        'owners or contact_roles, or "all": true to invite every contact.'
                    ]
                }
            )
        return attrs

    def audience(self) -> dict:
        """The audience as campaign_start takes it (owners as user ids)."""
        data = self.validated_data
        audience = {}
        for name, internal in CAMPAIGN_AUDIENCE_FIELDS.items():
            values = data.get(name) or []
            if values:
                audience[internal] = [v.pk for v in values] if name == "owners" else list(values)
        return audience


class SurveyCampaignAudienceSerializer(serializers.Serializer):
    tiers = serializers.ListField(child=serializers.ChoiceField(Tier.choices))
    lifecycle_stages = serializers.ListField(child=serializers.ChoiceField(LifecycleStage.choices))
    owners = serializers.ListField(child=serializers.EmailField(), help_text="The owner CSMs' emails.")
    contact_roles = serializers.ListField(child=serializers.ChoiceField(ContactRole.choices))
    customers = serializers.ListField(
        child=serializers.IntegerField(), help_text="Customer ids (campaigns started in the admin or code)."
    )
    contacts = serializers.ListField(
        child=serializers.IntegerField(), help_text="Contact ids (campaigns started in the admin or code)."
    )
    all = serializers.BooleanField(help_text="true: no filter, every contact.")


class SurveyCampaignEmailsSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Emails the mail server accepted.")
    resent = serializers.IntegerField(
        help_text="Emails whose first try had an unknown outcome, sent again with the same Message-ID."
    )
    unknown = serializers.IntegerField(
        help_text="Emails whose worker stopped mid-send and that are not (or no longer) being resent."
    )
    failed = serializers.IntegerField(help_text="Emails that failed for good (see the outbound email).")
    pending = serializers.IntegerField(help_text="Emails queued or being sent.")


class SurveyCampaignSerializer(OutputSerializer):
    """A campaign. Give the page's owner emails in the context (`owner_emails`, see
    surveys.selectors.campaign_owner_emails) so a list page never queries per row."""

    survey_name = serializers.CharField(read_only=True)
    audience = serializers.SerializerMethodField()
    status = serializers.ChoiceField(
        Campaign.Status.choices,
        read_only=True,
        help_text="queued: recorded, waiting for a worker (also while the workers cannot be reached: it starts "
        "when they can); running: invitations created, being sent; done: every invitation sent or suppressed.",
    )
    invited = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Invitations created; null until they all are."
    )
    suppressed = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Invitations not emailed (contact ledger: unsubscribed, bounced, surveyed recently; or "
        "cancelled); null until done. Each reason is on the invitation (/survey-invitations/?trigger_key=...).",
    )
    created_by = serializers.EmailField(
        source="created_by_email", read_only=True, allow_null=True, help_text="Who started it (email)."
    )
    emails = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "survey",
            "survey_name",
            "status",
            "audience",
            "invited",
            "suppressed",
            "emails",
            "trigger_key",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SurveyCampaignEmailsSerializer)
    def get_emails(self, obj) -> dict:
        counts = self.context.get("email_counts") or {}
        return counts.get(obj.pk) or {"sent": 0, "resent": 0, "unknown": 0, "failed": 0, "pending": 0}

    @extend_schema_field(SurveyCampaignAudienceSerializer)
    def get_audience(self, obj) -> dict:
        audience = obj.audience or {}
        emails = self.context.get("owner_emails") or {}
        filters = {
            "tiers": list(audience.get("tiers") or []),
            "lifecycle_stages": list(audience.get("lifecycle_stages") or []),
            "owners": [emails[pk] for pk in audience.get("owners") or [] if pk in emails],
            "contact_roles": list(audience.get("roles") or []),
            "customers": list(audience.get("customers") or []),
            "contacts": list(audience.get("contacts") or []),
        }
        return {**filters, "all": not any(audience.values())}


# --- Responses ----------------------------------------------------------------------------------------


class SurveyResponseSerializer(OutputSerializer):
    survey_name = serializers.CharField(read_only=True)
    customer_name = serializers.CharField(read_only=True)
    contact_email = serializers.EmailField(read_only=True)
    trigger = serializers.ChoiceField(
        Invitation.Trigger.choices, read_only=True, help_text="What asked: the invitation's trigger."
    )
    band = serializers.SerializerMethodField(
        help_text="promoter / passive / detractor (NPS); happy / neutral / unhappy (CSAT, CES)."
    )

    class Meta:
        model = Response
        fields = [
            "id",
            "survey",
            "survey_name",
            "kind",
            "score",
            "band",
            "comment",
            "customer",
            "customer_name",
            "contact",
            "contact_email",
            "invitation",
            "trigger",
            "answered_at",
            "updated_at",
            "seconds_after_send",
            "user_agent",
        ]
        read_only_fields = fields

    def get_band(self, obj) -> str:
        return obj.band


# --- Results ------------------------------------------------------------------------------------------


class SurveyResultsQuerySerializer(InputSerializer):
    """The query parameters of the results endpoint (shape only)."""

    start = serializers.DateField(required=False, help_text="First day of the period (YYYY-MM-DD), included.")
    end = serializers.DateField(required=False, help_text="Last day of the period (YYYY-MM-DD), included.")
    interval = serializers.ChoiceField(
        [(i, i) for i in INTERVALS], required=False, default="month", help_text="Trend by week or month."
    )
    tier = serializers.ListField(
        child=serializers.ChoiceField(Tier.choices), required=False, help_text="Customers of these tiers."
    )
    lifecycle_stage = serializers.ListField(
        child=serializers.ChoiceField(LifecycleStage.choices),
        required=False,
        help_text="Customers in these lifecycle stages.",
    )
    owner = serializers.EmailField(required=False, help_text="Customers owned by this CSM (email).")
    customer = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, help_text="One customer's id."
    )

    def validate(self, attrs):
        start, end = attrs.get("start"), attrs.get("end")
        for name in ("start", "end"):
            value = attrs.get(name)
            if value is not None and not 2000 <= value.year <= 2100:
                raise serializers.ValidationError({name: ["Must be a date between 2000 and 2100."]})
        if start and end and end < start:
            raise serializers.ValidationError({"end": ["Must be on or after start."]})
        return attrs


class SurveyScoreCountSerializer(serializers.Serializer):
    score = serializers.IntegerField()
    count = serializers.IntegerField()


class SurveyMetricsSerializer(serializers.Serializer):
    responses = serializers.IntegerField(help_text="Responses answered in the period.")
    invitations_sent = serializers.IntegerField(help_text="Invitations sent in the period (suppressed not).")
    invitations_answered = serializers.IntegerField(
        help_text="Of the invitations sent in the period, how many have been answered (by now)."
    )
    response_rate = serializers.FloatField(
        allow_null=True,
        help_text="invitations_answered / invitations_sent, in % (0-100, one decimal); null: none sent.",
    )
    mean_score = serializers.FloatField(allow_null=True)
    nps = serializers.FloatField(
        allow_null=True, help_text="NPS only: % promoters - % detractors, -100..100 (one decimal)."
    )
    promoters = serializers.IntegerField(allow_null=True, help_text="NPS only: answers 9-10.")
    passives = serializers.IntegerField(allow_null=True, help_text="NPS only: answers 7-8.")
    detractors = serializers.IntegerField(allow_null=True, help_text="NPS only: answers 0-6.")
    promoters_pct = serializers.FloatField(allow_null=True)
    passives_pct = serializers.FloatField(allow_null=True)
    detractors_pct = serializers.FloatField(allow_null=True)
    ces = serializers.FloatField(allow_null=True, help_text="CES only: mean of the 1-7 answers (two decimals).")
    ces_easy_pct = serializers.FloatField(allow_null=True, help_text="CES only: % of answers 5-7.")
    csat = serializers.FloatField(allow_null=True, help_text="CSAT only: % of answers 4-5.")


class SurveyTrendPointSerializer(SurveyMetricsSerializer):
    period = serializers.DateField(help_text="First day of the week (Monday) or month.")


class SurveyResultsSerializer(SurveyMetricsSerializer):
    survey = serializers.IntegerField()
    kind = serializers.ChoiceField(Kind.choices)
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    interval = serializers.ChoiceField([(i, i) for i in INTERVALS], help_text="week or month.")
    distribution = SurveyScoreCountSerializer(many=True, help_text="Number of answers per score.")
    trend = SurveyTrendPointSerializer(many=True, help_text="Every week or month of the period, oldest first.")
