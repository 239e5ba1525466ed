import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke, api_key_set_role

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"^csk_(?P<prefix>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43,})$")


def test_create_returns_raw_key_once_and_stores_only_its_hash(make_staff):
    admin = make_staff("admin")
    key, raw = api_key_create(name="Billing sync", role="csm", actor=admin)

    match = KEY_RE.match(raw)
    assert match, raw
    assert key.prefix == match["prefix"]
    assert key.hashed_key == hashlib.sha256(raw.encode()).hexdigest()
    assert key.created_by == admin
    # The secret is nowhere in the database.
    secret = match["secret"]
    for row in ApiKey.objects.values():
        assert not any(secret in str(value) for value in row.values())
    for row in User.objects.values():
        assert not any(secret in str(value) for value in row.values())


def test_each_key_gets_its_own_service_user_in_its_role_group():
    key, _ = api_key_create(name="Warehouse", role="read_only")
    user = User.objects.get(pk=key.user_id)
    assert user.is_service_account and not user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert user.email == f"api-key-{key.prefix}@api-keys.invalid"
    assert user.full_name == "API key: Warehouse"
    assert list(user.groups.values_list("name", flat=True)) == ["read_only"]
    assert user.has_perm("crm.view_customer") and not user.has_perm("crm.change_customer")


def test_two_keys_differ():
    (a, raw_a), (b, raw_b) = api_key_create(name="a", role="csm"), api_key_create(name="b", role="csm")
    assert raw_a != raw_b and a.prefix != b.prefix and a.user_id != b.user_id


@pytest.mark.parametrize(("name", "role", "field"), [("x", "owner", "role"), ("x", "", "role"), ("  ", "csm", "name")])
def test_bad_input_is_a_validation_error_and_creates_nothing(name, role, field):
    with pytest.raises(ValidationError) as excinfo:
        api_key_create(name=name, role=role)
    assert field in excinfo.value.message_dict
    assert ApiKey.objects.count() == 0
    assert not User.objects.filter(is_service_account=True).exists()


def test_authenticate_accepts_only_the_exact_active_key():
    key, raw = api_key_create(name="Analytics", role="support_agent")
    assert api_key_authenticate(raw) == key
    prefix = key.prefix
    for bad in (
        "",
        "nonsense",
        raw + "x",
        raw[:-1] + ("A" if raw[-1] != "A" else "B"),  # right prefix, wrong secret
        f"csk_{'0' * 8 if prefix != '0' * 8 else '1' * 8}_{raw.split('_', 2)[2]}",  # unknown prefix
        raw.upper(),
        None,
    ):
        assert api_key_authenticate(bad) is None, bad


def test_revoke_stops_authentication_and_deactivates_the_service_user(make_staff):
    key, raw = api_key_create(name="Old", role="admin")
    api_key_revoke(api_key=key, actor=make_staff("admin"))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert not key.user.is_active
    assert api_key_authenticate(raw) is None
    revoked_at = key.revoked_at
    api_key_revoke(api_key=key)  # idempotent
    key.refresh_from_db()
    assert key.revoked_at == revoked_at


def test_last_used_is_recorded_at_most_once_a_minute(django_assert_num_queries):
    key, raw = api_key_create(name="Busy", role="read_only")
    assert key.last_used_at is None

    with django_assert_num_queries(2):  # select + conditional update
        api_key_authenticate(raw)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None

    for _ in range(3):
        with django_assert_num_queries(1):  # select only: no write while the value is recent
            api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == first

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with django_assert_num_queries(2):
        api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at > first


def test_last_used_update_is_conditional():
    """Two requests that both read an old value write once: the UPDATE re-checks the column."""
    key, _ = api_key_create(name="Race", role="read_only")
    recent = timezone.now() - timedelta(seconds=5)
    stale = ApiKey.objects.get(pk=key.pk)  # read by a concurrent request: last_used_at None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=recent)  # the other request wrote meanwhile

    from accounts.services import _touch_last_used

    _touch_last_used(stale)
    key.refresh_from_db()
    assert key.last_used_at == recent


def test_set_role_moves_the_service_user_to_the_new_group():
    key, _ = api_key_create(name="Sync", role="read_only")
    api_key_set_role(api_key=key, role="csm")
    key.refresh_from_db()
    user = User.objects.get(pk=key.user_id)
    assert key.role == "csm"
    assert list(user.groups.values_list("name", flat=True)) == ["csm"]
    assert user.has_perm("crm.change_customer_commercials")
    with pytest.raises(ValidationError):
        api_key_set_role(api_key=key, role="root")


def test_create_api_key_command_prints_the_key_alone_on_the_last_line():
    out = StringIO()
    call_command("create_api_key", "Billing sync", role="support_agent", stdout=out)
    lines = out.getvalue().rstrip("\n").split("\n")
    assert len(lines) >= 2
    raw = lines[-1]
    assert KEY_RE.match(raw)
    key = api_key_authenticate(raw)
    assert key is not None and key.name == "Billing sync" and key.role == "support_agent"
    assert raw not in "\n".join(lines[:-1])


def test_create_api_key_command_rejects_unknown_role():
    with pytest.raises(CommandError) as excinfo:
        call_command("create_api_key", "x", role="superuser", stdout=StringIO())
    message = str(excinfo.value)
    for role in ("admin", "csm", "support_agent", "read_only"):
        assert role in message
    assert ApiKey.objects.count() == 0
