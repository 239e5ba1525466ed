#!/usr/bin/env python
"""`make bench` (tickets): inbound email, the SLA sweep and the ticket list at scale on PostgreSQL.

A plain script (not collected by pytest), next to bench_customers.py and reusing its setup: the same database
(DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/crm_bench, with 100,000 customers x 3 contacts).
It seeds 1,000,000 tickets once (BENCH_TICKETS; 100,000 of them unsolved with a running SLA target,
BENCH_OPEN_TICKETS) through seed_demo's bulk path (tickets.demo_data, COPY in batches) and reuses them on
later runs. Celery's broker is replaced by an in-process stand-in, so nothing reaches a real queue.

(a) Inbound email: 2,000 (BENCH_INBOUND_EMAILS) RFC 822 messages made from the samples in
    tests/tickets/mime/ (Gmail multipart, Outlook HTML-only Latin-1, Shift_JIS, a forward by an agent,
    threaded replies with a quoted history and an attachment, auto-replies and bounces), each with a unique
    Message-ID and a known contact as sender, go one by one through
    tickets.inbound_email.inbound_email_receive (raw row stored and committed, parsed, ticket opened or reply
    threaded, attachments stored, flag rules queued on commit). Reported: messages per second and the median
    and p90 milliseconds per message. The tickets, messages, flags, emails and files it created are deleted
    afterwards (and before, after a crash).
(b) The SLA sweep (tickets.escalation.sla_sweep) in transactions that are rolled back, so every run measures
    the same data: (1) every running target (100,000) made due, the tickets unassigned and the customers
    without owners: wall time and SQL statements (counted by an execute wrapper, which sees what
    CaptureQueriesContext sees without its 9,000-query cap), compared with the same sweep over
    10,000 targets to show the statements grow with batches of 1,000 targets, not per target; (2) 2,000
    (BENCH_SWEEP_NOTIFY) due targets with their assignees, team lead and CSMs notified: time, emails queued
    and statements per batch (the emails of a batch are stored in one INSERT per 1,000, so they stay per
    batch too); (3) the flag evaluation each escalation triggers: on commit
    the sweep queues a tickets.evaluate_flags task per escalated ticket (timed), which a worker runs (timed
    on a sample of 500): it runs per ticket, after the
    sweep.
(c) The ticket list at 1,000,000 tickets: GET /api/v1/tickets/?page_size=100 and ?page_size=10 (an admin API
    key) against raw SQL fetching the same 100 rows with the same columns (SLA targets included) dumped with
    json.dumps; the API's queue order; the admin queue /admin/tickets/ticket/ (and filtered views). The
    baseline and the two API pages run bench_customers' REPETITIONS (30) times, the informational pages 10
    (BENCH_INFO_REPETITIONS).

Exit status 1 when a target is missed: an inbound message that failed or was not matched, a sweep whose
statements per batch of 1,000 targets grow from 10,000 to 100,000 targets (or exceed 20 per 1,000; 30 with
notifications), the API's
100-row page at 5x the raw-SQL baseline or more, a query count that differs between page sizes, or a page
that fails.
"""

import datetime as dt
import email.utils
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_customers as base

# Nothing the benchmark does may reach a real queue (a local `make run` worker would pick it up).
os.environ["CELERY_BROKER_URL"] = "memory://"

TICKETS = int(os.environ.get("BENCH_TICKETS", "1000000"))
OPEN_TICKETS = int(os.environ.get("BENCH_OPEN_TICKETS", "100000"))
INBOUND_EMAILS = int(os.environ.get("BENCH_INBOUND_EMAILS", "2000"))
SWEEP_SMALL = int(os.environ.get("BENCH_SWEEP_SMALL", "10000"))
SWEEP_NOTIFY = int(os.environ.get("BENCH_SWEEP_NOTIFY", "2000"))
FLAG_SAMPLE = 500
INFO_REPETITIONS = int(os.environ.get("BENCH_INFO_REPETITIONS", "10"))
API_RATIO_TARGET = 5.0
MAX_STATEMENTS_PER_1000 = 20
MAX_NOTIFY_STATEMENTS_PER_BATCH = 30  # + the INSERT and read-back of the batch's emails, per 1,000 emails
INBOUND_SOURCE = "bench"
MIME_DIR = base.BASE_DIR / "tests" / "tickets" / "mime"
BENCH_AGENT_EMAIL = "bench-agent@example.com"
UNSOLVED = ("new", "open", "pending", "on_hold")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


