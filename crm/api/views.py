"""REST API v1 for customers, their timeline and notes, and contacts. Thin: reads come from the selectors,
writes go through crm.services; errors are mapped in crm.api.errors."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm import selectors, services
from crm.api.errors import DETAIL_ERRORS, ERROR_404, ERROR_409, LIST_ERRORS, WRITE_ERRORS
from crm.api.filtering import FilterBackend
from crm.api.serializers import (
    ContactInputSerializer,
    ContactSerializer,
    ContactUpdateInputSerializer,
    CustomerInputSerializer,
    CustomerSerializer,
    CustomerUpsertInputSerializer,
    NoteInputSerializer,
    NoteSerializer,
    TimelineEventSerializer,
)
from crm.filters import ContactFilterSet, CustomerFilterSet, TimelineEventFilterSet
from crm.models import Contact, Customer, Note, TimelineEvent

ID_REGEX = "[0-9]+"


def location_header(request, name: str, pk: int) -> dict[str, str]:
    return {"Location": request.build_absolute_uri(reverse(name, kwargs={"pk": pk}))}


class ApiViewSet(viewsets.GenericViewSet):
    filter_backends = [FilterBackend]
    lookup_value_regex = ID_REGEX

    @property
    def actor(self):
        return self.request.user


CUSTOMER_ID = OpenApiParameter("customer_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Customer id.")


def _customer_or_404(customer_id) -> Customer:
    return get_object_or_404(Customer.objects.only("pk"), pk=customer_id)


@extend_schema(tags=["customers"])
class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Customers (accounts). There is no DELETE: a customer who leaves moves to lifecycle stage `churned`."""

    permission_model = Customer

    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    ordering = ("name",)
    ordering_fields = ("name", "arr", "renewal_date", "created_at", "updated_at")

    def get_queryset(self):
        return selectors.customer_list()

    @extend_schema(summary="List customers", responses={200: CustomerSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a customer", responses={200: CustomerSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create a customer",
        request=CustomerInputSerializer,
        responses={201: CustomerSerializer, **WRITE_ERRORS},
        description="Setting `arr` or `owner` needs a role that may change commercials (not support_agent).",
    )
    def create(self, request, *args, **kwargs):
        serializer = CustomerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_create(actor=self.actor, **serializer.validated_data)
        data = CustomerSerializer(selectors.customer_get(pk=customer.pk)).data
        return Response(
            data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "customer-detail", customer.pk),
        )

    def _update(self, request, *, partial: bool):
        customer = self.get_object()
        serializer = CustomerInputSerializer(customer, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        services.customer_update(customer=customer, actor=self.actor, **serializer.validated_data)
        return Response(CustomerSerializer(selectors.customer_get(pk=customer.pk)).data)

    @extend_schema(
        summary="Replace a customer",
        request=CustomerInputSerializer,
        responses={200: CustomerSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="`name` is required; fields left out keep their value. Changing `arr`, `owner` or `tier` "
        "needs a role that may change commercials (a support agent gets 403).",
    )
    def update(self, request, *args, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(
        summary="Update some fields of a customer",
        request=CustomerInputSerializer(partial=True),
        responses={200: CustomerSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="Changing `arr`, `owner` or `tier` needs a role that may change commercials (a support "
        "agent gets 403 and nothing changes); `lifecycle_stage` and the other fields need `change_customer`.",
    )
    def partial_update(self, request, *args, **kwargs):
        return self._update(request, partial=True)


EXTERNAL_ID = OpenApiParameter(
    "external_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The id the integration knows it by."
)


@extend_schema(tags=["customers"], parameters=[EXTERNAL_ID])
class CustomerByExternalIdViewSet(ApiViewSet):
    """`/customers/by-external-id/{external_id}/`: the billing-sync entry point."""

    permission_model = Customer

    serializer_class = CustomerSerializer
    lookup_field = "external_id"
    lookup_url_kwarg = "external_id"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.customer_list()

    def _external_id(self) -> str:
        external_id = self.kwargs["external_id"]
        if "\x00" in external_id or len(external_id) > 100 or not external_id.strip():
            raise ValidationError({"external_id": ["Must be 1 to 100 characters, without control characters."]})
        return external_id.strip()

    @extend_schema(summary="Get a customer by external id", responses={200: CustomerSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        customer = get_object_or_404(self.get_queryset(), external_id=self._external_id())
        return Response(CustomerSerializer(customer).data)

    @extend_schema(
        summary="Create or update a customer by external id (idempotent)",
        request=CustomerUpsertInputSerializer,
        responses={
            200: OpenApiResponse(CustomerSerializer, description="Updated (or unchanged) existing customer."),
            201: OpenApiResponse(CustomerSerializer, description="Created."),
            **WRITE_ERRORS,
        },
        description="Creates the customer with this external id (201) or updates it (200). Repeating the "
        "same request is harmless: one customer, no new timeline events when nothing changes. Fields left "
        "out keep their value (or take their default when creating); `name` is required to create. Creating "
        "needs the `add_customer` permission; changing `arr`, `owner` or `tier` a role that may change "
        "commercials.",
        examples=[
            OpenApiExample(
                "billing sync",
                value={"name": "Acme", "arr": "120000.00", "renewal_date": "2027-01-31"},
                request_only=True,
            )
        ],
    )
    def update(self, request, *args, **kwargs):
        external_id = self._external_id()
        serializer = CustomerUpsertInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        body_external_id = data.pop("external_id", None)
        if body_external_id not in (None, "") and body_external_id.strip() != external_id:
            raise ValidationError({"external_id": ["Must match the external id in the URL."]})
        exists = Customer.objects.filter(external_id=external_id).exists()
        if not exists and not request.user.has_perm("crm.add_customer"):
            raise PermissionDenied("Your role cannot create customers.")
        customer, created = services.customer_upsert_by_external_id(external_id=external_id, actor=self.actor, **data)
        data = CustomerSerializer(selectors.customer_get(pk=customer.pk)).data
        if created:
            return Response(
                data,
                status=status.HTTP_201_CREATED,
                headers=location_header(request, "customer-detail", customer.pk),
            )
        return Response(data)


@extend_schema(tags=["customers"], parameters=[CUSTOMER_ID])
class CustomerTimelineViewSet(mixins.ListModelMixin, ApiViewSet):
    """`/customers/{customer_id}/timeline/`: everything that happened to the customer, latest first."""

    permission_model = TimelineEvent

    serializer_class = TimelineEventSerializer
    filterset_class = TimelineEventFilterSet
    ordering = ("-occurred_at",)
    ordering_fields = ()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TimelineEvent.objects.none()
        return selectors.timeline_list(customer_id=self.kwargs["customer_id"])

    @extend_schema(
        summary="A customer's timeline",
        responses={200: TimelineEventSerializer(many=True), **LIST_ERRORS, 404: ERROR_404},
        description="Latest first (by `occurred_at`, then id). Each event names its actor's email (null for "
        "the system) and its source object as `source_type` (app_label.model) and `source_id`.",
    )
    def list(self, request, *args, **kwargs):
        _customer_or_404(self.kwargs["customer_id"])
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["customers"], parameters=[CUSTOMER_ID])
class CustomerNoteViewSet(mixins.ListModelMixin, ApiViewSet):
    """`/customers/{customer_id}/notes/`: staff notes on the customer (each also appears on the timeline)."""

    permission_model = Note

    serializer_class = NoteSerializer
    ordering = ("-created_at",)
    ordering_fields = ()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Note.objects.none()
        return selectors.note_list(customer_id=self.kwargs["customer_id"])

    @extend_schema(
        summary="A customer's notes",
        responses={200: NoteSerializer(many=True), **LIST_ERRORS, 404: ERROR_404},
    )
    def list(self, request, *args, **kwargs):
        _customer_or_404(self.kwargs["customer_id"])
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Add a note",
        request=NoteInputSerializer,
        responses={201: NoteSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    def create(self, request, *args, **kwargs):
        customer = _customer_or_404(self.kwargs["customer_id"])
        serializer = NoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.note_create(customer=customer, actor=self.actor, **serializer.validated_data)
        return Response(NoteSerializer(selectors.note_get(pk=note.pk)).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["contacts"])
class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ApiViewSet,
):
    """People at customers. `unsubscribed_at`, `bounced_at` and `complained_at` belong to the contact ledger
    and are read-only here."""

    permission_model = Contact

    serializer_class = ContactSerializer
    filterset_class = ContactFilterSet
    ordering = ("email",)
    ordering_fields = ("email", "created_at", "updated_at")

    def get_queryset(self):
        return selectors.contact_list()

    @extend_schema(summary="List contacts", responses={200: ContactSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a contact", responses={200: ContactSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Create a contact",
        request=ContactInputSerializer,
        responses={201: ContactSerializer, **WRITE_ERRORS},
        description="The email is stored lower-cased and must be unique within the customer. Creating a "
        "primary contact makes the customer's previous primary contact not primary.",
    )
    def create(self, request, *args, **kwargs):
        serializer = ContactInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        customer = data.pop("customer")
        contact = services.contact_create(customer=customer, actor=self.actor, **data)
        return Response(
            ContactSerializer(contact).data,
            status=status.HTTP_201_CREATED,
            headers=location_header(request, "contact-detail", contact.pk),
        )

    @extend_schema(
        summary="Update some fields of a contact",
        request=ContactUpdateInputSerializer(partial=True),
        responses={200: ContactSerializer, **WRITE_ERRORS, 404: ERROR_404},
    )
    def partial_update(self, request, *args, **kwargs):
        contact = self.get_object()
        serializer = ContactUpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        contact = services.contact_update(contact=contact, actor=self.actor, **serializer.validated_data)
        return Response(ContactSerializer(contact).data)

    @extend_schema(
        summary="Delete a contact",
        responses={204: OpenApiResponse(description="Deleted."), **DETAIL_ERRORS, 409: ERROR_409},
    )
    def destroy(self, request, *args, **kwargs):
        contact = self.get_object()
        services.contact_delete(contact=contact, actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)
