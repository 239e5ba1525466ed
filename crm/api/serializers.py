"""API shapes. Input serializers check the shape of a request (types, formats, choices, lengths) and refuse
fields they do not know; the services apply the rules and write; output serializers render from selectors."""

import datetime
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.serializers import Serializer
from rest_framework.settings import ISO_8601, api_settings
from rest_framework.validators import UniqueValidator

from crm.churn import ChurnReason
from crm.models import Contact, ContactRole, Customer, LifecycleStage, Note, Tier, TimelineEvent
from crm.services import RENEWAL_BEFORE_START, normalize_domain
from crm.validators import validate_domain, validate_timezone

ZERO = datetime.timedelta(0)

# --- Input --------------------------------------------------------------------------------------------


class InputSerializer(serializers.Serializer):
    # Refuses fields it does not declare: a misspelt field must not be silently ignored.
    # `read_only_names` are fields the matching output shows but nobody may write (id, timestamps, the contact
    # ledger); they get "This field is read-only." instead of "Unknown field.".

    read_only_names: tuple[str, ...] = ()

    def to_internal_value(self, data):
        errors = {}
        if isinstance(data, Mapping):
            for name in sorted(set(data) - set(self.fields), key=str):
                errors[name] = ["This field is read-only." if name in self.read_only_names else "Unknown field."]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not errors or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


@extend_schema_field(OpenApiTypes.EMAIL)
class StaffEmailField(serializers.Field):
    """A staff user given (and shown) as their email. Service accounts, inactive and non-staff users are
    refused."""

    default_error_messages = {
        "invalid": "Enter a valid email address.",
        "not_staff": "No active staff user has the email {email}.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str) or "@" not in data or len(data) > 254 or "\x00" in data:
            self.fail("invalid")
        email = data.strip()
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None or not user.is_active or not user.is_staff or user.is_service_account:
            self.fail("not_staff", email=email)
        return user

    def to_representation(self, value):
        return getattr(value, "email", value)


class ExternalIdField(serializers.CharField):
    """An external id: surrounding spaces are dropped; "" or null means none; only spaces is an error."""

    default_error_messages = {"only_spaces": "May not be only spaces; send null for no external id."}

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and data and not data.strip():
            self.fail("only_spaces")
        return super().run_validation(data)


def _validate_normalised_domain(value: str) -> None:
    validate_domain(normalize_domain(value))


class CustomerInputSerializer(InputSerializer):
    """A customer as written. Unknown fields -> 400 "Unknown field."; read-only ones -> 400.
    Every field's errors are reported together (choices, uniqueness of external_id, ARR >= 0, time zone);
    the service checks the same rules again."""

    read_only_names = ("id", "contacts_count", "created_at", "updated_at")

    name = serializers.CharField(max_length=200)
    domain = serializers.CharField(
        max_length=253,
        allow_blank=True,
        required=False,
        validators=[_validate_normalised_domain],
        help_text="Web domain, e.g. acme.com; a URL such as https://www.Acme.com/about is stored as acme.com.",
    )
    external_id = ExternalIdField(
        max_length=100,
        allow_blank=True,
        allow_null=True,
        required=False,
        validators=[UniqueValidator(Customer.objects.all(), message="Customer with this External id already exists.")],
        help_text="The id integrations know it by; unique. null (or empty): none.",
    )
    lifecycle_stage = serializers.ChoiceField(LifecycleStage.choices, required=False)
    tier = serializers.ChoiceField(Tier.choices, required=False)
    owner = StaffEmailField(
        allow_null=True, required=False, help_text="The owner CSM's email (an active staff user); null: none."
    )
    arr = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        help_text=f"Annual recurring revenue in {settings.REPORTING_CURRENCY} (the reporting currency), >= 0.",
    )
    contract_start = serializers.DateField(allow_null=True, required=False)
    renewal_date = serializers.DateField(allow_null=True, required=False, help_text="Not before contract_start.")
    timezone = serializers.CharField(
        max_length=64, required=False, validators=[validate_timezone], help_text="IANA name, e.g. Europe/Paris."
    )
    churn_reason = serializers.ChoiceField(
        ChurnReason.choices,
        required=False,
        allow_blank=True,
        help_text="Write-only. Why the customer left: required (400 on `churn_reason`) when this request sets "
        "`arr` to 0 on a customer that had ARR; recorded on the churn ARR movement, not on the customer.",
    )
    churn_note = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="Write-only. Free text about the churn."
    )

    def validate(self, attrs):
        start, renewal = attrs.get("contract_start"), attrs.get("renewal_date")
        if start and renewal and renewal < start:
            raise serializers.ValidationError({"renewal_date": [RENEWAL_BEFORE_START]})
        return attrs


class CustomerUpsertInputSerializer(CustomerInputSerializer):
    """Like the customer input, every field optional: the external id comes from the URL."""

    name = serializers.CharField(max_length=200, required=False, help_text="Required when creating.")
    external_id = ExternalIdField(
        max_length=100,
        allow_blank=True,
        allow_null=True,
        required=False,
        help_text="Optional; must match the external id in the URL.",
    )


