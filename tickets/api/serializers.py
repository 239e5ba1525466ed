"""API shapes of the ticket desk. Input serializers check the shape of a request (types, formats, choices,
lengths) and refuse fields they do not know; the services (tickets.services, tickets.configuration,
tickets.attachments) apply the rules and write; output serializers render what the selectors loaded."""

import datetime as dt
import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Team
from crm.api.serializers import InputSerializer, OutputSerializer, StaffEmailField
from crm.models import Contact, Customer, Tier
from crm.validators import validate_timezone
from tickets.attachments import attachments_validate
from tickets.configuration import MAX_TARGET_MINUTES
from tickets.models import (
    BusinessCalendar,
    Category,
    Channel,
    Holiday,
    OpeningHours,
    Priority,
    SlaPolicy,
    SlaTarget,
    Status,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketStatusChange,
)
from tickets.sla import is_past_due

DATETIME = serializers.DateTimeField()
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
METRICS = tuple(SlaTarget.Metric.values)

# --- Fields -------------------------------------------------------------------------------------------


class PastDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time with its time zone (e.g. 2025-03-03T09:00:00Z), not in the future: the original
    time of an imported event."""

    default_error_messages = {
        "naive": "Give the time zone (e.g. 2025-03-03T09:00:00Z or 2025-03-03T10:00:00+01:00).",
        "future": "Must not be in the future.",
        "impossible": "Not a real date and time (a day past the month's end, hour 24+, minute 60+ or an offset "
        "beyond ±23:59).",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip()) if len(value) < 64 else None
            except ValueError:  # well-formed but impossible (February 30th, hour 25, offset +99:00)
                self.fail("impossible")
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        elif isinstance(value, dt.datetime) and timezone.is_naive(value):
            self.fail("naive")
        result = super().to_internal_value(value)
        if result > timezone.now():
            self.fail("future")
        return result


class TagsField(serializers.ListField):
    """Free tags, stored lower-cased, trimmed and without duplicates."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=50))
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault("help_text", "Free tags; stored lower-cased, sorted, without duplicates.")
        super().__init__(**kwargs)


def _choices_list(choices, help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices), required=False, max_length=20, help_text=help_text
    )


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else DATETIME.to_representation(value)


# --- Tickets: input ---------------------------------------------------------------------------------


TICKET_READ_ONLY = (
    "id",
    "reference",
    "status",
    "updated_at",
    "first_response_due_at",
    "next_reply_due_at",
    "resolution_due_at",
    "next_sla_due_at",
    "first_response_at",
    "solved_at",
    "closed_at",
    "escalation_level",
    "sla_policy",
    "sla",
    "merged_into",
    "follow_up_of",
    "imported_at",
)


class TicketInputSerializer(InputSerializer):
    """A new ticket and the requester's first message."""

    read_only_names = TICKET_READ_ONLY

    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")
    requester = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), help_text="A contact of that customer (id)."
    )
    subject = serializers.CharField(max_length=300)
    body = serializers.CharField(max_length=100_000, help_text="The requester's first message (plain text).")
    priority = serializers.ChoiceField(Priority.choices, required=False, help_text="Default normal.")
    channel = serializers.ChoiceField(Channel.choices, required=False, help_text="Default api.")
    category = serializers.ChoiceField(Category.choices, required=False, help_text="Default question.")
    tags = TagsField(required=False)
    assignee = StaffEmailField(allow_null=True, required=False, help_text="The assigned agent's email.")
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), allow_null=True, required=False, help_text="The team's id."
    )
    created_at = PastDateTimeField(
        required=False,
        help_text="Historical import: when the ticket was really opened (with a time zone, not in the "
        "future). The SLA clock and the metrics count from it. More than an hour ago, the ticket is imported "
        "(`imported_at`): its dated history notifies nobody. Default: now.",
    )


