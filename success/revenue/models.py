"""ARR movements: every change of a customer's ARR, dated. A customer's ARR is always the sum of its movements
(success.revenue.services keeps it so, in the same transaction)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.churn import ChurnReason

__all__ = ["ArrMovement", "ArrMovementKind", "ArrMovementSource"]


class ArrMovement(models.Model):
    """A signed change of ARR (`amount` > 0 adds, < 0 removes) taking effect on `effective_date`.

    The kind is derived from the customer's ARR at that date, never chosen: 0 -> positive is `new` the first time
    and `reactivation` after a churn; an increase is `expansion`; a decrease to a positive ARR `contraction`; a
    decrease to 0 `churn` (which needs a churn reason)."""

    class Kind(models.TextChoices):
        NEW = "new", "New"
        EXPANSION = "expansion", "Expansion"
        CONTRACTION = "contraction", "Contraction"
        CHURN = "churn", "Churn"
        REACTIVATION = "reactivation", "Reactivation"

    class Source(models.TextChoices):
        MANUAL = "manual", "Recorded by hand (admin or API)"
        CUSTOMER = "customer", "The customer's ARR changed (customer API, its upsert by billing sync, admin)"
        IMPORT = "import", "Imported history"
        OPENING = "opening", "Opening balance (ARR before movements existed)"

    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="arr_movements")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="Signed change of ARR: positive adds, negative removes."
    )
    arr_after = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="The customer's ARR once this movement and every earlier one apply."
    )
    effective_date = models.DateField(help_text="May be before the customer was created here (billing history).")
    churn_reason = models.CharField(max_length=30, choices=ChurnReason.choices, blank=True)
    churn_note = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-effective_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="success_arrmovement_amount_not_zero"),
            models.CheckConstraint(condition=Q(arr_after__gte=0), name="success_arrmovement_arr_after_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="churn") | ~Q(churn_reason=""), name="success_arrmovement_churn_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "effective_date", "id"], name="success_arrmove_customer_idx"),
            models.Index(fields=["effective_date", "kind"], name="success_arrmove_date_kind_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount:+} on {self.effective_date}"


ArrMovementKind = ArrMovement.Kind
ArrMovementSource = ArrMovement.Source
