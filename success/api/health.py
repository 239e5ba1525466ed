"""REST API v1 for health scores: `/api/v1/customers/{id}/health/` (the score, its explanation and history),
`/api/v1/health-models/` (read-only) and `/api/v1/customers/{id}/health/overrides/` (a CSM's manual overrides).
Reads come from success.health.selectors, writes go through success.health.services."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, ERROR_404, LIST_ERRORS, WRITE_ERRORS
from crm.api.serializers import InputSerializer
from crm.api.views import ApiViewSet
from crm.models import Customer
from success.health import selectors, services
from success.health.models import Band, CustomerHealth, HealthModel, HealthOverride

NOT_SCORED = "not scored yet: the customer has no health score (it is computed nightly and after changes)."
MAX_HISTORY_DAYS = 365

CUSTOMER_ID = OpenApiParameter("customer_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Customer id.")


class OneObjectSchema(AutoSchema):
    """GET .../health/ answers one object at its collection URL: not a list."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


def _customer_or_404(customer_id) -> Customer:
    return get_object_or_404(Customer.objects.only("pk"), pk=customer_id)


# --- A customer's health -------------------------------------------------------------------------------------


class HealthQuerySerializer(InputSerializer):
    history_days = serializers.IntegerField(
        required=False,
        default=90,
        min_value=1,
        max_value=MAX_HISTORY_DAYS,
        help_text=f"Days of history up to the current score (1 to {MAX_HISTORY_DAYS}, default 90).",
    )

    def to_internal_value(self, data):
        return super().to_internal_value({key: data.get(key) for key in data})


class ModelVersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    model = serializers.CharField(help_text="The health model's name.")
    number = serializers.IntegerField(help_text="Version number within the model (1, 2, ...).")


class OverrideAppliedSerializer(serializers.Serializer):
    score = serializers.FloatField()
    reason = serializers.CharField()
    expires_on = serializers.CharField(help_text="ISO date: the override applies up to and including this day.")
    by = serializers.CharField(allow_null=True, required=False, help_text="Who set it (email).")
    computed_score = serializers.FloatField(
        allow_null=True, required=False, help_text="For a component: its score before the override."
    )


class ComponentExplanationSerializer(serializers.Serializer):
    name = serializers.CharField()
    input = serializers.CharField(help_text="The measured input (see the health model's components).")
    score = serializers.FloatField(allow_null=True, help_text="0-100; null when the input has no data.")
    weight = serializers.FloatField(help_text="As configured.")
    effective_weight = serializers.FloatField(
        help_text="weight / sum of the weights of the components with data (0 when missing)."
    )
    contribution = serializers.FloatField(help_text="score x effective weight: the components add up to the score.")
    inputs = serializers.DictField(help_text='The values measured, e.g. {"open_tickets": 3}.')
    missing = serializers.BooleanField(help_text="No data: left out of the score, the other weights renormalised.")
    overridden = OverrideAppliedSerializer(allow_null=True, help_text="The component override applied, if any.")


class HistoryPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    score = serializers.FloatField()
    band = serializers.ChoiceField(Band.choices)


class CustomerHealthSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    score = serializers.FloatField(allow_null=True, help_text="0-100; null when the customer was never scored.")
    band = serializers.ChoiceField(Band.choices, allow_null=True)
    explanation = serializers.CharField(allow_null=True, help_text=f'null when scored; "{NOT_SCORED}" otherwise.')
    day = serializers.DateField(allow_null=True, help_text="The (UTC) day of the current score.")
    band_since = serializers.DateField(allow_null=True, help_text="The day the customer entered its band.")
    trend = serializers.FloatField(
        allow_null=True, help_text="The score now minus the score 30 days before; null without that score."
    )
    model_version = ModelVersionRefSerializer(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    computed_score = serializers.FloatField(allow_null=True, help_text="The score before a whole-score override.")
    override = OverrideAppliedSerializer(allow_null=True, help_text="The whole-score override applied, if any.")
    components = ComponentExplanationSerializer(many=True)
    history = HistoryPointSerializer(many=True, help_text="One point per scored day, oldest first.")


def health_payload(customer_id: int, health: dict | None) -> dict:
    if health is None:
        return {
            "customer": customer_id,
            "score": None,
            "band": None,
            "explanation": NOT_SCORED,
            "day": None,
            "band_since": None,
            "trend": None,
            "model_version": None,
            "computed_at": None,
            "computed_score": None,
            "override": None,
            "components": [],
            "history": [],
        }
    return {"customer": customer_id, "explanation": None, **health}


@extend_schema(tags=["health"], parameters=[CUSTOMER_ID])
class CustomerHealthViewSet(ApiViewSet):
    """`/customers/{customer_id}/health/`: the current health score, why, and its history."""

    permission_model = CustomerHealth
    pagination_class = None
    filter_backends = []
    schema = OneObjectSchema()

    @extend_schema(
        summary="A customer's health score, its explanation and history",
        parameters=[HealthQuerySerializer],
        responses={200: CustomerHealthSerializer, **LIST_ERRORS, 404: ERROR_404},
        description="The score is the weighted mean of the components with data: `effective_weight` is each "
        "weight over the sum of the weights present, `contribution` = score x effective weight, and the "
        "contributions add up to `computed_score` (before a whole-score `override`). A customer never scored "
        f'answers 200 with `score` null and `explanation` "{NOT_SCORED}". 404 for an unknown customer.',
    )
    def list(self, request, *args, **kwargs):
        customer = _customer_or_404(kwargs["customer_id"])
        query = HealthQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        health = selectors.customer_health(customer, history_days=query.validated_data["history_days"])
        return Response(CustomerHealthSerializer(health_payload(customer.pk, health)).data)


# --- Health models (read-only) -------------------------------------------------------------------------------


class HealthModelComponentSerializer(serializers.Serializer):
    name = serializers.CharField()
    input = serializers.CharField()
    weight = serializers.FloatField()
    method = serializers.ChoiceField(["linear", "thresholds"])
    worst = serializers.FloatField(allow_null=True, help_text="Linear: the value scoring 0.")
    best = serializers.FloatField(allow_null=True, help_text="Linear: the value scoring 100.")
    thresholds = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True)),
        help_text="Thresholds: [[up_to, score], ..., [null, score]]; the first pair whose up_to is at least the "
        "value gives the score.",
    )
    key_events = serializers.CharField(allow_blank=True, help_text="Key events input: event names, comma separated.")


class HealthModelVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.EmailField(allow_null=True, help_text="null: the system.")


class HealthModelCurrentVersionSerializer(HealthModelVersionSerializer):
    components = HealthModelComponentSerializer(many=True)


class HealthModelBandsSerializer(serializers.Serializer):
    red_below = serializers.IntegerField(help_text="A score below this is red.")
    green_from = serializers.IntegerField(help_text="A score at or above this is green; yellow between.")


class HealthModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    lifecycle_stage = serializers.CharField(
        allow_blank=True, help_text="Empty: the default model, for every stage without a model of its own."
    )
    bands = HealthModelBandsSerializer()
    active = serializers.BooleanField()
    current_version = HealthModelCurrentVersionSerializer(
        allow_null=True, help_text="The latest version: the one scoring customers when the model is active."
    )
    versions = HealthModelVersionSerializer(many=True, help_text="Newest first.")


def _version_row(version) -> dict:
    return {
        "id": version.pk,
        "number": version.number,
        "created_at": version.created_at,
        "created_by": version.created_by.email if version.created_by else None,
    }


def health_model_payload(model: HealthModel) -> dict:
    versions = list(model.versions.all())
    current = versions[0] if versions else None
    return {
        "id": model.pk,
        "name": model.name,
        "description": model.description,
        "lifecycle_stage": model.lifecycle_stage,
        "bands": {"red_below": model.red_below, "green_from": model.green_from},
        "active": model.is_active,
        "current_version": (
            {**_version_row(current), "components": current.definition.get("components", [])} if current else None
        ),
        "versions": [_version_row(v) for v in versions],
    }


class HealthModelOutputSerializer(HealthModelSerializer):
    def to_representation(self, instance):
        if isinstance(instance, HealthModel):
            instance = health_model_payload(instance)
        return super().to_representation(instance)


