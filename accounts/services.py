"""Writes on staff accounts and API keys.

An API key looks like `csk_<prefix>_<secret>`: the prefix (public, stored, shown in the admin) finds the row,
the secret (32 random bytes) is never stored; only the SHA-256 of the whole key is. Each key acts as its own
service user (is_service_account, not staff, unusable password) placed in the key's role group, so the key's
permissions follow its role through ordinary Django permissions.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.roles import ROLE_NAMES, role_group

KEY_SCHEME = "csk"
PREFIX_BYTES = 4  # 8 hex characters
SECRET_BYTES = 32
SERVICE_EMAIL_DOMAIN = "api-keys.invalid"
# last_used_at is written at most this often per key: a busy integration must not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_KEY_RE = re.compile(rf"^{KEY_SCHEME}_(?P<prefix>[0-9a-f]{{{PREFIX_BYTES * 2}}})_(?P<secret>[A-Za-z0-9_-]{{20,200}})$")


class InvalidApiKey(Exception):
    """Why a presented key was refused; the message is safe to show to the caller."""


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def _validate_role(role: str) -> str:
    if role not in ROLE_NAMES:
        raise ValidationError(
            {"role": f"Unknown role {role!r}. Valid roles: {', '.join(ROLE_NAMES)}."}, code="invalid_choice"
        )
    return role


def _new_prefix() -> str:
    for _ in range(10):
        prefix = secrets.token_hex(PREFIX_BYTES)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            return prefix
    raise RuntimeError("Could not find a free API key prefix.")  # pragma: no cover  (2**32 prefixes)


def _set_role_group(user: User, role: str) -> None:
    user.groups.remove(*user.groups.filter(name__in=ROLE_NAMES))
    user.groups.add(role_group(role))


@transaction.atomic
def api_key_create(*, name: str, role: str, actor: User | None = None) -> tuple[ApiKey, str]:
    """Create a key and its service user. Returns (row, raw key); the raw key is not recoverable later."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name (e.g. the integration using it)."})
    _validate_role(role)
    prefix = _new_prefix()
    raw_key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"

    user = User(
        email=f"api-key-{prefix}@{SERVICE_EMAIL_DOMAIN}",
        full_name=f"API key: {name}"[:200],
        is_staff=False,
        is_superuser=False,
        is_service_account=True,
    )
    user.set_unusable_password()
    user.full_clean()
    user.save()
    _set_role_group(user, role)

    api_key = ApiKey(
        name=name,
        role=role,
        prefix=prefix,
        hashed_key=api_key_hash(raw_key),
        user=user,
        created_by=actor if actor is not None and actor.pk else None,
    )
    api_key.full_clean()
    api_key.save()
    return api_key, raw_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None = None) -> ApiKey:
    """Revoke a key for good (idempotent): it stops authenticating at once and its service user is deactivated."""
    api_key = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    if api_key.user.is_active:
        api_key.user.is_active = False
        api_key.user.save(update_fields=["is_active"])
    return api_key


@transaction.atomic
def api_key_update(
    *, api_key: ApiKey, name: str | None = None, role: str | None = None, actor: User | None = None
) -> ApiKey:
    """Rename a key and/or change its role (and so its service user's group)."""
    api_key = ApiKey.objects.select_for_update().select_related("user").get(pk=api_key.pk)
    changed = []
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "Give the key a name (e.g. the integration using it)."})
        if name != api_key.name:
            api_key.name = name
            api_key.user.full_name = f"API key: {name}"[:200]
            api_key.user.save(update_fields=["full_name"])
            changed.append("name")
    if role is not None:
        _validate_role(role)
        if role != api_key.role:
            api_key.role = role
            changed.append("role")
        _set_role_group(api_key.user, role)
    if changed:
        api_key.full_clean()
        api_key.save(update_fields=changed)
    return api_key


def api_key_set_role(*, api_key: ApiKey, role: str, actor: User | None = None) -> ApiKey:
    """Change what a key may do: its role, and so its service user's group."""
    return api_key_update(api_key=api_key, role=role, actor=actor)


@transaction.atomic
def superuser_ensure(*, email: str, password: str | None = None) -> tuple[User, list[str]]:
    """Create or update a superuser (active staff, in the admin role group). Idempotent.

    The password is set when creating, and on an existing user only when `password` is given; creating without
    one leaves the password unusable (use "Forgot password?"). Returns the user and what was done.
    """
    email = (email or "").strip().lower()
    if not email:
        raise ValidationError({"email": "An email address is required."})
    done: list[str] = []
    user = User.objects.select_for_update().filter(email__iexact=email).first()
    if user is None:
        user = User(email=email, is_staff=True, is_superuser=True, is_active=True)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean()
        user.save()
        done.append("created" if password else "created without a usable password")
    else:
        if user.is_service_account:
            raise ValidationError({"email": "This address belongs to an API key's service account."})
        changed = [f for f in ("is_staff", "is_superuser", "is_active") if not getattr(user, f)]
        for field in changed:
            setattr(user, field, True)
        if password and not user.check_password(password):
            user.set_password(password)
            changed.append("password")
            done.append("password reset")
        if changed:
            user.full_clean()
            user.save(update_fields=changed)
            flags = [f for f in changed if f != "password"]
            if flags:
                done.append("set " + ", ".join(flags))
    group = role_group("admin")
    if not user.groups.filter(pk=group.pk).exists():
        user.groups.add(group)
        done.append("added to the admin group")
    return user, done


def api_key_resolve(raw_key: str) -> ApiKey:
    """The active key matching `raw_key`, or InvalidApiKey saying why not. Records last use (see below)."""
    match = _KEY_RE.match(raw_key or "") if isinstance(raw_key, str) else None
    if match is None:
        raise InvalidApiKey(f"Malformed API key: expected {KEY_SCHEME}_<prefix>_<secret>.")
    presented = api_key_hash(raw_key)
    api_key = ApiKey.objects.select_related("user").filter(prefix=match["prefix"]).first()
    # Compare even when no row matched, so timing does not tell whether a prefix exists.
    stored = api_key.hashed_key if api_key is not None else api_key_hash(f"{KEY_SCHEME}_missing")
    if not hmac.compare_digest(presented, stored) or api_key is None:
        raise InvalidApiKey("Invalid API key.")
    if api_key.revoked_at is not None:
        raise InvalidApiKey("This API key has been revoked.")
    if not api_key.user.is_active:
        raise InvalidApiKey("This API key's account is inactive.")
    _touch_last_used(api_key)
    return api_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None (malformed, unknown, wrong secret, revoked)."""
    try:
        return api_key_resolve(raw_key)
    except InvalidApiKey:
        return None


def _touch_last_used(api_key: ApiKey) -> None:
    """Record use at most once per LAST_USED_RESOLUTION: no write at all while the stored value is recent, and a
    conditional UPDATE otherwise, so concurrent requests write once between them."""
    now = timezone.now()
    threshold = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > threshold:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold)
    ).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def user_time_zone_set(*, user: User, time_zone: str) -> User:
    """The time zone a staff user reads pages in (empty: the server's, settings.TIME_ZONE)."""
    user.time_zone = time_zone
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save(update_fields=["time_zone"])
    return user
