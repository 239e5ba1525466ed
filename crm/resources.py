"""CSV import/export of customers and contacts (django-import-export), writing through the services.

- Customers are keyed by `external_id`, their owner by the staff user's email.
- Contacts are keyed by (`customer_external_id`, `email`).
- Every row is written by `customer_create` / `customer_update` / `contact_create` / `contact_update`, so
  timeline events, history (who changed what) and the commercial-fields permission apply exactly as in the
  admin and the API. The admin's preview is a real import inside a transaction that is rolled back.
- A refused or invalid row becomes a validation error naming the row and the field; the admin imports with
  `rollback_on_validation_errors`, so one bad row means nothing is written.
"""

from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from import_export import fields, resources, widgets
from import_export.instance_loaders import CachedInstanceLoader

from crm.models import Contact, Customer
from crm.services import (
    COMMERCIAL_FIELDS,
    CONTACT_FIELDS,
    CUSTOMER_FIELDS,
    contact_create,
    contact_update,
    customer_create,
    customer_update,
    normalize_email,
)
from crm.spreadsheets import spreadsheet_text

CUSTOMER_COLUMNS = (
    "external_id",
    "name",
    "domain",
    "lifecycle_stage",
    "tier",
    "owner",
    "arr",
    "contract_start",
    "renewal_date",
    "timezone",
)
# Read on import only, never stored on the customer: why it churned when a row takes its ARR to 0 (they are passed
# with the ARR change to the churn ARR movement; crm.churn.ChurnReason lists the reasons).
CHURN_COLUMNS = ("churn_reason", "churn_note")
# Resource field names; the `customer` field's column is `customer_external_id`.
CONTACT_RESOURCE_FIELDS = ("customer", "email", "first_name", "last_name", "role", "is_primary", "phone", "timezone")


class StaffEmailWidget(widgets.ForeignKeyWidget):
    """A staff user by email (case-insensitive); an unknown email is an error on the field, not a crash."""

    def __init__(self, **kwargs):
        super().__init__(get_user_model(), field="email", **kwargs)

    def get_queryset(self, value, row, *args, **kwargs):
        return self.model.objects.filter(is_active=True, is_staff=True)

    def clean(self, value, row=None, **kwargs):
        email = normalize_email(str(value)) if value not in (None, "") else ""
        if not email:
            return None
        user = self.get_queryset(value, row).filter(email__iexact=email).first()
        if user is None:
            raise ValueError(f"No active staff user with email {email}.")
        return user


class CustomerByExternalIdWidget(widgets.ForeignKeyWidget):
    def __init__(self, **kwargs):
        super().__init__(Customer, field="external_id", **kwargs)

    def clean(self, value, row=None, **kwargs):
        external_id = str(value).strip() if value not in (None, "") else ""
        if not external_id:
            return None
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            raise ValueError(f"No customer with external id {external_id}.")
        return customer


class StrippedCharWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return super().clean(value, row, **kwargs).strip()


class AmountWidget(widgets.DecimalWidget):
    """A plain decimal amount; "abc" or "1,000" is an error on the field, not decimal.ConversionSyntax."""

    def clean(self, value, row=None, **kwargs):
        try:
            amount = super().clean(value, row, **kwargs)
        except (InvalidOperation, TypeError, ValueError):
            amount = Decimal("NaN")
        if amount is not None and not amount.is_finite():
            raise ValueError(f"Enter a number such as 1200.50 (got {str(value)[:40]!r}).")
        return amount


class EmailWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return normalize_email(super().clean(value, row, **kwargs))


def _copy_saved(instance, saved) -> None:
    for field in saved._meta.concrete_fields:
        setattr(instance, field.attname, getattr(saved, field.attname))
    instance._state.adding = False
    instance._state.db = saved._state.db


class ServiceResource(resources.ModelResource):
    """Shared behaviour: the actor is the importing user (`import_data(user=...)`), saves go to services; every
    exported text cell stays text in a spreadsheet (crm.spreadsheets: "=HYPERLINK(...)" is not a formula)."""

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        return spreadsheet_text(value) if isinstance(value, str) else value

    def imported_attributes(self, row) -> list[str]:
        """Model attributes whose columns are present in this file."""
        return [f.attribute for f in self.get_import_fields() if f.attribute and f.column_name in row]

    def after_init_instance(self, instance, new, row, **kwargs):
        super().after_init_instance(instance, new, row, **kwargs)
        instance._import_original = (
            {} if new else {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}
        )

    def save_instance(self, instance, is_create, row, **kwargs):
        if not self._is_using_transactions(kwargs) and self._is_dry_run(kwargs):
            return  # a preview without transactions must not write
        self.before_save_instance(instance, row, **kwargs)
        saved = self.save_through_service(instance, is_create, row, actor=kwargs.get("user"))
        _copy_saved(instance, saved)
        self.after_save_instance(instance, row, **kwargs)

    def save_through_service(self, instance, is_create, row, actor):
        raise NotImplementedError

    def delete_instance(self, instance, row, **kwargs):
        raise ValidationError("Deleting through an import is not supported.")


