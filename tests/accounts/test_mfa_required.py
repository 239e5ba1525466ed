"""Required MFA: the admin's Security settings (initially MFA_REQUIRED_FOR) make admins, or all staff, sign in
with TOTP. Someone who must and has none is held on the TOTP set-up page at sign-in (the API answers their session
403) until they set it up with a real code; they are then shown recovery codes, and their next sign-in asks for a
code."""

import time
import types

import pytest
from django.contrib.auth import SESSION_KEY

from accounts.mfa import SETUP_MESSAGE, security_settings
from accounts.models import SecuritySettings

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests/factories.py
SETUP = "/accounts/2fa/totp/activate/"


def require(who: str) -> None:
    row = security_settings()
    row.mfa_required_for = who
    row.save()


def totp_code(secret: str, at: float | None = None) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(at or time.time()) // 30))


def sign_in(client, email):
    return client.post("/accounts/login/", {"login": email, "password": PASSWORD})


def test_an_admin_without_totp_sets_it_up_before_reaching_the_admin_or_the_api(client, make_staff, monkeypatch):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal import auth as totp_auth

    require("admins")
    admin = make_staff("admin", email="root@example.com")
    assert sign_in(client, admin.email)["Location"] == "/admin/"

    # Signed in, but every page leads to the TOTP set-up, and the API refuses the session.
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[0] == (SETUP, 302)
    assert SETUP_MESSAGE in response.content.decode()
    assert client.get("/admin/crm/customer/")["Location"] == SETUP
    api = client.get("/api/v1/customers/")
    assert api.status_code == 403 and api.json() == {"detail": SETUP_MESSAGE}
    assert client.get("/accounts/2fa/").status_code == 200  # the account pages stay open

    # Set-up with a real code from the secret the page shows (after the password again: allauth's reauth).
    reauth = client.get(SETUP)
    assert reauth["Location"].startswith("/accounts/reauthenticate/")
    client.post(reauth["Location"], {"password": PASSWORD})
    page = client.get(SETUP)
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret in page.content.decode()
    assert client.post(SETUP, {"code": "000000"}).status_code == 200  # a wrong code sets nothing up
    assert not Authenticator.objects.filter(user=admin).exists()
    done = client.post(SETUP, {"code": totp_code(secret)})
    assert done.status_code == 302 and done["Location"] == "/accounts/2fa/recovery-codes/"
    codes = RecoveryCodes(Authenticator.objects.get(user=admin, type=Authenticator.Type.RECOVERY_CODES))
    shown = client.get(done["Location"]).content.decode()
    assert all(code in shown for code in codes.get_unused_codes())  # recovery codes offered
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/customers/").status_code == 200

    # The next sign-in (a TOTP period later: a code is accepted once) asks for the authenticator's code.
    client.post("/accounts/logout/")
    later = time.time() + 30
    monkeypatch.setattr(totp_auth, "time", types.SimpleNamespace(time=lambda: later))
    assert sign_in(client, admin.email)["Location"].startswith("/accounts/2fa/authenticate/")
    assert client.session.get(SESSION_KEY) is None
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret, at=later)})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admins_only_leaves_other_staff_free_and_all_staff_holds_them(client, make_staff):
    require("admins")
    csm = make_staff("csm", email="cara@example.com")
    sign_in(client, csm.email)
    assert client.get("/admin/").status_code == 200

    require("staff")
    client.post("/accounts/logout/")
    sign_in(client, csm.email)  # the setting applies from the next sign-in
    assert client.get("/admin/")["Location"] == SETUP


def test_nobody_required_by_default_and_api_keys_are_never_held(client, make_staff, api_client_for):
    admin = make_staff("admin", email="root@example.com")
    sign_in(client, admin.email)
    assert client.get("/admin/").status_code == 200

    require("staff")
    assert api_client_for("admin").get("/api/v1/customers/").status_code == 200


def test_the_setting_starts_from_the_environment_and_is_edited_in_the_admin(client, make_staff, settings):
    settings.MFA_REQUIRED_FOR = "admins"
    assert security_settings().mfa_required_for == "admins"
    require("nobody")  # this admin has no TOTP yet: let them in to edit the setting
    client.force_login(make_staff("admin", is_superuser=True))

    changelist = client.get("/admin/accounts/securitysettings/")
    assert changelist["Location"] == "/admin/accounts/securitysettings/1/change/"
    form = client.get(changelist["Location"])
    assert form.status_code == 200 and "All staff" in form.content.decode()
    saved = client.post(changelist["Location"], {"mfa_required_for": "staff"})
    assert saved.status_code == 302
    assert SecuritySettings.objects.get().mfa_required_for == "staff"
    assert client.get("/admin/accounts/securitysettings/add/").status_code == 403


def test_turning_totp_off_while_required_sends_back_to_the_set_up(client, make_staff):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    require("admins")
    admin = make_staff("admin", email="root@example.com")
    TOTP.activate(admin, generate_totp_secret())
    client.force_login(admin)  # signed in with the code already (not marked: TOTP exists)
    assert client.get("/admin/").status_code == 200

    reauth = client.post("/accounts/2fa/totp/deactivate/")
    assert reauth["Location"].startswith("/accounts/reauthenticate/")
    client.post(reauth["Location"], {"password": PASSWORD}, follow=True)  # allauth then resumes the deactivation
    assert not Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).exists()
    assert client.get("/admin/")["Location"] == SETUP
