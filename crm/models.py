from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from crm.validators import validate_timezone


class LifecycleStage(models.TextChoices):
    ONBOARDING = "onboarding", "Onboarding"
    ADOPTING = "adopting", "Adopting"
    MATURE = "mature", "Mature"
    AT_RISK = "at_risk", "At risk"
    CHURNED = "churned", "Churned"


class Tier(models.TextChoices):
    ENTERPRISE = "enterprise", "Enterprise"
    MID_MARKET = "mid_market", "Mid-market"
    SMB = "smb", "SMB"


class ContactRole(models.TextChoices):
    CHAMPION = "champion", "Champion"
    DECISION_MAKER = "decision_maker", "Decision maker"
    BILLING = "billing", "Billing"
    END_USER = "end_user", "End user"
    OTHER = "other", "Other"


class Customer(models.Model):
    """The one customer (account) record every app points to."""

    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, db_index=True, help_text="e.g. example.com")
    external_id = models.CharField(
        max_length=100, unique=True, null=True, blank=True, help_text="The id integrations know it by."
    )
    lifecycle_stage = models.CharField(max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.ONBOARDING)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.SMB)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
        help_text="The customer success manager who owns this account.",
    )
    arr = models.DecimalField(
        "ARR",
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Annual recurring revenue in the reporting currency.",
    )
    contract_start = models.DateField(null=True, blank=True)
    renewal_date = models.DateField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["name", "id"]
        permissions = [("change_customer_commercials", "Can change a customer's ARR, owner and tier")]
        constraints = [
            models.CheckConstraint(condition=Q(arr__gte=0), name="crm_customer_arr_not_negative"),
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="crm_customer_name_idx"),
            models.Index(fields=["lifecycle_stage", "name"], name="crm_customer_stage_idx"),
            models.Index(fields=["tier", "name"], name="crm_customer_tier_idx"),
            models.Index(fields=["owner", "name"], name="crm_customer_owner_idx"),
            models.Index(fields=["arr", "id"], name="crm_customer_arr_idx"),
            models.Index(fields=["renewal_date", "id"], name="crm_customer_renewal_idx"),
            models.Index(fields=["updated_at", "id"], name="crm_customer_updated_idx"),
            models.Index(fields=["created_at", "id"], name="crm_customer_created_idx"),
        ]

    def __str__(self):
        return self.name


class Contact(models.Model):
    """A person at a customer. Consent and deliverability (the contact ledger) live on the contact too."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    role = models.CharField(max_length=20, choices=ContactRole.choices, default=ContactRole.END_USER)
    is_primary = models.BooleanField(default=False)
    phone = models.CharField(max_length=40, blank=True)
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="Empty: the customer's time zone."
    )
    # The contact ledger (consent and deliverability); set by its services only.
    unsubscribed_at = models.DateTimeField(null=True, blank=True, editable=False)
    bounced_at = models.DateTimeField(null=True, blank=True, editable=False)
    complained_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["customer_id", "-is_primary", "email"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "email"], name="crm_contact_email_unique_per_customer"),
            models.UniqueConstraint(
                fields=["customer"], condition=Q(is_primary=True), name="crm_contact_one_primary_per_customer"
            ),
        ]
        indexes = [
            models.Index(fields=["email"], name="crm_contact_email_idx"),
            models.Index(fields=["updated_at", "id"], name="crm_contact_updated_idx"),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name else self.email

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def effective_timezone(self):
        return self.timezone or self.customer.timezone


class TimelineEvent(models.Model):
    """One append-only feed of everything that happened to a customer, written by the services."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline_events")
    kind = models.CharField(max_length=64, help_text="e.g. customer.updated, note.added, email.sent")
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=300)
    source_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_id = models.CharField(max_length=64, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="crm_timeline_latest_idx"),
            models.Index(fields=["-occurred_at", "-id"], name="crm_timeline_recent_idx"),
            models.Index(fields=["kind", "-occurred_at"], name="crm_timeline_kind_idx"),
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.kind}: {self.summary}"


class Note(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(max_length=20000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="crm_note_latest_idx")]

    def __str__(self):
        return self.body[:60]