class Rollback(Exception):
    """Raised to roll back a measured transaction."""


# --- Data ---------------------------------------------------------------------------------------------------
def prepare_tickets() -> None:
    from tickets.demo_data import demo_tickets_seed
    from tickets.models import Ticket

    total = Ticket.objects.count()
    unsolved = Ticket.objects.filter(status__in=UNSOLVED).count()
    if total < TICKETS:
        missing, open_missing = TICKETS - total, max(0, OPEN_TICKETS - unsolved)
        print(f"Seeding {missing:,} tickets ({open_missing:,} unsolved) once, bulk path; {total:,} exist...")
        started = time.perf_counter()

        def progress(done: int, count: int) -> None:
            if done % 100_000 == 0 or done == count:
                print(f"  {done:,} / {count:,} tickets ({time.perf_counter() - started:.0f} s)", flush=True)

        result = demo_tickets_seed(
            tickets=missing,
            seed=base.SEED,
            path="bulk",
            open_tickets=open_missing,
            batch_size=10_000,
            progress=progress,
        )
        print(
            f"Seeded {result.tickets:,} tickets, {result.messages:,} messages, {result.sla_targets:,} SLA "
            f"targets in {result.seconds:.0f} s"
        )
        total = Ticket.objects.count()
        unsolved = Ticket.objects.filter(status__in=UNSOLVED).count()
    print(f"{total:,} tickets ({unsolved:,} unsolved)")


def staff_users():
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    admin = user_model.objects.filter(email="bench-admin@example.com").first()
    if admin is None:
        admin = user_model.objects.create_superuser(email="bench-admin@example.com", password=None)
    agent = user_model.objects.filter(email=BENCH_AGENT_EMAIL).first()
    if agent is None:
        agent = user_model.objects.create_user(
            email=BENCH_AGENT_EMAIL, password=None, full_name="Bench Agent"
        )
        agent.is_staff = True
        agent.save(update_fields=["is_staff"])
    return admin, agent


# --- (a) Inbound email --------------------------------------------------------------------------------------
MIX = [  # (sample, weight); "reply" threads onto a ticket this run opened
    ("gmail_multipart.eml", 34),
    ("outlook_html_only_latin1.eml", 14),
    ("shift_jis.eml", 8),
    ("forwarded_by_agent.eml", 5),
    ("reply_with_quote_and_attachment.eml", 29),
    ("auto_reply.eml", 5),
    ("bounce.eml", 5),
]
SUBJECTS = [
    "Export to CSV fails with error 500",
    "Dashboard takes over a minute to load",
    "SSO login loops back to the sign-in page",
    "Invoice shows the wrong number of seats",
    "How do I export the monthly usage report?",
    "Mobile app crashes when opening attachments",
    "Please update our VAT number",
    "Duplicate rows after the nightly import",
]


def _set_header(raw: bytes, name: str, value: str | None) -> bytes:
    """Replace (or add, or with None remove) one header in the header block of a raw message."""
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\n")
    out, found = [], False
    skipping = False
    for line in lines:
        if skipping and line[:1] in (b" ", b"\t"):
            continue  # a folded continuation of the header being replaced
        skipping = False
        if line.lower().startswith(name.lower().encode() + b":"):
            skipping, found = True, True
            if value is not None:
                out.append(f"{name}: {value}".encode())
            continue
        out.append(line)
    if not found and value is not None:
        out.append(f"{name}: {value}".encode())
    return b"\n".join(out) + sep + body


