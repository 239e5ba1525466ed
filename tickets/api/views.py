"""REST API v1 of the ticket desk: tickets, their messages, status log, SLA clock and metrics; business
calendars and SLA policies; inbound email. Thin: reads come from tickets.selectors, writes go through the
services (tickets.services, tickets.configuration, tickets.attachments, tickets.inbound_email); errors are
mapped by crm.api.errors (a django ValidationError -> 400 per field, and nothing is changed).

Configuration in version control: `PUT /api/v1/business-calendars/by-name/{name}/` and
`PUT /api/v1/sla-policies/by-name/{name}/` are idempotent (create, or make the object match the body;
repeating the request changes nothing), so a deploy script can apply files of calendars and policies.
`manage.py loaddata` of a fixture of tickets.BusinessCalendar / OpeningHours / Holiday / SlaPolicy rows works
too, but skips the validation and the recount of running clocks that the API does.
"""

from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from crm.api.errors import (
    DETAIL_ERRORS,
    ERROR_401,
    ERROR_403,
    ERROR_404,
    LIST_ERRORS,
    WRITE_ERRORS,
    Conflict,
    ErrorDetailSerializer,
    validation_error_detail,
)
from crm.api.pagination import CursorPagination
from crm.api.views import ApiViewSet, location_header
from tickets import configuration, selectors, services
from tickets.api.serializers import (
    BusinessCalendarInputSerializer,
    BusinessCalendarNamedInputSerializer,
    BusinessCalendarSerializer,
    InboundEmailFailedSerializer,
    InboundEmailResultSerializer,
    MergeInputSerializer,
    MessageInputSerializer,
    MessageSerializer,
    MetricsQuerySerializer,
    MetricsSerializer,
    SlaExplainSerializer,
    SlaPolicyInputSerializer,
    SlaPolicyNamedInputSerializer,
    SlaPolicySerializer,
    StatusChangeInputSerializer,
    StatusChangeSerializer,
    TicketInputSerializer,
    TicketSerializer,
    TicketUpdateInputSerializer,
    explain_rows,
)
from tickets.attachments import ticket_attachments_add
from tickets.filters import TicketFilterSet
from tickets.inbound_email import NotAnEmail, inbound_email_receive, parse
from tickets.metrics import ticket_metrics
from tickets.models import (
    BusinessCalendar,
    Channel,
    InboundEmail,
    SlaPolicy,
    Ticket,
    TicketMessage,
    TicketStatusChange,
)
from tickets.selectors import PRIORITY_RANK
from tickets.sla import sla_explain

TICKET_ID = OpenApiParameter(
    "ticket_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Ticket id."
)
NAME = OpenApiParameter(
    "name",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The object's unique name (URL-encoded).",
)


def _ticket_or_404(ticket_id) -> Ticket:
    return get_object_or_404(Ticket.objects.all(), pk=ticket_id)


# --- Pagination: `priority` in its real order --------------------------------------------------------


class TicketCursorPagination(CursorPagination):
    """Keyset pagination where `ordering=priority` means low < normal < high < urgent (the list's queryset
    annotates `priority_rank`), not the alphabetical order of the stored values."""

    @staticmethod
    def _order_expression(name, desc, nullable):
        if name == "priority":
            return CursorPagination._order_expression("priority_rank", desc, False)
        return CursorPagination._order_expression(name, desc, nullable)

    @staticmethod
    def _rank(value):
        if value not in PRIORITY_RANK:
            raise ValidationError(
                {"cursor": ["Invalid cursor. Use the `next` or `previous` link of a page."]}
            )
        return PRIORITY_RANK[value]

    @classmethod
    def _after(cls, name, desc, value, nullable):
        if name == "priority":
            return CursorPagination._after("priority_rank", desc, cls._rank(value), False)
        return CursorPagination._after(name, desc, value, nullable)

    def _keyset_filter(self, model, position, reverse):
        first_name = self.keys[0][0]
        if first_name != "priority":
            return super()._keyset_filter(model, position, reverse)
        # The base adds a redundant bound on the first key; for priority it must be on the rank.
        branches, prefix = [], None
        for (name, desc), value in zip(self.keys, position, strict=True):
            nullable = model._meta.get_field(name).null
            after = self._after(name, desc != reverse, value, nullable)
            if after is not None:
                branches.append(after if prefix is None else prefix & after)
            equal = self._equal(name, value)
            prefix = equal if prefix is None else prefix & equal
        if not branches:
            return None
        condition = branches[0]
        for branch in branches[1:]:
            condition |= branch
        return condition


