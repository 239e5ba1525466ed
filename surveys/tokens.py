"""One-click tokens of survey invitations and contacts' unsubscribe links.

An invitation's token is HMAC-SHA256(secret key, its random 32-byte nonce), base64url: the database holds the
nonce and the token's SHA-256 (for lookup), never the token; stored emails hold a placeholder filled in at send.
A link already sent keeps working whatever happens to the key (it is looked up by its hash); a link still to be
sent is derived with the key that made it, kept in DJANGO_SECRET_KEY_FALLBACKS after a rotation, or else the
invitation gets a new token from the current key.
"""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

PLACEHOLDER = "{{survey_token}}"


def new_nonce() -> str:
    return secrets.token_hex(32)


def token_for(nonce: str, secret: str | None = None) -> str:
    key = hashlib.sha256(f"surveys.invitation:{secret or settings.SECRET_KEY}".encode()).digest()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_matching(nonce: str, stored_hash: str) -> str | None:
    """The token whose hash is stored, derived with the secret key or one of SECRET_KEY_FALLBACKS (an
    invitation created before a key rotation keeps its token); None when no key we hold derives it."""
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        token = token_for(nonce, secret)
        if hmac.compare_digest(token_hash(token), stored_hash):
            return token
    return None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
