"""Required two-factor authentication (TOTP, through allauth.mfa) for admins or for all staff.

Enforced at sign-in: when someone who must use MFA signs in without an authenticator, their session is marked,
and until they set up TOTP (allauth then shows their recovery codes) every page but the account pages sends them
to the set-up page, and the API answers 403 to their session (the mark goes once TOTP exists). API keys are not
sessions and are not affected. Marking at sign-in keeps the check free for every other request (no query); a
change of the setting applies from each person's next sign-in."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts.models import MfaRequirement, SecuritySettings
from accounts.roles import ADMIN, user_role

SETUP_REQUIRED_SESSION_KEY = "accounts_mfa_setup_required"
# Reachable while the set-up is pending: the account pages (set-up, reauthentication, sign-out, password) and the
# public pages that need no session.
ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz/", "/s/", "/u/")
SETUP_MESSAGE = "Your role requires two-factor authentication: set up an authenticator app to continue."


def security_settings() -> SecuritySettings:
    settings_row, _ = SecuritySettings.objects.get_or_create(pk=1)
    return settings_row


def mfa_required(user) -> bool:
    """Whether the site's setting requires this person to use MFA."""
    if not getattr(user, "is_authenticated", False) or not user.is_staff:
        return False
    requirement = security_settings().mfa_required_for
    if requirement == MfaRequirement.STAFF:
        return True
    return requirement == MfaRequirement.ADMINS and user_role(user) == ADMIN


def has_totp(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def mark_session_on_login(sender, request, user, **kwargs):
    """user_logged_in receiver: a session that must set up TOTP first is marked."""
    if request is None or not hasattr(request, "session"):
        return
    if mfa_required(user) and not has_totp(user):
        request.session[SETUP_REQUIRED_SESSION_KEY] = True
    else:
        request.session.pop(SETUP_REQUIRED_SESSION_KEY, None)


def mark_session_on_totp_removed(sender, request, user, authenticator, **kwargs):
    if request is not None and authenticator.type == authenticator.Type.TOTP and mfa_required(user):
        request.session[SETUP_REQUIRED_SESSION_KEY] = True


class MfaSetupRequiredMiddleware:
    """Holds a marked session on the TOTP set-up page (after AuthenticationMiddleware and MessageMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.session.get(SETUP_REQUIRED_SESSION_KEY)
            and request.user.is_authenticated
            and not request.path_info.startswith(ALLOWED_PREFIXES)
        ):
            if has_totp(request.user):  # set up (one query, only while the session is marked)
                request.session.pop(SETUP_REQUIRED_SESSION_KEY, None)
                return self.get_response(request)
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": SETUP_MESSAGE}, status=403)
            messages.warning(request, SETUP_MESSAGE)
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