# --- Tickets ------------------------------------------------------------------------------------------


@extend_schema(tags=["tickets"])
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Support tickets. Written only through the ticket services: every change is in the status log, on the
    customer's timeline and counted by the SLA clock."""

    serializer_class = TicketSerializer
    filterset_class = TicketFilterSet
    pagination_class = TicketCursorPagination
    ordering = ("-created_at",)
    ordering_fields = ("next_sla_due_at", "created_at", "updated_at", "priority")

    def get_queryset(self):
        # The list attaches its page's SLA targets itself, as light rows (paginate_queryset).
        return selectors.ticket_list(with_targets=self.action != "list")

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return None if page is None else selectors.attach_current_targets(page)

    def _render(self, ticket_id: int, **kwargs) -> Response:
        return Response(TicketSerializer(selectors.ticket_get(pk=ticket_id)).data, **kwargs)

    @extend_schema(
        summary="List tickets",
        responses={200: TicketSerializer(many=True), **LIST_ERRORS},
        description="Default order: newest first. `ordering=next_sla_due_at` is the support queue (tickets "
        "without a running target last); `priority` orders low < normal < high < urgent. Each row carries "
        "its SLA targets' state (loaded for the whole page in one query).",
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a ticket", responses={200: TicketSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Open a ticket",
        request=TicketInputSerializer,
        responses={201: TicketSerializer, **WRITE_ERRORS},
        description="Opens the ticket with the requester's first message, starts its SLA clock (the first "
        "matching policy) and records it on the customer's timeline. An unknown customer or contact, or a "
        "requester who is not a contact of the customer, is refused (400 on that field). Historical "
        "import: give `created_at` (with a time zone, not in the future); then add dated messages and "
        "status changes.",
        examples=[
            OpenApiExample(
                "new ticket",
                value={
                    "customer": 12,
                    "requester": 34,
                    "subject": "Export fails",
                    "body": "Clicking Export gives an error 500.",
                    "priority": "high",
                    "channel": "web",
                },
                request_only=True,
            )
        ],
    )
    def create(self, request, *args, **kwargs):
        serializer = TicketInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.setdefault("channel", Channel.API)
        ticket = services.ticket_create(actor=request.user, **data)
        return self._render(
            ticket.pk,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "ticket-detail", ticket.pk),
        )

    @extend_schema(
        summary="Change a ticket's status, priority, assignee…",
        request=TicketUpdateInputSerializer(partial=True),
        responses={200: TicketSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="`status` moves the ticket along the workflow (new -> open -> pending / on_hold -> "
        "solved -> closed; a forbidden move -> 400 on `status`). The other fields update the ticket; a "
        "change that matches another SLA policy moves the remaining targets to it. Everything in one "
        "request applies together or not at all. A closed ticket cannot be changed.",
    )
    def partial_update(self, request, *args, **kwargs):
        ticket = get_object_or_404(Ticket.objects.all(), pk=kwargs["pk"])
        serializer = TicketUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        new_status = data.pop("status", None)
        with transaction.atomic():
            if data:
                ticket = services.ticket_update(ticket=ticket, actor=request.user, **data)
            if new_status is not None:
                ticket = services.ticket_change_status(
                    ticket=ticket, status=new_status, actor=request.user
                )
        return self._render(ticket.pk)

    @extend_schema(
        summary="Explain a ticket's SLA clock",
        responses={200: SlaExplainSerializer, **DETAIL_ERRORS},
        description="Per target (first response, next reply cycles, resolution): the due time, the business "
        "time counted, remaining or overdue, met or breached, and every interval counted or paused with its "
        "reason (business hours, outside business hours, holiday, pending on the customer, on hold, solved), "
        "up to now.",
    )
    @action(detail=True, methods=["get"], url_path="sla")
    def sla(self, request, pk=None):
        ticket = get_object_or_404(Ticket.objects.select_related("sla_policy__calendar"), pk=pk)
        now = timezone.now()
        policy = ticket.sla_policy
        calendar = policy.calendar if policy is not None else None
        data = {
            "ticket": ticket.pk,
            "status": ticket.status,
            "now": now,
            "policy": None if policy is None else {"id": policy.pk, "name": policy.name},
            "calendar": None
            if calendar is None
            else {
                "id": calendar.pk,
                "name": calendar.name,
                "timezone": calendar.timezone,
                "always_open": calendar.always_open,
            },
            "targets": explain_rows(sla_explain(ticket, now=now)),
        }
        return Response(SlaExplainSerializer(data).data)

    @extend_schema(
        summary="Merge this ticket into another",
        request=MergeInputSerializer,
        responses={
            200: OpenApiResponse(TicketSerializer, description="The ticket merged into."),
            **WRITE_ERRORS,
            404: ERROR_404,
        },
        description="Moves this ticket's messages into `into` (a ticket of the same customer), then solves "
        "and closes this one, linked to it (`merged_into`). Neither may be closed.",
    )
    @action(detail=True, methods=["post"], url_path="merge")
    def merge(self, request, pk=None):
        source = _ticket_or_404(pk)
        serializer = MergeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            target = services.ticket_merge(
                source=source, target=serializer.validated_data["into"], actor=request.user
            )
        except DjangoValidationError as exc:
            detail = validation_error_detail(exc)
            if "target" in detail:
                detail["into"] = detail.pop("target")
            raise ValidationError(detail) from None
        return self._render(target.pk)

    @extend_schema(
        summary="Support metrics",
        parameters=[MetricsQuerySerializer],
        responses={200: MetricsSerializer, **LIST_ERRORS},
        filters=False,
        description="Over the period [start, end) (default: the last 30 days) and the tickets that match the "
        "filters: volume; first response and resolution time (median and 90th percentile, business "
        "seconds of the SLA calendar, paused time excluded); first contact resolution; SLA attainment per "
        "target; reopen rate; the backlog by age (now). Definitions as in the product's metric "
        "definitions. Bad dates or filters -> 400 per parameter.",
    )
    @action(
        detail=False, methods=["get"], url_path="metrics", pagination_class=None, filterset_class=None
    )
    def metrics(self, request):
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        assignee = params.pop("assignee", None)
        scope_args = {
            "customer_id": params.get("customer"),
            "tier": params.get("tier"),
            "team_id": params.get("team"),
            "channel": params.get("channel"),
            "category": params.get("category"),
        }
        if assignee == "none":
            scope_args["unassigned"] = True
        elif assignee == "me":
            scope_args["assignee_id"] = request.user.pk
        elif assignee:
            user_id = (
                get_user_model()
                .objects.filter(email__iexact=assignee)
                .values_list("pk", flat=True)
                .first()
            )
            if user_id is None:
                raise ValidationError({"assignee": [f"No user has the email {assignee}."]})
            scope_args["assignee_id"] = user_id
        result = ticket_metrics(
            start=params["start"], end=params["end"], scope=selectors.ticket_scope(**scope_args)
        )
        return Response(MetricsSerializer(result).data)


@extend_schema(tags=["tickets"], parameters=[TICKET_ID])
class TicketMessageViewSet(mixins.ListModelMixin, ApiViewSet):
    """`/tickets/{ticket_id}/messages/`: the conversation, oldest first."""

    serializer_class = MessageSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    ordering = ("created_at",)
    ordering_fields = ()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TicketMessage.objects.none()
        return selectors.message_list(ticket_id=self.kwargs["ticket_id"])

    @extend_schema(
        summary="A ticket's messages",
        responses={200: MessageSerializer(many=True), **LIST_ERRORS, 404: ERROR_404},
        description="Public replies, internal notes (`public: false`) and the customer's messages "
        "(`from_contact`), oldest first, with their attachments' download links (staff only).",
    )
    def list(self, request, *args, **kwargs):
        _ticket_or_404(self.kwargs["ticket_id"])
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Reply, add an internal note, or record a customer message",
        request={
            "application/json": MessageInputSerializer,
            "multipart/form-data": MessageInputSerializer,
        },
        responses={201: MessageSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="`public: true` (default): a reply, emailed to the requester (with threading headers and "
        "the ticket reference); it stops the first-response and next-reply clocks. `public: false`: an "
        "internal note, never sent. `from_contact`: a message from the customer (reopens a pending or solved "
        "ticket; on a closed ticket it opens a follow-up ticket, whose id is the message's `ticket`). "
        "Attachments: send multipart/form-data with one or more `attachments` files; a file over the size "
        "limit refuses the whole message (400 naming the file, nothing saved). A reply to a closed ticket or "
        "an empty body -> 400. Historical import: `created_at` (and `author`) record a dated message, never "
        "emailed; events must be imported in order.",
    )
    def create(self, request, *args, **kwargs):
        ticket = _ticket_or_404(self.kwargs["ticket_id"])
        context = {"ticket": ticket}
        if isinstance(request.data, Mapping) and "created_at" in request.data:
            context["last_event_at"] = selectors.ticket_last_event_at(ticket=ticket)
        serializer = MessageInputSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        at = data.get("created_at")
        files = data.get("attachments") or []
        with transaction.atomic():
            if data.get("from_contact") is not None:
                message = services.ticket_customer_message(
                    ticket=ticket,
                    contact=data["from_contact"],
                    body=data["body"],
                    channel=data.get("channel", Channel.EMAIL),
                    at=at,
                )
            else:
                message = services.ticket_reply(
                    ticket=ticket,
                    body=data["body"],
                    public=data.get("public", True),
                    actor=data.get("author") or request.user,
                    channel=data.get("channel", Channel.WEB),
                    at=at,
                    send_email=at is None,
                )
            if files:
                ticket_attachments_add(message=message, files=files, actor=request.user)
        return Response(
            MessageSerializer(selectors.message_get(pk=message.pk), context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


@extend_schema(tags=["tickets"], parameters=[TICKET_ID])
class TicketStatusChangeViewSet(mixins.ListModelMixin, ApiViewSet):
    """`/tickets/{ticket_id}/status-changes/`: the status log, oldest first (the SLA clock is derived from
    it)."""

    serializer_class = StatusChangeSerializer
    ordering = ("at",)
    ordering_fields = ()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TicketStatusChange.objects.none()
        return selectors.status_change_list(ticket_id=self.kwargs["ticket_id"])

    @extend_schema(
        summary="A ticket's status log",
        responses={200: StatusChangeSerializer(many=True), **LIST_ERRORS, 404: ERROR_404},
    )
    def list(self, request, *args, **kwargs):
        _ticket_or_404(self.kwargs["ticket_id"])
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Change the status (optionally dated, for imports)",
        request=StatusChangeInputSerializer,
        responses={
            201: OpenApiResponse(StatusChangeSerializer, description="The new entry of the status log."),
            200: OpenApiResponse(
                StatusChangeSerializer,
                description="The ticket already had that status: nothing changed; the "
                "latest entry is returned.",
            ),
            **WRITE_ERRORS,
            404: ERROR_404,
        },
        description="Same workflow as PATCH `status` (a forbidden move -> 400 on `status`, nothing changed). "
        "`at` dates the change for a historical import (not before the ticket's latest event); `reason` is "
        "kept in the log.",
    )
    def create(self, request, *args, **kwargs):
        ticket = _ticket_or_404(self.kwargs["ticket_id"])
        context = {}
        if isinstance(request.data, Mapping) and "at" in request.data:
            context["last_event_at"] = selectors.ticket_last_event_at(ticket=ticket)
        serializer = StatusChangeInputSerializer(data=request.data, context=context)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        last_id = ticket.status_changes.aggregate(last=Max("pk"))["last"] or 0
        services.ticket_change_status(
            ticket=ticket,
            status=data["status"],
            actor=request.user,
            at=data.get("at"),
            reason=data.get("reason", ""),
        )
        entries = selectors.status_change_list(ticket_id=ticket.pk).order_by("-at", "-pk")
        created = entries.filter(pk__gt=last_id).first()
        entry = created or entries.first()
        return Response(
            StatusChangeSerializer(entry).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
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
class BusinessCalendarViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ApiViewSet
):
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

    @extend_schema(
        summary="Get a business calendar", responses={200: BusinessCalendarSerializer, **DETAIL_ERRORS}
    )
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
        calendar = configuration.business_calendar_create(
            actor=request.user, **serializer.validated_data
        )
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
        description=CALENDAR_NOTE
        + " Fields left out take their defaults (UTC, not 24/7, no hours, no holidays).",
    )
    def update(self, request, *args, **kwargs):
        return self._update(request, kwargs["pk"], partial=False)

    @extend_schema(
        summary="Update some fields of a business calendar",
        request=BusinessCalendarInputSerializer(partial=True),
        responses={200: BusinessCalendarSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description=CALENDAR_NOTE
        + " `opening_hours` or `holidays`, when given, replace the whole list.",
    )
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, kwargs["pk"], partial=True)

    @extend_schema(
        summary="Delete a business calendar",
        responses={
            204: OpenApiResponse(description="Deleted."),
            **DETAIL_ERRORS,
            409: OpenApiResponse(
                ErrorDetailSerializer, description="SLA policies count in this calendar."
            ),
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
    lookup_value_regex = "[^/]+"

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
        description=CALENDAR_NOTE
        + " The body is the whole calendar: fields left out take their defaults. "
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
        calendar, created = configuration.business_calendar_upsert_by_name(
            name=name, actor=request.user, **data
        )
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

    @extend_schema(
        summary="List SLA policies", responses={200: SlaPolicySerializer(many=True), **LIST_ERRORS}
    )
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
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.sla_policy_list()

    @extend_schema(
        summary="Get an SLA policy by name", responses={200: SlaPolicySerializer, **DETAIL_ERRORS}
    )
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
        description=POLICY_NOTE
        + " The body is the whole policy (fields left out take their defaults); name "
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
        if not SlaPolicy.objects.filter(name=name).exists() and not request.user.has_perm(
            "tickets.add_slapolicy"
        ):
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


# --- Inbound email ------------------------------------------------------------------------------------


def inbound_max_bytes() -> int:
    return getattr(settings, "TICKETS_INBOUND_EMAIL_MAX_BYTES", 30 * 1024 * 1024)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The message is too large."
    default_code = "too_large"


class RawEmailParser(BaseParser):
    """`message/rfc822`: the request body as bytes, untouched (at most TICKETS_INBOUND_EMAIL_MAX_BYTES; the
    body is streamed, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply)."""

    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = inbound_max_bytes()
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {}) if request is not None else {}
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except (TypeError, ValueError):
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(f"The message is {declared} bytes; the limit is {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The message is over the limit of {limit} bytes.")
        return raw


class OctetStreamParser(RawEmailParser):
    media_type = "application/octet-stream"


@extend_schema(tags=["inbound email"])
class InboundEmailViewSet(ApiViewSet):
    """`/inbound/email/`: a raw RFC 822 message, stored before anything else, then turned into a ticket, a
    reply on its ticket, or the unmatched queue."""

    parser_classes = [RawEmailParser, OctetStreamParser]
    serializer_class = InboundEmailResultSerializer

    def get_queryset(self):
        # Permissions: posting an email needs `tickets.add_ticket` (admin, csm, support_agent).
        return Ticket.objects.none()

    @extend_schema(
        summary="Receive a raw email",
        request={"message/rfc822": OpenApiTypes.BINARY, "application/octet-stream": OpenApiTypes.BINARY},
        responses={
            202: OpenApiResponse(
                InboundEmailResultSerializer,
                description="Stored and processed: a new ticket (`created: true`), a reply threaded onto its "
                "ticket, `ignored` (auto-reply, bounce, loop or duplicate Message-ID; `ticket` null) or "
                "`unmatched` (no customer matches the sender; waits for triage).",
            ),
            400: OpenApiResponse(
                InboundEmailFailedSerializer,
                description="Not an RFC 822 message. The raw bytes are still kept, flagged failed, and "
                "can be processed again.",
                examples=[
                    OpenApiExample(
                        "not an email",
                        value={
                            "id": 41,
                            "status": "failed",
                            "detail": "This is not an RFC 822 message: it has no From or Message-ID header.",
                        },
                        response_only=True,
                    )
                ],
            ),
            401: ERROR_401,
            403: ERROR_403,
            413: OpenApiResponse(
                ErrorDetailSerializer, description="Over TICKETS_INBOUND_EMAIL_MAX_BYTES."
            ),
            415: OpenApiResponse(
                ErrorDetailSerializer,
                description="Send Content-Type message/rfc822 or application/octet-stream.",
            ),
        },
        description="The body is the whole message, headers included, as received. Threading: In-Reply-To / "
        "References to our replies, or the ticket reference [#id] in the subject (for the customer's own "
        "contacts). Needs a role that may add tickets (admin, csm, support_agent).",
    )
    def create(self, request, *args, **kwargs):
        data = request.data
        raw = bytes(data) if isinstance(data, bytes | bytearray) else b""
        inbound = inbound_email_receive(raw=raw, source="api")
        if inbound.status == InboundEmail.Status.FAILED:
            try:
                parse(raw)
                detail = inbound.error or "The message could not be processed; it is kept for a retry."
                code = status.HTTP_202_ACCEPTED
            except NotAnEmail as exc:
                detail = " ".join(exc.messages)
                code = status.HTTP_400_BAD_REQUEST
            if code == status.HTTP_400_BAD_REQUEST:
                return Response({"id": inbound.pk, "status": "failed", "detail": detail}, status=code)
            return Response(
                {
                    "id": inbound.pk,
                    "status": "failed",
                    "reason": detail,
                    "ticket": None,
                    "created": False,
                },
                status=code,
            )
        return Response(
            {
                "id": inbound.pk,
                "status": inbound.status,
                "reason": inbound.reason,
                "ticket": inbound.ticket_id,
                "created": inbound.created_ticket,
            },
            status=status.HTTP_202_ACCEPTED,
        )
