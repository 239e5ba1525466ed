"""Health score tables (re-exported by success/models.py).

- `HealthModel` + `HealthComponent`: the model a CSM lead edits in the admin (the working copy). Each save through
  `success.health.services.health_model_save` snapshots it into an immutable `HealthModelVersion` when the
  definition changed; scores always name the version that computed them.
- `HealthScore`: one row per customer per day (the latest run of the day wins), with its components, their
  inputs and the model version: the history and the explanation.
- `CustomerHealth`: the current score and band of each customer (the customer list filters and sorts on it).
- `HealthOverride`: a CSM's manual override of the whole score (component empty) or of one component, with a
  reason and an expiry date.
- `HealthRecomputeRequest`: customers waiting for an event-driven recompute (a breach, a detractor, a usage
  import, an override); the recompute task drains it every 30 seconds.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from crm.models import LifecycleStage
from success.health.catalogue import INPUT_CHOICES

__all__ = [
    "Band",
    "CustomerHealth",
    "HealthComponent",
    "HealthModel",
    "HealthModelVersion",
    "HealthOverride",
    "HealthRecomputeRequest",
    "HealthScore",
    "ScoringMethod",
]


class Band(models.TextChoices):
    RED = "red", "Red"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"


class ScoringMethod(models.TextChoices):
    LINEAR = "linear", "Linear range (worst value scores 0, best value scores 100)"
    THRESHOLDS = "thresholds", "Thresholds (a score per range of values)"


class HealthModel(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    lifecycle_stage = models.CharField(
        max_length=20,
        choices=LifecycleStage.choices,
        blank=True,
        help_text="Empty: the default model, used for every stage without a model of its own.",
    )
    red_below = models.PositiveSmallIntegerField(
        default=50, validators=[MaxValueValidator(100)], help_text="A score below this is red."
    )
    green_from = models.PositiveSmallIntegerField(
        default=75, validators=[MaxValueValidator(100)], help_text="A score at or above this is green."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive models score nobody.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["lifecycle_stage", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["lifecycle_stage"], condition=Q(is_active=True), name="success_healthmodel_one_active_per_stage"
            ),
            models.CheckConstraint(
                condition=Q(red_below__lte=models.F("green_from")), name="success_healthmodel_bands_ordered"
            ),
        ]

    def __str__(self):
        return self.name


class HealthComponent(models.Model):
    """One component: one measured input turned into 0-100 by a linear range or by thresholds.

    Linear: `worst` scores 0 and `best` scores 100, values between are interpolated and values beyond are clamped
    (worst may be above best: fewer is better). Thresholds: `[[up_to, score], ..., [null, score]]` with strictly
    ascending `up_to`; the first pair whose `up_to` is at least the value gives the score, the last (null) pair
    scores every larger value.
    """

    model = models.ForeignKey(HealthModel, on_delete=models.CASCADE, related_name="components")
    name = models.CharField(max_length=100, help_text="As shown in the explanation, e.g. 'Open tickets'.")
    input = models.CharField(max_length=40, choices=INPUT_CHOICES)
    weight = models.DecimalField(max_digits=6, decimal_places=2, validators=[MinValueValidator(0)])
    method = models.CharField(max_length=12, choices=ScoringMethod.choices, default=ScoringMethod.LINEAR)
    worst = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    best = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    thresholds = models.JSONField(default=list, blank=True)
    key_events = models.CharField(
        max_length=500, blank=True, help_text="For the key events input: the event names, separated by commas."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["model", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(weight__gte=0), name="success_healthcomponent_weight_not_negative"),
        ]

    def __str__(self):
        return self.name


class HealthModelVersion(models.Model):
    """An immutable snapshot of a model: {"name", "lifecycle_stage", "bands": {"red_below", "green_from"},
    "components": [{"name", "input", "weight", "method", "worst", "best", "thresholds", "key_events"}]}."""

    model = models.ForeignKey(HealthModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="success_healthmodelversion_unique"),
        ]

    def __str__(self):
        return f"{self.model} v{self.number}"


class HealthScore(models.Model):
    """One customer's score of one day (UTC). `components` is the explanation: [{"name", "input", "score",
    "weight", "effective_weight", "contribution", "inputs": {...}, "missing": bool, "overridden": {...}|null}]."""

    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="health_scores")
    day = models.DateField()
    score = models.DecimalField(max_digits=4, decimal_places=1)
    band = models.CharField(max_length=6, choices=Band.choices)
    computed_score = models.DecimalField(
        max_digits=4, decimal_places=1, help_text="Before a manual override of the whole score."
    )
    model_version = models.ForeignKey(HealthModelVersion, on_delete=models.PROTECT, related_name="scores")
    components = models.JSONField(default=list)
    override = models.JSONField(null=True, blank=True, help_text="The whole-score override applied, if any.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["customer", "-day"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "day"], name="success_healthscore_one_per_day"),
        ]
        indexes = [models.Index(fields=["day", "band"], name="success_healthscore_day_idx")]

    def __str__(self):
        return f"{self.customer_id} {self.day}: {self.score}"


class CustomerHealth(models.Model):
    """The current score of a customer (its latest HealthScore), kept beside the customer for lists."""

    customer = models.OneToOneField("crm.Customer", on_delete=models.CASCADE, primary_key=True, related_name="health")
    score = models.DecimalField(max_digits=4, decimal_places=1)
    band = models.CharField(max_length=6, choices=Band.choices)
    band_since = models.DateField(help_text="The day the customer entered its current band.")
    day = models.DateField()
    model_version = models.ForeignKey(HealthModelVersion, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "customer health"
        indexes = [
            models.Index(fields=["score", "customer"], name="success_health_score_idx"),
            models.Index(fields=["band", "score"], name="success_health_band_idx"),
        ]

    def __str__(self):
        return f"{self.customer_id}: {self.score} ({self.band})"


class HealthOverride(models.Model):
    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="health_overrides")
    component = models.CharField(
        max_length=100, blank=True, help_text="Empty: the whole score; else the name of the component overridden."
    )
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    reason = models.CharField(max_length=500)
    expires_on = models.DateField(help_text="The override applies up to and including this day.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Revoked or replaced by a newer override.")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "component"],
                condition=Q(ended_at__isnull=True),
                name="success_healthoverride_one_open",
            ),
            models.CheckConstraint(condition=Q(score__lte=100), name="success_healthoverride_score_range"),
        ]
        indexes = [models.Index(fields=["expires_on"], name="success_healthoverride_exp_idx")]

    def __str__(self):
        return f"{self.customer_id} {self.component or 'score'} = {self.score}"


class HealthRecomputeRequest(models.Model):
    customer = models.OneToOneField("crm.Customer", on_delete=models.CASCADE, primary_key=True, related_name="+")
    requested_at = models.DateTimeField()

    def __str__(self):
        return str(self.customer_id)