@extend_schema(tags=["health"])
class HealthModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Health models (edited in the admin). Read-only here."""

    permission_model = HealthModel
    serializer_class = HealthModelOutputSerializer
    ordering = ("name",)
    ordering_fields = ("name",)

    def get_queryset(self):
        return selectors.health_model_list()

    @extend_schema(summary="List health models", responses={200: HealthModelSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get a health model", responses={200: HealthModelSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)


# --- Overrides -----------------------------------------------------------------------------------------------


class HealthOverrideInputSerializer(InputSerializer):
    read_only_names = ("id", "customer", "created_by", "created_at", "ended_at", "ended_by", "active")

    score = serializers.IntegerField(min_value=0, max_value=100, help_text="The score to use, 0-100.")
    reason = serializers.CharField(max_length=500, help_text="Why: shown beside the score.")
    expires_on = serializers.DateField(help_text="Applies up to and including this day; today or later.")
    component = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: the whole score; else the name of a component of the customer's model.",
    )


class HealthOverrideSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, read_only=True, default=None)
    ended_by = serializers.EmailField(source="ended_by.email", allow_null=True, read_only=True, default=None)
    active = serializers.SerializerMethodField(help_text="Not ended (an expired override stops applying too).")

    class Meta:
        model = HealthOverride
        fields = [
            "id",
            "customer",
            "component",
            "score",
            "reason",
            "expires_on",
            "active",
            "created_by",
            "created_at",
            "ended_at",
            "ended_by",
        ]
        read_only_fields = fields

    def get_active(self, obj) -> bool:
        return obj.ended_at is None


@extend_schema(tags=["health"], parameters=[CUSTOMER_ID])
class HealthOverrideViewSet(mixins.ListModelMixin, ApiViewSet):
    """`/customers/{customer_id}/health/overrides/`: manual overrides of the whole score or of one component,
    with a reason and an expiry. Creating or ending one asks for a recompute of the customer."""

    permission_model = HealthOverride
    serializer_class = HealthOverrideSerializer
    ordering = ("-created_at",)
    ordering_fields = ()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return HealthOverride.objects.none()
        return selectors.health_override_list(customer_id=self.kwargs["customer_id"])

    @extend_schema(
        summary="A customer's health overrides",
        responses={200: HealthOverrideSerializer(many=True), **LIST_ERRORS, 404: ERROR_404},
    )
    def list(self, request, *args, **kwargs):
        _customer_or_404(kwargs["customer_id"])
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Override a customer's health score (or one component)",
        request=HealthOverrideInputSerializer,
        responses={201: HealthOverrideSerializer, **WRITE_ERRORS, 404: ERROR_404},
        description="Replaces any open override of the same target. Refused with nothing changed (400 naming "
        "the field): no `reason`, `expires_on` in the past, `score` outside 0-100, a `component` the customer's "
        "model does not have.",
    )
    def create(self, request, *args, **kwargs):
        customer = get_object_or_404(Customer.objects.all(), pk=kwargs["customer_id"])
        serializer = HealthOverrideInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        override = services.health_override_create(customer=customer, actor=request.user, **serializer.validated_data)
        data = HealthOverrideSerializer(selectors.health_override_list(customer_id=customer.pk).get(pk=override.pk))
        return Response(data.data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="End a health override",
        request=None,
        responses={
            200: OpenApiResponse(HealthOverrideSerializer, description="Ended (or already ended: unchanged)."),
            **WRITE_ERRORS,
            404: ERROR_404,
        },
    )
    @action(detail=True, methods=["post"], url_path="end")
    def end(self, request, *args, **kwargs):
        override = get_object_or_404(HealthOverride.objects.all(), pk=kwargs["pk"], customer_id=kwargs["customer_id"])
        services.health_override_end(override=override, actor=request.user)
        data = HealthOverrideSerializer(
            selectors.health_override_list(customer_id=override.customer_id).get(pk=override.pk)
        )
        return Response(data.data)


def register_routes(router) -> None:
    router.register(
        r"customers/(?P<customer_id>[0-9]+)/health/overrides", HealthOverrideViewSet, basename="health-override"
    )
    router.register(r"customers/(?P<customer_id>[0-9]+)/health", CustomerHealthViewSet, basename="customer-health")
    router.register("health-models", HealthModelViewSet, basename="health-model")
