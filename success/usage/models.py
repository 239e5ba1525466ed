"""Product usage tables (re-exported by success/models.py).

- `UsageEvent`: one raw event as the product sent it (kept USAGE_RAW_RETENTION_DAYS, default 90).
  `external_id` (the sender's `id`) is unique across all customers: the events come from one product whose
  event ids are unique, so a retry (even one naming the customer differently) is a duplicate, never a second row.
- `UsageDaily`: one row per customer per UTC day (kept two years): active users (distinct contact emails), events
  and total quantity. `UsageDailyName`: the same day split by event name (key events for health).
- `UsageDailyUser`: who was active on a customer's day, one row per (customer, day, email); it makes the active
  user count exact under retries and concurrent batches (a user counts when its row is first inserted). Only
  needed while a day can still receive events, so it is pruned with the raw events.
"""

from django.db import models
from django.db.models import Q

__all__ = ["UsageDaily", "UsageDailyName", "UsageDailyUser", "UsageEvent"]


class UsageEvent(models.Model):
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="usage_events")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_events"
    )
    contact_email = models.CharField(max_length=254, blank=True, help_text="Lower case, as sent.")
    external_id = models.CharField(max_length=100, unique=True, help_text="The sender's event id.")
    name = models.CharField(max_length=100)
    occurred_at = models.DateTimeField()
    quantity = models.BigIntegerField(default=1)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="success_usageevent_quantity_not_negative"),
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="success_usage_customer_idx"),
            models.Index(fields=["occurred_at"], name="success_usage_occurred_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.external_id})"


class UsageDaily(models.Model):
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="usage_days")
    day = models.DateField(help_text="UTC day.")
    active_users = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    quantity = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["customer_id", "-day"]
        verbose_name_plural = "usage days"
        constraints = [
            models.UniqueConstraint(fields=["customer", "day"], name="success_usagedaily_unique"),
        ]
        indexes = [models.Index(fields=["day"], name="success_usagedaily_day_idx")]

    def __str__(self):
        return f"{self.customer_id} {self.day}"


class UsageDailyName(models.Model):
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    name = models.CharField(max_length=100)
    events = models.PositiveIntegerField(default=0)
    quantity = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["customer_id", "-day", "name"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "day", "name"], name="success_usagedailyname_unique"),
        ]
        indexes = [models.Index(fields=["day"], name="success_usagedailyname_day_idx")]

    def __str__(self):
        return f"{self.customer_id} {self.day} {self.name}"


class UsageDailyUser(models.Model):
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    email = models.CharField(max_length=254)

    class Meta:
        constraints = [
            # Day first: the pruning by day uses it; no second index to maintain on this write-heavy table.
            models.UniqueConstraint(fields=["day", "customer", "email"], name="success_usagedailyuser_unique"),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.day} {self.email}"