def inbound_messages(count: int, contacts: list[tuple[str, str, str]], agent_email: str, run: str):
    """Yield (kind, raw bytes): realistic messages with unique Message-IDs from known senders."""
    samples = {name: (MIME_DIR / name).read_bytes() for name, _ in MIX}
    names, weights = zip(*MIX, strict=True)
    rng = random.Random(f"inbound:{run}")
    opened: list[tuple[str, str, tuple]] = []  # (message id, subject, sender) of new-ticket messages
    for i in range(count):
        kind = rng.choices(names, weights=weights, k=1)[0]
        if kind.startswith("reply") and not opened:
            kind = "gmail_multipart.eml"
        raw = samples[kind]
        first, last, address = rng.choice(contacts)
        sender = (first, last, address)
        domain = address.rsplit("@", 1)[1]
        message_id = f"<bench-{run}-{i}@{domain}>"
        subject = None
        if kind.startswith("reply"):
            parent_id, parent_subject, sender = rng.choice(opened)
            raw = raw.replace(b"INREPLYTO", parent_id.encode())
            subject = f"Re: {parent_subject}"
        elif kind == "gmail_multipart.eml":
            subject = f"{rng.choice(SUBJECTS)} ({rng.randint(100, 999)})"
        if kind == "forwarded_by_agent.eml":
            # An agent forwards what the customer sent them directly: the ticket is the customer's.
            raw = raw.replace(b"Bo Chen <bo@initech.example>", f"{first} {last} <{address}>".encode())
            raw = _set_header(raw, "From", email.utils.formataddr(("Bench Agent", agent_email)))
        elif kind != "bounce.eml":
            raw = _set_header(raw, "From", email.utils.formataddr((f"{sender[0]} {sender[1]}", sender[2])))
        raw = _set_header(raw, "Message-ID", message_id)
        if subject is not None:
            raw = _set_header(raw, "Subject", subject)
            raw = _set_header(raw, "Date", email.utils.formatdate(time.time()))
        if kind in ("gmail_multipart.eml", "outlook_html_only_latin1.eml", "shift_jis.eml"):
            opened.append((message_id, subject or "Your ticket", sender))
        yield kind, raw


def _delete_file(file) -> None:
    """Delete a stored file and, on the local filesystem, its folder once empty (attachments/<ticket id>/)."""
    try:
        folder = os.path.dirname(file.path)
    except NotImplementedError:  # a remote storage: no folders to tidy
        folder = None
    file.delete(save=False)
    if folder:
        try:
            os.rmdir(folder)
        except OSError:  # not empty, or already gone
            pass


def inbound_cleanup() -> int:
    """Delete what earlier inbound runs created: their tickets (with messages, targets, flags, attachments and
    files), timeline events, flag emails, and the raw emails."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction

    from crm.models import OutboundEmail, TimelineEvent
    from tickets.models import InboundEmail, Ticket, TicketAttachment, TicketFlag

    inbound = InboundEmail.objects.filter(source=INBOUND_SOURCE)
    ticket_ids = list(
        inbound.filter(created_ticket=True, ticket__isnull=False).values_list("ticket_id", flat=True)
    )
    with transaction.atomic():
        for start in range(0, len(ticket_ids), 1000):
            chunk = ticket_ids[start : start + 1000]
            for attachment in TicketAttachment.objects.filter(message__ticket_id__in=chunk):
                _delete_file(attachment.file)
            flag_keys = [
                f"ticket-flag:{pk}"
                for pk in TicketFlag.objects.filter(ticket_id__in=chunk).values_list("pk", flat=True)
            ]
            OutboundEmail.objects.filter(idempotency_key__in=flag_keys).delete()
            TimelineEvent.objects.filter(
                source_type=ContentType.objects.get_for_model(Ticket), source_id__in=[str(pk) for pk in chunk]
            ).delete()
            Ticket.objects.filter(pk__in=chunk).delete()
        inbound.delete()
    return len(ticket_ids)


def bench_inbound(agent) -> dict:
    from django.db.models import Count

    from crm.models import Contact
    from tickets.inbound_email import inbound_email_receive
    from tickets.models import InboundEmail

    leftovers = inbound_cleanup()
    if leftovers:
        print(f"(deleted {leftovers:,} tickets left by an interrupted inbound run)")
    contacts = list(
        Contact.objects.exclude(first_name="")
        .order_by("pk")
        .values_list("first_name", "last_name", "email")[:2000]
    )
    run = uuid.uuid4().hex[:10]
    messages = list(inbound_messages(INBOUND_EMAILS, contacts, agent.email, run))
    samples: list[float] = []
    started = time.perf_counter()
    for _kind, raw in messages:
        t0 = time.perf_counter()
        inbound_email_receive(raw=raw, source=INBOUND_SOURCE)
        samples.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    rows = InboundEmail.objects.filter(source=INBOUND_SOURCE)
    statuses = dict(rows.order_by().values_list("status").annotate(n=Count("pk")))
    created = rows.filter(created_ticket=True).count()
    errors = list(rows.filter(status__in=["failed", "unmatched"]).values_list("reason", "error")[:3])
    expected_ignored = sum(1 for kind, _ in messages if kind in ("auto_reply.eml", "bounce.eml"))
    inbound_cleanup()
    return {
        "count": len(messages),
        "seconds": total,
        "samples": samples,
        "statuses": statuses,
        "created": created,
        "errors": errors,
        "expected_ignored": expected_ignored,
    }


# --- (b) SLA sweep ------------------------------------------------------------------------------------------
MAKE_DUE = """
UPDATE tickets_slatarget SET
    due_at = %(now)s - make_interval(secs => 60 + (id %% 7200)),
    warn_at = %(now)s - make_interval(secs => 60 + (id %% 7200) + coalesce(target_seconds, 3600) / 5),
    warned_at = NULL, breach_notified_at = NULL, breached = false
