#!/usr/bin/env python
"""`make bench` (outreach): a rule's audience and scan over 100,000 customers, and 10,000 outreach emails sent by
one worker within EMAIL_RATE_LIMIT_PER_MINUTE.

A plain script (not collected by pytest). Its own database, BENCH_OUTREACH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/crm_bench_outreach; DATABASE_URL is ignored), seeded once with set-based SQL:
BENCH_CUSTOMERS (100,000) customers with one contact each, every tenth an enterprise customer (10,000), in five
time zones. The previous run's outreach records, emails, ledger entries and their timeline events are deleted
first; the SMTP server (aiosmtpd, bench_email's) runs in its own process.

(1) Scan: two enabled schedule rules (email to every contact), one whose audience is the enterprise customers
    (10,000: tier + lifecycle stage + days since the last CSM touch), one with the same conditions but every tier
    (100,000). `success.outreach.execution.rule_scan` of each, its statements counted and split into the
    audience's (fixed: the audience, its time zones, the rule) and the claim's (a contact SELECT and a records
    INSERT per chunk of 2,000 customers). Fails when the audience's statements grow from 10,000 to 100,000
    customers, or the claim takes more than two statements per chunk.
(2) Email: the 10,000 records of the enterprise rule performed (records_perform, timed apart), then one worker in
    this process runs every `crm.send_email_batch` task they published (FIFO) against the SMTP server, with
    EMAIL_RATE_LIMIT_PER_MINUTE = BENCH_OUTREACH_RATE (4,800: 80 a second, below one worker's unlimited rate of
    about 100 a second on a small machine, so the limit binds: the rounds of a batch that got fewer tokens than
    emails left are printed). Fails when an email is missing, or more emails went out than the token bucket
    allows in the elapsed time (limit/60 a second plus one second's worth: crm.email_rate).

Printed: a table of customers, audience, records, statements and seconds per scan; emails, seconds, emails/minute
against the limit; records_perform's email records a second.
"""

import math
import os
import sys
import time
from collections import deque
from datetime import timedelta
from pathlib import Path

os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_OUTREACH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench_outreach"
)
os.environ["CELERY_BROKER_URL"] = "memory://"  # nothing reaches a real queue
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_customers import pg_connect, setup_django
from bench_email import SmtpProcess

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "100000"))
RATE = int(os.environ.get("BENCH_OUTREACH_RATE", "4800"))
PREFIX = "outreach-bench-"
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
CHUNK = 2000

SEED_SQL = [
    (
        "customers",
        """
        INSERT INTO crm_customer (name, domain, external_id, lifecycle_stage, tier, arr, timezone, contract_start,
                                  renewal_date, created_at, updated_at)
        SELECT 'Outreach bench ' || g, 'ob' || g || '.example.com', %(prefix)s || g,
               'adopting', CASE WHEN g %% 10 = 0 THEN 'enterprise' ELSE 'smb' END, 12000,
               (%(zones)s::text[])[1 + g %% 5], now()::date - 400, now()::date + 200, now() - interval '400 days',
               now()
        FROM generate_series(%(first)s::int, %(last)s::int) AS g
        """,
    ),
    (
        "contacts",
        """
        INSERT INTO crm_contact (customer_id, email, first_name, last_name, role, is_primary, phone, timezone,
                                 created_at, updated_at)
        SELECT id, 'pat@' || domain, 'Pat', 'Doe', 'champion', true, '', '', created_at, created_at
        FROM crm_customer WHERE id > %(lo)s
        """,
    ),
]


