"""Fixtures shared by every test module. Data is made through the real services where a user would call them."""

import pytest

from tests.factories import ContactFactory, CustomerFactory, UserFactory

pytest_plugins = ["tests.smtp", "tests.browser"]


@pytest.fixture
def user_factory():
    return UserFactory


@pytest.fixture
def customer_factory():
    return CustomerFactory


@pytest.fixture
def contact_factory():
    return ContactFactory


@pytest.fixture
def make_staff(db):
    """make_staff(role="csm", **user_fields) -> a staff user in that role's group (admin, csm, support_agent,
    read_only)."""
    from django.contrib.auth.models import Group

    def make(role: str = "csm", **fields):
        user = UserFactory(**fields)
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def api_client_for(db):
    """api_client_for(role="admin") -> a DRF APIClient authenticated by a real API key of that role
    (`client.api_key` is the ApiKey row, `client.raw_key` the secret)."""
    from rest_framework.test import APIClient

    from accounts.services import api_key_create

    def make(role: str = "admin", name: str | None = None):
        key, raw = api_key_create(name=name or f"test {role}", role=role, actor=None)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        client.api_key = key
        client.raw_key = raw
        return client

    return make


@pytest.fixture(scope="session", autouse=True)
def _purge_stale_broker_messages():
    """Tasks queued by earlier runs' on-commit callbacks must not reach a live worker started by these tests."""
    from config.celery import app

    try:
        app.control.purge()
    except Exception:  # noqa: S110  (no broker reachable: nothing to purge)
        pass
    yield


@pytest.fixture(autouse=True)
def _empty_cache(django_db_setup, django_db_blocker):
    """Each test starts with empty caches: a value cached by an earlier test (e.g. a role's permissions, kept a
    minute, or a login throttle's count) must not expire in the middle of another and change what it sees. The
    shared cache may be the test database's cache table (or the broker's Redis), so this asks for the test
    database even in a test that does not use it."""
    from django.conf import settings
    from django.core.cache import caches

    with django_db_blocker.unblock():
        for alias in settings.CACHES:
            caches[alias].clear()
    yield
