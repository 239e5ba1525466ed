"""Answers that a mail scanner cannot fake.

Mail security gateways (Safe Links, Mimecast, Proofpoint) open every link of an incoming email in a headless
browser that runs JavaScript. Two guards keep them from answering a survey:

1. Human input. The answer page records the clicked score only after trusted input (a pointer move or press, a
   touch, a key: `event.isTrusted`), and the server refuses a record that does not say which input it followed
   (409). A person moves the mouse or touches the screen anyway: still one click from the email.
2. Several scores at once. A person clicks one score; a scanner opens them all within seconds. When links for
   two or more different scores of one invitation were opened within SCAN_WINDOW, the page asks the person to
   confirm with a button, and a record by script (even after input) is refused (409) until they do.
"""

from django.core.cache import cache

SCAN_WINDOW = 30  # seconds
# What the page's script sends as `human`: the trusted input it recorded after. "button" is the form's
# Submit / Confirm button (a person pressed it; the no-JavaScript path and the confirmation).
INPUT_SIGNALS = frozenset({"pointermove", "pointerdown", "keydown", "touchstart", "change"})
BUTTON = "button"


def _key(invitation_id: int, score: int) -> str:
    return f"surveys:opened:{invitation_id}:{score}"


def link_opened(*, invitation, score: int) -> None:
    """Remember for SCAN_WINDOW seconds that this score's link of the invitation was opened (one cache key per
    score: concurrent opens never overwrite each other)."""
    cache.set(_key(invitation.pk, score), 1, timeout=SCAN_WINDOW)


def looks_scanned(*, invitation) -> bool:
    """Were links for two or more different scores of this invitation opened within the last SCAN_WINDOW?"""
    opened = cache.get_many([_key(invitation.pk, s) for s in invitation.survey.scale])
    return len(opened) >= 2


def human_proof(*, invitation, signal: str | None) -> str | None:
    """Why this record must wait for the person, or None when it may be recorded."""
    if signal == BUTTON:
        return None
    if signal not in INPUT_SIGNALS:
        return "no-input"
    if looks_scanned(invitation=invitation):
        return "confirm"
    return None
