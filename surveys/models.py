from django.conf import settings
from django.db import models
from django.db.models import Q


class Kind(models.TextChoices):
    NPS = "nps", "NPS (0-10)"
    CES = "ces", "CES (1-7)"
    CSAT = "csat", "CSAT (1-5)"


SCALES = {Kind.NPS: range(0, 11), Kind.CES: range(1, 8), Kind.CSAT: range(1, 6)}
DEFAULT_QUESTIONS = {
    Kind.NPS: "How likely are you to recommend {company} to a friend or colleague?",
    Kind.CES: "{company} made it easy for me to handle my issue.",
    Kind.CSAT: "How satisfied are you with the support you received?",
}


def band(kind: str, score: int) -> str:
    """promoter / passive / detractor for NPS; happy / neutral / unhappy for CSAT and CES."""
    if kind == Kind.NPS:
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    if kind == Kind.CSAT:
        return "happy" if score >= 4 else "neutral" if score == 3 else "unhappy"
    return "happy" if score >= 5 else "neutral" if score == 4 else "unhappy"  # CES: 1-3 is a hard experience


class Survey(models.Model):
    class OnUnhappy(models.TextChoices):
        TASK = "task", "Create a follow-up task for the CSM"
        TICKET = "ticket", "Open a support ticket"

    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=4, choices=Kind.choices)
    question = models.CharField(max_length=300)
    follow_up_question = models.CharField(
        max_length=300, default="What is the main reason for your score?", help_text="Asked to everyone."
    )
    follow_up_unhappy = models.CharField(
        max_length=300,
        blank=True,
        default="We're sorry to hear that. What could we have done better?",
        help_text="Asked instead to detractors / unhappy answers (empty: the general question).",
    )
    reminder_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    expiry_days = models.PositiveSmallIntegerField(default=30)
    is_active = models.BooleanField(default=True)
    on_unhappy = models.CharField(max_length=10, choices=OnUnhappy.choices, default=OnUnhappy.TASK)
    thank_promoters = models.BooleanField(default=False, help_text="Email a thank-you to promoters / happy answers.")
    # Triggers
    send_after_ticket_solved = models.BooleanField(
        default=False, help_text="CSAT/CES: invite the requester when a ticket is solved (after the delay)."
    )
    ticket_solved_delay_hours = models.PositiveSmallIntegerField(default=24)
    recurring_months = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        choices=[(3, "Every 3 months"), (6, "Every 6 months"), (12, "Every 12 months")],
        help_text="Recurring NPS per contact, sent on weekdays in the contact's local morning.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["nps", "ces", "csat"]), name="surveys_survey_kind_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def scale(self) -> range:
        return SCALES[self.kind]


class Invitation(models.Model):
    """One contact asked one survey once, by one trigger."""

    class Trigger(models.TextChoices):
        CAMPAIGN = "campaign", "Campaign"
        API = "api", "API"
        TICKET_SOLVED = "ticket_solved", "Ticket solved"
        RECURRING = "recurring", "Recurring schedule"
        OUTREACH = "outreach", "Outreach rule"
        PLAYBOOK = "playbook", "Playbook step"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        SUPPRESSED = "suppressed", "Suppressed"
        CANCELLED = "cancelled", "Cancelled"
        ANSWERED = "answered", "Answered"
        EXPIRED = "expired", "Expired"

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="invitations")
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="survey_invitations")
    contact = models.ForeignKey("crm.Contact", on_delete=models.PROTECT, related_name="survey_invitations")
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    trigger_key = models.CharField(
        max_length=100, help_text="What asked, e.g. campaign:12, ticket:345, recurring:2026-11; unique per contact."
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="survey_invitations"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    suppressed_reason = models.CharField(max_length=200, blank=True)
    # The one-click token is derived (HMAC of the id and this nonce with the secret key) when the email is sent;
    # only its SHA-256 is stored, for lookup.
    token_nonce = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scheduled_for = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When a scan last published this invitation's dispatch or reminder task; a scan publishes it "
        "again only if it is still due SURVEYS_REQUEUE_MINUTES later (a lost message).",
    )
    email = models.ForeignKey("crm.OutboundEmail", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "contact", "trigger_key"], name="surveys_invitation_once_per_trigger"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "scheduled_for"], name="surveys_inv_due_idx"),
            models.Index(fields=["survey", "status", "sent_at"], name="surveys_inv_survey_idx"),
            models.Index(fields=["contact", "-created_at"], name="surveys_inv_contact_idx"),
        ]

    def __str__(self):
        return f"{self.survey} → {self.contact_id} ({self.status})"


