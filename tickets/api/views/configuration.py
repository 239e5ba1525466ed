"""Business calendars and SLA policies in REST API v1, written through tickets.configuration.

Configuration in version control: `PUT /api/v1/business-calendars/by-name/{name}/` and
`PUT /api/v1/sla-policies/by-name/{name}/` are idempotent (create, or make the object match the body;
repeating the request changes nothing), so a deploy script can apply files of calendars and policies.
`manage.py loaddata` of a fixture of tickets.BusinessCalendar / OpeningHours / Holiday / SlaPolicy rows works
too, but skips the validation and the recount of running clocks that the API does.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS, Conflict, ErrorDetailSerializer
from crm.api.views import ApiViewSet, location_header
from tickets import configuration, selectors
from tickets.api.serializers import (
    BusinessCalendarInputSerializer,
    BusinessCalendarNamedInputSerializer,
    BusinessCalendarSerializer,
    SlaPolicyInputSerializer,
    SlaPolicyNamedInputSerializer,
    SlaPolicySerializer,
)
from tickets.models import BusinessCalendar, SlaPolicy

NAME = OpenApiParameter(
    "name",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The object's unique name (URL-encoded).",
)


# --- Business calendars -------------------------------------------------------------------------------


def _full(data: dict, defaults: dict) -> dict:
    """PUT replaces the whole object: fields left out take their defaults."""
    return {**{k: (list(v) if isinstance(v, list) else v) for k, v in defaults.items()}, **data}


def _conflict(exc: configuration.ConfigurationInUse) -> Conflict:
    return Conflict(detail=str(exc))


CALENDAR_NOTE = (
    "Opening hours are weekly ranges in the calendar's time zone, several a day allowed (00:00 as an end "
    "is midnight); ranges of one weekday must not overlap (400 naming the weekday). Changing a calendar "
    "keeps the business time already counted by running SLA clocks and recomputes only what remains."
)


@extend_schema(tags=["sla configuration"])
class BusinessCalendarViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ApiViewSet):
    """Business calendars: a time zone, weekly opening hours and holidays (`always_open`: 24/7)."""

    serializer_class = BusinessCalendarSerializer
    ordering = ("name",)
    ordering_fields = ("name", "updated_at")

    def get_queryset(self):
        return selectors.business_calendar_list()

    @extend_schema(
        summary="List business calendars",
        responses={200: BusinessCalendarSerializer(many=True), **LIST_ERRORS},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a business calendar", responses={200: BusinessCalendarSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create a business calendar",
        request=BusinessCalendarInputSerializer,
        responses={201: BusinessCalendarSerializer, **WRITE_ERRORS},
        description=CALENDAR_NOTE,
        examples=[
            OpenApiExample(
                "Paris office",
                value={
                    "name": "Paris office",
                    "timezone": "Europe/Paris",
                    "opening_hours": [
                        {"weekday": d, "start": s, "end": e}
                        for d in range(5)
                        for s, e in (("09:00", "12:30"), ("13:30", "18:00"))
                    ],
                    "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
                },
                request_only=True,
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = BusinessCalendarInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        calendar = configuration.business_calendar_create(actor=request.user, **serializer.validated_data)
        return Response(
            BusinessCalendarSerializer(selectors.business_calendar_get(pk=calendar.pk)).data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "business-calendar-detail", calendar.pk),
        )

    def _update(self, request, pk, *, partial: bool):
        calendar = get_object_or_404(BusinessCalendar.objects.all(), pk=pk)
        serializer = BusinessCalendarInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not partial:
            data = _full(data, configuration.CALENDAR_DEFAULTS)
        configuration.business_calendar_update(calendar=calendar, actor=request.user, **data)
        return Response(BusinessCalendarSerializer(selectors.business_calendar_get(pk=calendar.pk)).data)

    @extend_schema(
        summary="Replace a business calendar",
        request=BusinessCalendarInputSerializer,
        responses={200: BusinessCalendarSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description=CALENDAR_NOTE + " Fields left out take their defaults (UTC, not 24/7, no hours, no holidays).",
    )
    def update(self, request, *args, **kwargs):
        return self._update(request, kwargs["pk"], partial=False)

    @extend_schema(
        summary="Update some fields of a business calendar",
        request=BusinessCalendarInputSerializer(partial=True),
        responses={200: BusinessCalendarSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description=CALENDAR_NOTE + " `opening_hours` or `holidays`, when given, replace the whole list.",
    )
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, kwargs["pk"], partial=True)

    @extend_schema(
        summary="Delete a business calendar",
        responses={
            204: OpenApiResponse(description="Deleted."),
            **DETAIL_ERRORS,
            409: OpenApiResponse(ErrorDetailSerializer, description="SLA policies count in this calendar."),
        },
    )
    def destroy(self, request, *args, **kwargs):
        calendar = get_object_or_404(BusinessCalendar.objects.all(), pk=kwargs["pk"])
        try:
            configuration.business_calendar_delete(calendar=calendar, actor=request.user)
        except configuration.ConfigurationInUse as exc:
            raise _conflict(exc) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["sla configuration"], parameters=[NAME])
class BusinessCalendarByNameViewSet(ApiViewSet):
    """`/business-calendars/by-name/{name}/`: apply calendars kept in version control."""

    serializer_class = BusinessCalendarSerializer
    lookup_field = "name"
    lookup_url_kwarg = "name"
    lookup_value_regex = ".+"  # names may hold a slash ("Urgent (24/7)"); the route ends at the last one

    def get_queryset(self):
        return selectors.business_calendar_list()

    @extend_schema(
        summary="Get a business calendar by name",
        responses={200: BusinessCalendarSerializer, **DETAIL_ERRORS},
    )
    def retrieve(self, request, *args, **kwargs):
        calendar = get_object_or_404(self.get_queryset(), name=kwargs["name"])
        return Response(BusinessCalendarSerializer(calendar).data)

    @extend_schema(
        summary="Create or replace a business calendar by name (idempotent)",
        request=BusinessCalendarNamedInputSerializer,
        responses={
            200: OpenApiResponse(BusinessCalendarSerializer, description="Replaced (or already equal)."),
            201: OpenApiResponse(BusinessCalendarSerializer, description="Created."),
            **WRITE_ERRORS,
        },
        description=CALENDAR_NOTE + " The body is the whole calendar: fields left out take their defaults. "
        "Repeating the request changes nothing. Creating needs `add_businesscalendar`.",
    )
    def update(self, request, *args, **kwargs):
        name = kwargs["name"]
        serializer = BusinessCalendarNamedInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _full(dict(serializer.validated_data), configuration.CALENDAR_DEFAULTS)
        if data.pop("name", name) != name:
            raise ValidationError({"name": ["Must match the name in the URL."]})
        if not BusinessCalendar.objects.filter(name=name).exists() and not request.user.has_perm(
            "tickets.add_businesscalendar"
        ):
            raise exceptions.PermissionDenied("Your role cannot create business calendars.")
        calendar, created = configuration.business_calendar_upsert_by_name(name=name, actor=request.user, **data)
        body = BusinessCalendarSerializer(selectors.business_calendar_get(pk=calendar.pk)).data
        if created:
            return Response(
                body,
                status=status.HTTP_201_CREATED,
                headers=location_header(request, "business-calendar-detail", calendar.pk),
            )
        return Response(body)


# --- SLA policies -------------------------------------------------------------------------------------

POLICY_NOTE = (
    "A ticket gets the first active policy, by `order`, whose conditions all match (an empty list matches "
    "anything). Targets are business minutes in the policy's calendar (null: measured, no target; zero or "
    "negative -> 400). Changing a policy keeps the time running clocks already counted; their remaining "
    "targets take the new sizes, calendar and pause rules. Tickets keep the policy they matched."
)


@extend_schema(tags=["sla configuration"])
class SlaPolicyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = SlaPolicySerializer
    ordering = ("order",)
    ordering_fields = ("order", "name", "updated_at")

    def get_queryset(self):
        return selectors.sla_policy_list()

    @extend_schema(summary="List SLA policies", responses={200: SlaPolicySerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get an SLA policy", responses={200: SlaPolicySerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create an SLA policy",
        request=SlaPolicyInputSerializer,
        responses={201: SlaPolicySerializer, **WRITE_ERRORS},
        description=POLICY_NOTE,
        examples=[
            OpenApiExample(
                "enterprise urgent",
                value={
                    "name": "Enterprise urgent",
                    "order": 10,
                    "tiers": ["enterprise"],
                    "priorities": ["urgent", "high"],
                    "calendar_name": "Paris office",
                    "first_response_minutes": 30,
                    "next_reply_minutes": 60,
                    "resolution_minutes": 480,
                    "warn_at_percent": 75,
                },
                request_only=True,
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = SlaPolicyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        policy = configuration.sla_policy_create(actor=request.user, **serializer.validated_data)
        return Response(
            SlaPolicySerializer(selectors.sla_policy_get(pk=policy.pk)).data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "sla-policy-detail", policy.pk),
        )

    def _update(self, request, pk, *, partial: bool):
        policy = get_object_or_404(SlaPolicy.objects.all(), pk=pk)
        serializer = SlaPolicyInputSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if not partial:
            data = _full(data, configuration.POLICY_DEFAULTS)
        configuration.sla_policy_update(policy=policy, actor=request.user, **data)
        return Response(SlaPolicySerializer(selectors.sla_policy_get(pk=policy.pk)).data)

    @extend_schema(
        summary="Replace an SLA policy",
        request=SlaPolicyInputSerializer,
        responses={200: SlaPolicySerializer, **WRITE_ERRORS, 404: ERROR_404},
        description=POLICY_NOTE + " Fields left out take their defaults.",
    )
    def update(self, request, *args, **kwargs):
        return self._update(request, kwargs["pk"], partial=False)

    @extend_schema(
        summary="Update some fields of an SLA policy",
        request=SlaPolicyInputSerializer(partial=True),
        responses={200: SlaPolicySerializer, **WRITE_ERRORS, 404: ERROR_404},
        description=POLICY_NOTE,
    )
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, kwargs["pk"], partial=True)

    @extend_schema(
        summary="Delete an SLA policy",
        responses={204: OpenApiResponse(description="Deleted."), **DETAIL_ERRORS},
        description="Tickets under it keep the time counted and their targets; what remains counts on a 24/7 "
        "clock. Prefer `is_active: false` to stop new tickets matching it.",
    )
    def destroy(self, request, *args, **kwargs):
        policy = get_object_or_404(SlaPolicy.objects.all(), pk=kwargs["pk"])
        configuration.sla_policy_delete(policy=policy, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["sla configuration"], parameters=[NAME])
class SlaPolicyByNameViewSet(ApiViewSet):
    """`/sla-policies/by-name/{name}/`: apply policies kept in version control."""

    serializer_class = SlaPolicySerializer
    lookup_field = "name"
    lookup_url_kwarg = "name"
    lookup_value_regex = ".+"  # names may hold a slash ("Urgent (24/7)"); the route ends at the last one

    def get_queryset(self):
        return selectors.sla_policy_list()

    @extend_schema(summary="Get an SLA policy by name", responses={200: SlaPolicySerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        policy = get_object_or_404(self.get_queryset(), name=kwargs["name"])
        return Response(SlaPolicySerializer(policy).data)

    @extend_schema(
        summary="Create or replace an SLA policy by name (idempotent)",
        request=SlaPolicyNamedInputSerializer,
        responses={
            200: OpenApiResponse(SlaPolicySerializer, description="Replaced (or already equal)."),
            201: OpenApiResponse(SlaPolicySerializer, description="Created."),
            **WRITE_ERRORS,
        },
        description=POLICY_NOTE + " The body is the whole policy (fields left out take their defaults); name "
        "the calendar by `calendar_name` to keep files independent of ids. Repeating the request changes "
        "nothing. Creating needs `add_slapolicy`.",
    )
    def update(self, request, *args, **kwargs):
        name = kwargs["name"]
        serializer = SlaPolicyNamedInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = _full(dict(serializer.validated_data), configuration.POLICY_DEFAULTS)
        if data.pop("name", name) != name:
            raise ValidationError({"name": ["Must match the name in the URL."]})
        if not SlaPolicy.objects.filter(name=name).exists() and not request.user.has_perm("tickets.add_slapolicy"):
            raise exceptions.PermissionDenied("Your role cannot create SLA policies.")
        policy, created = configuration.sla_policy_upsert_by_name(name=name, actor=request.user, **data)
        body = SlaPolicySerializer(selectors.sla_policy_get(pk=policy.pk)).data
        if created:
            return Response(
                body,
                status=status.HTTP_201_CREATED,
                headers=location_header(request, "sla-policy-detail", policy.pk),
            )
        return Response(body)
