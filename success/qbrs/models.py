"""QBRs (quarterly business reviews): the cadence per tier and the reviews themselves.

A QBR's start is stored in UTC (`starts_at`) together with the name of the customer's time zone it was planned in
(`timezone`): the invite shows the meeting in that zone (with its VTIMEZONE), so a DST change between planning and
the meeting keeps the local wall-clock time the CSM chose. `ics_uid` never changes; `sequence` grows with every
change sent to attendees (RFC 5545), so calendar clients apply an update or a cancellation to the same event.
"""

import datetime as dt
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from crm.models import Tier
from crm.validators import validate_timezone

__all__ = ["Qbr", "QbrCadence", "QbrStatus"]

# Defaults when a tier has no cadence row (the data migration writes these rows; the admin edits them).
DEFAULT_CADENCE_MONTHS = {Tier.ENTERPRISE: 3, Tier.MID_MARKET: 6, Tier.SMB: None}


class QbrCadence(models.Model):
    tier = models.CharField(max_length=20, choices=Tier.choices, unique=True)
    every_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="A QBR every this many months after the last one held. Empty: no regular QBRs (the one before "
        "each renewal is still proposed).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier"]
        verbose_name = "QBR cadence"
        constraints = [
            models.CheckConstraint(
                condition=Q(every_months__isnull=True) | Q(every_months__gte=1, every_months__lte=24),
                name="success_qbrcadence_months_range",
            )
        ]

    def __str__(self):
        every = f"every {self.every_months} months" if self.every_months else "no regular QBRs"
        return f"{self.get_tier_display()}: {every}"


class QbrStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    SCHEDULED = "scheduled", "Scheduled"
    HELD = "held", "Held"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (QbrStatus.PROPOSED, QbrStatus.SCHEDULED)


def new_ics_uid() -> str:
    return f"qbr-{uuid.uuid4()}@{settings.EMAIL_MESSAGE_ID_DOMAIN}"


class Qbr(models.Model):
    Status = QbrStatus

    class Origin(models.TextChoices):
        MANUAL = "manual", "Planned by a person"
        CADENCE = "cadence", "The tier's cadence"
        RENEWAL = "renewal", "Before the renewal"

    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="qbrs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_qbrs",
        help_text="The CSM who runs the QBR (the invite's organizer).",
    )
    status = models.CharField(max_length=10, choices=QbrStatus.choices, default=QbrStatus.PROPOSED)
    starts_at = models.DateTimeField(help_text="Stored in UTC; shown in `timezone`.")
    timezone = models.CharField(
        max_length=64, validators=[validate_timezone], help_text="The customer's time zone the QBR is planned in."
    )
    duration_minutes = models.PositiveSmallIntegerField(
        default=60, validators=[MinValueValidator(15), MaxValueValidator(480)]
    )
    contacts = models.ManyToManyField(
        "crm.Contact", blank=True, related_name="qbrs", help_text="Attendees among the customer's contacts."
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="attended_qbrs", help_text="Staff attendees."
    )
    agenda = models.TextField(blank=True, max_length=10000)
    notes = models.TextField(blank=True, max_length=20000)
    outcomes = models.TextField(blank=True, max_length=10000)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.MANUAL)
    origin_key = models.CharField(
        max_length=40,
        blank=True,
        help_text="What the periodic planner proposed it for (e.g. renewal:2027-06-30): one active QBR per key.",
    )
    ics_uid = models.CharField(max_length=200, unique=True, default=new_ics_uid, editable=False)
    sequence = models.PositiveIntegerField(default=0, editable=False, help_text="iCalendar SEQUENCE last sent.")
    prep = models.JSONField(default=dict, blank=True, editable=False, help_text="The preparation pack.")
    prep_generated_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancel_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    scheduled_at = models.DateTimeField(null=True, blank=True, editable=False)
    held_at = models.DateTimeField(null=True, blank=True, editable=False)
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["starts_at", "id"]
        verbose_name = "QBR"
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "origin_key"],
                condition=Q(status__in=["proposed", "scheduled"]) & ~Q(origin_key=""),
                name="success_qbr_one_active_per_origin",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=15, duration_minutes__lte=480), name="success_qbr_duration_range"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "starts_at"], name="success_qbr_customer_idx"),
            models.Index(fields=["status", "starts_at"], name="success_qbr_status_idx"),
            models.Index(fields=["owner", "starts_at"], name="success_qbr_owner_idx"),
        ]

    def __str__(self):
        return f"QBR {self.customer_id} {self.starts_at:%Y-%m-%d} ({self.status})"

    @property
    def ends_at(self):
        return self.starts_at + dt.timedelta(minutes=self.duration_minutes)
