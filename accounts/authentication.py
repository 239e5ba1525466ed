"""`Authorization: Bearer <api key>` for integrations (DRF)."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.roles import role_permissions
from accounts.services import InvalidApiKey, api_key_resolve


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates as the key's service user: `request.user` is that user, `request.auth` the ApiKey row.

    No `Authorization` header (or another scheme) -> None, so session authentication may still apply.
    A Bearer header with a malformed, unknown or revoked key -> 401 with a message saying which.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) == 1:
            raise AuthenticationFailed("Invalid Authorization header: no API key after 'Bearer'.")
        if len(parts) > 2:
            raise AuthenticationFailed("Invalid Authorization header: the API key must not contain spaces.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Malformed API key: it contains non-ASCII characters.") from None
        try:
            api_key = api_key_resolve(raw_key)
        except InvalidApiKey as exc:
            raise AuthenticationFailed(str(exc)) from None
        user = api_key.user
        # A service user's permissions are exactly its role's: pre-fill ModelBackend's per-object caches.
        perms = role_permissions(api_key.role)
        user._user_perm_cache, user._group_perm_cache, user._perm_cache = set(), perms, perms
        return (user, api_key)

    def authenticate_header(self, request):
        # Makes DRF answer unauthenticated requests with 401 + WWW-Authenticate instead of 403.
        return f'{self.keyword} realm="api"'
