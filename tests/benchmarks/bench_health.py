#!/usr/bin/env python
"""`make bench` (health): the full health recompute of 100,000 customers on PostgreSQL, against one raw SQL
aggregate over the same data.

A plain script (not collected by pytest), reusing bench_customers' database setup. Its own database,
BENCH_HEALTH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/crm_bench_health; DATABASE_URL is
ignored), because the recompute scores every customer of the database. Seeded once with set-based SQL
(INSERT ... SELECT generate_series, about a minute): BENCH_CUSTOMERS (100,000) customers with one contact each,
3 tickets each (15 % still open, 5 % urgent) with a resolution SLA target each (10 % breached), one survey answer
each (NPS, CSAT or CES), 60 days of usage rollups for half of them, and timeline events (a CSM note for 70 %, a
ticket.opened per ticket, two emails).
Every date is relative to ANCHOR, a fixed instant, and the recompute runs at ANCHOR + 12 h, so every run
measures the same whatever the day.

Timed: the full recompute at that instant, today's scores of the previous run deleted first (the nightly run
makes new rows; yesterday's current health stays).
Timed: `success.health.services.health_recompute(at=...)`, the nightly path run in this process (chunks of
2,000 customers: gather_measures, score_customer, one upsert of the day's scores per chunk, current health).

Printed: customers, seconds, statements, customers/s, and the ratio to the baseline: ONE raw SQL statement that
aggregates the same tickets, SLA targets, survey answers and usage per customer (fetched to Python). Exit status
1 over BENCH_HEALTH_TARGET seconds (60) or when a customer with data got no score.
"""

import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Its own database whatever DATABASE_URL says: the recompute scores every customer of the database.
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_HEALTH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench_health"
)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import pg_connect, setup_django

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "100000"))
TARGET = float(os.environ.get("BENCH_HEALTH_TARGET", "60"))
CHUNK = 2000
PREFIX = "health-bench-"
ANCHOR = datetime(2026, 11, 30, tzinfo=UTC)
AT = ANCHOR + timedelta(hours=12)

