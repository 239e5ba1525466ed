"""Support metrics, exactly as defined in the product's metric definitions:

- first response time: creation -> first public staff reply, business time of the ticket's SLA calendar,
  paused time excluded (Ticket.first_response_seconds, frozen when the clock stops);
- resolution time: creation -> solved, business time, waiting on the customer excluded (Ticket.resolution_seconds,
  see tickets.sla.resolution_seconds: on hold counts even when the SLA target pauses on hold);
- first contact resolution: % of solved tickets with exactly one public staff reply and never reopened;
- SLA attainment: % of targets met, per target (stopped targets, plus running ones already breached);
- tickets merged into another count in volume and first response, not in the solved-ticket metrics (resolution,
  FCR, reopen rate) nor SLA attainment: the ticket they were merged into carries the outcome;
- reopen rate: % of solved tickets reopened at least once; backlog by age of unsolved tickets.

Aggregates run in SQL (percentile_cont on PostgreSQL); medians fall back to Python on SQLite.
"""

import datetime as dt
import statistics
from typing import Any

from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet
from django.utils import timezone

from tickets.models import SlaTarget, Status, Ticket

UNSOLVED = [Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD]
BACKLOG_BUCKETS = [("<1d", 0, 1), ("1-3d", 1, 3), ("3-7d", 3, 7), ("7-30d", 7, 30), (">30d", 30, None)]


class PercentileCont(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, percentile: float, **extra):
        super().__init__(expression, percentile=percentile, **extra)


def _percentiles(qs: QuerySet, field: str) -> dict[str, float | None]:
    qs = qs.filter(**{f"{field}__isnull": False})
    if connection.vendor == "postgresql":
        row = qs.aggregate(median=PercentileCont(field, 0.5), p90=PercentileCont(field, 0.9), n=Count("pk"))
        return {"median": row["median"], "p90": row["p90"], "count": row["n"]}
    values = sorted(qs.values_list(field, flat=True))
    if not values:
        return {"median": None, "p90": None, "count": 0}
    p90 = statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else float(values[0])
    return {"median": float(statistics.median(values)), "p90": float(p90), "count": len(values)}


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def ticket_metrics(
    *,
    start: dt.datetime,
    end: dt.datetime,
    scope: QuerySet | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Metrics for tickets in `scope` (already filtered by customer, tier, assignee, team, channel, category).
    Volume and first response count tickets created in [start, end); resolution, FCR and reopen rate count
    tickets solved in it; SLA attainment counts targets stopped or breached in it; backlog is as of now."""
    now = now or timezone.now()
    scope = scope if scope is not None else Ticket.objects.all()
    created = scope.filter(created_at__gte=start, created_at__lt=end)
    # A ticket merged into another was not resolved on its own: the ticket it lives on in carries the outcome.
    kept = scope.filter(merged_into__isnull=True)
    solved = kept.filter(solved_at__gte=start, solved_at__lt=end, resolution_seconds__isnull=False)
    solved_counts = solved.aggregate(
        n=Count("pk"),
        fcr=Count("pk", filter=Q(public_staff_replies=1, reopen_count=0)),
        reopened=Count("pk", filter=Q(reopen_count__gt=0)),
    )
    targets = (
        SlaTarget.objects.filter(ticket__in=kept, target_seconds__isnull=False)
        .exclude(state=SlaTarget.State.CANCELLED)  # a merged ticket's targets: neither met nor missed
        .filter(
            Q(stopped_at__gte=start, stopped_at__lt=end) | Q(stopped_at__isnull=True, breached=True, due_at__lt=end)
        )
    )
    attainment = {}
    for row in targets.values("metric").annotate(
        total=Count("pk"), met=Count("pk", filter=Q(state=SlaTarget.State.MET))
    ):
        attainment[row["metric"]] = {
            "targets": row["total"],
            "met": row["met"],
            "breached": row["total"] - row["met"],
            "attainment_pct": _pct(row["met"], row["total"]),
        }
    unsolved = scope.filter(status__in=UNSOLVED)
    backlog_agg = {}
    for label, lo, hi in BACKLOG_BUCKETS:
        cond = Q(created_at__lte=now - dt.timedelta(days=lo))
        if hi is not None:
            cond &= Q(created_at__gt=now - dt.timedelta(days=hi))
        backlog_agg[label] = Count("pk", filter=cond)
    backlog = unsolved.aggregate(**backlog_agg)
    return {
        "period": {"start": start, "end": end},
        "volume": created.count(),
        "first_response_seconds": _percentiles(created, "first_response_seconds"),
        "resolution_seconds": _percentiles(solved, "resolution_seconds"),
        "solved": solved_counts["n"],
        "first_contact_resolution_pct": _pct(solved_counts["fcr"], solved_counts["n"]),
        "reopen_rate_pct": _pct(solved_counts["reopened"], solved_counts["n"]),
        "sla_attainment": attainment,
        "backlog": {"total": sum(backlog.values()), "by_age": backlog},
    }
