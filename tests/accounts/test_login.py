"""Staff login through django-allauth: email + password, MFA (TOTP, recovery codes), password reset by email,
and the Django admin's login going through it."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail

from accounts.services import api_key_create

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests/factories.py


def logged_in_user_id(client):
    return client.session.get(SESSION_KEY)


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="login"' in body and 'name="password"' in body
    assert "/accounts/password/reset/" in body


def test_nobody_can_sign_up(client):
    from accounts.models import User

    signup = client.get("/accounts/signup/")
    assert signup.status_code == 200 and "Sign Up Closed" in signup.content.decode()
    password = "a long enough passphrase 9"
    client.post("/accounts/signup/", {"email": "new@example.com", "password1": password, "password2": password})
    assert not User.objects.filter(email="new@example.com").exists()


def test_login_pages_do_not_invite_to_sign_up(client):
    """accounts/templates overrides allauth's login page only while 'accounts' precedes 'allauth' in INSTALLED_APPS:
    with them swapped the page invites to "Sign Up" again, and this test fails."""
    body = client.get("/accounts/login/").content.decode()
    assert "/accounts/signup/" not in body
    assert "sign up" not in body.lower()


def test_staff_logs_in_by_email_and_lands_in_the_admin(client, make_staff):
    user = make_staff("csm", email="ada@example.com")
    response = client.post("/accounts/login/", {"login": "ADA@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert str(logged_in_user_id(client)) == str(user.pk)
    assert client.get("/admin/").status_code == 200


def test_wrong_password_does_not_log_in(client, make_staff):
    make_staff("csm", email="ada@example.com")
    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": "nope nope nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert logged_in_user_id(client) is None


def test_service_accounts_never_log_in_interactively(client):
    key, _ = api_key_create(name="Billing", role="admin")
    user = key.user
    user.set_password(PASSWORD)  # even if someone gave it a password
    user.save()
    response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert logged_in_user_id(client) is None
    assert client.login(email=user.email, password=PASSWORD) is False
    assert client.login(username=user.email, password=PASSWORD) is False
    client.force_login(user)  # a session for it is not honoured either
    assert client.get("/admin/").status_code == 302


def test_non_staff_cannot_log_in(client, user_factory):
    user = user_factory(email="former@example.com", is_staff=False)
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert logged_in_user_id(client) is None


def test_admin_login_redirects_to_allauth_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"

    response = client.get("/admin/login/", {"next": "/admin/accounts/team/"})
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Faccounts%2Fteam%2F"
    response = client.get("/admin/login/", {"next": "https://evil.example.com/"})
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_admin_login_after_login_goes_to_next_or_explains_no_access(client, make_staff, user_factory):
    client.force_login(make_staff("read_only"))
    response = client.get("/admin/login/", {"next": "/admin/accounts/team/"})
    assert response.status_code == 302 and response["Location"] == "/admin/accounts/team/"

    client.force_login(user_factory(is_staff=False))
    response = client.get("/admin/login/")
    assert response.status_code == 403
    assert "cannot use the admin" in response.content.decode()


def test_login_then_next_returns_to_the_admin_page(client, make_staff):
    make_staff("read_only", email="ro@example.com")
    response = client.post(
        "/accounts/login/?next=/admin/accounts/team/", {"login": "ro@example.com", "password": PASSWORD}
    )
    assert response["Location"] == "/admin/accounts/team/"
    assert client.get("/admin/accounts/team/").status_code == 200


def test_logout(client, make_staff):
    user = make_staff("csm")
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert client.get("/accounts/logout/").status_code == 200  # confirmation page
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert logged_in_user_id(client) is None


def test_mfa_totp_and_recovery_codes_apply_to_the_admin_login(client, make_staff):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import (
        SECRET_SESSION_KEY,
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    user = make_staff("csm", email="mfa@example.com")
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert client.get("/accounts/2fa/").status_code == 200

    # Turning MFA on asks for the password again first (allauth's reauthentication).
    response = client.get("/accounts/2fa/totp/activate/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
    assert client.post(response["Location"], {"password": PASSWORD}).status_code == 302
    response = client.get("/accounts/2fa/totp/activate/")
    assert response.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    response = client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    rc = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    assert client.get("/accounts/2fa/recovery-codes/").status_code == 200

    client.post("/accounts/logout/")
    # The admin sends us to allauth; the password alone is not enough any more.
    response = client.post("/accounts/login/?next=/admin/", {"login": user.email, "password": PASSWORD}, follow=False)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    assert logged_in_user_id(client) is None
    assert client.get("/admin/").status_code == 302

    assert client.post("/accounts/2fa/authenticate/", {"code": "000000"}).status_code == 200
    assert logged_in_user_id(client) is None
    recovery_code = RecoveryCodes(rc).get_unused_codes()[0]
    response = client.post("/accounts/2fa/authenticate/", {"code": recovery_code})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert str(logged_in_user_id(client)) == str(user.pk)
    assert client.get("/admin/").status_code == 200


def test_password_reset_by_email(client, make_staff):
    user = make_staff("support_agent", email="sam@example.com")
    response = client.post("/accounts/password/reset/", {"email": "Sam@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["sam@example.com"]
    link = re.search(r"https?://testserver(/accounts/password/reset/key/\S+/)", message.body).group(1)

    response = client.get(link)
    assert response.status_code == 302  # allauth moves the key out of the URL
    set_password_url = response["Location"]
    assert client.get(set_password_url).status_code == 200
    new_password = "a brand new passphrase 42"
    response = client.post(set_password_url, {"password1": new_password, "password2": new_password})
    assert response.status_code == 302

    user.refresh_from_db()
    assert user.check_password(new_password)
    response = client.post("/accounts/login/", {"login": "sam@example.com", "password": new_password})
    assert response.status_code == 302 and str(logged_in_user_id(client)) == str(user.pk)


def test_password_reset_link_is_single_use(client, make_staff):
    make_staff("support_agent", email="sam@example.com")
    client.post("/accounts/password/reset/", {"email": "sam@example.com"})
    link = re.search(r"https?://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body).group(1)
    set_url = client.get(link)["Location"]
    client.post(set_url, {"password1": "first new passphrase 1", "password2": "first new passphrase 1"})

    other = type(client)()
    response = other.get(link, follow=True)
    assert "Bad Token" in response.content.decode()


def test_no_reset_email_for_unknown_or_service_accounts(client):
    key, _ = api_key_create(name="Billing", role="admin")
    client.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    client.post("/accounts/password/reset/", {"email": key.user.email})
    assert mail.outbox == []