class CustomerResource(ServiceResource):
    # Stripped before the lookup, so " c-1 " updates c-1 instead of failing as a duplicate.
    external_id = fields.Field(attribute="external_id", column_name="external_id", widget=StrippedCharWidget())
    owner = fields.Field(attribute="owner", column_name="owner", widget=StaffEmailWidget())
    arr = fields.Field(attribute="arr", column_name="arr", widget=AmountWidget())

    class Meta:
        model = Customer
        name = "Customers (keyed by external_id, owner by email)"
        fields = CUSTOMER_COLUMNS
        import_order = CUSTOMER_COLUMNS
        export_order = CUSTOMER_COLUMNS
        import_id_fields = ("external_id",)
        instance_loader_class = CachedInstanceLoader
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return Customer.objects.select_related("owner")

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        if not str(row.get("external_id") or "").strip():
            raise ValidationError({"external_id": "Required: customers are matched by their external id."})

    def save_through_service(self, instance, is_create, row, actor):
        data = {
            attribute: getattr(instance, attribute)
            for attribute in self.imported_attributes(row)
            if attribute in CUSTOMER_FIELDS
        }
        if "arr" in data:  # a churn (ARR to 0) needs a reason: the optional import-only churn columns
            data.update({key: str(row.get(key) or "").strip() for key in CHURN_COLUMNS})
        try:
            if is_create:
                return customer_create(actor=actor, **data)
            return customer_update(customer=instance, actor=actor, **data)
        except PermissionDenied as exc:
            original = getattr(instance, "_import_original", {})
            refused = [
                name
                for name in COMMERCIAL_FIELDS
                if name in data
                and (
                    is_create
                    or original.get(Customer._meta.get_field(name).attname)
                    != getattr(instance, Customer._meta.get_field(name).attname)
                )
            ]
            message = str(exc) or "Your role cannot change this field."
            raise ValidationError({name: message for name in refused} or {NON_FIELD_ERRORS: message}) from exc


class ContactResource(ServiceResource):
    customer = fields.Field(
        attribute="customer", column_name="customer_external_id", widget=CustomerByExternalIdWidget()
    )
    email = fields.Field(attribute="email", column_name="email", widget=EmailWidget())

    class Meta:
        model = Contact
        name = "Contacts (keyed by customer_external_id + email)"
        fields = CONTACT_RESOURCE_FIELDS
        import_order = CONTACT_RESOURCE_FIELDS
        export_order = CONTACT_RESOURCE_FIELDS
        import_id_fields = ("customer", "email")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def get_queryset(self):
        return Contact.objects.select_related("customer")

    def before_import_row(self, row, **kwargs):
        super().before_import_row(row, **kwargs)
        errors = {}
        try:
            if self.fields["customer"].clean(row) is None:
                errors["customer_external_id"] = "Required: the external id of the contact's customer."
        except ValueError as exc:
            errors["customer_external_id"] = str(exc)
        except KeyError:
            errors["customer_external_id"] = "Missing column customer_external_id."
        if not normalize_email(str(row.get("email") or "")):
            errors["email"] = "Required: contacts are matched by customer and email."
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        try:
            super().validate_instance(instance, import_validation_errors, validate_unique)
        except ValidationError as exc:
            raise _rename_customer_key(exc) from None

    def save_through_service(self, instance, is_create, row, actor):
        data = {
            attribute: getattr(instance, attribute)
            for attribute in self.imported_attributes(row)
            if attribute in CONTACT_FIELDS
        }
        try:
            if is_create:
                return contact_create(customer=instance.customer, actor=actor, **data)
            return contact_update(contact=instance, actor=actor, **data)
        except ValidationError as exc:
            raise _rename_customer_key(exc) from None
        except PermissionDenied as exc:
            raise ValidationError(str(exc) or "You may not change this contact.") from exc


def _rename_customer_key(exc: ValidationError) -> ValidationError:
    """Name the CSV column (customer_external_id), not the model field, in row errors."""
    if not hasattr(exc, "error_dict") or "customer" not in exc.error_dict:
        return exc
    errors = dict(exc.error_dict)
    errors["customer_external_id"] = errors.pop("customer")
    return ValidationError(errors)
