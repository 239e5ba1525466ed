#!/usr/bin/env python
"""`make bench` (home): the admin's home page for a CSM who owns 2,000 customers out of 100,000, on PostgreSQL.

A plain script (not collected by pytest), reusing bench_customers' database setup. Its own database,
BENCH_HOME_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/crm_bench_home; DATABASE_URL is ignored).
Seeded once with set-based SQL (INSERT ... SELECT generate_series): BENCH_CUSTOMERS (100,000) customers spread over
50 CSMs, BENCH_BOOK (2,000) of them owned by the benchmark's CSM; one contact and two tickets per customer (5 %
escalated, the last 12 weeks); one open task per customer (a third overdue); a `health.band_changed` drop this
week for 2 %. The timed CSM's book is then as busy as any other.

Timed: GET /admin/ in this process (Django's test client, the CSM signed in): the whole page with every panel,
server time only. Printed: a table of the median, best and worst of BENCH_HOME_RUNS (15) runs and the statements
per page. Exit status 1 when the median is over BENCH_HOME_TARGET_MS (300).
"""

import os
import statistics
import sys
import time
from pathlib import Path

os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_HOME_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench_home"
)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import pg_connect, setup_django

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "100000"))
BOOK = int(os.environ.get("BENCH_BOOK", "2000"))
RUNS = int(os.environ.get("BENCH_HOME_RUNS", "15"))
TARGET_MS = float(os.environ.get("BENCH_HOME_TARGET_MS", "300"))
CSM_EMAIL = "home-bench-csm@example.com"
PREFIX = "home-bench-"
CSMS = 50

SEED_SQL = [
    (
        "customers",
        """
        INSERT INTO crm_customer (name, domain, external_id, lifecycle_stage, tier, arr, timezone, contract_start,
                                  renewal_date, created_at, updated_at, owner_id)
        SELECT 'Home bench ' || g, 'hm' || g || '.example.com', %(prefix)s || g,
               (ARRAY['onboarding', 'adopting', 'mature', 'at_risk'])[1 + g %% 4], 'smb', 1000 + g %% 50000, 'UTC',
               now()::date - (g %% 700), now()::date + (g %% 365), now(), now(),
               CASE WHEN g <= %(book)s THEN %(csm)s ELSE (%(others)s::int[])[1 + g %% %(n_others)s] END
        FROM generate_series(1, %(customers)s::int) AS g
        """,
    ),
    (
        "contacts",
        """
        INSERT INTO crm_contact (customer_id, email, first_name, last_name, role, is_primary, phone, timezone,
                                 created_at, updated_at)
        SELECT id, 'p' || id || '@' || domain, '', '', 'end_user', true, '', '', now(), now()
        FROM crm_customer WHERE external_id LIKE %(like)s
        """,
    ),
    (
        "tickets",
        """
        INSERT INTO tickets_ticket (customer_id, requester_id, subject, channel, priority, category, tags, status,
                                    escalation_level, created_at, updated_at, reopen_count, public_staff_replies)
        SELECT c.customer_id, c.id, 'Bench ticket ' || c.id || '-' || k, 'web', 'normal', 'question', '[]',
               CASE WHEN (c.id + k) %% 3 = 0 THEN 'open' ELSE 'solved' END,
               CASE WHEN (c.id + k) %% 20 = 0 THEN 1 ELSE 0 END,
               now() - make_interval(days => ((c.id * 7 + k * 31) %% 84)::int), now(), 0, 1
        FROM crm_contact c JOIN crm_customer cu ON cu.id = c.customer_id AND cu.external_id LIKE %(like)s,
             generate_series(1, 2) AS k
        """,
    ),
    (
        "tasks",
        """
        INSERT INTO success_task (customer_id, owner_id, type, reason, due_date, priority, status, source_id,
                                  created_at, updated_at, outcome)
        SELECT id, owner_id, (ARRAY['risk', 'activity'])[1 + id %% 2], 'Bench task ' || id,
               now()::date + ((id %% 30) - 10)::int, 'normal', 'open', '', now(), now(), ''
        FROM crm_customer WHERE external_id LIKE %(like)s
        """,
    ),
    (
        "band drops",
        """
        INSERT INTO crm_timelineevent (customer_id, kind, occurred_at, summary, source_id, payload)
        SELECT id, 'health.band_changed', now() - interval '2 days', 'Health green → yellow (70)', '',
               '{"old_band": "green", "new_band": "yellow", "old_score": 80, "new_score": 70}'::jsonb
        FROM crm_customer WHERE external_id LIKE %(like)s AND id %% 50 = 0
        """,
    ),
]


def seed():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from crm.models import Customer

    call_command("migrate", verbosity=0)
    User = get_user_model()
    csm_group = Group.objects.get(name="csm")
    csm, _ = User.objects.get_or_create(email=CSM_EMAIL, defaults={"is_staff": True, "full_name": "Bench CSM"})
    csm.groups.add(csm_group)
    others = []
    for n in range(CSMS - 1):
        other, _ = User.objects.get_or_create(email=f"home-bench-{n}@example.com", defaults={"is_staff": True})
        other.groups.add(csm_group)
        others.append(other.pk)
    if Customer.objects.filter(external_id__startswith=PREFIX).exists():
        return csm  # seeded (the statements run in one transaction: all or nothing)
    print(f"Seeding {CUSTOMERS:,} customers (once)...")
    params = {
        "prefix": PREFIX,
        "like": PREFIX + "%",
        "book": BOOK,
        "csm": csm.pk,
        "others": others,
        "n_others": len(others),
        "customers": CUSTOMERS,
    }
    with pg_connect() as conn:
        with conn.transaction():
            for name, sql in SEED_SQL:
                started = time.perf_counter()
                conn.execute(sql, params)
                print(f"  {name}: {time.perf_counter() - started:.1f} s")
        # As autovacuum leaves a loaded table: statistics, and the visibility map index-only scans need.
        conn.execute("VACUUM ANALYZE")
    return csm


def main() -> int:
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.models import Customer

    csm = seed()
    owned = Customer.objects.filter(owner=csm).count()
    client = Client()
    client.force_login(csm)
    first = client.get("/admin/")
    if first.status_code != 200:
        print(f"GET /admin/ answered {first.status_code}")
        return 1
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        client.get("/admin/")
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get("/admin/")
    median = statistics.median(timings)
    print(f"\nThe CSM's home: {owned:,} customers owned out of {Customer.objects.count():,}")
    print(f"{'page':<14}{'median ms':>10}{'best ms':>10}{'worst ms':>10}{'queries':>9}{'target ms':>11}")
    print(
        f"{'/admin/':<14}{median:>10.1f}{min(timings):>10.1f}{max(timings):>10.1f}"
        f"{len(queries.captured_queries):>9}{TARGET_MS:>11.0f}"
    )
    if median > TARGET_MS:
        slow = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:5]
        print("Slowest statements:\n" + "\n".join(f"  {q['time']} s  {q['sql'][:300]}" for q in slow))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
