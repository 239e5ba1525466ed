"""crm tells revenue that a customer's ARR changed (crm.signals.customer_arr_changed); record the movement."""

from django.dispatch import receiver

from crm.signals import customer_arr_changed
from success.revenue.services import arr_movement_record_change


@receiver(customer_arr_changed, dispatch_uid="success.revenue.record_arr_change")
def record_arr_change(sender, *, customer, old, new, actor, effective_date, churn_reason="", churn_note="", **kwargs):
    arr_movement_record_change(
        customer=customer,
        old=old,
        new=new,
        effective_date=effective_date,
        churn_reason=churn_reason,
        churn_note=churn_note,
        actor=actor,
    )
