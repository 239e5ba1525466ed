"""Survey results: responses, response rate, NPS / CES / CSAT and their trend, for a period and filters.

Metric definitions (shared/PRODUCT.md):
    NPS  = % promoters (9-10) - % detractors (0-6), -100..100; passives are 7-8
    CES  = mean of the 1-7 answers; `ces_easy_pct` = % of answers >= 5
    CSAT = % of the 1-5 answers that are 4 or 5
    response rate = % of the invitations sent in the period that have been answered (so it stays within
                    0..100 at the period's edges: an invitation sent on the 31st and answered on the 2nd
                    counts for the period it was sent in)

Two SQL statements whatever the number of responses: one GROUP BY (week or month, score) over the responses
and one GROUP BY week or month over the invitations sent. The totals are the sums of the buckets; Python
only loops over buckets (at most buckets x scores rows), never over responses.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncMonth, TruncWeek
from django.utils import timezone

from surveys.models import SCALES, Invitation, Kind, Response, Survey
from surveys.selectors import customer_scope

INTERVALS = ("week", "month")
_TRUNC = {"week": TruncWeek, "month": TruncMonth}
_SENT_STATUSES = (Invitation.Status.SENT, Invitation.Status.ANSWERED, Invitation.Status.EXPIRED)


@dataclass(frozen=True)
class ResultsQuery:
    """The scope of a results query. `start` and `end` are dates, both included (days in TIME_ZONE)."""

    start: dt.date | None = None
    end: dt.date | None = None
    interval: str = "month"
    tiers: tuple[str, ...] = ()
    lifecycle_stages: tuple[str, ...] = ()
    owner_email: str | None = None
    customer_id: int | None = None

    def scope(self) -> dict:
        return {
            "tiers": self.tiers,
            "lifecycle_stages": self.lifecycle_stages,
            "owner_email": self.owner_email,
            "customer_id": self.customer_id,
        }

    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz) if self.start else None
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz) if self.end else None
        return start, end


def results_responses(*, survey: Survey, query: ResultsQuery) -> QuerySet[Response]:
    """The survey's responses answered in the period, narrowed by the customer filters."""
    start, end = query.bounds()
    responses = customer_scope(Response.objects.filter(survey=survey), **query.scope())
    if start:
        responses = responses.filter(answered_at__gte=start)
    if end:
        responses = responses.filter(answered_at__lt=end)
    return responses


def _pct(part: int, whole: int, places: int = 1) -> float | None:
    return round(100 * part / whole, places) if whole else None


def metrics(kind: str, counts: dict[int, int]) -> dict:
    """The kind's metrics from the number of answers per score (every key present; null when not applicable
    or when there are no responses)."""
    responses = sum(counts.values())
    score_sum = sum(score * n for score, n in counts.items())

    def between(low: int, high: int) -> int:
        return sum(n for score, n in counts.items() if low <= score <= high)

    out = {
        "responses": responses,
        "mean_score": round(score_sum / responses, 2) if responses else None,
        "nps": None,
        "promoters": None,
        "passives": None,
        "detractors": None,
        "promoters_pct": None,
        "passives_pct": None,
        "detractors_pct": None,
        "ces": None,
        "ces_easy_pct": None,
        "csat": None,
    }
    if kind == Kind.NPS:
        promoters, passives, detractors = between(9, 10), between(7, 8), between(0, 6)
        out.update(
            promoters=promoters,
            passives=passives,
            detractors=detractors,
            promoters_pct=_pct(promoters, responses),
            passives_pct=_pct(passives, responses),
            detractors_pct=_pct(detractors, responses),
            nps=round(100 * (promoters - detractors) / responses, 1) if responses else None,
        )
    elif kind == Kind.CES:
        out.update(ces=out["mean_score"], ces_easy_pct=_pct(between(5, 7), responses))
    else:
        out.update(csat=_pct(between(4, 5), responses))
    return out


def _bucket_start(value: dt.datetime | dt.date | None, interval: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if interval == "week":
        return value - dt.timedelta(days=value.weekday())
    return value.replace(day=1)


def _next_bucket(day: dt.date, interval: str) -> dt.date:
    if interval == "week":
        return day + dt.timedelta(days=7)
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def survey_results(*, survey: Survey, query: ResultsQuery | None = None) -> dict:
    """The results of one survey for a period and filters (see the module docstring for the definitions)."""
    query = query or ResultsQuery()
    if query.interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}")
    start, end = query.bounds()
    trunc = _TRUNC[query.interval]
    response_rows = (
        results_responses(survey=survey, query=query)
        .order_by()
        .annotate(bucket=trunc("answered_at"))
        .values("bucket", "score")
        .annotate(n=Count("pk"))
    )

    invitations = customer_scope(
        Invitation.objects.filter(survey=survey, status__in=_SENT_STATUSES, sent_at__isnull=False),
        **query.scope(),
    )
    if start:
        invitations = invitations.filter(sent_at__gte=start)
    if end:
        invitations = invitations.filter(sent_at__lt=end)
    invitation_rows = (
        invitations.order_by()
        .annotate(bucket=trunc("sent_at"))
        .values("bucket")
        .annotate(sent=Count("pk"), answered=Count("pk", filter=Q(status=Invitation.Status.ANSWERED)))
    )

    scale = SCALES[survey.kind]
    buckets: dict[dt.date, dict] = {}

    def bucket(day: dt.date) -> dict:
        return buckets.setdefault(day, {"counts": dict.fromkeys(scale, 0), "sent": 0, "answered": 0})

    for row in response_rows:  # at most (number of buckets) x (number of scores) rows
        entry = bucket(_bucket_start(row["bucket"], query.interval))
        entry["counts"][row["score"]] = entry["counts"].get(row["score"], 0) + row["n"]
    for row in invitation_rows:
        entry = bucket(_bucket_start(row["bucket"], query.interval))
        entry["sent"] += row["sent"]
        entry["answered"] += row["answered"]

    # Every bucket of the period (or between the first and last bucket with data), empty ones included.
    first = _bucket_start(query.start, query.interval) or (min(buckets) if buckets else None)
    last = _bucket_start(query.end, query.interval) or (max(buckets) if buckets else None)
    if first is not None and last is not None:
        day = first
        while day <= last:
            bucket(day)
            day = _next_bucket(day, query.interval)

    totals = {"counts": dict.fromkeys(scale, 0), "sent": 0, "answered": 0}
    trend = []
    for day in sorted(buckets):
        entry = buckets[day]
        for score, n in entry["counts"].items():
            totals["counts"][score] += n
        totals["sent"] += entry["sent"]
        totals["answered"] += entry["answered"]
        trend.append(
            {
                "period": day,
                "invitations_sent": entry["sent"],
                "invitations_answered": entry["answered"],
                "response_rate": _pct(entry["answered"], entry["sent"]),
                **metrics(survey.kind, entry["counts"]),
            }
        )

    return {
        "survey": survey.pk,
        "kind": survey.kind,
        "start": query.start,
        "end": query.end,
        "interval": query.interval,
        "invitations_sent": totals["sent"],
        "invitations_answered": totals["answered"],
        "response_rate": _pct(totals["answered"], totals["sent"]),
        **metrics(survey.kind, totals["counts"]),
        "distribution": [{"score": score, "count": n} for score, n in totals["counts"].items()],
        "trend": trend,
    }
