import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from crm.validators import validate_timezone


class BusinessCalendar(models.Model):
    """Opening hours in a time zone, with holidays. A calendar with `always_open` is 24/7."""

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    always_open = models.BooleanField("24/7", default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class OpeningHours(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(
        choices=[
            (0, "Monday"),
            (1, "Tuesday"),
            (2, "Wednesday"),
            (3, "Thursday"),
            (4, "Friday"),
            (5, "Saturday"),
            (6, "Sunday"),
        ]
    )
    start = models.TimeField()
    end = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["calendar", "weekday", "start"]
        verbose_name_plural = "opening hours"

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"

    def clean(self):
        if self.end != dt.time(0) and self.end <= self.start:
            raise ValidationError({"end": "The range must end after it starts (00:00 for midnight)."})


class Holiday(models.Model):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="tickets_holiday_unique")]

    def __str__(self):
        return f"{self.date} {self.name}".strip()


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEB = "web", "Web"
    CHAT = "chat", "Chat"
    PHONE = "phone", "Phone"
    API = "api", "API"
    SOCIAL = "social", "Social"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Category(models.TextChoices):
    QUESTION = "question", "Question"
    PROBLEM = "problem", "Problem"
    BUG = "bug", "Bug"
    BILLING = "billing", "Billing"
    FEATURE_REQUEST = "feature_request", "Feature request"
    ACCOUNT = "account", "Account"
    OTHER = "other", "Other"


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending (waiting on the customer)"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


class SlaPolicy(models.Model):
    """Targets for the tickets it matches (first match by `order`), counted in its calendar."""

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    is_active = models.BooleanField(default=True)
    # Conditions: an empty list matches anything.
    tiers = models.JSONField(default=list, blank=True)
    priorities = models.JSONField(default=list, blank=True)
    channels = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies")
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_reply_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    pause_on_hold = models.BooleanField(default=True, help_text="Stop the clock while the ticket is on hold.")
    warn_at_percent = models.PositiveSmallIntegerField(default=80)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(warn_at_percent__gte=1, warn_at_percent__lte=99), name="tickets_sla_warn_percent_range"
            )
        ]

    def __str__(self):
        return self.name


class Ticket(models.Model):
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="tickets")
    requester = models.ForeignKey("crm.Contact", on_delete=models.PROTECT, related_name="tickets")
    subject = models.CharField(max_length=300)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.QUESTION)
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_tickets"
    )
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sla_policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    escalation_level = models.PositiveSmallIntegerField(default=0)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    follow_up_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups"
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    public_staff_replies = models.PositiveIntegerField(default=0)
    # Business seconds (the SLA calendar, pauses excluded), set when the clock stops: the metrics aggregate these.
    first_response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    # Denormalised from the SLA targets for the queue: the earliest due time of a running target.
    next_sla_due_at = models.DateTimeField(null=True, blank=True)
    # A historical import (opened through the API with a created_at more than an hour back): events dated before
    # this time are history, and never notify anyone (no flag, no CSAT, no reply email, no SLA warning).
    imported_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the ticket was imported with its history; empty: a live ticket.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_sla_due_at"], name="tickets_queue_idx"),
            models.Index(fields=["assignee", "status", "next_sla_due_at"], name="tickets_assignee_idx"),
            models.Index(fields=["customer", "-created_at"], name="tickets_customer_idx"),
            models.Index(fields=["status", "solved_at"], name="tickets_solved_idx"),
            # The closed (or any one status) list, latest first, without sorting the status's rows.
            models.Index(fields=["status", "created_at", "id"], name="tickets_status_created_idx"),
            # The API's queue order over every status (?ordering=next_sla_due_at: NULLs, i.e. no running
            # clock, last).
            models.Index(fields=["next_sla_due_at", "id"], name="tickets_next_due_idx"),
            models.Index(fields=["updated_at", "id"], name="tickets_updated_idx"),
            # The CSM home's escalated tickets of a book (tickets.selectors.attention_tickets): only the few
            # unsolved escalated rows, read without touching the table.
            models.Index(
                fields=["customer", "id"],
                condition=Q(escalation_level__gt=0, status__in=["new", "open", "pending", "on_hold"]),
                name="tickets_escalated_open_idx",
            ),
        ]

    def __str__(self):
        return f"{self.reference} {self.subject}"

    @property
    def reference(self):
        return f"[#{self.pk}]"


