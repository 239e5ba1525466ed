"""Writes on customers, contacts and notes. Each service is one transaction and records its timeline event."""

from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Contact, Customer, Note
from crm.signals import customer_arr_changed, customer_stage_entered
from crm.timeline import timeline_record
from crm.validators import validate_domain

COMMERCIAL_FIELDS = ("arr", "owner", "tier")
CUSTOMER_FIELDS = (
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
)
CONTACT_FIELDS = ("email", "first_name", "last_name", "role", "is_primary", "phone", "timezone")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def normalize_domain(domain: str) -> str:
    domain = (domain or "").strip().lower()
    for prefix in ("https://", "http://"):
        domain = domain.removeprefix(prefix)
    return domain.split("/")[0].removeprefix("www.")


def _can_change_commercials(actor) -> bool:
    return actor is None or actor.has_perm("crm.change_customer_commercials")


def _display(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _clean_customer_data(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationError({field: "Unknown field." for field in sorted(unknown)})
    data = dict(data)
    if "domain" in data:
        data["domain"] = normalize_domain(data["domain"])
    if "external_id" in data and data["external_id"] is not None:
        data["external_id"] = data["external_id"].strip() or None
    return data


def _pop_churn(data: dict[str, Any]) -> dict[str, str]:
    """The write-only churn fields: passed on with `customer_arr_changed`, never stored on the customer."""
    return {"churn_reason": data.pop("churn_reason", "") or "", "churn_note": data.pop("churn_note", "") or ""}


def _send_arr_changed(*, customer: Customer, old: Decimal, new: Decimal, actor, effective_date, churn) -> None:
    today = timezone.localdate()
    if effective_date is None or effective_date > today:
        effective_date = today
    customer_arr_changed.send(
        sender=Customer,
        customer=customer,
        old=Decimal(old),
        new=Decimal(new),
        actor=actor,
        effective_date=effective_date,
        **churn,
    )


def _send_stage_entered_on_commit(customer: Customer, event, previous_stage: str | None = None) -> None:
    customer_id, stage, event_id = customer.pk, customer.lifecycle_stage, event.pk
    transaction.on_commit(
        lambda: customer_stage_entered.send(
            sender=Customer, customer_id=customer_id, stage=stage, previous_stage=previous_stage, event_id=event_id
        )
    )


RENEWAL_BEFORE_START = "The renewal date cannot be before the contract start."


def _full_clean_customer(customer: Customer, *, changed) -> None:
    """full_clean plus the domain's form and the dates' order, all reported together. The last two are checked
    when the request sets those fields, so a customer saved before these rules can still be edited."""
    errors: dict[str, list] = {}
    try:
        customer.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if "domain" in changed and "domain" not in errors:
        try:
            validate_domain(customer.domain)
        except ValidationError as exc:
            errors["domain"] = exc.error_list
    start, renewal = customer.contract_start, customer.renewal_date
    dates_changed = {"contract_start", "renewal_date"} & set(changed)
    if dates_changed and "renewal_date" not in errors and start and renewal and renewal < start:
        errors["renewal_date"] = [ValidationError(RENEWAL_BEFORE_START, code="renewal_before_start")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def customer_create(*, actor=None, **data) -> Customer:
    churn = _pop_churn(data)
    data = _clean_customer_data(data)
    if not _can_change_commercials(actor) and any(data.get(f) not in (None, "") for f in ("arr", "owner")):
        raise PermissionDenied("Your role cannot set a customer's ARR or owner.")
    customer = Customer(**data)
    _full_clean_customer(customer, changed=data)
    customer._history_user = actor
    customer.save()
    event = timeline_record(
        customer=customer,
        kind="customer.created",
        summary=f"Customer {customer.name} created",
        actor=actor,
        source=customer,
    )
    _send_stage_entered_on_commit(customer, event)
    if customer.arr:
        # Its first ARR takes effect at the contract start (today when that is unknown or still ahead).
        _send_arr_changed(
            customer=customer,
            old=Decimal("0"),
            new=customer.arr,
            actor=actor,
            effective_date=customer.contract_start,
            churn=churn,
        )
    return customer


@transaction.atomic
def customer_update(*, customer: Customer, actor=None, **data) -> Customer:
    churn = _pop_churn(data)
    data = _clean_customer_data(data)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    changes: dict[str, list[Any]] = {}
    for field, value in data.items():
        old = getattr(customer, field)
        if field == "arr" and value is not None:
            try:
                value = Decimal(str(value))
            except ArithmeticError:
                raise ValidationError({"arr": "Enter a number."}) from None
        if old != value:
            changes[field] = [_display(old), _display(value)]
            setattr(customer, field, value)
    if not changes:
        return customer
    forbidden = [f for f in COMMERCIAL_FIELDS if f in changes]
    if forbidden and not _can_change_commercials(actor):
        raise PermissionDenied(f"Your role cannot change a customer's {', '.join(forbidden)}.")
    _full_clean_customer(customer, changed=changes)
    customer._history_user = actor
    customer.save()
    if "arr" in changes:
        _send_arr_changed(
            customer=customer,
            old=Decimal(changes["arr"][0]),
            new=customer.arr,
            actor=actor,
            effective_date=None,
            churn=churn,
        )
    if "lifecycle_stage" in changes:
        old, new = changes["lifecycle_stage"]
        event = timeline_record(
            customer=customer,
            kind="customer.stage_changed",
            summary=f"Lifecycle stage {old} → {new}",
            actor=actor,
            source=customer,
            payload={"from": old, "to": new},
        )
        _send_stage_entered_on_commit(customer, event, previous_stage=old)
    other = {k: v for k, v in changes.items() if k != "lifecycle_stage"}
    if other:
        timeline_record(
            customer=customer,
            kind="customer.updated",
            summary="Updated " + ", ".join(Customer._meta.get_field(f).verbose_name for f in other),
            actor=actor,
            source=customer,
            payload={"changes": other},
        )
    return customer


@transaction.atomic
def customer_upsert_by_external_id(*, external_id: str, actor=None, **data) -> tuple[Customer, bool]:
    """Create or update the customer an integration knows by `external_id`. Safe to repeat."""
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": "This field may not be blank."})
    data.pop("external_id", None)
    existing = Customer.objects.select_for_update().filter(external_id=external_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                return customer_create(actor=actor, external_id=external_id, **data), True
        except (ValidationError, IntegrityError) as exc:
            # Another request created it concurrently: fall through to the update.
            if isinstance(exc, ValidationError) and "external_id" not in getattr(exc, "error_dict", {}):
                raise
            existing = Customer.objects.select_for_update().filter(external_id=external_id).first()
            if existing is None:
                raise
    return customer_update(customer=existing, actor=actor, **data), False


def _unset_other_primary(contact: Contact, actor=None) -> list[Contact]:
    """Demote the customer's other primary contact(s), each saved: a history row by `actor`, and a new
    `updated_at` so integrations syncing by `updated_after` see the change."""
    if not contact.is_primary:
        return []
    others = list(
        Contact.objects.select_for_update()
        .filter(customer_id=contact.customer_id, is_primary=True)
        .exclude(pk=contact.pk)
    )
    for other in others:
        other.is_primary = False
        other._history_user = actor
        other.save(update_fields=["is_primary", "updated_at"])
    return others


def _record_demotions(demoted: list[Contact], *, primary: Contact, actor=None) -> None:
    for other in demoted:
        timeline_record(
            customer=other.customer_id,
            kind="contact.updated",
            summary=f"Contact {other.email} is no longer primary (replaced by {primary.email})",
            actor=actor,
            source=other,
            payload={
                "contact_id": other.pk,
                "changes": {"is_primary": [True, False]},
                "replaced_by": {"contact_id": primary.pk, "email": primary.email},
            },
        )


def _validate_contact(contact: Contact, actor=None) -> list[Contact]:
    """full_clean, with the per-customer email uniqueness reported on `email`; the one-primary constraint
    is checked after making this contact the only primary one (the caller's transaction undoes that on
    failure). Returns the contacts demoted from primary."""
    contact.full_clean(validate_constraints=False)
    duplicate = Contact.objects.filter(customer_id=contact.customer_id, email=contact.email)
    if contact.pk is not None:
        duplicate = duplicate.exclude(pk=contact.pk)
    if contact.email and duplicate.exists():
        raise ValidationError({"email": "This customer already has a contact with this email."})
    demoted = _unset_other_primary(contact, actor)
    contact.validate_constraints()
    return demoted


@transaction.atomic
def contact_create(*, customer: Customer, actor=None, **data) -> Contact:
    unknown = set(data) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationError({field: "Unknown field." for field in sorted(unknown)})
    data["email"] = normalize_email(data.get("email", ""))
    contact = Contact(customer=customer, **data)
    demoted = _validate_contact(contact, actor)
    contact._history_user = actor
    contact.save()
    timeline_record(
        customer=customer,
        kind="contact.added",
        summary=f"Contact {contact} added",
        actor=actor,
        source=contact,
        payload={"contact_id": contact.pk, "email": contact.email, "role": contact.role},
    )
    _record_demotions(demoted, primary=contact, actor=actor)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, actor=None, **data) -> Contact:
    unknown = set(data) - set(CONTACT_FIELDS)
    if unknown:
        raise ValidationError({field: "Unknown field." for field in sorted(unknown)})
    if "email" in data:
        data["email"] = normalize_email(data["email"])
    contact = Contact.objects.select_for_update().select_related("customer").get(pk=contact.pk)
    changes = {}
    for field, value in data.items():
        old = getattr(contact, field)
        if old != value:
            changes[field] = [_display(old), _display(value)]
            setattr(contact, field, value)
    if not changes:
        return contact
    demoted = _validate_contact(contact, actor)
    contact._history_user = actor
    contact.save()
    timeline_record(
        customer=contact.customer_id,
        kind="contact.updated",
        summary=f"Contact {contact.email} updated: {', '.join(changes)}",
        actor=actor,
        source=contact,
        payload={"contact_id": contact.pk, "changes": changes},
    )
    _record_demotions(demoted, primary=contact, actor=actor)
    return contact


@transaction.atomic
def contact_delete(*, contact: Contact, actor=None) -> None:
    customer_id, email, pk = contact.customer_id, contact.email, contact.pk
    contact._history_user = actor
    contact.delete()
    timeline_record(
        customer=customer_id,
        kind="contact.removed",
        summary=f"Contact {email} removed",
        actor=actor,
        payload={"contact_id": pk, "email": email},
    )


@transaction.atomic
def note_create(*, customer: Customer, body: str, actor=None) -> Note:
    note = Note(customer=customer, body=(body or "").strip(), author=actor if getattr(actor, "pk", None) else None)
    note.full_clean()
    note.save()
    timeline_record(
        customer=customer,
        kind="note.added",
        summary=note.body.splitlines()[0][:200],
        actor=actor,
        source=note,
        payload={"note_id": note.pk},
    )
    return note
