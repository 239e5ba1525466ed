#!/usr/bin/env python
"""`make bench` (usage): POST /api/v1/usage-events/ throughput on PostgreSQL, in batches of 1,000 events.

A plain script (not collected by pytest), reusing bench_customers' database setup (DATABASE_URL, by default
postgres://postgres@127.0.0.1:5432/crm_bench; migrated here). It makes 200 customers of its own ("usage-bench-*",
once), then:

(a) statements per batch at 10, 100 and 1,000 events, counted in-process with CaptureQueriesContext on one
    request each (API key and permissions included): they must not grow with the batch size;
(b) the throughput through real HTTP: the web server of `make run` (gunicorn, config.wsgi, BENCH_WEB_WORKERS
    workers, default 2) on a free local port, and a client posting BENCH_BATCHES (20) batches of 1,000 new
    events as a product sends them live (200 customers with 25 users each, 8 event names, the last 15
    minutes) one after the other over a keep-alive connection: events/s = 1,000 / median seconds per batch
    (p90 too); then the same batches again (all duplicates: the retry path); then 2 clients at once
    (aggregate events/s); then the worst case for the rollups (events spread over 7 days by 500 users shared
    by all customers: almost every event makes new rollup rows), reported, not held to the target;
(c) the baseline: the same rows written straight into the table with psycopg COPY (no HTTP, no validation, no
    rollups), median over the same batches, and the ratio of the endpoint's time to it.
The events and rollups of the bench customers are deleted afterwards, so every run measures the same.

Exit status 1 when the endpoint stays under 5,000 events/s (BENCH_USAGE_TARGET), when statements per batch grow
from 10 to 1,000 events, or when a batch is not fully accepted.
"""

import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import BASE_DIR, pg_connect, setup_django

BATCHES = int(os.environ.get("BENCH_BATCHES", "20"))
BATCH_SIZE = 1000
TARGET = float(os.environ.get("BENCH_USAGE_TARGET", "5000"))
WEB_WORKERS = os.environ.get("BENCH_WEB_WORKERS", "2")
CUSTOMERS = 200
PREFIX = "usage-bench-"
NAMES = (
    "login",
    "report_viewed",
    "report_exported",
    "api_call",
    "dashboard_viewed",
    "invite_sent",
    "search",
    "integration_synced",
)


def ensure_customers() -> list[int]:
    from django.core.management import call_command

    from crm.models import Customer

    call_command("migrate", verbosity=0)
    existing = set(Customer.objects.filter(external_id__startswith=PREFIX).values_list("external_id", flat=True))
    Customer.objects.bulk_create(
        [
            Customer(name=f"Usage bench {i:03d}", external_id=f"{PREFIX}{i:03d}")
            for i in range(CUSTOMERS)
            if f"{PREFIX}{i:03d}" not in existing
        ]
    )
    return list(Customer.objects.filter(external_id__startswith=PREFIX).order_by("pk").values_list("pk", flat=True))


def cleanup(customer_ids) -> None:
    from success.models import UsageDaily, UsageDailyName, UsageDailyUser, UsageEvent

    for model in (UsageEvent, UsageDailyUser, UsageDaily, UsageDailyName):
        model.objects.filter(customer_id__in=customer_ids).delete()


def make_batch(customer_ids, rng, run: str, n: int = BATCH_SIZE, spread: bool = False) -> list[dict]:
    """`n` new events. Live (default): what a product sends as it goes, events of the last 15 minutes from the
    users of 200 customers (25 users each). `spread`: the worst case for the rollups, each event on a random
    one of the last 7 days by one of 500 users shared by every customer (nearly every event a new
    (customer, day, user) and a new (customer, day, name) row)."""
    now = datetime.now(UTC)
    events = []
    for _ in range(n):
        customer = rng.choice(customer_ids)
        if spread:
            email, seconds = f"user{rng.randrange(500)}@bench.example", rng.randrange(7 * 86400)
        else:
            email, seconds = f"user{rng.randrange(25)}@c{customer}.bench.example", rng.randrange(900)
        events.append(
            {
                "id": f"{run}-{uuid.uuid4().hex}",
                "customer": customer,
                "contact_email": email,
                "name": rng.choice(NAMES),
                "occurred_at": (now - timedelta(seconds=seconds)).isoformat(),
                "quantity": rng.randrange(1, 5),
            }
        )
    return events