class TicketMessage(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    public = models.BooleanField(default=True, help_text="False: an internal note, never shown to the customer.")
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    email_message_id = models.CharField(max_length=300, blank=True, db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="tickets_message_ticket_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(author_user__isnull=True) | Q(author_contact__isnull=True),
                name="tickets_message_one_author",
            )
        ]

    def __str__(self):
        return self.body_text[:60]

    @property
    def from_staff(self):
        return self.author_contact_id is None


class TicketStatusChange(models.Model):
    """The ticket's status log: the SLA clock and the metrics are derived from it."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=Status.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["ticket", "at"], name="tickets_status_ticket_idx")]

    def __str__(self):
        return f"{self.from_status or '-'} → {self.to_status}"


class SlaTarget(models.Model):
    """One target of one ticket (first response, next reply, resolution) with its clock so far."""

    class Metric(models.TextChoices):
        FIRST_RESPONSE = "first_response", "First response"
        NEXT_REPLY = "next_reply", "Next reply"
        RESOLUTION = "resolution", "Resolution"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        MET = "met", "Met"
        BREACHED = "breached", "Breached"
        # The ticket was merged into another: the target was neither met nor missed (not in SLA attainment).
        CANCELLED = "cancelled", "Cancelled (ticket merged)"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_targets")
    metric = models.CharField(max_length=20, choices=Metric.choices)
    cycle = models.PositiveIntegerField(default=1, help_text="Next-reply targets restart on each customer message.")
    target_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: measured for the metrics, with no target to meet."
    )
    started_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    # The clock so far: business seconds counted up to `counted_until`, frozen once counted.
    elapsed_seconds = models.PositiveIntegerField(default=0)
    counted_until = models.DateTimeField()
    segments = models.JSONField(default=list, blank=True, help_text="Counted and paused intervals, with reasons.")
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    breached = models.BooleanField(default=False)
    warned_at = models.DateTimeField(null=True, blank=True)
    breach_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ticket", "metric", "cycle"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "metric", "cycle"], name="tickets_sla_target_unique"),
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="running"), name="tickets_sla_running_due_idx"),
            models.Index(
                fields=["warn_at"],
                condition=Q(state="running", warned_at__isnull=True),
                name="tickets_sla_warn_due_idx",
            ),
            # The sweep's second scan: breaches not notified yet of targets that paused or stopped first.
            models.Index(
                fields=["due_at"],
                condition=Q(state__in=["paused", "breached"], breached=True, breach_notified_at__isnull=True),
                name="tickets_sla_late_breach_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_metric_display()} of ticket {self.ticket_id}"


class FlagRule(models.Model):
    """When a ticket is opened or escalated for a matching customer, flag it to the customer's CSM."""

    name = models.CharField(max_length=100, unique=True)
    is_active = models.BooleanField(default=True)
    on_open = models.BooleanField("when opened", default=True)
    on_escalation = models.BooleanField("when escalated", default=True)
    # Conditions (all that are set must match; an empty list or null matches anything).
    lifecycle_stages = models.JSONField(default=list, blank=True, help_text='e.g. ["onboarding", "at_risk"]')
    tiers = models.JSONField(default=list, blank=True)
    priorities = models.JSONField(default=list, blank=True, help_text='e.g. ["urgent"]')
    renewal_within_days = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TicketFlag(models.Model):
    """A ticket flagged to a CSM by a rule: once per ticket, rule and trigger."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="flags")
    rule = models.ForeignKey(FlagRule, null=True, on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(max_length=20)  # opened | escalated:<level>
    notified = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "rule", "trigger"], name="tickets_flag_once"),
        ]

    def __str__(self):
        return f"{self.ticket_id} flagged ({self.trigger})"


def attachment_path(instance, filename):
    import uuid

    # Never the sender's file name on disk: a random name, the original kept in `filename`.
    return f"attachments/{instance.message.ticket_id}/{uuid.uuid4().hex}"


class TicketAttachment(models.Model):
    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.filename


class InboundEmail(models.Model):
    """A received email, stored raw before anything else so nothing a customer sent is lost."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received (not processed yet)"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (auto-reply, bounce, loop or duplicate)"
        UNMATCHED = "unmatched", "Unmatched (needs triage)"
        FAILED = "failed", "Failed (kept for retry)"

    raw = models.BinaryField()
    source = models.CharField(max_length=50, default="api", help_text="api, file, or the email provider")
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    reason = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    message_id = models.CharField(max_length=300, blank=True, db_index=True)
    from_email = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ticket_message = models.ForeignKey(
        TicketMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_ticket = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "-received_at"], name="tickets_inbound_status_idx")]

    def __str__(self):
        return f"{self.from_email}: {self.subject}"