class Response(models.Model):
    invitation = models.OneToOneField(Invitation, on_delete=models.PROTECT, related_name="response")
    # Denormalised for results over millions of rows without joins.
    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="responses")
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="survey_responses")
    contact = models.ForeignKey("crm.Contact", on_delete=models.PROTECT, related_name="survey_responses")
    kind = models.CharField(max_length=4, choices=Kind.choices)
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=5000)
    answered_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    user_agent = models.CharField(max_length=500, blank=True)
    seconds_after_send = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-answered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="nps", score__gte=0, score__lte=10)
                    | Q(kind="ces", score__gte=1, score__lte=7)
                    | Q(kind="csat", score__gte=1, score__lte=5)
                ),
                name="surveys_response_score_in_scale",
            ),
        ]
        indexes = [
            models.Index(fields=["survey", "answered_at"], name="surveys_resp_survey_idx"),
            models.Index(fields=["customer", "kind", "-answered_at"], name="surveys_resp_customer_idx"),
            models.Index(fields=["kind", "answered_at"], name="surveys_resp_kind_idx"),
        ]

    def __str__(self):
        return f"{self.kind.upper()} {self.score}"

    @property
    def band(self) -> str:
        return band(self.kind, self.score)


class Campaign(models.Model):
    """A survey sent to an audience (tiers, lifecycle stages, owners, contact roles, customers, contacts),
    recorded when it is started, in the same transaction: a campaign whose task the broker never got stays
    "queued" and the dispatch scan publishes it again (surveys.scheduling.campaign_requeue). Its invitations
    carry its `trigger_key`, unique per contact, so however often its task runs nobody is invited twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # recorded; the task that creates its invitations has not run yet
        RUNNING = "running", "Running"  # invitations created (or being created); some not dispatched yet
        DONE = "done", "Done"  # every invitation dispatched: sent or suppressed

    survey = models.ForeignKey(Survey, on_delete=models.PROTECT, related_name="campaigns")
    audience = models.JSONField(
        default=dict,
        blank=True,
        help_text='Who is invited, e.g. {"tiers": ["enterprise"], "owners": [user ids], "roles": ["champion"]}; '
        "the filters combine (AND); {} is every contact.",
    )
    trigger_key = models.CharField(
        max_length=100, unique=True, editable=False, help_text="The trigger key of its invitations."
    )
    request_key = models.CharField(
        max_length=100,
        blank=True,
        editable=False,
        help_text="The starting request's idempotency key: the same key starts the survey's campaign once.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    invited = models.PositiveIntegerField(
        null=True, blank=True, help_text="Invitations it created (known once they all are)."
    )
    suppressed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Of them, not emailed (ledger suppression or cancelled), once done."
    )
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When its task was last published; empty: the broker refused it (the next scan retries).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "request_key"],
                condition=~Q(request_key=""),
                name="surveys_campaign_once_per_request_key",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done"]), name="surveys_campaign_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["survey", "-created_at"], name="surveys_campaign_survey_idx"),
            models.Index(fields=["status"], condition=~Q(status="done"), name="surveys_campaign_open_idx"),
        ]

    def __str__(self):
        return f"{self.survey} campaign {self.created_at:%Y-%m-%d %H:%M}" if self.created_at else "campaign"
