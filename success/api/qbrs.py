"""REST API v1 for QBRs: `/api/v1/qbrs/` (list, detail, schedule a new one), `/api/v1/qbrs/{id}/schedule/`,
`.../reschedule/`, `.../cancel/`, `.../hold/` and `.../prep/`. Reads come from success.qbrs.selectors, writes go
through success.qbrs.services (which send the calendar invites)."""

import datetime as dt
from zoneinfo import ZoneInfo

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, LIST_ERRORS, WRITE_ERRORS
from crm.api.serializers import InputSerializer, StaffEmailField
from crm.api.views import ApiViewSet, location_header
from crm.filters import IdFilter, choice_filter
from crm.models import Contact, Customer
from success.qbrs import selectors, services
from success.qbrs.models import Qbr, QbrStatus

# --- Filters -------------------------------------------------------------------------------------------------


class QbrFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", help_text="The customer's id.")
    status = choice_filter(QbrStatus.choices, help_text="One or more statuses.")
    owner = IdFilter(field_name="owner_id", help_text="The owner CSM's user id.")
    # `from` and `to` are Python keywords: declared through the class namespace.
    locals()["from"] = filters.DateFilter(
        field_name="starts_at", lookup_expr="date__gte", help_text="Starting on or after this day (UTC, YYYY-MM-DD)."
    )
    locals()["to"] = filters.DateFilter(
        field_name="starts_at", lookup_expr="date__lte", help_text="Starting on or before this day (UTC, YYYY-MM-DD)."
    )

    class Meta:
        model = Qbr
        fields = []


# --- Serializers ---------------------------------------------------------------------------------------------


class QbrContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class QbrSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    owner = serializers.SerializerMethodField(help_text="The owner CSM's email; null: none.")
    local_start = serializers.SerializerMethodField(help_text="The start in the QBR's time zone (ISO 8601).")
    contacts = QbrContactSerializer(many=True, read_only=True)
    staff = serializers.SerializerMethodField(help_text="Staff attendees' emails.")

    class Meta:
        model = Qbr
        fields = [
            "id",
            "customer",
            "customer_name",
            "owner",
            "status",
            "starts_at",
            "timezone",
            "local_start",
            "duration_minutes",
            "contacts",
            "staff",
            "agenda",
            "notes",
            "outcomes",
            "origin",
            "ics_uid",
            "sequence",
            "cancel_reason",
            "prep_generated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.EMAIL)
    def get_owner(self, qbr) -> str | None:
        return qbr.owner.email if qbr.owner_id else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_local_start(self, qbr) -> str:
        return qbr.starts_at.astimezone(ZoneInfo(qbr.timezone)).isoformat()

    @extend_schema_field(serializers.ListField(child=serializers.EmailField()))
    def get_staff(self, qbr) -> list[str]:
        return sorted(user.email for user in qbr.staff.all())


class QbrScheduleInputSerializer(InputSerializer):
    starts_at = serializers.DateTimeField(
        help_text="With its UTC offset (e.g. 2027-03-05T10:00:00-05:00). In the future; must not overlap another "
        "QBR of the customer (400 on `starts_at`). Shown to attendees in the customer's time zone."
    )
    duration_minutes = serializers.IntegerField(required=False, default=60, help_text="15 to 480; default 60.")
    contacts = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), many=True, help_text="Ids of the customer's contacts to invite (at least one)."
    )
    staff = serializers.ListField(
        child=StaffEmailField(), required=False, default=list, help_text="Staff attendees' emails."
    )
    agenda = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class QbrCreateInputSerializer(QbrScheduleInputSerializer):
    read_only_names = ("id", "status", "ics_uid", "sequence", "timezone")

    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")
    owner = StaffEmailField(required=False, help_text="The owner CSM (email); default the customer's owner.")