WHERE state = 'running'
  AND id IN (SELECT id FROM tickets_slatarget WHERE state = 'running' ORDER BY id LIMIT %(n)s)
"""
NOT_DUE = """
UPDATE tickets_slatarget SET due_at = %(later)s, warn_at = %(later)s, warned_at = NULL,
    breach_notified_at = NULL, breached = false
WHERE state = 'running'
"""
# Breaches the seeding left unnotified on targets that no longer run (the sweep's late-breach scan would notify
# them too): marked notified, so each run handles exactly the targets made due (rolled back with the run).
LATE_NOTIFIED = """
UPDATE tickets_slatarget SET breach_notified_at = %(now)s
WHERE state <> 'running' AND breached AND breach_notified_at IS NULL
"""


def _make_due(cursor, now, n: int) -> int:
    cursor.execute(NOT_DUE, {"later": now + dt.timedelta(days=30)})
    cursor.execute(LATE_NOTIFIED, {"now": now})
    cursor.execute(MAKE_DUE, {"now": now, "n": n})
    return cursor.rowcount


def _sweep_measured(now) -> tuple[dict, float, "StatementCounter"]:
    """One sla_sweep, timed, with its SQL statements counted (an execute wrapper: it sees what
    CaptureQueriesContext sees, savepoints included, without its 9,000-query cap)."""
    from django.db import connection

    from tickets.escalation import sla_sweep

    counter = StatementCounter()
    with connection.execute_wrapper(counter):
        started = time.perf_counter()
        swept = sla_sweep(now=now)
        seconds = time.perf_counter() - started
    return swept, seconds, counter


def bench_sweep() -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import OutboundEmail

    out: dict = {}
    now = timezone.now()
    # (1) Unassigned tickets of customers without owners: the statements the sweep itself issues.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tickets_ticket SET assignee_id = NULL, team_id = NULL WHERE status = ANY(%s)",
                [list(UNSOLVED)],
            )
            cursor.execute("UPDATE crm_customer SET owner_id = NULL WHERE owner_id IS NOT NULL")
            for label, size in (("small", SWEEP_SMALL), ("full", None)):
                sid = transaction.savepoint()
                cursor.execute("SELECT count(*) FROM tickets_slatarget WHERE state = 'running'")
                running = cursor.fetchone()[0]
                due = _make_due(cursor, now, size or running)
                callbacks_before = len(connection.run_on_commit)
                swept, seconds, counter = _sweep_measured(now)
                out[label] = {
                    "due": due,
                    "swept": swept,
                    "seconds": seconds,
                    "statements": counter.count,
                    "kinds": counter.kinds(),
                    "on_commit": len(connection.run_on_commit) - callbacks_before,
                }
                transaction.savepoint_rollback(sid)
            raise Rollback
    except Rollback:
        pass
    # (2) With notifications: assignees, team lead and CSMs as seeded.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            emails_before = OutboundEmail.objects.count()
            due = _make_due(cursor, now, SWEEP_NOTIFY)
            callbacks_before = len(connection.run_on_commit)
            swept, seconds, counter = _sweep_measured(now)
            callbacks = connection.run_on_commit[callbacks_before:]
            out["notify"] = {
                "due": due,
                "swept": swept,
                "seconds": seconds,
                "statements": counter.count,
                "emails": OutboundEmail.objects.count() - emails_before,
            }
            # (3) What each escalation triggers on commit: flag evaluation per ticket (sampled).
            escalations = [
                func for _sids, func, _robust in callbacks if func.__module__ == "tickets.escalation"
            ]
            sample = escalations[:FLAG_SAMPLE]
            # In the sweep's process: the signal queues a tickets.evaluate_flags task per escalated ticket.
            queue_counter = StatementCounter()
            with connection.execute_wrapper(queue_counter):
                started = time.perf_counter()
                for func in sample:
                    func()
                queue_seconds = time.perf_counter() - started
            # In a worker: the task evaluates the rules for its ticket.
            from tickets.tasks import evaluate_flags

            counter = StatementCounter()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                for func in sample:
                    ticket, level = func.__defaults__
                    evaluate_flags.run(ticket.pk, f"escalated:{level}")
                flag_seconds = time.perf_counter() - started
            out["flags"] = {
                "escalations": len(escalations),
                "sample": len(sample),
                "queue_seconds": queue_seconds,
                "queue_statements": queue_counter.count,
                "seconds": flag_seconds,
                "statements": counter.count,
            }
            raise Rollback
    except Rollback:
        pass
    return out


class StatementCounter:
    """A connection.execute_wrapper counting statements by their first word."""

    def __init__(self):
        self.count = 0
        self.by_kind: dict[str, int] = {}

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        word = sql.split(None, 1)[0].upper() if sql.strip() else "?"
        self.by_kind[word] = self.by_kind.get(word, 0) + 1
        return execute(sql, params, many, context)

    def kinds(self) -> str:
        return ", ".join(f"{n:,} {word}" for word, n in sorted(self.by_kind.items(), key=lambda kv: -kv[1]))


# --- (c) Ticket list ----------------------------------------------------------------------------------------
# The API's default page (newest first) with the columns TicketSerializer returns, the SLA targets included.
BASELINE_SQL = """
SELECT t.id, t.status, t.priority, t.category, t.channel, t.tags, t.customer_id, t.requester_id,
       u.email AS assignee, t.team_id, t.subject, t.created_at, t.updated_at, t.next_sla_due_at,
       t.first_response_at, t.solved_at, t.closed_at, t.escalation_level, t.reopen_count, t.sla_policy_id,
       t.merged_into_id, t.follow_up_of_id,
       (SELECT json_agg(json_build_object('metric', s.metric, 'cycle', s.cycle, 'state', s.state,
                                          'due_at', s.due_at, 'breached', s.breached,
                                          'target_seconds', s.target_seconds, 'stopped_at', s.stopped_at)
                        ORDER BY s.metric, s.cycle)
        FROM tickets_slatarget s WHERE s.ticket_id = t.id) AS sla
