import zoneinfo
from functools import cache

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", True)  # every human user of the product is staff
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


def validate_time_zone(value: str) -> None:
    if value and value not in available_time_zones():
        raise ValidationError(
            "Unknown time zone %(value)s; use an IANA name such as Europe/Paris.",
            code="invalid_timezone",
            params={"value": value},
        )


@cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class User(AbstractUser):
    """A staff member (admin, CSM, support agent, read-only) or the service account behind an API key."""

    username = None
    email = models.EmailField("email address", unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_service_account = models.BooleanField(
        default=False, help_text="The identity an API key acts as; cannot log in interactively."
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="The time zone pages show times in (an IANA name such as Europe/Paris); empty: the server's "
        "(settings.TIME_ZONE).",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self):
        return self.full_name or self.email

    def get_full_name(self):
        return self.full_name or self.email

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The time zone this user reads times in: their own, else the server's."""
        return zoneinfo.ZoneInfo(self.time_zone or settings.TIME_ZONE)

    def get_short_name(self):
        return (self.full_name.split(" ")[0] if self.full_name else self.email)


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    lead = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams_led"
    )
    members = models.ManyToManyField(User, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    CSM = "csm", "Customer success manager"
    SUPPORT_AGENT = "support_agent", "Support agent"
    READ_ONLY = "read_only", "Read-only"


class ApiKey(models.Model):
    """An integration's credential. Only a SHA-256 of the secret is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=Role.choices)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="api_key", editable=False)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self):
        return self.revoked_at is None


class MfaRequirement(models.TextChoices):
    NOBODY = "nobody", "Nobody (each person chooses)"
    ADMINS = "admins", "Admins"
    STAFF = "staff", "All staff"


def _mfa_required_for_default() -> str:
    from django.conf import settings

    return settings.MFA_REQUIRED_FOR


class SecuritySettings(models.Model):
    """Site-wide security settings, edited in the admin: one row (pk 1), made from the environment's defaults
    the first time it is read (accounts.mfa.security_settings)."""

    mfa_required_for = models.CharField(
        "require two-factor authentication for",
        max_length=10,
        choices=MfaRequirement.choices,
        default=_mfa_required_for_default,
        help_text="Who must sign in with an authenticator app (TOTP). Someone who must and has none is sent to "
        "set one up (and gets recovery codes) at their next sign-in, before reaching the admin or the API.",
    )

    class Meta:
        verbose_name = "security settings"
        verbose_name_plural = "security settings"
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="accounts_securitysettings_one_row")]

    def __str__(self):
        return "Security settings"
