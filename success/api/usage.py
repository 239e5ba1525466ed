"""REST API v1 for product usage: `POST /api/v1/usage-events/` (success.usage.services.usage_events_record)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from crm.api.errors import ERROR_400, ERROR_401, ERROR_403
from crm.api.views import ApiViewSet
from success.usage.models import UsageEvent
from success.usage.services import usage_events_record


class UsageEventInputSerializer(serializers.Serializer):
    """One event (documentation of the shape; the service validates each event and reports errors per index)."""

    id = serializers.CharField(max_length=100, help_text="The sender's unique event id (idempotency key).")
    customer = serializers.IntegerField(required=False, help_text="Our customer id, or give customer_external_id.")
    customer_external_id = serializers.CharField(required=False, help_text="The customer's external_id.")
    contact_email = serializers.EmailField(
        required=False, allow_blank=True, help_text="The user who did it; counts as an active user that day."
    )
    name = serializers.CharField(max_length=100, help_text="Event name, e.g. report_exported.")
    occurred_at = serializers.DateTimeField(
        help_text="ISO 8601; without an offset it is UTC. At most 24 h in the future, not older than "
        "USAGE_RAW_RETENTION_DAYS (default 90) days."
    )
    quantity = serializers.IntegerField(required=False, min_value=0, default=1, help_text="Default 1.")


class UsageBatchInputSerializer(serializers.Serializer):
    events = UsageEventInputSerializer(many=True, max_length=1000, min_length=1)


class UsageEventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in `events`.")
    id = serializers.JSONField(allow_null=True, help_text="The event's `id` as sent.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Messages per field."
    )


class UsageBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events recorded by this request.")
    duplicates = serializers.IntegerField(help_text="Valid events whose `id` was already recorded (not again).")
    errors = UsageEventErrorSerializer(many=True, help_text="Refused events; the others were kept.")


@extend_schema(tags=["usage"])
class UsageEventViewSet(ApiViewSet):
    """Raw product usage events, in batches."""

    permission_model = UsageEvent  # POST needs success.add_usageevent: admin and csm roles (and their API keys)
    serializer_class = UsageBatchResultSerializer

    def get_queryset(self):
        return UsageEvent.objects.none()

    @extend_schema(
        summary="Record a batch of usage events",
        request=UsageBatchInputSerializer,
        responses={
            200: OpenApiResponse(
                UsageBatchResultSerializer,
                description="The batch was processed: good events are recorded (or counted as duplicates when "
                "their `id` was recorded before: retrying a batch is safe), invalid ones are listed in `errors` "
                "with their index and nothing else about them is stored. 200 even when some or all events are "
                "refused: read `errors`.",
                examples=[
                    OpenApiExample(
                        "partial batch",
                        value={
                            "accepted": 2,
                            "duplicates": 1,
                            "errors": [{"index": 3, "id": "ev-4", "errors": {"customer": ["Unknown customer 99."]}}],
                        },
                        response_only=True,
                    )
                ],
            ),
            400: ERROR_400,
            401: ERROR_401,
            403: ERROR_403,
        },
        description="Up to 1,000 events per request. Each event names its customer by `customer` (our id) or "
        "`customer_external_id`. Idempotent by the event `id` (unique across customers). A 400 means the batch "
        "itself is malformed (not an object, `events` missing, empty or over 1,000; unknown top-level fields) "
        "and nothing was recorded. Needs a role that may add usage events (admin, csm).",
    )
    def create(self, request, *args, **kwargs):
        data = request.data
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["Expected an object with `events`."]})
        unknown = sorted(set(data) - {"events"})
        if unknown:
            raise exceptions.ValidationError({key: ["Unknown field."] for key in unknown})
        events = data.get("events")
        limit = getattr(settings, "USAGE_MAX_BATCH", 1000)
        if not isinstance(events, list):
            raise exceptions.ValidationError({"events": ["A list of events is required."]})
        if not events:
            raise exceptions.ValidationError({"events": ["Send at least one event."]})
        if len(events) > limit:
            raise exceptions.ValidationError(
                {"events": [f"At most {limit} events per request; this one has {len(events)}."]}
            )
        result = usage_events_record(events=events)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates, "errors": result.errors}, status=200
        )