def seed() -> None:
    from django.core.management import call_command

    from crm.models import Customer

    call_command("migrate", verbosity=0)
    existing = Customer.objects.filter(external_id__startswith=PREFIX).count()
    if existing >= CUSTOMERS:
        print(f"{existing:,} bench customers (seeded before)")
        return
    lo = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    params = {"prefix": PREFIX, "first": existing + 1, "last": CUSTOMERS, "lo": lo, "zones": ZONES}
    print(f"Seeding {CUSTOMERS - existing:,} customers with a contact each (once)...")
    with pg_connect() as conn:
        with conn.transaction():
            for name, sql in SEED_SQL:
                started = time.perf_counter()
                with conn.cursor() as cursor:
                    cursor.execute(sql, params)
                    print(f"  {name:<10} {cursor.rowcount:>10,} rows {time.perf_counter() - started:6.1f} s")
        conn.execute("VACUUM ANALYZE crm_customer, crm_contact")


def reset() -> None:
    """Forget the previous run: its records, emails, ledger entries and their timeline events."""
    with pg_connect() as conn:
        conn.execute("DELETE FROM success_outreachrecord")
        conn.execute("DELETE FROM crm_timelineevent WHERE kind LIKE 'outreach.%%' OR kind LIKE 'email.%%'")
        conn.execute("DELETE FROM crm_ledgerentry WHERE kind = 'outreach'")
        conn.execute("DELETE FROM crm_outboundemail WHERE kind LIKE 'outreach%%'")
        conn.execute("DELETE FROM crm_emailratebucket")


def bench_rule(name: str, tiers: list[str], template):
    from django.utils import timezone

    from success.outreach.definitions import outreach_rule_save
    from success.outreach.models import OutreachRule

    conditions = {
        "all": [
            {"field": "tier", "op": "in", "value": tiers},
            {"field": "lifecycle_stage", "op": "in", "value": ["adopting", "mature"]},
            {"field": "days_since_last_touch", "op": "gte", "value": 0},
        ]
    }
    fields = dict(
        enabled=True,
        trigger="schedule",
        schedule="* * * * *",
        conditions=conditions,
        actions=[{"action": "email", "template": template.pk, "role": "all"}],
        quiet_hours=False,
        cooldown_days=0,
        cap_per_run=None,
    )
    rule = OutreachRule.objects.filter(name=name).first()
    rule = outreach_rule_save(rule=rule, name=name, **fields)
    OutreachRule.objects.filter(pk=rule.pk).update(
        enabled_at=timezone.now() - timedelta(days=1), last_scan_at=None, last_scan_summary={}
    )
    return rule


def scan(rule) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from success.outreach.execution import rule_scan

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        summary = rule_scan(rule_id=rule.pk, at=timezone.now())
        seconds = time.perf_counter() - started
    sqls = [q["sql"] for q in queries.captured_queries]
    claim = [s for s in sqls if s.startswith('INSERT INTO "success_outreachrecord"') or 'FROM "crm_contact"' in s[:400]]
    return {
        "customers": summary.get("customers", 0),
        "records": summary.get("claimed", 0),
        "statements": len(sqls),
        "claim": len(claim),
        "audience": len(sqls) - len(claim),
        "seconds": seconds,
    }


def send(port: int, rule) -> dict:
    from django.conf import settings

    from config.celery import app
    from crm import outbound_batch
    from crm.email_rate import rate_capacity
    from crm.models import OutboundEmail
    from crm.tasks import send_email_batch
    from success.outreach.models import OutreachRecord
    from success.outreach.perform import records_perform

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.LEDGER_OUTREACH_MIN_DAYS = 0  # every run mails the same contacts again
    settings.EMAIL_RATE_LIMIT_PER_MINUTE = RATE

    queue: deque = deque()
    app.tasks["crm.send_email_batch"].apply_async = lambda args=None, kwargs=None, **options: queue.append(args[0])
    app.tasks["success.outreach_perform"].apply_async = lambda *a, **kw: None
    started = time.perf_counter()
    while records_perform(limit=1000):
        pass
    perform_seconds = time.perf_counter() - started
    mine = OutboundEmail.objects.filter(pk__in=OutreachRecord.objects.filter(rule=rule).values("outbound_email"))
    emails = mine.count()
    rounds = {"all": 0, "cut": 0}
    take = outbound_batch.rate_take

    def counted_take(count: int) -> tuple[int, float]:  # a round the rate limit gave fewer tokens than asked
        granted, wait = take(count)
        rounds["all"] += 1
        rounds["cut"] += granted < count
        return granted, wait

    outbound_batch.rate_take = counted_take
    started = time.perf_counter()
    try:
        while queue:
            send_email_batch.apply((list(queue.popleft()),)).get()
    finally:
        outbound_batch.rate_take = take
    seconds = time.perf_counter() - started
    sent = mine.filter(status="sent").count()
    allowed = rate_capacity(RATE) + RATE / 60 * seconds
    return {
        "emails": emails,
        "sent": sent,
        "perform": perform_seconds,
        "seconds": seconds,
        "allowed": allowed,
        "rounds": rounds,
    }