FROM tickets_ticket t
LEFT JOIN accounts_user u ON u.id = t.assignee_id
ORDER BY t.created_at DESC, t.id DESC
LIMIT %s
"""


def raw_sql_page(limit: int):
    raw = base.pg_connect()

    def call():
        with raw.cursor() as cursor:
            cursor.execute(BASELINE_SQL, [limit])
            columns = [c.name for c in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        body = json.dumps({"results": rows}, default=str)
        return len(rows) == limit, body

    return raw, call


def list_cases(admin) -> tuple[list, dict, object, list[int], list[int], list[str]]:
    from django.test import Client

    from accounts.services import api_key_create

    failures: list[str] = []
    raw_conn, baseline_call = raw_sql_page(100)
    baseline = base.Case(
        "raw SQL (psycopg) + json.dumps, 100 rows", baseline_call, count_queries=False, queries=1
    )
    baseline_ids = [row["id"] for row in json.loads(baseline_call()[1])["results"]]
    cases = [baseline]
    api_cases = {}
    api_page_ids: list[int] = []
    api_key, raw_key = api_key_create(name="make bench (tickets)", role="admin", actor=None)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    api.get("/api/v1/tickets/?page_size=1")  # the key's first use is recorded once
    for size, extra in ((100, ""), (10, ""), (100, "&ordering=next_sla_due_at")):
        url = f"/api/v1/tickets/?page_size={size}{extra}"

        def call(url=url, size=size, keep=not extra and size == 100):
            response = api.get(url)
            if response.status_code != 200:
                return False, f"HTTP {response.status_code}: {response.content[:200]!r}"
            page = response.json()["results"]
            if keep:
                api_page_ids[:] = [row["id"] for row in page]
            return len(page) == size, f"{len(page)} rows instead of {size}"

        case = base.Case(f"GET {url}", call)
        if not extra:
            api_cases[size] = case
        cases.append(case)
    browser = Client()
    browser.force_login(admin)
    for url in (
        "/admin/tickets/ticket/",
        "/admin/tickets/ticket/?sla=breached",
        "/admin/tickets/ticket/?assignee=none",
        "/admin/tickets/ticket/?status=closed",
    ):

        def call(url=url):
            response = browser.get(url)
            if response.status_code != 200:
                return False, f"HTTP {response.status_code}"
            return b'id="result_list"' in response.content, "no result list in the page"

        cases.append(base.Case(f"GET {url}", call))
    return cases, api_cases, (raw_conn, api_key), baseline_ids, api_page_ids, failures


# --- Main ---------------------------------------------------------------------------------------------------
def main() -> int:
    base.setup_django()
    base.prepare_data()
    prepare_tickets()
    admin, agent = staff_users()
    failures: list[str] = []

    print(f"\n(a) inbound email: {INBOUND_EMAILS:,} messages through inbound_email_receive...", flush=True)
    inbound = bench_inbound(agent)
    print("(b) SLA sweep (rolled back afterwards)...", flush=True)
    sweep = bench_sweep()
    print("(c) ticket list API and admin queue...", flush=True)
    cases, api_cases, (raw_conn, api_key), baseline_ids, api_page_ids, list_failures = list_cases(admin)
    failures += list_failures
    # The baseline and the API pages (the targets) get the full repetitions; the slower informational pages
    # (queue order, admin views) fewer, to keep the run short.
    timed = {id(cases[0]), *map(id, api_cases.values())}
    base.run_cases([case for case in cases if id(case) in timed])
    repetitions, base.REPETITIONS = base.REPETITIONS, INFO_REPETITIONS
    try:
        base.run_cases([case for case in cases if id(case) not in timed])
    finally:
        base.REPETITIONS = repetitions
    raw_conn.close()
    from accounts.services import api_key_revoke

    api_key_revoke(api_key=api_key, actor=None)

    # --- Report ---------------------------------------------------------------------------------------------
    print()
    print(
        f"(a) Inbound email, {inbound['count']:,} messages one after another (store raw, parse, thread or "
        "open, attachments, flag rules queued on commit)"
    )
    rate = inbound["count"] / inbound["seconds"]
    samples = inbound["samples"]
    print(
        f"    {rate:,.1f} messages/s; per message median {ms(statistics.median(samples))} ms, "
        f"p90 {ms(percentile(samples, 90))} ms; {inbound['created']:,} tickets opened; "
        f"statuses {inbound['statuses']}"
    )
    bad = inbound["statuses"].get("failed", 0) + inbound["statuses"].get("unmatched", 0)
    if bad:
        failures.append(f"{bad} inbound messages failed or were not matched: {inbound['errors']}")
    if inbound["statuses"].get("ignored", 0) != inbound["expected_ignored"]:
        failures.append(
            f"{inbound['statuses'].get('ignored', 0)} inbound messages ignored, expected "
            f"{inbound['expected_ignored']} (the auto-replies and bounces)"
        )

    print()
    from tickets.escalation import BATCH

    print(f"(b) SLA sweep (each run in a transaction rolled back afterwards; claims in batches of {BATCH:,})")
    header = f"    {'run':<52} {'targets':>8} {'seconds':>8} {'statements':>11} {'per batch':>10}"
    print(header)
    print("    " + "-" * (len(header) - 4))
    per_batch = {}
    for key, label in (
        ("small", "due; unassigned; customers without owners"),
        ("full", "due; unassigned; customers without owners"),
        ("notify", "due; assignees, team lead and CSMs notified"),
    ):
        run = sweep[key]
        batches = sum(math.ceil(n / BATCH) for n in run["swept"].values()) or 1
        per_batch[key] = run["statements"] / batches
        print(
            f"    {label:<52} {run['due']:>8,} {run['seconds']:>8.1f} {run['statements']:>11,} {per_batch[key]:>10.1f}"
        )
    full, small, notify, flags = sweep["full"], sweep["small"], sweep["notify"], sweep["flags"]
    print(f"    statements of the {full['due']:,}-target run: {full['kinds']}")
    print("    (SAVEPOINT/RELEASE: the sweep's per-batch transactions, nested in the measuring transaction)")
    print(
        f"    with notifications: {notify['emails']:,} email rows for {notify['due']:,} targets, "
        f"{notify['statements'] / max(notify['emails'], 1):.2f} statements per email: about "
        f"{notify['seconds'] / max(notify['due'], 1) * full['due']:.0f} s for {full['due']:,} targets"
    )
    if per_batch["notify"] > MAX_NOTIFY_STATEMENTS_PER_BATCH:
        failures.append(
            f"sweep with notifications: {per_batch['notify']:.1f} statements per batch of {BATCH:,} targets "
            f"(at most {MAX_NOTIFY_STATEMENTS_PER_BATCH}: the emails must be stored per batch, not per recipient)"
        )
    if flags["sample"]:
        per_ticket = flags["seconds"] / flags["sample"]
        print(
            f"    then on commit, per escalated ticket, the sweep queues a tickets.evaluate_flags task: "
            f"{ms(flags['queue_seconds'] / flags['sample'])} ms and "
            f"{flags['queue_statements'] / flags['sample']:.1f} statements each; in the workers, each task: "
            f"{ms(per_ticket)} ms and {flags['statements'] / flags['sample']:.1f} statements "
            f"(sample of {flags['sample']}): about {per_ticket * full['due']:.0f} s of worker time for "
            f"{full['due']:,}, shared by the workers"
        )
    if full["swept"] != {"warned": full["due"], "breached": full["due"]}:
        failures.append(f"the sweep handled {full['swept']} of {full['due']:,} due targets")
    if (
        per_batch["full"] > per_batch["small"] + 1
        or full["statements"] > MAX_STATEMENTS_PER_1000 * full["due"] / 1000
    ):
        failures.append(
            f"sweep statements per batch of {BATCH:,}: {per_batch['small']:.1f} at {small['due']:,} targets, "
            f"{per_batch['full']:.1f} at {full['due']:,} (must not grow; at most {MAX_STATEMENTS_PER_1000} "
            "per 1,000 targets)"
        )

    print()
    print(
        f"(c) Ticket list at {TICKETS:,} tickets: {base.REPETITIONS} requests per case ({INFO_REPETITIONS} "
        f"for the rows marked *) after {base.WARMUP} warm-up; times in ms"
    )
    baseline = cases[0]
    header = f"{'case':<76} {'median':>8} {'p90':>8} {'queries':>8} {'x raw SQL':>10}"
    print(header)
    print("-" * len(header))
    for case in cases:
        if not case.samples:
            print(f"{case.name:<76} {'-':>8} {'-':>8} {'-':>8} {'-':>10}  {case.note}")
            failures.append(f"{case.name}: {case.note}")
            continue
        ratio = case.median / baseline.median
        name = case.name if id(case) in timed else f"{case.name} *"
        print(f"{name:<76} {case.median:>8.1f} {case.p90:>8.1f} {case.queries!s:>8} {ratio:>10.1f}")
    print()
    if api_cases.get(100) and api_cases[100].samples:
        ratio = api_cases[100].median / baseline.median
        if ratio >= API_RATIO_TARGET:
            failures.append(
                f"API 100-row page is {ratio:.1f}x the raw-SQL baseline (target < {API_RATIO_TARGET}x)"
            )
        if api_page_ids != baseline_ids:
            failures.append("the API page holds other rows than the raw-SQL baseline")
    counts = {size: case.queries for size, case in api_cases.items() if case.samples}
    if len(counts) == 2 and len(set(counts.values())) != 1:
        failures.append(f"API query count differs between page sizes: {counts}")
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}")
        return 1
    print(
        f"OK: inbound email all processed; sweep statements flat per 1,000 targets; API page under "
        f"{API_RATIO_TARGET}x the raw-SQL baseline with query counts flat in page size."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