class TicketUpdateInputSerializer(InputSerializer):
    """Changes to a ticket. `status` moves it along the workflow; the other fields update it."""

    read_only_names = ("customer", "requester", "channel", "body", "created_at", *TICKET_READ_ONLY)

    status = serializers.ChoiceField(
        Status.choices,
        required=False,
        help_text="new -> open -> pending / on_hold -> solved -> closed; a forbidden move is refused.",
    )
    priority = serializers.ChoiceField(Priority.choices, required=False)
    category = serializers.ChoiceField(Category.choices, required=False)
    tags = TagsField(required=False)
    subject = serializers.CharField(max_length=300, required=False)
    assignee = StaffEmailField(allow_null=True, required=False, help_text="The agent's email; null: nobody.")
    team = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(),
        allow_null=True,
        required=False,
        help_text="The team's id; null: none.",
    )


class MessageInputSerializer(InputSerializer):
    """A reply, an internal note, or (imports) a message from the customer."""

    read_only_names = ("id", "ticket", "author_contact", "body_html", "email_message_id")

    body = serializers.CharField(max_length=100_000, help_text="Plain text.")
    public = serializers.BooleanField(
        required=False,
        default=True,
        help_text="true: a public reply, emailed to the requester; false: an internal note (never sent).",
    )
    channel = serializers.ChoiceField(
        Channel.choices, required=False, help_text="Default web (staff) or email (customer)."
    )
    created_at = PastDateTimeField(
        required=False,
        help_text="Historical import: when it was written (not before the ticket's latest event). A dated "
        "message is recorded only: never emailed.",
    )
    author = StaffEmailField(
        required=False,
        help_text="Historical import: the staff author's email. Default: the API key's user.",
    )
    from_contact = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(),
        required=False,
        help_text="A message from this contact (of the ticket's customer) instead of from staff: reopens a "
        "pending or solved ticket; on a closed ticket it opens a follow-up ticket.",
    )
    attachments = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        help_text="multipart/form-data only: files (repeat the field). Each at most "
        "TICKETS_ATTACHMENT_MAX_BYTES; one over the limit refuses the whole message.",
    )

    def validate_attachments(self, files):
        try:
            attachments_validate(files)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict.get("attachments", exc.messages)) from None
        return files

    def validate(self, attrs):
        ticket: Ticket = self.context["ticket"]
        errors = {}
        contact = attrs.get("from_contact")
        if contact is not None:
            if contact.customer_id != ticket.customer_id:
                errors["from_contact"] = ["This contact is not one of the ticket's customer's contacts."]
            if attrs.get("author") is not None:
                errors["author"] = ["Give either author (staff) or from_contact (customer), not both."]
            if "public" in self.initial_data and not attrs.get("public", True):
                errors["public"] = ["A message from the customer is always public."]
        at = attrs.get("created_at")
        last = self.context.get("last_event_at")
        if at is not None and last is not None and at < last:
            errors["created_at"] = [
                f"Must not be before the ticket's latest event ({_iso(last)}): import events in order."
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class StatusChangeInputSerializer(InputSerializer):
    read_only_names = ("id", "from_status", "to_status", "actor")

    status = serializers.ChoiceField(Status.choices, help_text="The new status (along the workflow).")
    at = PastDateTimeField(
        required=False,
        help_text="Historical import: when it happened (not before the ticket's latest event). Default: now.",
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate_at(self, value):
        last = self.context.get("last_event_at")
        if value is not None and last is not None and value < last:
            raise serializers.ValidationError(
                f"Must not be before the ticket's latest event ({_iso(last)}): import events in order."
            )
        return value


class MergeInputSerializer(InputSerializer):
    into = serializers.PrimaryKeyRelatedField(
        queryset=Ticket.objects.all(),
        help_text="The ticket (id) that receives this ticket's messages; same customer, neither closed.",
    )


# --- Tickets: output --------------------------------------------------------------------------------


class SlaStateSerializer(serializers.Serializer):
    due_at = serializers.DateTimeField(
        allow_null=True, help_text="When the target falls due (null: met, paused or no target)."
    )
    state = serializers.ChoiceField(SlaTarget.State.choices)
    breached = serializers.BooleanField(help_text="Past due (now or when it stopped).")
    target_seconds = serializers.IntegerField(allow_null=True, help_text="Null: measured, with no target.")
    stopped_at = serializers.DateTimeField(allow_null=True)
    cycle = serializers.IntegerField(help_text="Next reply restarts on each customer message.")


class SlaSummarySerializer(serializers.Serializer):
    first_response = SlaStateSerializer(allow_null=True)
    next_reply = SlaStateSerializer(allow_null=True)
    resolution = SlaStateSerializer(allow_null=True)


def current_targets(ticket: Ticket) -> dict[str, SlaTarget]:
    """The latest cycle of each target of the ticket, from the prefetched rows (no query when prefetched)."""
    cached = ticket.__dict__.get("_current_targets")
    if cached is None:
        cached = {}
        for target in sorted(ticket.sla_targets.all(), key=lambda t: (t.metric, t.cycle)):
            cached[target.metric] = target
        ticket.__dict__["_current_targets"] = cached
    return cached


def target_breached(target: SlaTarget, now: dt.datetime) -> bool:
    return bool(target.breached or (target.state == SlaTarget.State.RUNNING and is_past_due(target.due_at, now)))


class TicketSerializer(OutputSerializer):
    reference = serializers.CharField(read_only=True, help_text='"[#<id>]": what email subjects carry.')
    assignee = serializers.EmailField(
        source="assignee_email", allow_null=True, read_only=True, help_text="The assigned agent's email."
    )
    first_response_due_at = serializers.SerializerMethodField()
    next_reply_due_at = serializers.SerializerMethodField()
    resolution_due_at = serializers.SerializerMethodField()
    sla = serializers.SerializerMethodField(help_text="Each target's state (null: the ticket has no such target).")

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "status",
            "priority",
            "category",
            "channel",
            "tags",
            "customer",
            "requester",
            "assignee",
            "team",
            "subject",
            "created_at",
            "updated_at",
            "first_response_due_at",
            "next_reply_due_at",
            "resolution_due_at",
            "next_sla_due_at",
            "first_response_at",
            "solved_at",
            "closed_at",
            "escalation_level",
            "reopen_count",
            "sla_policy",
            "merged_into",
            "follow_up_of",
            "imported_at",
            "sla",
        ]
        read_only_fields = fields

    def _due(self, ticket, metric) -> str | None:
        target = current_targets(ticket).get(metric)
        return None if target is None else _iso(target.due_at)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_first_response_due_at(self, ticket) -> str | None:
        return self._due(ticket, SlaTarget.Metric.FIRST_RESPONSE)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_reply_due_at(self, ticket) -> str | None:
        return self._due(ticket, SlaTarget.Metric.NEXT_REPLY)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_resolution_due_at(self, ticket) -> str | None:
        return self._due(ticket, SlaTarget.Metric.RESOLUTION)

    @extend_schema_field(SlaSummarySerializer)
    def get_sla(self, ticket) -> dict:
        now = self.context.get("now") or timezone.now()
        targets = current_targets(ticket)
        result = {}
        for metric in METRICS:
            target = targets.get(metric)
            result[metric] = (
                None
                if target is None
                else {
                    "due_at": _iso(target.due_at),
                    "state": target.state,
                    "breached": target_breached(target, now),
                    "target_seconds": target.target_seconds,
                    "stopped_at": _iso(target.stopped_at),
                    "cycle": target.cycle,
                }
            )
        return result


class AttachmentSerializer(OutputSerializer):
    url = serializers.SerializerMethodField(help_text="Download (signed-in staff only; always as a file).")

    class Meta:
        model = TicketAttachment
        fields = ["id", "filename", "content_type", "size", "url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, attachment) -> str:
        try:
            path = reverse("tickets:attachment_download", args=[attachment.pk])
        except NoReverseMatch:  # pragma: no cover - the download view is not wired
            path = f"/tickets/attachments/{attachment.pk}/"
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class MessageSerializer(OutputSerializer):
    author = serializers.EmailField(
        source="author_email", allow_null=True, read_only=True, help_text="The staff author's email."
    )
    from_contact = serializers.PrimaryKeyRelatedField(
        source="author_contact",
        read_only=True,
        allow_null=True,
        help_text="The customer contact who wrote it.",
    )
    body = serializers.CharField(source="body_text", read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = TicketMessage
        fields = [
            "id",
            "ticket",
            "public",
            "author",
            "from_contact",
            "channel",
            "body",
            "body_html",
            "email_message_id",
            "created_at",
            "attachments",
        ]
        read_only_fields = fields


class OptionalStatusField(serializers.ChoiceField):
    """A status that may be absent: the stored "" (a ticket's first change has no previous status) is null."""

    def to_representation(self, value):
        return super().to_representation(value) if value else None


class StatusChangeSerializer(OutputSerializer):
    from_status = OptionalStatusField(
        Status.choices, allow_null=True, read_only=True, help_text="The status before; null: the ticket's creation."
    )
    actor = serializers.EmailField(
        source="actor_email", allow_null=True, read_only=True, help_text="Who did it; null: the system."
    )

    class Meta:
        model = TicketStatusChange
        fields = ["id", "ticket", "from_status", "to_status", "at", "actor", "reason"]
        read_only_fields = fields


# --- SLA explanation ----------------------------------------------------------------------------------


class SlaIntervalSerializer(serializers.Serializer):
    # "from" is a Python keyword: declared below.
    to = serializers.DateTimeField()
    counted = serializers.BooleanField(help_text="true: business time counted; false: paused or closed.")
    reason = serializers.CharField(
        help_text='e.g. "business hours", "outside business hours", "holiday", "pending: waiting on the '
        'customer", "on hold", "solved".'
    )
    seconds = serializers.IntegerField(help_text="Business seconds counted in the interval (0 when paused).")

    def get_fields(self):
        fields = super().get_fields()
        return {"from": serializers.DateTimeField(), **fields}


class SlaTargetExplainSerializer(serializers.Serializer):
    metric = serializers.ChoiceField(SlaTarget.Metric.choices)
    cycle = serializers.IntegerField()
    state = serializers.ChoiceField(SlaTarget.State.choices)
    target_seconds = serializers.IntegerField(allow_null=True)
    elapsed_seconds = serializers.IntegerField(help_text="Business seconds counted up to now (or the stop).")
    remaining_seconds = serializers.IntegerField(
        allow_null=True, help_text="Business seconds left (null: no target; 0 once overdue)."
    )
    overdue_seconds = serializers.IntegerField(
        allow_null=True,
        help_text="Business seconds past the target (null: no target; 0 while within it).",
    )
    started_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    met = serializers.BooleanField()
    breached = serializers.BooleanField()
    intervals = SlaIntervalSerializer(many=True)


class NamedRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CalendarRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    timezone = serializers.CharField()
    always_open = serializers.BooleanField()


class SlaExplainSerializer(serializers.Serializer):
    ticket = serializers.IntegerField()
    status = serializers.ChoiceField(Status.choices)
    now = serializers.DateTimeField(help_text="The clock is explained as of this instant.")
    policy = NamedRefSerializer(allow_null=True, help_text="The SLA policy; null: none matched (24/7 UTC).")
    calendar = CalendarRefSerializer(
        allow_null=True,
        help_text="The policy's business calendar; null: no policy (the clock runs 24/7 UTC).",
    )
    targets = SlaTargetExplainSerializer(many=True)


def explain_rows(rows: list[dict]) -> list[dict]:
    """sla_explain's rows with the overdue time split out of the remaining time."""
    result = []
    for row in rows:
        remaining = row["remaining_seconds"]
        intervals = [
            {**interval, "from": parse_datetime(interval["from"]), "to": parse_datetime(interval["to"])}
            for interval in row["intervals"]
        ]
        result.append(
            {
                **row,
                "intervals": intervals,
                "remaining_seconds": None if remaining is None else max(remaining, 0),
                "overdue_seconds": None if remaining is None else max(-remaining, 0),
            }
        )
    return result


# --- Metrics ------------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.STR)
class DateOrDateTimeField(serializers.Field):
    """An ISO 8601 date (a whole day, in UTC) or date-time."""

    default_error_messages = {
        "invalid": "Enter an ISO 8601 date (2026-11-01) or date-time (2026-11-01T09:00:00Z).",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str) or len(value) > 64:
            self.fail("invalid")
        text = value.strip()
        try:
            if DATE_ONLY.fullmatch(text):
                day = parse_date(text)
                if day is None:
                    self.fail("invalid")
                return day
            moment = parse_datetime(text)
        except ValueError:
            self.fail("invalid")
        if moment is None:
            self.fail("invalid")
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment)

    def to_representation(self, value):
        return value.isoformat()


class MetricsQuerySerializer(InputSerializer):
    """Query parameters of /tickets/metrics/."""

    start = DateOrDateTimeField(
        required=False,
        help_text="Start of the period (a date starts at 00:00 UTC). Default: 30 days ago.",
    )
    end = DateOrDateTimeField(
        required=False, help_text="End of the period, excluded (a date is included whole). Default: now."
    )
    customer = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    tier = serializers.ChoiceField(Tier.choices, required=False)
    assignee = serializers.CharField(
        max_length=254, required=False, help_text="An agent's email, `me` or `none` (unassigned)."
    )
    team = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    channel = serializers.ChoiceField(Channel.choices, required=False)
    category = serializers.ChoiceField(Category.choices, required=False)

    MAX_DAYS = 731

    def to_internal_value(self, data):
        # Query parameters: one value each (QueryDict -> plain dict of the last values).
        if hasattr(data, "dict"):
            data = data.dict()
        return super().to_internal_value(data)

    def validate_assignee(self, value: str) -> str:
        value = value.strip()
        if value.lower() in ("me", "none"):
            return value.lower()
        if "@" not in value:
            raise serializers.ValidationError("Enter an agent's email, me or none.")
        return value

    def validate(self, attrs):
        now = timezone.now()
        start, end = attrs.get("start"), attrs.get("end")
        if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
            start = dt.datetime.combine(start, dt.time(0), tzinfo=dt.UTC)
        if isinstance(end, dt.date) and not isinstance(end, dt.datetime):
            end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        end = end or now
        start = start or end - dt.timedelta(days=30)
        if end <= start:
            raise serializers.ValidationError({"end": ["The period must end after it starts."]})
        if end - start > dt.timedelta(days=self.MAX_DAYS):
            raise serializers.ValidationError({"end": [f"A period is at most {self.MAX_DAYS} days."]})
        attrs["start"], attrs["end"] = start, end
        return attrs


class PercentilesSerializer(serializers.Serializer):
    median = serializers.FloatField(allow_null=True, help_text="Business seconds.")
    p90 = serializers.FloatField(allow_null=True, help_text="Business seconds, 90th percentile.")
    count = serializers.IntegerField()


class AttainmentSerializer(serializers.Serializer):
    targets = serializers.IntegerField()
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    attainment_pct = serializers.FloatField(allow_null=True)


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Excluded.")


class BacklogSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Unsolved tickets now.")
    by_age = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Unsolved tickets by age: "<1d", "1-3d", "3-7d", "7-30d", ">30d".',
    )


class MetricsSerializer(serializers.Serializer):
    period = PeriodSerializer()
    volume = serializers.IntegerField(help_text="Tickets created in the period.")
    first_response_seconds = PercentilesSerializer(
        help_text="Tickets created in the period: creation to first public reply, business time."
    )
    resolution_seconds = PercentilesSerializer(
        help_text="Tickets solved in the period: creation to solved, business time, waiting excluded."
    )
    solved = serializers.IntegerField(help_text="Tickets solved in the period.")
    first_contact_resolution_pct = serializers.FloatField(allow_null=True)
    reopen_rate_pct = serializers.FloatField(allow_null=True)
    sla_attainment = serializers.DictField(
        child=AttainmentSerializer(), help_text="Per target (first_response, next_reply, resolution)."
    )
    backlog = BacklogSerializer()


# --- Business calendars -------------------------------------------------------------------------------


class OpeningHoursInputSerializer(InputSerializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday ... 6 = Sunday.")
    start = serializers.TimeField(help_text="Local time, e.g. 09:00.")
    end = serializers.TimeField(help_text="Local time; 00:00 means midnight at the end of the day.")


class HolidayInputSerializer(InputSerializer):
    date = serializers.DateField()
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)


class BusinessCalendarInputSerializer(InputSerializer):
    """A calendar with its opening hours and holidays. Lists given replace the old ones."""

    read_only_names = ("id", "updated_at")

    name = serializers.CharField(max_length=100)
    timezone = serializers.CharField(
        max_length=64, required=False, help_text="IANA time zone, e.g. Europe/Paris. Default UTC."
    )
    always_open = serializers.BooleanField(required=False, help_text="24/7 (opening hours are then ignored).")
    opening_hours = OpeningHoursInputSerializer(
        many=True,
        required=False,
        help_text="Weekly ranges, several a day allowed; ranges of one day must not overlap.",
    )
    holidays = HolidayInputSerializer(many=True, required=False, help_text="Closed days, in the calendar's zone.")

    def validate_timezone(self, value: str) -> str:
        try:
            validate_timezone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class BusinessCalendarNamedInputSerializer(BusinessCalendarInputSerializer):
    """The calendar named in the URL: the body's name, if given, must match it."""

    name = serializers.CharField(max_length=100, required=False, help_text="Must match the URL if given.")


class OpeningHoursSerializer(serializers.ModelSerializer):
    class Meta:
        model = OpeningHours
        fields = ["weekday", "start", "end"]
        read_only_fields = fields


class HolidaySerializer(serializers.ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["date", "name"]
        read_only_fields = fields


class BusinessCalendarSerializer(serializers.ModelSerializer):
    opening_hours = OpeningHoursSerializer(many=True, read_only=True)
    holidays = HolidaySerializer(many=True, read_only=True)

    class Meta:
        model = BusinessCalendar
        fields = ["id", "name", "timezone", "always_open", "opening_hours", "holidays", "updated_at"]
        read_only_fields = fields


# --- SLA policies -------------------------------------------------------------------------------------


def _target_field(help_text: str) -> serializers.IntegerField:
    message = "A target must be a positive number of minutes (null: no target)."
    return serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_TARGET_MINUTES,
        help_text=help_text + " Null: measured, with no target.",
        error_messages={"min_value": message},
    )


class SlaPolicyInputSerializer(InputSerializer):
    read_only_names = ("id", "updated_at")

    name = serializers.CharField(max_length=100)
    order = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, help_text="Lower is tried first. Default 100."
    )
    is_active = serializers.BooleanField(required=False)
    tiers = _choices_list(Tier.choices, "Customer tiers it applies to; empty: any.")
    priorities = _choices_list(Priority.choices, "Empty: any priority.")
    channels = _choices_list(Channel.choices, "Empty: any channel.")
    categories = _choices_list(Category.choices, "Empty: any category.")
    calendar = serializers.PrimaryKeyRelatedField(
        queryset=BusinessCalendar.objects.all(),
        required=False,
        help_text="The business calendar's id (or give calendar_name). Required when creating.",
    )
    calendar_name = serializers.SlugRelatedField(
        slug_field="name",
        queryset=BusinessCalendar.objects.all(),
        required=False,
        help_text="The business calendar's name, instead of its id (for configuration kept in files).",
    )
    first_response_minutes = _target_field("Business minutes from creation to the first public reply.")
    next_reply_minutes = _target_field("Business minutes from each customer message to the next reply.")
    resolution_minutes = _target_field("Business minutes from creation to solved, waiting excluded.")
    pause_on_hold = serializers.BooleanField(required=False, help_text="Stop the clock while on hold.")
    warn_at_percent = serializers.IntegerField(
        min_value=1,
        max_value=99,
        required=False,
        help_text="Warn the assignee at this share of a target.",
    )

    def validate(self, attrs):
        by_name = attrs.pop("calendar_name", None)
        if by_name is not None:
            if attrs.get("calendar") is not None and attrs["calendar"] != by_name:
                raise serializers.ValidationError(
                    {"calendar_name": ["Names another calendar than `calendar`; give one of them."]}
                )
            attrs["calendar"] = by_name
        if not self.partial and attrs.get("calendar") is None:
            raise serializers.ValidationError({"calendar": ["This field is required."]})
        return attrs


