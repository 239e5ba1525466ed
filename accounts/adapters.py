"""django-allauth glue: staff accounts are created by admins (no sign-up), and only active staff people log in.
Service accounts (the identities behind API keys) can never log in interactively."""

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpResponseForbidden


def can_log_in_interactively(user) -> bool:
    return bool(user.is_active and user.is_staff and not getattr(user, "is_service_account", False))


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff accounts are created by admins; nobody signs up."""

    def is_open_for_signup(self, request):
        return False

    def authenticate(self, request, **credentials):
        user = super().authenticate(request, **credentials)
        if user is not None and user.is_active and not can_log_in_interactively(user):
            # Same answer as a wrong password: does not reveal that the account exists.
            return None
        return user

    def pre_login(self, request, user, **kwargs):
        if user.is_active and not can_log_in_interactively(user):
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            return HttpResponseForbidden("This account cannot sign in interactively.")
        return super().pre_login(request, user, **kwargs)

    def send_password_reset_mail(self, user, email, context):
        if getattr(user, "is_service_account", False) or not user.is_staff:
            return None
        return super().send_password_reset_mail(user, email, context)