# One statement each, over the customers inserted by this seeding (ids above %(lo)s).
SEED_SQL = [
    (
        "customers",
        """
        INSERT INTO crm_customer (name, domain, external_id, lifecycle_stage, tier, arr, timezone, contract_start,
                                  renewal_date, created_at, updated_at)
        SELECT 'Health bench ' || g, 'hb' || g || '.example.com', %(prefix)s || g,
               (ARRAY['onboarding', 'adopting', 'mature', 'at_risk'])[1 + g %% 4], 'smb', 12000, 'UTC',
               %(anchor)s::date - (g %% 700),
               CASE WHEN g %% 10 = 0 THEN NULL ELSE %(anchor)s::date + (g * 7 %% 365) END,
               %(anchor)s - make_interval(days => 700), %(anchor)s
        FROM generate_series(%(first)s::int, %(last)s::int) AS g
        """,
    ),
    (
        "contacts",
        """
        INSERT INTO crm_contact (customer_id, email, first_name, last_name, role, is_primary, phone, timezone,
                                 created_at, updated_at)
        SELECT id, 'contact@' || domain, 'Pat', 'Doe', 'champion', true, '', '', created_at, created_at
        FROM crm_customer WHERE id > %(lo)s
        """,
    ),
    (
        "tickets",
        """
        INSERT INTO tickets_ticket (customer_id, requester_id, subject, channel, priority, category, tags, status,
                                    escalation_level, created_at, updated_at, solved_at, reopen_count,
                                    public_staff_replies)
        SELECT c.customer_id, c.id, 'Bench ticket', 'web',
               CASE WHEN r.p < 0.05 THEN 'urgent' WHEN r.p < 0.25 THEN 'high' ELSE 'normal' END,
               'question', '[]', CASE WHEN r.o < 0.15 THEN 'open' ELSE 'solved' END, 0, r.created, r.created,
               CASE WHEN r.o < 0.15 THEN NULL ELSE r.created + make_interval(hours => (r.o * 100)::int) END, 0, 1
        FROM crm_contact c
        CROSS JOIN generate_series(1, 3) AS n
        CROSS JOIN LATERAL (
            SELECT random() + 0 * c.id AS p, random() AS o,  -- c.id: once per row, not memoized per n
                   %(anchor)s - make_interval(mins => (random() * 120 * 1440)::int, secs => n) AS created
        ) r
        WHERE c.customer_id > %(lo)s
        """,
    ),
    (
        "SLA targets",
        """
        INSERT INTO tickets_slatarget (ticket_id, metric, cycle, target_seconds, started_at, state, elapsed_seconds,
                                       counted_until, segments, due_at, stopped_at, breached)
        SELECT t.id, 'resolution', 1, 86400, t.created_at, CASE WHEN b THEN 'breached' ELSE 'met' END, 0,
               t.created_at, '[]', t.created_at + interval '1 day', t.solved_at, b
        FROM tickets_ticket t CROSS JOIN LATERAL (SELECT random() < 0.10 AND t.id > 0 AS b) r
        WHERE t.customer_id > %(lo)s
        """,
    ),
    (
        "invitations",
        """
        INSERT INTO surveys_invitation (survey_id, customer_id, contact_id, trigger, trigger_key, status,
                                        suppressed_reason, token_nonce, token_hash, scheduled_for, created_at)
        SELECT s.id, c.customer_id, c.id, 'api', 'health-bench:' || c.id, 'answered', '', 'x', md5('hb' || c.id),
               %(anchor)s - make_interval(days => (c.customer_id %% 180)::int + 1),
               %(anchor)s - make_interval(days => (c.customer_id %% 180)::int + 1)
        FROM crm_contact c
        JOIN surveys_survey s ON s.name = 'Health bench ' || CASE
            WHEN c.customer_id %% 20 < 10 THEN 'nps' WHEN c.customer_id %% 20 < 17 THEN 'csat' ELSE 'ces' END
        WHERE c.customer_id > %(lo)s
        """,
    ),
    (
        "responses",
        """
        INSERT INTO surveys_response (invitation_id, survey_id, customer_id, contact_id, kind, score, comment,
                                      answered_at, updated_at, user_agent)
        SELECT i.id, i.survey_id, i.customer_id, i.contact_id, s.kind,
               CASE s.kind WHEN 'nps' THEN (random() * 10)::int WHEN 'csat' THEN 1 + (random() * 4)::int
                           ELSE 1 + (random() * 6)::int END,
               '', i.scheduled_for + interval '1 day', i.scheduled_for + interval '1 day', ''
        FROM surveys_invitation i JOIN surveys_survey s ON s.id = i.survey_id
        WHERE i.customer_id > %(lo)s
        """,
    ),
    (
        "usage rollups",
        """
        INSERT INTO success_usagedaily (customer_id, day, active_users, events, quantity)
        SELECT c.id, %(anchor)s::date - d, 1 + (random() * 9)::int, e, e
        FROM crm_customer c
        CROSS JOIN generate_series(0, 59) AS d
        CROSS JOIN LATERAL (SELECT (random() * 50 * (1 + (c.id %% 3 - 1) * d / 120.0))::int AS e) r
        WHERE c.id > %(lo)s AND c.id %% 2 = 0
        """,
    ),
    (
        "timeline",
        """
        INSERT INTO crm_timelineevent (customer_id, kind, occurred_at, summary, source_id, payload)
        SELECT customer_id, 'ticket.opened', created_at, 'Ticket opened', '', '{}'::jsonb FROM tickets_ticket
        WHERE customer_id > %(lo)s
        UNION ALL
        SELECT id, 'email.sent', %(anchor)s - make_interval(days => (n * 9 + id %% 7)::int), 'Email sent', '', '{}'
        FROM crm_customer CROSS JOIN generate_series(1, 2) AS n WHERE id > %(lo)s
        UNION ALL
        SELECT id, 'note.added', %(anchor)s - make_interval(days => (id %% 120)::int, mins => (id %% 1440)::int),
               'Note', '', '{}'
        FROM crm_customer WHERE id > %(lo)s AND id %% 10 < 7
        """,
    ),
]

