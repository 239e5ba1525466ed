"""Login throttling (allauth's rate limits, which the admin login goes through) counts in the shared cache: every
web worker sees the same failed attempts, so a lockout is not a per-process quota of guesses."""

import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.db import connection

PASSWORD = "correct horse battery staple"  # tests/factories.py

# Another process (as another gunicorn worker would be) on the same test database and cache: tries the right
# password once and prints what the login page answered: "signed-in", "locked-out" or something else.
OTHER_WORKER = textwrap.dedent(
    """
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django
    django.setup()
    from django.db import connections
    connections["default"].settings_dict["NAME"] = sys.argv[1]
    from django.test import Client
    response = Client().post("/accounts/login/", {"login": sys.argv[2], "password": sys.argv[3]})
    if response.status_code == 302:
        print("signed-in")
    elif "Too many failed login attempts" in response.content.decode():
        print("locked-out")
    else:
        print(response.status_code)
    """
)


def login_in_another_process(email: str, password: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", OTHER_WORKER, connection.settings_dict["NAME"], email, password],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_the_shared_cache_is_not_per_process():
    from django.core.cache import cache

    assert not cache.__class__.__module__.startswith("django.core.cache.backends.locmem")


@pytest.mark.django_db(transaction=True)  # the other process must see the committed user
def test_failed_logins_lock_the_account_out_in_every_worker(client, make_staff):
    make_staff("admin", email="ada@example.com")
    # The right password works from another process before any failure (the control of the check below).
    assert login_in_another_process("ada@example.com", PASSWORD) == "signed-in"

    for _ in range(5):  # allauth's default: 5 failures per account in 5 minutes
        response = client.post("/accounts/login/", {"login": "ada@example.com", "password": "wrong guess 123"})
        assert response.status_code == 200 and "not correct" in response.content.decode()
    locked = client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD})
    assert locked.status_code == 200 and "Too many failed login attempts" in locked.content.decode()

    # Another worker refuses the account too, even with the right password: the count is shared.
    assert login_in_another_process("ada@example.com", PASSWORD) == "locked-out"
    # The admin login goes through the same page and the same lockout.
    admin_login = client.get("/admin/login/?next=/admin/")
    assert admin_login.status_code == 302 and admin_login["Location"].startswith("/accounts/login/")


@pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].startswith("config.cache"), reason="the shared cache is not Redis here"
)
def test_clearing_the_redis_cache_leaves_the_brokers_keys_alone():
    from django.core.cache import cache

    client = cache._cache.get_client(None, write=True)
    client.set("not-the-cache", "a queued message")
    try:
        cache.set("throttle", 3)
        cache.clear()
        assert cache.get("throttle") is None
        assert client.get("not-the-cache") == b"a queued message"
    finally:
        client.delete("not-the-cache")


@pytest.mark.skipif(
    not settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"), reason="the shared cache is not the database"
)
@pytest.mark.django_db
def test_a_spray_of_logins_does_not_cull_the_database_caches_counts():
    from django.core.cache import cache

    cache.set("allauth:login_failed:victim", 5, 300)
    cache.set_many({f"sprayed-{i}": 1 for i in range(400)}, 300)  # past Django's default of 300 entries
    cache.set("one-more", 1, 300)  # a set over the limit is when the database cache culls
    assert cache.get("allauth:login_failed:victim") == 5


@pytest.mark.django_db
def test_behind_a_proxy_one_clients_failures_do_not_lock_out_another(client, make_staff, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1  # production's default: one reverse proxy (REMOTE_ADDR is the proxy)
    make_staff("csm", email="ada@example.com")
    attacker = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    for i in range(10):  # allauth's per-address limit: 10 failures a minute
        response = client.post("/accounts/login/", {"login": f"guess{i}@example.com", "password": "x" * 12}, **attacker)
        assert "not correct" in response.content.decode()
    blocked = client.post("/accounts/login/", {"login": "guess@example.com", "password": "x" * 12}, **attacker)
    assert "Too many failed login attempts" in blocked.content.decode()

    colleague = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": PASSWORD}, **colleague)
    assert response.status_code == 302 and response["Location"] == "/admin/"