class OutboundEmail(models.Model):
    """An email the product sends: a row first, sent once by `crm.send_email`."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        UNKNOWN = "unknown", "Unknown (worker lost mid-send; resent once with the same Message-ID)"

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=64, help_text="e.g. ticket_reply, survey_invite, outreach")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_emails"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_emails"
    )
    from_email = models.CharField(max_length=300)
    to_email = models.EmailField(max_length=254)
    subject = models.CharField(max_length=998)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    calendar = models.TextField(
        blank=True,
        help_text="An iCalendar object (e.g. a meeting invite). Sent as a text/calendar alternative part with "
        "the object's METHOD, and as an invite.ics attachment.",
    )
    message_id = models.CharField(max_length=300, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(help_text="When the next send attempt is due.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the recipient first answered it: an inbound email naming its Message-ID in In-Reply-To or "
        "References (tickets' inbound path records it).",
    )
    published_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When its send task was last handed to the broker; empty when publishing failed (the sweep "
        "re-queues it).",
    )
    unknown_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sweep found its worker gone mid-send (delivery unknown)."
    )
    resends = models.PositiveSmallIntegerField(
        default=0, help_text="Automatic resends after an unknown outcome (same Message-ID)."
    )
    resent_at = models.DateTimeField(null=True, blank=True, help_text="When it was last resent automatically.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outbound email"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="crm_email_pending_idx",
            ),
            models.Index(fields=["customer", "-created_at"], name="crm_email_customer_idx"),
            models.Index(fields=["contact", "-created_at"], name="crm_email_contact_idx"),
            models.Index(fields=["unknown_at"], condition=Q(status="unknown"), name="crm_email_unknown_idx"),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to_email}"


class EmailRateBucket(models.Model):
    """The token bucket of EMAIL_RATE_LIMIT_PER_MINUTE, shared by every worker (crm.email_rate)."""

    name = models.CharField(max_length=50, unique=True, default="smtp")
    tokens = models.FloatField(default=0)
    refilled_at = models.DateTimeField()
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}: {self.tokens:.1f} tokens"


class Heartbeat(models.Model):
    """Written by the periodic `crm.heartbeat` task: proof that beat and a worker are alive."""

    name = models.CharField(max_length=50, unique=True, default="celery")
    last_beat_at = models.DateTimeField()
    beats = models.PositiveBigIntegerField(default=0)
    worker_hostname = models.CharField(max_length=200, blank=True)

    def __str__(self):
        return f"{self.name}: {self.last_beat_at:%Y-%m-%d %H:%M:%S} UTC"


class LedgerEntry(models.Model):
    """The contact ledger's log: each email to a contact that was sent or suppressed, and why."""

    class Kind(models.TextChoices):
        SURVEY = "survey", "Survey"
        OUTREACH = "outreach", "Outreach"
        QBR_INVITE = "qbr_invite", "QBR invite"
        TICKET_REPLY = "ticket_reply", "Ticket reply"
        PLAYBOOK = "playbook", "Playbook email"

    class Outcome(models.TextChoices):
        SENT = "sent", "Sent"
        SUPPRESSED = "suppressed", "Suppressed"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="ledger_entries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subkind = models.CharField(max_length=30, blank=True, help_text="e.g. the survey kind: nps, ces, csat")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    source_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_id = models.CharField(max_length=64, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "ledger entry"
        verbose_name_plural = "contact ledger"
        indexes = [
            models.Index(fields=["contact", "kind", "outcome", "-created_at"], name="crm_ledger_contact_idx"),
        ]

    def __str__(self):
        return f"{self.kind} {self.outcome}: {self.reason}"


class EmailTemplate(models.Model):
    """An email written once and sent to many customers (playbook email steps, the outreach engine): its
    subject and bodies may name variables such as {customer.name} or {contact.first_name}, filled in by
    `crm.email_templates.template_render`. Saved through `crm.email_templates.email_template_save`, which refuses
    an unknown variable naming the field, so no customer ever receives a literal "{custmer.name}"."""

    name = models.CharField(max_length=100, unique=True)
    subject = models.CharField(max_length=300)
    text_body = models.TextField(max_length=50000)
    html_body = models.TextField(max_length=100000, blank=True, help_text="Optional; empty: plain text only.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "email template"

    def __str__(self):
        return self.name


class Task(models.Model):
    """A CSM's call to action on a customer (risk, opportunity, lifecycle step or plain activity).

    It lives in crm, the floor every app stands on, so tickets, surveys and success all create tasks through
    crm.task_services without importing each other.
    """

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
    source_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_id = models.CharField(max_length=64, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True, max_length=1000, help_text="What came of it, noted when it was closed.")

    class Meta:
        # Created in the success app and moved here (crm.0005, a state-only move): it keeps its table and the
        # names of its constraint and indexes.
        db_table = "success_task"
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