class QbrRescheduleInputSerializer(InputSerializer):
    starts_at = serializers.DateTimeField(required=False, help_text="The new start, with its UTC offset.")
    duration_minutes = serializers.IntegerField(required=False)
    contacts = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), many=True, required=False, help_text="The new list of contact attendees (ids)."
    )
    staff = serializers.ListField(child=StaffEmailField(), required=False, help_text="The new staff attendees.")
    agenda = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class QbrCancelInputSerializer(InputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


class ActionItemSerializer(InputSerializer):
    title = serializers.CharField(max_length=200)
    owner = StaffEmailField(required=False, help_text="Default: the QBR's owner.")
    due_date = serializers.DateField(required=False)


class QbrHoldInputSerializer(InputSerializer):
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    outcomes = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    action_items = ActionItemSerializer(many=True, required=False, help_text="Each becomes a task.")


class QbrPrepSerializer(serializers.Serializer):
    qbr = serializers.IntegerField()
    generated_at = serializers.DateTimeField(allow_null=True)
    pack = serializers.DictField(
        help_text="customer (tier, stage, arr, renewal_date), health (null until health exists), tickets (count, "
        "open_count, sla_attainment, open), surveys (nps/ces/csat: answers, average, comments), usage (last 30 "
        "days against the 30 before), open_tasks, open_risks, last_qbr."
    )


# --- Views ---------------------------------------------------------------------------------------------------


@extend_schema(tags=["qbrs"])
class QbrViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Quarterly business reviews. Scheduling, moving and cancelling email every attendee a calendar invite."""

    permission_model = Qbr
    serializer_class = QbrSerializer
    filterset_class = QbrFilterSet
    ordering = ("starts_at",)
    ordering_fields = ("starts_at", "created_at")

    def get_queryset(self):
        return selectors.qbr_list()

    def _qbr(self, pk) -> Qbr:
        return get_object_or_404(Qbr.objects.select_related("customer", "owner"), pk=pk)

    def _render(self, pk: int, code=status.HTTP_200_OK, headers=None) -> Response:
        return Response(QbrSerializer(selectors.qbr_get(pk=pk)).data, status=code, headers=headers)

    @extend_schema(summary="List QBRs", responses={200: QbrSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a QBR", responses={200: QbrSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Schedule a new QBR (invites every attendee)",
        request=QbrCreateInputSerializer,
        responses={201: QbrSerializer, **WRITE_ERRORS},
        description="Refused with nothing changed: a start in the past or overlapping another QBR of the customer "
        "(`starts_at`), a contact of another customer (`contacts`), a churned customer (`customer`).",
    )
    def create(self, request, *args, **kwargs):
        serializer = QbrCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        qbr = services.qbr_schedule(actor=request.user, **serializer.validated_data)
        return self._render(qbr.pk, status.HTTP_201_CREATED, location_header(request, "qbr-detail", qbr.pk))

    def _apply(self, request, pk, input_serializer, service):
        """Validate the input, run the service on the QBR, answer the QBR as it now is."""
        qbr = self._qbr(pk)
        serializer = input_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service(qbr=qbr, actor=request.user, **serializer.validated_data)
        return self._render(qbr.pk)

    @extend_schema(
        summary="Schedule a proposed QBR (invites every attendee)",
        request=QbrScheduleInputSerializer,
        responses={200: QbrSerializer, **WRITE_ERRORS, 404: DETAIL_ERRORS[404]},
    )
    @action(detail=True, methods=["post"], url_path="schedule")
    def schedule(self, request, pk=None):
        return self._apply(request, pk, QbrScheduleInputSerializer, services.qbr_schedule)

    @extend_schema(
        summary="Move a QBR or change its attendees (sends an update)",
        request=QbrRescheduleInputSerializer,
        responses={200: QbrSerializer, **WRITE_ERRORS, 404: DETAIL_ERRORS[404]},
        description="A scheduled QBR's attendees get an update (same UID, next SEQUENCE); attendees taken off get "
        "a cancellation. Only proposed and scheduled QBRs can change (400 on `status`).",
    )
    @action(detail=True, methods=["post"], url_path="reschedule")
    def reschedule(self, request, pk=None):
        return self._apply(request, pk, QbrRescheduleInputSerializer, services.qbr_reschedule)

    @extend_schema(
        summary="Cancel a QBR (sends METHOD:CANCEL to its attendees)",
        request=QbrCancelInputSerializer,
        responses={200: QbrSerializer, **WRITE_ERRORS, 404: DETAIL_ERRORS[404]},
    )
    @action(detail=True, methods=["post"], url_path="cancel")
    def cancel(self, request, pk=None):
        return self._apply(request, pk, QbrCancelInputSerializer, services.qbr_cancel)

    @extend_schema(
        summary="Record a QBR as held (notes, outcomes, action items become tasks)",
        request=QbrHoldInputSerializer,
        responses={200: QbrSerializer, **WRITE_ERRORS, 404: DETAIL_ERRORS[404]},
    )
    @action(detail=True, methods=["post"], url_path="hold")
    def hold(self, request, pk=None):
        return self._apply(request, pk, QbrHoldInputSerializer, services.qbr_hold)

    @extend_schema(
        summary="The QBR's preparation pack",
        responses={200: QbrPrepSerializer, **DETAIL_ERRORS},
        description="Stored when the QBR is scheduled; POST to the same URL refreshes it. A QBR without a stored "
        "pack answers one computed now (not stored).",
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="prep", pagination_class=None, filterset_class=None)
    def prep(self, request, pk=None):
        qbr = self._qbr(pk)
        if qbr.prep_generated_at is None:
            now = dt.datetime.now(dt.UTC)
            return Response({"qbr": qbr.pk, "generated_at": None, "pack": selectors.qbr_prep(qbr=qbr, now=now)})
        return Response({"qbr": qbr.pk, "generated_at": qbr.prep_generated_at, "pack": qbr.prep})

    @extend_schema(
        summary="Refresh the QBR's preparation pack",
        request=None,
        responses={200: QbrPrepSerializer, **WRITE_ERRORS, 404: DETAIL_ERRORS[404]},
    )
    @prep.mapping.post
    def prep_refresh(self, request, pk=None):
        qbr = services.qbr_prep_refresh(qbr=self._qbr(pk))
        return Response(
            QbrPrepSerializer({"qbr": qbr.pk, "generated_at": qbr.prep_generated_at, "pack": qbr.prep}).data
        )


def register_routes(router) -> None:
    router.register("qbrs", QbrViewSet, basename="qbr")