class ContactInputSerializer(InputSerializer):
    """A contact as written. The email is stored lower-cased. The ledger fields are read-only."""

    read_only_names = (
        "id",
        "unsubscribed_at",
        "bounced_at",
        "complained_at",
        "created_at",
        "updated_at",
    )

    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), help_text="The customer's id.")
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    last_name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    role = serializers.ChoiceField(ContactRole.choices, required=False)
    is_primary = serializers.BooleanField(
        required=False,
        help_text="Making a contact primary makes the customer's previous primary contact not.",
    )
    phone = serializers.CharField(max_length=40, allow_blank=True, required=False)
    timezone = serializers.CharField(
        max_length=64,
        allow_blank=True,
        required=False,
        validators=[validate_timezone],
        help_text="IANA name; empty: the customer's.",
    )


class ContactUpdateInputSerializer(ContactInputSerializer):
    """Changes to a contact (it stays with its customer)."""

    read_only_names = ("customer", *ContactInputSerializer.read_only_names)

    customer = None  # a contact stays with its customer


class NoteInputSerializer(InputSerializer):
    """A staff note on the customer."""

    read_only_names = ("id", "customer", "author", "created_at")

    body = serializers.CharField(max_length=20000)


# --- Output -------------------------------------------------------------------------------------------


def _format(field) -> str | None:
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    return output_format.lower() if isinstance(output_format, str) else output_format


def _fast_converter(field):
    """A cheaper equivalent of `field.to_representation` for the common cases, else the field's own."""
    if isinstance(field, serializers.DateTimeField) and _format(field) == ISO_8601:
        if getattr(field, "timezone", None) is None and timezone.get_current_timezone_name() == "UTC":

            def datetime_utc(value, slow=field.to_representation):
                if isinstance(value, datetime.datetime) and value.utcoffset() == ZERO:
                    text = value.isoformat()
                    return text[:-6] + "Z" if text.endswith("+00:00") else slow(value)
                return slow(value)

            return datetime_utc
    if (
        isinstance(field, serializers.DecimalField)
        and getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        and not field.localize
        and field.decimal_places is not None
    ):
        places = -field.decimal_places

        def decimal_string(value, slow=field.to_representation):
            if isinstance(value, Decimal) and value.is_finite() and value.as_tuple().exponent == places:
                return f"{value:f}"
            return slow(value)

        return decimal_string
    return field.to_representation


class OutputSerializer(serializers.ModelSerializer):
    """Renders plain attributes without DRF's per-field machinery (get_attribute, source resolution, timezone
    conversion of UTC datetimes), which is most of the cost of a 100- or 500-row page. Same output: see
    tests/crm/test_api_schema.py. Method fields, dotted sources and nested serializers go through DRF."""

    def _fast_plan(self) -> list[tuple[str, str | None, Any]]:
        plan = []
        model_fields = {f.name: f for f in self.Meta.model._meta.concrete_fields}
        for field in self._readable_fields:
            source = field.source
            if isinstance(field, serializers.PrimaryKeyRelatedField) and source in model_fields:
                plan.append((field.field_name, model_fields[source].attname, None))
            elif "." in source or source == "*" or isinstance(field, serializers.RelatedField | Serializer):
                plan.append((field.field_name, None, field))
            else:
                plan.append((field.field_name, source, _fast_converter(field)))
        return plan

    def to_representation(self, instance):
        plan = self.__dict__.get("_plan")
        if plan is None:  # one plan per serializer; a list page reuses its child for every row
            plan = self.__dict__["_plan"] = self._fast_plan()
        data = {}
        for name, attname, convert in plan:
            if attname is None:
                attribute = convert.get_attribute(instance)
                data[name] = None if attribute is None else convert.to_representation(attribute)
            else:
                value = getattr(instance, attname)
                data[name] = value if value is None or convert is None else convert(value)
        return data


class CustomerSerializer(OutputSerializer):
    owner = serializers.EmailField(
        source="owner_email", allow_null=True, read_only=True, help_text="The owner CSM's email."
    )
    contacts_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "domain",
            "external_id",
            "lifecycle_stage",
            "tier",
            "owner",
            "arr",
            "contract_start",
            "renewal_date",
            "timezone",
            "contacts_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "arr": {"help_text": f"Annual recurring revenue in {settings.REPORTING_CURRENCY} (the reporting currency)."}
        }


class ContactSerializer(OutputSerializer):
    class Meta:
        model = Contact
        fields = [
            "id",
            "customer",
            "email",
            "first_name",
            "last_name",
            "role",
            "is_primary",
            "phone",
            "timezone",
            "unsubscribed_at",
            "bounced_at",
            "complained_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class NoteSerializer(OutputSerializer):
    author = serializers.EmailField(source="author_email", allow_null=True, read_only=True)

    class Meta:
        model = Note
        fields = ["id", "customer", "author", "body", "created_at"]
        read_only_fields = fields


class SourceTypeMixin(serializers.Serializer):
    source_type = serializers.SerializerMethodField(
        help_text="What the event or task comes from, as app_label.model (e.g. crm.note); null: none."
    )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_source_type(self, obj) -> str | None:
        if not getattr(obj, "source_model", None):
            return None
        return f"{obj.source_app_label}.{obj.source_model}"


class TimelineEventSerializer(SourceTypeMixin, OutputSerializer):
    actor = serializers.EmailField(
        source="actor_email", allow_null=True, read_only=True, help_text="Who did it; null: the system."
    )

    class Meta:
        model = TimelineEvent
        fields = [
            "id",
            "customer",
            "kind",
            "occurred_at",
            "actor",
            "summary",
            "source_type",
            "source_id",
            "payload",
        ]
        read_only_fields = fields
