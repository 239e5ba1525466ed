from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q


class Task(models.Model):
    """A CSM's call to action on a customer (risk, opportunity, lifecycle step or plain activity)."""

    class Type(models.TextChoices):
        RISK = "risk", "Risk"
        OPPORTUNITY = "opportunity", "Opportunity"
        LIFECYCLE = "lifecycle", "Lifecycle"
        ACTIVITY = "activity", "Activity"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="tasks")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.ACTIVITY)
    reason = models.CharField(max_length=300, help_text="What to do and why, e.g. 'Detractor: NPS 3'.")
    due_date = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # What created it: empty for a manual task, else the object (a ticket, a survey response, a playbook step).
    source_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_id = models.CharField(max_length=64, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "type", "reason"],
                condition=Q(status="open"),
                name="success_task_one_open_per_customer_type_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status", "due_date"], name="success_task_mine_idx"),
            models.Index(fields=["customer", "status"], name="success_task_customer_idx"),
            models.Index(fields=["updated_at", "id"], name="success_task_updated_idx"),
            models.Index(fields=["source_type", "source_id"], name="success_task_source_idx"),
        ]

    def __str__(self):
        return self.reason

    @property
    def source_label(self):
        return "manual" if self.source_type_id is None else f"{self.source_type.model} #{self.source_id}"


# Module-level names for the choice sets (the OpenAPI schema names its enums from these).
TaskStatus = Task.Status
TaskType = Task.Type
TaskPriority = Task.Priority
from success.revenue.models import *  # noqa: E402,F403
