"""EMAIL_RATE_LIMIT_PER_MINUTE across every worker: a token bucket in one database row (EmailRateBucket).

    rate_acquire(n) -> (granted, wait_seconds)   take up to n tokens now; when none: how long until one is there
    rate_release(n)                              give back tokens taken but not used

The bucket refills at limit/60 tokens a second up to one second's worth (at least one token), so any 60 seconds
see at most limit + one second's worth of emails, however many workers or hosts send. Each take is a
compare-and-set on the row's version (read, then UPDATE ... WHERE version = read version; retried when another
worker won): no lock is held and it behaves the same on PostgreSQL and SQLite. With no limit (0) nothing is
read or written.
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from crm.models import EmailRateBucket

logger = logging.getLogger(__name__)

BUCKET = "smtp"
MAX_TRIES = 50


def _limit() -> int:
    return max(int(getattr(settings, "EMAIL_RATE_LIMIT_PER_MINUTE", 0) or 0), 0)


def rate_capacity(limit: int | None = None) -> float:
    limit = _limit() if limit is None else limit
    return max(1.0, limit / 60)


def rate_acquire(count: int) -> tuple[int, float]:
    """Take up to `count` tokens. Returns (granted, 0.0), or (0, seconds until a token is there)."""
    limit = _limit()
    if limit == 0 or count <= 0:
        return count, 0.0
    rate = limit / 60  # tokens per second
    capacity = rate_capacity(limit)
    for _ in range(MAX_TRIES):
        now = timezone.now()
        row = EmailRateBucket.objects.filter(name=BUCKET).values_list("tokens", "refilled_at", "version").first()
        if row is None:
            try:
                with transaction.atomic():
                    EmailRateBucket.objects.create(name=BUCKET, tokens=capacity, refilled_at=now)
            except IntegrityError:
                pass  # another worker made it first
            continue
        tokens, refilled_at, version = row
        elapsed = max((now - refilled_at).total_seconds(), 0.0)  # a host whose clock lags adds nothing
        tokens = min(capacity, tokens + elapsed * rate)
        granted = min(count, int(tokens))
        if granted == 0:
            return 0, (1 - tokens) / rate
        if EmailRateBucket.objects.filter(name=BUCKET, version=version).update(
            tokens=tokens - granted, refilled_at=max(now, refilled_at), version=version + 1
        ):
            return granted, 0.0
    logger.warning("email rate bucket: %s tries lost to other workers; waiting a moment", MAX_TRIES)
    return 0, 0.1


def rate_release(count: int) -> None:
    """Give back tokens taken for emails that were not sent after all (claimed by another worker meanwhile)."""
    limit = _limit()
    if limit == 0 or count <= 0:
        return
    EmailRateBucket.objects.filter(name=BUCKET).update(tokens=F("tokens") + count, version=F("version") + 1)
