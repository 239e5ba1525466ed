"""Authentication backends: Django's and allauth's, refusing service accounts (API key identities).

Permission checks are unchanged (ModelBackend.has_perm only needs `is_active`), so an API key's service user
still acts with its role's permissions through the API; it just can never authenticate with a password or hold
a session.
"""

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend


class _NoServiceAccounts:
    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and not getattr(user, "is_service_account", False)


class StaffModelBackend(_NoServiceAccounts, ModelBackend):
    pass


class StaffAuthenticationBackend(_NoServiceAccounts, AuthenticationBackend):
    pass
