"""What a rule achieved, for its admin page: a handful of grouped queries, whatever the number of records.

    rule_results(rule, now=None) -> dict
        {"results": {result: n}, "skipped": {reason: n}, "emails": {delivery state: n},
         "surveys": {"sent": n, "answered": n}, "replies": {"emails": n, "replied": n},
         "onboarding": None | {"days", "before": {"started", "finished"}, "after": {...}}}

Emails replied to: the outreach emails sent whose recipient answered (an inbound email naming the email's
Message-ID in In-Reply-To or References: tickets' inbound path marks the outbound email `replied_at`).
Onboarding (the shipped play "onboarding-not-finished-30-days"): onboarding runs that finished within 30 days of
their start, among those started since the rule was enabled, against the same length of time before it
(success.playbooks.selectors.onboarding_finished_counts).
"""

import datetime as dt

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from crm.selectors import email_delivery_state_expression
from success.outreach.models import OutreachRecord, OutreachResult, OutreachRule
from success.playbooks.selectors import onboarding_finished_counts
from surveys.models import Response

ONBOARDING_PLAY = "onboarding-not-finished-30-days"


def rule_results(rule: OutreachRule, *, now: dt.datetime | None = None) -> dict:
    now = now or timezone.now()
    records = OutreachRecord.objects.filter(rule=rule)
    results = dict(records.order_by().values_list("result").annotate(n=Count("id")).values_list("result", "n"))
    skipped = dict(
        records.filter(result=OutreachResult.SKIPPED)
        .order_by()
        .values_list("reason")
        .annotate(n=Count("id"))
        .values_list("reason", "n")
    )
    emails = dict(
        records.filter(outbound_email__isnull=False, action_type="email")
        .annotate(state=email_delivery_state_expression("outbound_email__"))
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    surveys = records.filter(invitation__isnull=False).aggregate(
        sent=Count("id"),
        answered=Count("id", filter=Exists(Response.objects.filter(invitation_id=OuterRef("invitation_id")))),
    )
    replies = records.filter(outbound_email__isnull=False, action_type="email").aggregate(
        emails=Count("id"), replied=Count("id", filter=Q(outbound_email__replied_at__isnull=False))
    )
    onboarding = None
    if rule.shipped_key == ONBOARDING_PLAY and rule.enabled_at:
        length = now - rule.enabled_at
        onboarding = {
            "days": length.days,
            "before": onboarding_finished_counts(start=rule.enabled_at - length, end=rule.enabled_at),
            "after": onboarding_finished_counts(start=rule.enabled_at, end=now),
        }
    return {
        "results": results,
        "skipped": skipped,
        "emails": emails,
        "surveys": surveys,
        "replies": replies,
        "onboarding": onboarding,
    }