BASELINE_SQL = """
SELECT c.id, t.open, t.urgent, b.b30, b.b90, r.answers, r.mean, u.events, u.events_prev, u.days_active
FROM crm_customer c
LEFT JOIN (
    SELECT customer_id,
           count(*) FILTER (WHERE (solved_at IS NULL OR solved_at > %(at)s)) AS open,
           count(*) FILTER (WHERE (solved_at IS NULL OR solved_at > %(at)s) AND priority = 'urgent') AS urgent
    FROM tickets_ticket WHERE created_at <= %(at)s AND merged_into_id IS NULL GROUP BY customer_id
) t ON t.customer_id = c.id
LEFT JOIN (
    SELECT t.customer_id, count(*) FILTER (WHERE s.due_at >= %(at)s - interval '30 days') AS b30, count(*) AS b90
    FROM tickets_slatarget s JOIN tickets_ticket t ON t.id = s.ticket_id
    WHERE s.breached AND s.due_at >= %(at)s - interval '90 days' AND s.due_at < %(at)s GROUP BY t.customer_id
) b ON b.customer_id = c.id
LEFT JOIN (
    SELECT customer_id, count(*) AS answers, avg(score) AS mean FROM surveys_response
    WHERE answered_at < %(at)s GROUP BY customer_id
) r ON r.customer_id = c.id
LEFT JOIN (
    SELECT customer_id, sum(events) FILTER (WHERE day > %(day)s - 30) AS events,
           sum(events) FILTER (WHERE day <= %(day)s - 30) AS events_prev,
           count(*) FILTER (WHERE day > %(day)s - 30 AND events > 0) AS days_active
    FROM success_usagedaily WHERE day > %(day)s - 60 AND day <= %(day)s GROUP BY customer_id
) u ON u.customer_id = c.id
"""


def seed() -> None:
    """Create the bench customers missing (and their data), once."""
    from django.core.management import call_command

    from crm.models import Customer
    from surveys.models import Survey
    from surveys.services import survey_create

    call_command("migrate", verbosity=0)
    for kind in ("nps", "csat", "ces"):
        if not Survey.objects.filter(name=f"Health bench {kind}").exists():
            survey_create(name=f"Health bench {kind}", kind=kind)
    existing = Customer.objects.filter(external_id__startswith=PREFIX).count()
    if existing >= CUSTOMERS:
        print(f"{existing:,} bench customers (seeded before)")
        return
    lo = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    params = {"prefix": PREFIX, "anchor": ANCHOR, "first": existing + 1, "last": CUSTOMERS, "lo": lo}
    print(f"Seeding {CUSTOMERS - existing:,} customers and their health data (once)...")
    with pg_connect() as conn:
        with conn.transaction():  # all or nothing: a failed seeding leaves no half-seeded customers
            for name, sql in SEED_SQL:
                started = time.perf_counter()
                with conn.cursor() as cursor:
                    cursor.execute(sql, params)
                    print(f"  {name:<14} {cursor.rowcount:>10,} rows {time.perf_counter() - started:6.1f} s")
        conn.execute(
            "VACUUM ANALYZE crm_customer, crm_contact, tickets_ticket, tickets_slatarget, surveys_invitation, "
            "surveys_response, success_usagedaily, crm_timelineevent"
        )


def baseline(at: datetime) -> float:
    samples = []
    with pg_connect() as conn:
        for _ in range(3):
            started = time.perf_counter()
            rows = conn.execute(BASELINE_SQL, {"at": at, "day": at.date()}).fetchall()
            samples.append(time.perf_counter() - started)
    assert len(rows) >= CUSTOMERS
    return statistics.median(samples)


def main() -> int:
    setup_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Customer
    from success.health.definitions import ensure_default_model
    from success.health.models import HealthScore
    from success.health.services import health_recompute

    seed()
    ensure_default_model()
    HealthScore.objects.filter(day=AT.date()).delete()
    path = "health_recompute()"
    print(f"Recompute at {AT.isoformat()} through {path}...")
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        outcome = health_recompute(at=AT)
        seconds = time.perf_counter() - started
    statements = len(queries.captured_queries)
    customers = Customer.objects.count()
    scored = HealthScore.objects.filter(day=AT.date()).count()
    base = baseline(AT)
    print(f"\nHealth recompute, PostgreSQL, chunks of {CHUNK:,}: {path}")
    print(f"{'customers':>10}{'scored':>10}{'seconds':>10}{'statements':>12}{'customers/s':>13}{'x raw SQL':>11}")
    rate, ratio = customers / seconds, seconds / base
    print(f"{customers:>10,}{scored:>10,}{seconds:>10.1f}{statements:>12,}{rate:>13,.0f}{ratio:>11.1f}")
    print(f"baseline: one raw SQL aggregate of tickets, SLA targets, answers and usage per customer: {base:.2f} s")
    print(f"health_recompute returned: {outcome}")
    failures = []
    if seconds > TARGET:
        failures.append(f"{seconds:.1f} s is over the target of {TARGET:.0f} s")
    if scored < customers:
        failures.append(f"{customers - scored:,} customers got no score")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
