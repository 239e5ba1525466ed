"""Proactive outreach tables (re-exported by success/models.py).

- `OutreachRule` (a "play"): who (`conditions`, see success.outreach.conditions), when (`trigger`: a crontab
  `schedule`, or an `event` with `event_params`), what (`actions`, see success.outreach.actions), how often per
  customer (`cooldown_days`), how many customers per run (`cap_per_run`) and whether only in the customer's local
  business hours (`quiet_hours`), skipping the holidays of a business calendar (`holiday_calendar`, read as the
  customer's local dates). Written only through `success.outreach.definitions.outreach_rule_save`, which
  validates everything (admin and API alike). Shipped plays have a `shipped_key` (success.outreach.defaults).
- `OutreachRecord`: one action performed (or skipped) for one customer (and contact, for emails) by one rule in
  one period. The execution (beat scan, claims, performing the actions) writes them; the preview and the cooldown
  read them.

The contract with the execution (the scan and the actions):
- The schedule's crontab fields (minute, hour, day_of_week, day_of_month, month_of_year) are read in EACH
  CUSTOMER'S local time (`Customer.timezone`); the CrontabSchedule's own timezone is UTC and ignored.
- `period_key` names the unit of work, so claiming is an insert under the unique key (rule, customer, contact,
  action_index, period_key): a schedule uses the customer's local date of the due run ("2026-03-14", or with the
  time "2026-03-14T09:00" when a rule fires more than once a day); an event uses "event:<kind>:<source id>".
- Cooldown: a customer with a record of RESULTS_ACTED (pending, sent, resent, unknown) for the rule created within
  `cooldown_days` is skipped (reason "cooldown"); `success.outreach.selectors.acted_within` is that test.
- `result`: pending (claimed by a scan, performed from `due_at` on: later than the claim when quiet hours defer
  it to the customer's next business hour), sent (done: email queued/sent, task created, stage changed ...),
  skipped (`reason`: unsubscribed, bounced, complained, fatigued, no contact of the role ...), failed (`reason`:
  the error),
  unknown (an email whose worker died mid-send), resent (an unknown email sent again with the same Message-ID).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["OutreachEvent", "OutreachRecord", "OutreachResult", "OutreachRule", "OutreachTrigger"]


class OutreachTrigger(models.TextChoices):
    SCHEDULE = "schedule", "On a schedule"
    EVENT = "event", "When something happens"


class OutreachEvent(models.TextChoices):
    STAGE_CHANGED = "stage_changed", "Lifecycle stage changed"
    TICKET_FLAGGED = "ticket_flagged", "Ticket flagged to the CSM"
    TICKET_ESCALATED = "ticket_escalated", "Ticket escalated"
    SURVEY_ANSWERED = "survey_answered", "Survey answered (in a band)"
    TASK_OVERDUE = "task_overdue", "CSM task overdue"
    RENEWAL_IN_DAYS = "renewal_in_days", "Renewal N days away"
    HEALTH_BAND_CHANGED = "health_band_changed", "Health band changed"
    NO_USAGE_DAYS = "no_usage_days", "No product usage for N days"
    PLAYBOOK_STEP_OVERDUE = "playbook_step_overdue", "Playbook step overdue"


class OutreachResult(models.TextChoices):
    PENDING = "pending", "Claimed, to be done (deferred to business hours when due_at is later)"
    SENT = "sent", "Sent / done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown (worker lost mid-send)"
    RESENT = "resent", "Resent (same Message-ID)"


class OutreachRule(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    enabled = models.BooleanField(default=False, help_text="Disabled rules never act (the preview still works).")
    trigger = models.CharField(max_length=10, choices=OutreachTrigger.choices, default=OutreachTrigger.SCHEDULE)
    schedule = models.ForeignKey(
        "django_celery_beat.CrontabSchedule",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Schedule trigger: minute, hour and days in each customer's local time.",
    )
    event = models.CharField(max_length=30, choices=OutreachEvent.choices, blank=True)
    event_params = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(default=dict, blank=True, help_text="Empty: every customer.")
    actions = models.JSONField(default=list)
    cooldown_days = models.PositiveIntegerField(
        default=30, help_text="A customer acted on by this rule is left alone for this many days (0: no cooldown)."
    )
    cap_per_run = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many customers per run; empty: no cap."
    )
    quiet_hours = models.BooleanField(
        default=True, help_text="Act only on the customer's local business days and hours."
    )
    holiday_calendar = models.ForeignKey(
        "tickets.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="With quiet hours: this calendar's holidays are not business days either (each customer's local "
        "date); work due on one waits for the next business day. Empty: no holidays.",
    )
    shipped_key = models.SlugField(
        max_length=60, unique=True, null=True, blank=True, editable=False, help_text="Which shipped play it is."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    enabled_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the rule was last turned on (schedules fire after it)."
    )
    last_scan_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="The last scheduled run.")
    last_scan_summary = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "outreach rule"
        constraints = [
            models.CheckConstraint(
                condition=Q(cap_per_run__isnull=True) | Q(cap_per_run__gte=1), name="success_outreachrule_cap_min"
            ),
            models.CheckConstraint(
                condition=~Q(trigger="schedule") | Q(schedule__isnull=False),
                name="success_outreachrule_schedule_set",
            ),
            models.CheckConstraint(condition=~Q(trigger="event") | ~Q(event=""), name="success_outreachrule_event_set"),
        ]
        indexes = [models.Index(fields=["enabled", "trigger", "event"], name="success_outreach_due_idx")]

    def __str__(self):
        return self.name


class OutreachRecord(models.Model):
    rule = models.ForeignKey(OutreachRule, on_delete=models.PROTECT, related_name="records")
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="outreach_records")
    contact = models.ForeignKey(
        "crm.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="outreach_records"
    )
    action_index = models.PositiveSmallIntegerField(help_text="The action's position in the rule's actions.")
    action_type = models.CharField(max_length=20)
    period_key = models.CharField(max_length=80, help_text='e.g. "2026-03-14" or "event:ticket_flagged:42".')
    result = models.CharField(max_length=10, choices=OutreachResult.choices)
    reason = models.CharField(max_length=200, blank=True)
    outbound_email = models.ForeignKey(
        "crm.OutboundEmail", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task = models.ForeignKey("crm.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    invitation = models.ForeignKey(
        "surveys.Invitation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(default=timezone.now, help_text="A pending record is done from then on.")
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outreach record"
        constraints = [
            # Two partial constraints (not nulls_distinct=False): the same on PostgreSQL and SQLite.
            models.UniqueConstraint(
                fields=["rule", "customer", "contact", "action_index", "period_key"],
                condition=Q(contact__isnull=False),
                name="success_outreachrecord_once_per_contact",
            ),
            models.UniqueConstraint(
                fields=["rule", "customer", "action_index", "period_key"],
                condition=Q(contact__isnull=True),
                name="success_outreachrecord_once_per_customer",
            ),
        ]
        indexes = [
            models.Index(fields=["rule", "customer", "-created_at"], name="success_outreach_cooldown_idx"),
            models.Index(fields=["customer", "-created_at"], name="success_outreach_customer_idx"),
            models.Index(fields=["rule", "result", "-created_at"], name="success_outreach_result_idx"),
            models.Index(fields=["due_at"], condition=Q(result="pending"), name="success_outreach_pending_idx"),
        ]

    def __str__(self):
        return f"{self.rule} → {self.customer_id}: {self.action_type} {self.result}"


RESULTS_ACTED = (OutreachResult.PENDING, OutreachResult.SENT, OutreachResult.RESENT, OutreachResult.UNKNOWN)