class SlaPolicyNamedInputSerializer(SlaPolicyInputSerializer):
    name = serializers.CharField(max_length=100, required=False, help_text="Must match the URL if given.")


class SlaPolicySerializer(OutputSerializer):
    calendar_name = serializers.CharField(read_only=True)

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "name",
            "order",
            "is_active",
            "tiers",
            "priorities",
            "channels",
            "categories",
            "calendar",
            "calendar_name",
            "first_response_minutes",
            "next_reply_minutes",
            "resolution_minutes",
            "pause_on_hold",
            "warn_at_percent",
            "updated_at",
        ]
        read_only_fields = fields


# --- Inbound email ------------------------------------------------------------------------------------


INBOUND_RESULT_STATUSES = [
    ("processed", "Processed"),
    ("ignored", "Ignored"),
    ("unmatched", "Unmatched"),
    ("failed", "Failed"),
]


class InboundEmailResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The stored inbound email (kept whatever happened).")
    status = serializers.ChoiceField(
        INBOUND_RESULT_STATUSES,
        help_text="processed: a ticket or reply; ignored: auto-reply, bounce, loop or duplicate; unmatched: "
        "no customer matches the sender (waits for triage); failed: kept, processing failed (retried by "
        "staff).",
    )
    reason = serializers.CharField(allow_blank=True)
    ticket = serializers.IntegerField(allow_null=True, help_text="The ticket (null when ignored or unmatched).")
    created = serializers.BooleanField(help_text="A new ticket was opened (or a follow-up of a closed one).")


class InboundEmailFailedSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The stored raw message, flagged failed (it can be retried).")
    status = serializers.ChoiceField(INBOUND_RESULT_STATUSES, help_text='Always "failed".')
    detail = serializers.CharField()


# --- OpenAPI enum names -------------------------------------------------------------------------------
# The ticket API reuses choice sets under several field names (tier/tiers, priority/priorities, status/
# from_status/to_status...). Without names for them drf-spectacular warns and invents hashed names. The
# project settings carry this in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (see
# tests/tickets/test_api_schema.py).
SCHEMA_ENUM_NAME_OVERRIDES = {
    "TierEnum": "crm.models.Tier",
    "PriorityEnum": "tickets.models.Priority",
    "ChannelEnum": "tickets.models.Channel",
    "CategoryEnum": "tickets.models.Category",
    "TicketStatusEnum": "tickets.models.Status",
    "TaskStatusEnum": "crm.models.Task.Status",
    "InboundEmailStatusEnum": "tickets.api.serializers.INBOUND_RESULT_STATUSES",
}
