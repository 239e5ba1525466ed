"""Tickets in REST API v1: the list and each ticket, their messages, status log, SLA clock explained, and
metrics. Reads come from tickets.selectors, writes go through tickets.services and tickets.attachments.
"""

from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS, validation_error_detail
from crm.api.pagination import CursorPagination
from crm.api.views import ApiViewSet, location_header
from tickets import selectors, services
from tickets.api.serializers import (
    MergeInputSerializer,
    MessageInputSerializer,
    MessageSerializer,
    MetricsQuerySerializer,
    MetricsSerializer,
    SlaExplainSerializer,
    StatusChangeInputSerializer,
    StatusChangeSerializer,
    TicketInputSerializer,
    TicketSerializer,
    TicketUpdateInputSerializer,
    explain_rows,
)
from tickets.attachments import ticket_attachments_add
from tickets.filters import TicketFilterSet
from tickets.metrics import ticket_metrics
from tickets.models import Channel, Ticket, TicketMessage, TicketStatusChange
from tickets.selectors import PRIORITY_RANK
from tickets.sla import sla_explain

TICKET_ID = OpenApiParameter("ticket_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Ticket id.")


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
            raise ValidationError({"cursor": ["Invalid cursor. Use the `next` or `previous` link of a page."]})
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
        "status changes. A `created_at` more than an hour back marks the ticket imported (`imported_at`): "
        "its dated history is measured (SLA, metrics) but notifies nobody (no flag to the CSM, no reply "
        "email, no CSAT survey, no SLA warning or escalation for targets already due).",
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
        data["imported"] = services.is_historical(data.get("created_at"))
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
                ticket = services.ticket_change_status(ticket=ticket, status=new_status, actor=request.user)
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
        description="Moves this ticket's messages into `into` (a ticket of the same customer), then closes "
        "this one (not solved: no CSAT, its open SLA targets cancelled), linked to it (`merged_into`). "
        "Customer replies to it (email or API) land on `into` from then on. Neither may be closed.",
    )
    @action(detail=True, methods=["post"], url_path="merge")
    def merge(self, request, pk=None):
        source = _ticket_or_404(pk)
        serializer = MergeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            target = services.ticket_merge(source=source, target=serializer.validated_data["into"], actor=request.user)
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
    @action(detail=False, methods=["get"], url_path="metrics", pagination_class=None, filterset_class=None)
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
            user_id = get_user_model().objects.filter(email__iexact=assignee).values_list("pk", flat=True).first()
            if user_id is None:
                raise ValidationError({"assignee": [f"No user has the email {assignee}."]})
            scope_args["assignee_id"] = user_id
        result = ticket_metrics(start=params["start"], end=params["end"], scope=selectors.ticket_scope(**scope_args))
        return Response(MetricsSerializer(result).data)


@extend_schema(tags=["tickets"], parameters=[TICKET_ID])
class TicketMessageViewSet(mixins.ListModelMixin, ApiViewSet):
    """`/tickets/{ticket_id}/messages/`: the conversation, oldest first."""

    serializer_class = MessageSerializer
    parser_classes = [JSONParser, MultiPartParser]  # multipart: attachments
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
                description="The ticket already had that status: nothing changed; the latest entry is returned.",
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