def statements_per_batch(customer_ids, raw_key, rng) -> dict[int, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    counts = {}
    for n in (1, 10, 100, 1000):
        batch = make_batch(customer_ids, rng, "stmt", n)
        with CaptureQueriesContext(connection) as queries:
            response = client.post("/api/v1/usage-events/", {"events": batch}, content_type="application/json")
        assert response.status_code == 200 and response.json()["accepted"] == n, response.content[:500]
        counts[n] = len(queries.captured_queries)
    counts.pop(1)  # the first request warms the key's last-used stamp
    return counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_web(port: int) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_DEBUG": "False"}
    web = subprocess.Popen(
        [
            str(BASE_DIR / ".venv/bin/gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            WEB_WORKERS,
            "--threads",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=BASE_DIR,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/")
            connection.getresponse().read()
            return web
        except OSError:
            time.sleep(0.3)
    web.terminate()
    sys.exit("gunicorn did not start")


def post_batches(port: int, raw_key: str, batches: list[list[dict]]) -> tuple[list[float], list[dict]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}
    times, bodies = [], []
    for batch in batches:
        body = json.dumps({"events": batch})
        started = time.perf_counter()
        connection.request("POST", "/api/v1/usage-events/", body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        times.append(time.perf_counter() - started)
        bodies.append(json.loads(data) if response.status == 200 else {"status": response.status, "body": data[:300]})
    connection.close()
    return times, bodies


def copy_baseline(customer_ids, batches: list[list[dict]]) -> list[float]:
    """The same rows COPYed straight into the events table (new ids), one COPY per batch in its own
    transaction; removed afterwards by cleanup()."""
    times = []
    now = datetime.now(UTC)
    with pg_connect() as conn:
        for batch in batches:
            started = time.perf_counter()
            with conn.transaction(), conn.cursor() as cursor:
                with cursor.copy(
                    "COPY success_usageevent (customer_id, contact_email, external_id, name, occurred_at, quantity, "
                    "received_at) FROM STDIN"
                ) as copy:
                    for event in batch:
                        copy.write_row(
                            (
                                event["customer"],
                                event["contact_email"],
                                "copy-" + event["id"],
                                event["name"],
                                event["occurred_at"],
                                event["quantity"],
                                now,
                            )
                        )
            times.append(time.perf_counter() - started)
    return times


def p90(samples):
    return statistics.quantiles(samples, n=10, method="inclusive")[8] if len(samples) > 1 else samples[0]


def main() -> int:
    setup_django()
    from accounts.services import api_key_create

    rng = random.Random(2026)
    customer_ids = ensure_customers()
    cleanup(customer_ids)
    _, raw_key = api_key_create(name="make bench usage", role="admin", actor=None)
    failures = []
    try:
        counts = statements_per_batch(customer_ids, raw_key, rng)
        if counts[1000] > counts[10]:
            failures.append(f"statements grow with the batch size: {counts}")
        run = uuid.uuid4().hex[:8]
        batches = [make_batch(customer_ids, rng, run) for _ in range(BATCHES + 2)]
        port = free_port()
        web = start_web(port)
        try:
            post_batches(port, raw_key, batches[:2])  # warm-up: each worker's first request
            times, bodies = post_batches(port, raw_key, batches[2:])
            retry_times, retry_bodies = post_batches(port, raw_key, batches[2:])
            fresh = [make_batch(customer_ids, rng, run + "p") for _ in range(BATCHES)]
            halves = [fresh[::2], fresh[1::2]]
            parallel_bodies, started = [], time.perf_counter()
            threads = [
                threading.Thread(target=lambda h=h: parallel_bodies.extend(post_batches(port, raw_key, h)[1]))
                for h in halves
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            parallel_seconds = time.perf_counter() - started
            spread_batches = [make_batch(customer_ids, rng, run + "s", spread=True) for _ in range(BATCHES)]
            spread_times, spread_bodies = post_batches(port, raw_key, spread_batches)
        finally:
            web.terminate()
            web.wait(30)
        bad = [b for b in bodies + parallel_bodies + spread_bodies if b.get("accepted") != BATCH_SIZE]
        bad += [b for b in retry_bodies if b.get("duplicates") != BATCH_SIZE]
        if bad:
            failures.append(f"{len(bad)} batches not fully accepted (or retries not all duplicates): {bad[0]}")
        baseline = copy_baseline(customer_ids, batches[2:])
    finally:
        cleanup(customer_ids)
    median, base = statistics.median(times), statistics.median(baseline)
    rate = BATCH_SIZE / median
    rows = [
        ("POST 1,000 new events (HTTP, 1 client)", median, p90(times), rate),
        (
            "POST the same batch again (all duplicates)",
            statistics.median(retry_times),
            p90(retry_times),
            BATCH_SIZE / statistics.median(retry_times),
        ),
        (
            "worst case: spread over 7 days, all new users",
            statistics.median(spread_times),
            p90(spread_times),
            BATCH_SIZE / statistics.median(spread_times),
        ),
        ("baseline: psycopg COPY of the same rows", base, p90(baseline), BATCH_SIZE / base),
    ]
    print(f"\nUsage events: {BATCHES} batches of {BATCH_SIZE:,}, gunicorn {WEB_WORKERS} workers, PostgreSQL")
    print(f"{'case':<46}{'median ms':>11}{'p90 ms':>9}{'events/s':>11}")
    for name, med, p, per_second in rows:
        print(f"{name:<46}{med * 1000:>11.1f}{p * 1000:>9.1f}{per_second:>11,.0f}")
    print(f"{'2 clients at once (aggregate)':<46}{'':>11}{'':>9}{BATCHES * BATCH_SIZE / parallel_seconds:>11,.0f}")
    print(f"endpoint / COPY baseline: {median / base:.1f}x")
    print("statements per batch: " + ", ".join(f"{n:,} events: {c}" for n, c in counts.items()))
    if rate < TARGET:
        failures.append(f"{rate:,.0f} events/s is under the target of {TARGET:,.0f}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
