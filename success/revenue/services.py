"""Writes on ARR movements. The invariant: a customer's ARR equals the sum of its movements, at every date.

Two entry points, one rule set:
- `arr_movement_create`: record a movement (admin, API); it changes the customer's ARR in the same transaction.
- `arr_movement_record_change`: the customer's ARR was just changed by crm (customer API, upsert, admin) and crm
  said so with `crm.signals.customer_arr_changed`; record the matching movement.
Both lock the customer row (select_for_update), re-derive the kind of every movement of the customer in date order
(a movement dated in the past changes what the later ones are), and refuse, naming the field, a movement that would
make the ARR negative at any date or a churn without a reason. Nothing is written then.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.churn import ChurnReason
from crm.models import Customer
from crm.timeline import timeline_record
from success.revenue.models import ArrMovement

Kind = ArrMovement.Kind
ZERO = Decimal("0")
NEGATIVE_ARR = "This movement would make the customer's ARR negative (ARR on {date}: {arr})."
CHURN_REASON_REQUIRED = "A churn (ARR going to 0) needs a churn reason."


def classify(*, before: Decimal, after: Decimal, churned_before: bool) -> str:
    """The kind of a movement from the ARR before and after it."""
    if before == 0:
        return Kind.REACTIVATION if churned_before else Kind.NEW
    if after == 0:
        return Kind.CHURN
    return Kind.EXPANSION if after > before else Kind.CONTRACTION


def _reclassify(movements: list[ArrMovement], *, new: ArrMovement) -> list[ArrMovement]:
    """Walk the customer's movements in (date, id) order; set each one's kind and arr_after. Returns the existing
    movements that changed. Raises ValidationError on a negative ARR or a churn without a reason."""
    ordered = sorted(movements, key=lambda m: (m.effective_date, m.pk is None, m.pk or 0))
    balance, churned, changed = Decimal("0"), False, []
    for movement in ordered:
        before = balance
        balance = before + movement.amount
        if balance < 0:
            raise ValidationError(
                {"amount": NEGATIVE_ARR.format(date=movement.effective_date.isoformat(), arr=balance)}
            )
        kind = classify(before=before, after=balance, churned_before=churned)
        churned = churned or kind == Kind.CHURN
        if kind == Kind.CHURN and not movement.churn_reason:
            if movement is new:
                raise ValidationError({"churn_reason": CHURN_REASON_REQUIRED})
            raise ValidationError(
                {
                    "effective_date": f"At this date the movement of {movement.effective_date} would become a churn, "
                    "which has no churn reason; record it at another date."
                }
            )
        if movement is not new and (movement.kind != kind or movement.arr_after != balance):
            changed.append(movement)
        movement.kind, movement.arr_after = kind, balance
    return changed


def _validate_input(*, amount, effective_date, churn_reason: str, churn_note: str) -> tuple[Decimal, str, str]:
    errors = {}
    try:
        amount = Decimal(str(amount))
    except ArithmeticError:
        errors["amount"] = "Enter a number."
    else:
        if amount == 0:
            errors["amount"] = "A movement changes the ARR: it cannot be 0."
        elif abs(amount) >= Decimal("1e12"):
            errors["amount"] = "Ensure there are no more than 14 digits in total."
    if not isinstance(effective_date, datetime.date):
        errors["effective_date"] = "Enter a date."
    elif effective_date > timezone.localdate():
        errors["effective_date"] = "A movement cannot take effect in the future."
    churn_reason = churn_reason or ""
    if churn_reason and churn_reason not in ChurnReason.values:
        errors["churn_reason"] = f'"{churn_reason}" is not a valid choice.'
    churn_note = (churn_note or "").strip()
    if len(churn_note) > 500:
        errors["churn_note"] = "Ensure this field has no more than 500 characters."
    if errors:
        raise ValidationError(errors)
    return amount, churn_reason, churn_note


def _opening(customer: Customer, existing: list[ArrMovement], *, arr: Decimal, before: datetime.date):
    """A customer whose ARR was set without movements (bulk-loaded rows, data from before movements existed) gets
    an opening "new" movement for the difference first, dated at its contract start (else its creation), so the
    invariant holds before the new movement applies."""
    missing = Decimal(arr) - sum((m.amount for m in existing), ZERO)
    if missing <= 0:
        return None
    date = customer.contract_start or timezone.localtime(customer.created_at).date()
    opening = ArrMovement(
        customer=customer,
        kind=Kind.NEW,
        amount=missing,
        arr_after=missing,
        effective_date=min(date, before),
        source=ArrMovement.Source.OPENING,
    )
    existing.append(opening)
    return opening


def _save(
    *,
    customer: Customer,
    movement: ArrMovement,
    actor,
    arr_before: Decimal,
    expected_kind: str | None = None,
    timeline: bool = True,
) -> ArrMovement:
    existing = list(ArrMovement.objects.filter(customer=customer))
    opening = _opening(customer, existing, arr=arr_before, before=movement.effective_date)
    changed = _reclassify([*existing, movement], new=movement)
    if expected_kind and expected_kind != movement.kind:
        raise ValidationError(
            {
                "kind": f'On {movement.effective_date} this movement is a "{movement.kind}", not a "{expected_kind}" '
                "(the kind follows from the ARR before and after it)."
            }
        )
    if movement.kind != Kind.CHURN:
        movement.churn_reason = ""
    movement.full_clean()
    if opening is not None:
        opening.save()
    movement.save()
    if changed:
        ArrMovement.objects.bulk_update(changed, ["kind", "arr_after"])
    if not timeline:
        return movement
    timeline_record(
        customer=customer,
        kind=f"arr.{movement.kind}",
        summary=f"ARR {movement.get_kind_display().lower()}: {movement.amount:+} (effective {movement.effective_date})",
        actor=actor,
        source=movement,
        payload={
            "movement_id": movement.pk,
            "kind": movement.kind,
            "amount": str(movement.amount),
            "effective_date": movement.effective_date.isoformat(),
            "churn_reason": movement.churn_reason,
        },
    )
    return movement


@transaction.atomic
def arr_movement_create(
    *,
    customer: Customer,
    amount: Decimal,
    effective_date: datetime.date,
    kind: str | None = None,
    churn_reason: str = "",
    churn_note: str = "",
    source: str = ArrMovement.Source.MANUAL,
    actor=None,
) -> ArrMovement:
    """Record a movement and change the customer's ARR by `amount`. `kind`, when given, must be the derived one."""
    amount, churn_reason, churn_note = _validate_input(
        amount=amount, effective_date=effective_date, churn_reason=churn_reason, churn_note=churn_note
    )
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    movement = ArrMovement(
        customer=customer,
        amount=amount,
        effective_date=effective_date,
        churn_reason=churn_reason,
        churn_note=churn_note,
        source=source,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    _save(customer=customer, movement=movement, actor=actor, arr_before=customer.arr, expected_kind=kind)
    # The movements are the truth; the customer's ARR is their sum (all movements are dated today or earlier).
    customer.arr = customer.arr + amount
    customer._history_user = actor
    customer.save(update_fields=["arr", "updated_at"])
    return movement


@transaction.atomic
def arr_movement_record_change(
    *,
    customer: Customer,
    old: Decimal,
    new: Decimal,
    effective_date: datetime.date,
    churn_reason: str = "",
    churn_note: str = "",
    actor=None,
) -> ArrMovement | None:
    """The customer's ARR went from `old` to `new` (already saved by crm): record the movement that explains it."""
    amount = Decimal(new) - Decimal(old)
    if amount == 0:
        return None
    amount, churn_reason, churn_note = _validate_input(
        amount=amount, effective_date=effective_date, churn_reason=churn_reason, churn_note=churn_note
    )
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    movement = ArrMovement(
        customer=customer,
        amount=amount,
        effective_date=effective_date,
        churn_reason=churn_reason,
        churn_note=churn_note,
        source=ArrMovement.Source.CUSTOMER,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    # crm's service already wrote the customer.created / customer.updated event (with the ARR change) in this
    # transaction: no second event for the same change.
    return _save(customer=customer, movement=movement, actor=actor, arr_before=Decimal(old), timeline=False)