def main() -> int:
    setup_django()
    import logging

    logging.getLogger("celery").setLevel(logging.WARNING)
    from crm.email_templates import email_template_save
    from crm.models import EmailTemplate

    seed()
    reset()
    template = EmailTemplate.objects.filter(name="Outreach bench").first() or email_template_save(
        name="Outreach bench",
        subject="How is it going, {contact.first_name}?",
        text_body="Hello {contact.first_name}, {customer.name} is in good hands. {company}",
        html_body="<p>Hello {contact.first_name}</p>",
    )
    small = bench_rule("Outreach bench: enterprise", ["enterprise"], template)
    large = bench_rule("Outreach bench: every tier", ["enterprise", "mid_market", "smb"], template)
    rows = [scan(small), scan(large)]
    from success.outreach.models import OutreachRecord

    OutreachRecord.objects.filter(rule=large).delete()  # only the enterprise rule's records are performed

    print(f"\nOutreach scan (rule_scan: audience, time zones, claim in chunks of {CHUNK:,}), PostgreSQL")
    print(f"{'customers':>10}{'records':>10}{'statements':>12}{'audience':>10}{'claim':>8}{'seconds':>10}")
    for row in rows:
        print(
            f"{row['customers']:>10,}{row['records']:>10,}{row['statements']:>12,}{row['audience']:>10,}"
            f"{row['claim']:>8,}{row['seconds']:>10.2f}"
        )
    failures = []
    if rows[1]["audience"] > rows[0]["audience"]:
        failures.append(f"audience statements grew: {rows[0]['audience']} -> {rows[1]['audience']}")
    for row in rows:
        if row["claim"] > 2 * math.ceil(row["customers"] / CHUNK):
            failures.append(f"{row['claim']} claim statements for {row['customers']:,} customers")
        if row["customers"] == 0:
            failures.append("a scan claimed nobody")

    server = SmtpProcess()
    try:
        before = server.received()
        result = send(server.port, small)
        received = server.received() - before
    finally:
        server.stop()
    per_minute = result["sent"] / result["seconds"] * 60
    print(f"\nOutreach email: one worker, EMAIL_RATE_LIMIT_PER_MINUTE = {RATE:,}")
    print(
        f"{'emails':>8}{'received':>10}{'perform s':>11}{'send s':>9}{'emails/min':>12}{'limit/min':>11}"
        f"{'rounds cut by the limit':>25}"
    )
    print(
        f"{result['emails']:>8,}{received:>10,}{result['perform']:>11.1f}{result['seconds']:>9.1f}"
        f"{per_minute:>12,.0f}{RATE:>11,}{result['rounds']['cut']:>12,} of {result['rounds']['all']:>9,}"
    )
    print(f"token bucket allows {result['allowed']:,.0f} emails in {result['seconds']:.1f} s")
    print(f"records_perform: {result['emails'] / max(result['perform'], 1e-9):,.0f} email records a second")
    if received != result["emails"] or result["sent"] != result["emails"] or result["emails"] == 0:
        failures.append(f"{received} received, {result['sent']} sent, of {result['emails']}")
    if result["sent"] > result["allowed"]:
        failures.append(f"{result['sent']} emails exceed the rate limit's {result['allowed']:.0f}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
