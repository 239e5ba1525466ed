"""REST API v1 for revenue: `/api/v1/arr-movements/`, `/api/v1/metrics/retention/`, `/api/v1/book/` and
`/api/v1/users/{id}/book/`. Reads come from success.revenue.selectors, writes go through success.revenue.services."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from crm.api.errors import DETAIL_ERRORS, LIST_ERRORS, WRITE_ERRORS
from crm.api.serializers import InputSerializer, OutputSerializer, StaffEmailField
from crm.api.views import ApiViewSet, location_header
from crm.churn import ChurnReason
from crm.models import Customer, Tier
from success.revenue import book as book_selectors
from success.revenue import selectors, services
from success.revenue.filters import ArrMovementFilterSet
from success.revenue.models import ArrMovement

MONEY = {"max_digits": 16, "decimal_places": 2}


class OneObjectSchema(AutoSchema):
    """These views answer one object at their collection URL (GET .../retention/, .../book/): not a list."""

    def _is_list_view(self, serializer=None) -> bool:
        return False


MAX_MONTHS = 36

# --- Movements ---------------------------------------------------------------------------------------------


class ArrMovementInputSerializer(InputSerializer):
    """A new ARR movement: a signed amount taking effect on a date. The kind is derived; sending it checks it."""

    read_only_names = ("id", "customer_name", "arr_after", "source", "created_by", "created_at")

    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text=f"Signed change of ARR in {settings.REPORTING_CURRENCY}: positive adds, negative removes; not 0. "
        "400 on `amount` if the ARR would go below 0 at any date.",
    )
    effective_date = serializers.DateField(
        help_text="When it takes effect: today or earlier (history from billing may predate the customer here)."
    )
    kind = serializers.ChoiceField(
        ArrMovement.Kind.choices,
        required=False,
        help_text="Optional: the kind you expect. It is derived from the ARR before and after the movement; "
        "a different one is refused (400 on `kind`).",
    )
    churn_reason = serializers.ChoiceField(
        ChurnReason.choices, required=False, allow_blank=True, help_text="Required when the movement churns (ARR to 0)."
    )
    churn_note = serializers.CharField(max_length=500, required=False, allow_blank=True, help_text="Free text.")


class ArrMovementSerializer(OutputSerializer):
    churn_reason = serializers.ChoiceField(
        ChurnReason.choices, allow_blank=True, read_only=True, help_text="Empty unless the movement is a churn."
    )
    customer_name = serializers.CharField(read_only=True)
    created_by = serializers.EmailField(
        source="created_by_email", allow_null=True, read_only=True, help_text="null: recorded by the system."
    )

    class Meta:
        model = ArrMovement
        fields = [
            "id",
            "customer",
            "customer_name",
            "kind",
            "amount",
            "arr_after",
            "effective_date",
            "churn_reason",
            "churn_note",
            "source",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema(tags=["revenue"])
class ArrMovementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """ARR movements. A customer's ARR always equals the sum of its movements."""

    permission_model = ArrMovement
    serializer_class = ArrMovementSerializer
    filterset_class = ArrMovementFilterSet
    ordering = ("-effective_date",)
    ordering_fields = ("effective_date", "created_at", "amount")

    def get_queryset(self):
        return selectors.arr_movement_list()

    @extend_schema(summary="List ARR movements", responses={200: ArrMovementSerializer(many=True), **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Get an ARR movement", responses={200: ArrMovementSerializer, **DETAIL_ERRORS})
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Record an ARR movement (changes the customer's ARR)",
        request=ArrMovementInputSerializer,
        responses={201: ArrMovementSerializer, **WRITE_ERRORS},
        description="The customer's ARR changes by `amount` in the same transaction. A movement dated in the "
        "past re-derives the kinds of the customer's later movements. Refused with nothing changed: an ARR that "
        "would go below 0 (`amount`), a churn without `churn_reason`, a date in the future (`effective_date`), "
        "a `kind` that is not the derived one.",
    )
    def create(self, request, *args, **kwargs):
        serializer = ArrMovementInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        movement = services.arr_movement_create(actor=request.user, **serializer.validated_data)
        data = ArrMovementSerializer(selectors.arr_movement_list().get(pk=movement.pk)).data
        return Response(
            data, status=status.HTTP_201_CREATED, headers=location_header(request, "arr-movement-detail", movement.pk)
        )


# --- Retention ---------------------------------------------------------------------------------------------


class RetentionQuerySerializer(InputSerializer):
    start = serializers.DateField(help_text="First day of the period (YYYY-MM-DD).")
    end = serializers.DateField(help_text="Last day of the period, included; not before `start`.")
    tier = serializers.MultipleChoiceField(choices=Tier.choices, required=False, help_text="Only these tiers.")
    owner = StaffEmailField(required=False, help_text="Only customers owned by this CSM (email).")
    group_by = serializers.ChoiceField(
        ["tier", "owner"], required=False, help_text="Also answer `groups`: one row per tier or per owner."
    )
    by_month = serializers.BooleanField(
        required=False,
        default=False,
        help_text=f"Also answer `months`: one row per calendar month (at most {MAX_MONTHS}).",
    )

    def to_internal_value(self, data):
        data = {key: (data.getlist(key) if key == "tier" else data.get(key)) for key in data}
        return super().to_internal_value(data)

    def validate(self, attrs):
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": ["The end of the period cannot be before its start."]})
        if attrs.get("by_month") and len(selectors.month_starts(attrs["start"], attrs["end"])) > MAX_MONTHS:
            raise serializers.ValidationError({"by_month": [f"At most {MAX_MONTHS} months."]})
        return attrs


class RetentionFiguresSerializer(serializers.Serializer):
    starting_customers = serializers.IntegerField(help_text="Customers with ARR > 0 at the start (the cohort).")
    starting_arr = serializers.DecimalField(**MONEY, help_text="The cohort's ARR at the start.")
    expansion = serializers.DecimalField(**MONEY, help_text="The cohort's expansions and reactivations.")
    contraction = serializers.DecimalField(**MONEY, help_text="The cohort's contractions (positive).")
    churn = serializers.DecimalField(**MONEY, help_text="The cohort's churned ARR (positive).")
    ending_arr = serializers.DecimalField(**MONEY, help_text="The cohort's ARR at the end.")
    churned_customers = serializers.IntegerField(help_text="Cohort customers with a churn in the period.")
    grr = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        allow_null=True,
        help_text="(starting ARR - churn - contraction) / starting ARR; null when the starting ARR is 0.",
    )
    nrr = serializers.DecimalField(
        max_digits=8,
        decimal_places=4,
        allow_null=True,
        help_text="(starting ARR - churn - contraction + expansion) / starting ARR; null when it is 0.",
    )
    logo_churn = serializers.DecimalField(
        max_digits=8, decimal_places=4, allow_null=True, help_text="churned customers / starting customers."
    )
    new_business_arr = serializers.DecimalField(
        **MONEY, help_text="ARR at the end of customers outside the cohort (new, reactivated): not in GRR/NRR."
    )
    renewals_due = serializers.IntegerField(help_text="Customers whose renewal date fell in the period.")
    renewals_renewed = serializers.IntegerField(
        help_text="Of those: ARR > 0 at the end and renewal date moved past the end."
    )
    renewals_churned = serializers.IntegerField(help_text="Of those: ARR 0 at the end.")


class RetentionGroupSerializer(RetentionFiguresSerializer):
    key = serializers.CharField(allow_null=True, help_text="The tier, or the owner's email (null: no owner).")


class RetentionPeriodSerializer(RetentionFiguresSerializer):
    start = serializers.DateField()
    end = serializers.DateField()


class RetentionSerializer(RetentionPeriodSerializer):
    groups = RetentionGroupSerializer(many=True, required=False, help_text="With `group_by` only.")
    months = RetentionPeriodSerializer(many=True, required=False, help_text="With `by_month=true` only.")


@extend_schema(tags=["revenue"])
class RetentionViewSet(ApiViewSet):
    """Revenue retention over a period (GRR, NRR, logo churn, renewals), as PRODUCT.md defines them."""

    permission_model = ArrMovement
    pagination_class = None
    filter_backends = []
    schema = OneObjectSchema()

    @extend_schema(
        summary="Revenue retention over a period",
        parameters=[RetentionQuerySerializer],
        responses={200: RetentionSerializer, **LIST_ERRORS},
        description="The cohort is the customers with ARR > 0 at `start`; expansion, contraction and churn are "
        "its movements effective in [start, end]. Amounts in the reporting currency. `end` before `start`: 400 "
        "on `end`.",
    )
    def list(self, request, *args, **kwargs):
        query = RetentionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        filters = {"tier": sorted(params.get("tier") or []) or None, "owner": params.get("owner")}
        data = selectors.retention(start=params["start"], end=params["end"], group_by=params.get("group_by"), **filters)
        if params.get("by_month"):
            data["months"] = selectors.retention_by_month(start=params["start"], end=params["end"], **filters)
        return Response(RetentionSerializer(data).data)


# --- Book --------------------------------------------------------------------------------------------------


class BookRenewalSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    renewal_date = serializers.DateField()
    arr = serializers.DecimalField(**MONEY)
    band = serializers.CharField(allow_null=True, help_text="Health band (red, yellow, green); null: not scored yet.")


class BookRiskTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    customer_name = serializers.CharField()
    reason = serializers.CharField()
    due_date = serializers.DateField(allow_null=True)
    priority = serializers.CharField()


class BookHealthSerializer(serializers.Serializer):
    red = serializers.IntegerField()
    yellow = serializers.IntegerField()
    green = serializers.IntegerField()
    none = serializers.IntegerField()


class BookSerializer(serializers.Serializer):
    owner = serializers.EmailField()
    customers = serializers.IntegerField(help_text="Customers owned.")
    total_arr = serializers.DecimalField(**MONEY)
    health = BookHealthSerializer(help_text="Customers owned per health band; `none`: not scored yet.")
    renewals_next_90_days = BookRenewalSerializer(many=True, help_text="Renewal date from today to today + 90 days.")
    open_risk_tasks = BookRiskTaskSerializer(many=True, help_text="Open risk tasks on the owned customers.")


USER_ID = OpenApiParameter("user_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The staff user's id.")


@extend_schema(tags=["revenue"])
class BookViewSet(ApiViewSet):
    """A CSM's book of business."""

    permission_model = Customer
    pagination_class = None
    filter_backends = []
    schema = OneObjectSchema()

    @extend_schema(summary="The caller's book", responses={200: BookSerializer, **LIST_ERRORS})
    def list(self, request, *args, **kwargs):
        return Response(BookSerializer(book_selectors.book(owner=request.user, today=timezone.localdate())).data)


@extend_schema(tags=["revenue"])
class UserBookViewSet(ApiViewSet):
    permission_model = Customer
    pagination_class = None
    filter_backends = []
    schema = OneObjectSchema()

    @extend_schema(
        summary="A staff user's book", parameters=[USER_ID], responses={200: BookSerializer, **DETAIL_ERRORS}
    )
    def list(self, request, *args, **kwargs):
        user = get_object_or_404(get_user_model().objects.filter(is_staff=True), pk=kwargs["user_id"])
        return Response(BookSerializer(book_selectors.book(owner=user, today=timezone.localdate())).data)


def register_routes(router) -> None:
    router.register("arr-movements", ArrMovementViewSet, basename="arr-movement")
    router.register("metrics/retention", RetentionViewSet, basename="retention")
    router.register("book", BookViewSet, basename="book")
    router.register(r"users/(?P<user_id>[0-9]+)/book", UserBookViewSet, basename="user-book")
