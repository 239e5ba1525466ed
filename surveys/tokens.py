"""One-click tokens of survey invitations and contacts' unsubscribe links.

An invitation's token is HMAC-SHA256(secret key, its random 32-byte nonce), base64url: the database holds the
nonce and the token's SHA-256 (for lookup), never the token; stored emails hold a placeholder filled in at send.
"""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

PLACEHOLDER = "{{survey_token}}"


def new_nonce() -> str:
    return secrets.token_hex(32)


def token_for(nonce: str) -> str:
    key = hashlib.sha256(f"surveys.invitation:{settings.SECRET_KEY}".encode()).digest()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
