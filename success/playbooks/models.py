"""Onboarding playbook tables (re-exported by success/models.py).

- `PlaybookTemplate` + `PlaybookStep`: the working copy a CSM lead edits. Each save through
  `success.playbooks.definitions.playbook_save` snapshots it into an immutable `PlaybookVersion` when its
  definition changed; a run keeps the version it started with.
- `PlaybookRun`: a version started for one customer; `RunStep`: its steps, copied from the version's definition
  (title, kind, assignee, due date, status), so editing the template never changes a run under way.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.models import ContactRole, LifecycleStage

__all__ = [
    "AssigneeKind",
    "OffsetFrom",
    "PlaybookRun",
    "PlaybookStep",
    "PlaybookTemplate",
    "PlaybookVersion",
    "RunStep",
    "StepKind",
]


class StepKind(models.TextChoices):
    TASK = "task", "Staff task"
    EMAIL = "email", "Email to the customer's contacts"
    SURVEY = "survey", "Survey"
    MEETING = "meeting", "Meeting (a task with a calendar file for the CSM)"
    MILESTONE = "milestone", "Milestone"


class AssigneeKind(models.TextChoices):
    OWNER = "owner", "Owner CSM"
    SUPPORT_AGENT = "support_agent", "Support agent"
    CUSTOMER = "customer", "The customer"


class OffsetFrom(models.TextChoices):
    START = "start", "From the start"
    PREVIOUS = "previous", "From the previous step"


class PlaybookTemplate(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    lifecycle_stage = models.CharField(
        max_length=20,
        choices=LifecycleStage.choices,
        blank=True,
        help_text="Started automatically when a customer enters this stage (once per entry). Empty: by hand only.",
    )
    next_stage = models.CharField(
        max_length=20,
        choices=LifecycleStage.choices,
        blank=True,
        help_text="The stage a customer moves to when the final milestone is done. Empty: the stage stays.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive templates cannot be started.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["lifecycle_stage", "is_active"], name="success_playbook_stage_idx")]

    def __str__(self):
        return self.name


class PlaybookStep(models.Model):
    template = models.ForeignKey(PlaybookTemplate, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, max_length=5000)
    offset_days = models.PositiveSmallIntegerField(default=0, help_text="Business days (Monday to Friday).")
    offset_from = models.CharField(max_length=10, choices=OffsetFrom.choices, default=OffsetFrom.START)
    assignee = models.CharField(max_length=20, choices=AssigneeKind.choices, default=AssigneeKind.OWNER)
    kind = models.CharField(max_length=10, choices=StepKind.choices, default=StepKind.TASK)
    email_template = models.ForeignKey(
        "crm.EmailTemplate", null=True, blank=True, on_delete=models.PROTECT, related_name="playbook_steps"
    )
    contact_role = models.CharField(
        max_length=20,
        choices=ContactRole.choices,
        blank=True,
        help_text="Email and survey steps: the contacts of this role. Empty: the primary contact.",
    )
    survey = models.ForeignKey(
        "surveys.Survey", null=True, blank=True, on_delete=models.PROTECT, related_name="playbook_steps"
    )
    milestone_event = models.CharField(
        max_length=100, blank=True, help_text="Milestones: a product usage event name that completes it."
    )
    meeting_minutes = models.PositiveSmallIntegerField(default=30, help_text="Meetings: the duration.")

    class Meta:
        ordering = ["template", "position", "id"]

    def __str__(self):
        return self.title


class PlaybookVersion(models.Model):
    """An immutable snapshot: {"name", "lifecycle_stage", "next_stage", "steps": [{"title", "instructions",
    "offset_days", "offset_from", "assignee", "kind", "email_template", "contact_role", "survey",
    "milestone_event", "meeting_minutes"}]} (email_template and survey by id)."""

    template = models.ForeignKey(PlaybookTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="success_playbookversion_unique_number")
        ]

    def __str__(self):
        return f"{self.template} v{self.number}"


class PlaybookRun(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    template = models.ForeignKey(PlaybookTemplate, on_delete=models.PROTECT, related_name="runs")
    version = models.ForeignKey(PlaybookVersion, on_delete=models.PROTECT, related_name="runs")
    customer = models.ForeignKey("crm.Customer", on_delete=models.PROTECT, related_name="playbook_runs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="playbook_runs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_on = models.DateField(help_text="The customer's local date when it started.")
    started_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    entry_key = models.CharField(
        max_length=100, blank=True, help_text="Automatic starts: the stage entry that started it (once per entry)."
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    risk_task = models.ForeignKey(
        "crm.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "customer"],
                condition=Q(status="active"),
                name="success_playbookrun_one_active_per_template",
            ),
            models.UniqueConstraint(
                fields=["template", "customer", "entry_key"],
                condition=~Q(entry_key=""),
                name="success_playbookrun_once_per_stage_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-started_at"], name="success_run_status_idx"),
            models.Index(fields=["customer", "-started_at"], name="success_run_customer_idx"),
            models.Index(fields=["owner", "status"], name="success_run_owner_idx"),
        ]

    def __str__(self):
        return f"{self.template} for {self.customer}"


class RunStep(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(PlaybookRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=StepKind.choices)
    assignee_kind = models.CharField(max_length=20, choices=AssigneeKind.choices)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="playbook_steps"
    )
    spec = models.JSONField(default=dict, help_text="The step as its version defines it.")
    due_date = models.DateField()
    planned_due_date = models.DateField(help_text="The due date computed at the start (re-dating keeps this).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    redated_count = models.PositiveSmallIntegerField(default=0)
    calendar_sequence = models.PositiveIntegerField(
        default=0, help_text="Meetings: the .ics SEQUENCE, bumped whenever the due date moves (calendars update)."
    )
    skip_reason = models.CharField(max_length=300, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    executed_at = models.DateTimeField(null=True, blank=True, help_text="Email and survey steps: when sent.")
    result = models.CharField(max_length=300, blank=True)
    task = models.ForeignKey("crm.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_nudged_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="success_runstep_unique_position"),
        ]
        indexes = [
            models.Index(fields=["due_date"], condition=Q(status="pending"), name="success_runstep_due_idx"),
        ]

    def __str__(self):
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PENDING


# Module-level names for the choice sets (the OpenAPI schema names its enums from these).
RunStatus = PlaybookRun.Status
RunStepStatus = RunStep.Status
