"""REST API v1: `GET /api/v1/health-models/{id}/validation/`, the backtest of a health model version
(success.health.validation): would it have seen the churn coming?"""

from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import ERROR_400, ERROR_401, ERROR_403, ERROR_404
from crm.api.serializers import InputSerializer
from crm.api.views import ApiViewSet
from success.api.revenue import OneObjectSchema
from success.health import validation
from success.health.models import HealthModel

RATE = {"max_digits": 6, "decimal_places": 4, "allow_null": True}


class ValidationQuerySerializer(InputSerializer):
    start = serializers.DateField(
        required=False, help_text="First day of the period (YYYY-MM-DD). Default: the start of the last 12 full months."
    )
    end = serializers.DateField(
        required=False, help_text="Last day, included; not before `start`. Default: the end of last month."
    )
    version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="The model's version number. Default: the latest."
    )

    def to_internal_value(self, data):
        return super().to_internal_value({key: data.get(key) for key in data})


class BandFiguresSerializer(serializers.Serializer):
    customers = serializers.IntegerField(help_text="Customer-months in the band at a month start.")
    churned = serializers.IntegerField(help_text="Of those: churned in the next 90 days.")
    contracted = serializers.IntegerField(help_text="Of those: contracted (and did not churn) in the next 90 days.")
    churn_or_contraction = serializers.IntegerField()
    churn_rate = serializers.DecimalField(**RATE, help_text="churned / customers; null without customers.")
    churn_or_contraction_rate = serializers.DecimalField(**RATE, help_text="(churned + contracted) / customers.")


class BandsSerializer(serializers.Serializer):
    red = BandFiguresSerializer()
    yellow = BandFiguresSerializer()
    green = BandFiguresSerializer()


class MonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month start the model scored the customers at.")
    outcome_complete = serializers.BooleanField(
        help_text="False while the 90 days after the month start have not all passed: churns may still come."
    )
    active_customers = serializers.IntegerField(help_text="Customers with ARR > 0 at the month start.")
    sample_every = serializers.IntegerField(
        help_text="1: every active customer was scored; n: every n-th by id (over 4,000 active customers)."
    )
    scored_customers = serializers.IntegerField(help_text="Customers scored into a band (the sample's).")
    unscored = serializers.IntegerField(help_text="Active customers with nothing measurable for the model.")
    bands = BandsSerializer()


class MissSerializer(serializers.Serializer):
    customer = serializers.IntegerField(help_text="The customer's id.")
    name = serializers.CharField()
    month = serializers.DateField(help_text="The last month start at which the model called the customer green.")
    churned_on = serializers.DateField()


class MissesSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Customers who churned within 90 days of being green.")
    customers = MissSerializer(many=True, help_text="The first 50, by month.")


class ModelRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="The model's name in this version.")


class ValidationReportSerializer(serializers.Serializer):
    model = ModelRefSerializer()
    version = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    window_days = serializers.IntegerField(help_text="The outcome window after each month start (90).")
    customer_months = serializers.IntegerField(help_text="Customers looked at, summed over the month starts.")
    sampled = serializers.BooleanField(
        help_text="True when a month had more than 4,000 active customers: the figures come from a sample."
    )
    unscored = serializers.IntegerField(help_text="Customer-months with nothing measurable: in no band.")
    bands = BandsSerializer(help_text="Totals over the month starts.")
    lift = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        allow_null=True,
        help_text="Red's churn rate / green's: how many times likelier red customers were to churn. Null when no "
        "green customer churned or a band is empty.",
    )
    misses = MissesSerializer()
    months = MonthSerializer(many=True, help_text="One row per month start, for a chart.")


MODEL_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The health model's id.")


@extend_schema(tags=["health"])
class HealthModelValidationViewSet(ApiViewSet):
    """Backtest a health model: its bands at past month starts against churn in the 90 days after."""

    permission_model = HealthModel
    pagination_class = None
    filter_backends = []
    schema = OneObjectSchema()

    @extend_schema(
        summary="Validate a health model against past churn",
        parameters=[MODEL_ID, ValidationQuerySerializer],
        responses={200: ValidationReportSerializer, 400: ERROR_400, 401: ERROR_401, 403: ERROR_403, 404: ERROR_404},
        description="At each 1st of a month in [start, end] (at most 36), the version scores the customers with "
        "ARR > 0 from the data as it was then (no overrides); the report gives per band how many of them churned "
        "or contracted in the next 90 days, the lift (red's churn rate / green's) and the green customers who "
        "churned. 400 naming the field: a bad date, `end` before `start`, a period without a month start or "
        "with more than 36, an unknown `version`. 404: unknown model.",
    )
    def list(self, request, *args, **kwargs):
        model = get_object_or_404(HealthModel.objects.all(), pk=kwargs["id"])
        query = ValidationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        default_start, default_end = validation.default_period(timezone.localdate())
        versions = model.versions.order_by("-number")
        if "version" in params:
            versions = versions.filter(number=params["version"])
        version = versions.first()
        if version is None:
            raise ValidationError({"version": ["This model has no such version."]})
        report = validation.validate_model(
            version=version, start=params.get("start", default_start), end=params.get("end", default_end)
        )
        return Response(ValidationReportSerializer(report).data)


def register_routes(router) -> None:
    router.register(
        r"health-models/(?P<id>[0-9]+)/validation",
        HealthModelValidationViewSet,
        basename="health-model-validation",
    )
