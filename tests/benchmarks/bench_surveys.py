#!/usr/bin/env python
"""`make bench` (surveys): sending, answering and results at scale on PostgreSQL.

A plain script (not collected by pytest), next to bench_customers.py and reusing its setup: the same database
(DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/crm_bench, created, migrated and seeded with
100,000 customers x 3 contacts if needed). Celery's broker is replaced by an in-process stand-in, so nothing
reaches a real queue.

(a) Dispatch: a campaign of 10,000 invitations (BENCH_SURVEY_INVITATIONS) is created, then sent by one worker
    in this process: the dispatch scan publishes a task per chunk of invitations and a FIFO loop runs every
    published task the way one worker would (surveys.dispatch_invitations, then the crm.send_email_batch tasks
    they publish).
    Emails go through a real SMTP server on localhost (aiosmtpd, in a thread of this process). Reported:
    emails per second end to end, and the share of the time spent in our code versus in the SMTP
    conversation (the SMTP backend's open / send_messages / close, timed separately). The previous run's
    dispatch data is deleted first, so the contact ledger's 30-day rule does not suppress this run.
(b) Answer page under load: gunicorn (2 sync workers) on localhost, 4 client threads for 10 s each
    (BENCH_SURVEY_LOAD_SECONDS) of GET /s/<token>/?score=N (what a mail scanner or a click does; records
    nothing), then of POST /s/<token>/ (the page's one-click POST; each to a fresh invitation of (a)).
    Reported: median and p90 latency, requests per second, errors.
(c) Results over 1,000,000 responses (BENCH_SURVEY_RESPONSES) of one NPS survey spread over two years
    (inserted once with INSERT ... SELECT generate_series, then reused): surveys.results.survey_results for
    the whole period by month, the last 12 months by week and a tier filter, plus the API endpoint. The same
    cases run over a second survey of 10,000 responses (BENCH_SURVEY_SMALL_RESPONSES, default 1/100th).
    Reported: median and p90 time and the number of SQL statements, at both sizes.

Exit status 1 when something is wrong (an email not received, a request that failed, a results case whose
statement count differs between the two data sizes, or between the selector's queries); timings are
reported, not judged.

Runtime on a 2-core machine: (a) about 4-5 minutes (one worker sends 35-50 emails a second), (b) 25 s, (c)
30 s, plus about 90 s once to insert the million responses. BENCH_SURVEY_INVITATIONS=2000 gives a quicker
(a) with the same per-email figures.
"""

import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_customers as base

# Nothing the benchmark does may reach a real queue (a local `make run` worker would pick it up).
os.environ["CELERY_BROKER_URL"] = "memory://"

INVITATIONS = int(os.environ.get("BENCH_SURVEY_INVITATIONS", "10000"))
RESPONSES = int(os.environ.get("BENCH_SURVEY_RESPONSES", "1000000"))
# The same results cases over a survey 100 times smaller: a statement count that differs between the two sizes
# grows with the data (a query per month, per tier, per row...), and the benchmark fails.
SMALL_RESPONSES = int(os.environ.get("BENCH_SURVEY_SMALL_RESPONSES", str(max(RESPONSES // 100, 100))))
LOAD_SECONDS = float(os.environ.get("BENCH_SURVEY_LOAD_SECONDS", "10"))
LOAD_THREADS = int(os.environ.get("BENCH_SURVEY_LOAD_THREADS", "4"))
RESULTS_REPETITIONS = int(os.environ.get("BENCH_SURVEY_RESULTS_REPETITIONS", "5"))
DISPATCH_SURVEY = "Bench: dispatch NPS"
RESULTS_SURVEY = "Bench: results NPS (1M responses)"
RESULTS_SURVEY_SMALL = "Bench: results NPS (small)"
ROOT = base.BASE_DIR


def percentile(samples: list[float], p: int) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


class Table:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, case: str, median="-", p90="-", queries="-", note=""):
        self.rows.append((case, median, p90, str(queries), note))

    def print(self):
        header = f"{'case':<66} {'median':>9} {'p90':>9} {'queries':>8}  note"
        print(header)
        print("-" * (len(header) + 30))
        for case, median, p90, queries, note in self.rows:
            print(f"{case:<66} {median:>9} {p90:>9} {queries:>8}  {note}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# --- SMTP server (aiosmtpd in a thread): counts what it accepts ---------------------------------------------


class CountingSmtpServer:
    def __init__(self):
        from aiosmtpd.controller import Controller

        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                with server.lock:
                    server.received += 1
                return "250 Message accepted for delivery"

        class BoundController(Controller):
            def _trigger_server(self):  # bound to port 0: learn the port before aiosmtpd checks it is up
                self.port = self.server.sockets[0].getsockname()[1]
                super()._trigger_server()

        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.lock = threading.Lock()
        self.received = 0
        self.controller = BoundController(Handler(), hostname="127.0.0.1", port=0, ready_timeout=10)

    def start(self):
        self.controller.start()
        self.port = self.controller.port
        return self

    def stop(self):
        self.controller.stop()


# --- (a) dispatch -------------------------------------------------------------------------------------------


def bench_survey(name: str):
    from surveys.models import Survey
    from surveys.services import survey_create

    survey = Survey.objects.filter(name=name).order_by("pk").first()
    return survey or survey_create(name=name, kind="nps")


def reset_dispatch(survey) -> None:
    """Delete what the previous run's dispatch and answers left (invitations, responses, their emails, ledger
    entries, timeline events and follow-up tasks) in one transaction."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction
    from django.db.models.expressions import RawSQL

    from crm.models import OutboundEmail, Task
    from surveys.models import Invitation, Response

    ct = {model: ContentType.objects.get_for_model(model).pk for model in (Invitation, Response, OutboundEmail)}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_inv ON COMMIT DROP AS SELECT id, contact_id, email_id "
            "FROM surveys_invitation WHERE survey_id = %s",
            [survey.pk],
        )
        cursor.execute("SELECT count(*) FROM bench_inv")
        (count,) = cursor.fetchone()
        if not count:
            return
        cursor.execute(
            "CREATE TEMP TABLE bench_email ON COMMIT DROP AS SELECT e.id FROM crm_outboundemail e "
            "JOIN bench_inv i ON e.idempotency_key IN ('survey_invite:' || i.id, 'survey_reminder:' || i.id, "
            "'survey_thanks:' || i.id)"
        )
        cursor.execute(
            "DELETE FROM crm_timelineevent t WHERE (t.source_type_id = %s AND t.source_id IN "
            "(SELECT id::text FROM bench_inv)) OR (t.source_type_id = %s AND t.source_id IN "
            "(SELECT id::text FROM surveys_response WHERE survey_id = %s)) OR (t.source_type_id = %s AND "
            "t.source_id IN (SELECT id::text FROM bench_email))",
            [ct[Invitation], ct[Response], survey.pk, ct[OutboundEmail]],
        )
        Task.objects.filter(
            source_type_id=ct[Invitation],
            source_id__in=RawSQL("SELECT id::text FROM bench_inv", []),
        ).delete()
        cursor.execute(
            "DELETE FROM crm_ledgerentry l USING bench_inv i WHERE l.contact_id = i.contact_id "
            "AND l.source_type_id = %s AND l.source_id = i.id::text",
            [ct[Invitation]],
        )
        cursor.execute("DELETE FROM surveys_response WHERE survey_id = %s", [survey.pk])
        cursor.execute("DELETE FROM surveys_invitation WHERE survey_id = %s", [survey.pk])
        cursor.execute("DELETE FROM crm_outboundemail WHERE id IN (SELECT id FROM bench_email)")
    print(f"Deleted the previous run's {count:,} dispatch invitations and what they left")


class InProcessWorker:
    """One worker and its queue in this process: tasks published (apply_async) go to a FIFO deque; `drain()`
    runs them in order, like a worker with prefetch 1, timing each task name separately."""

    NAMES = ("surveys.dispatch_invitations", "crm.send_email_batch", "surveys.dispatch_invitation", "crm.send_email")

    def __init__(self):
        import crm.tasks  # noqa: F401  (registers the tasks)
        import surveys.tasks  # noqa: F401
        from config.celery import app

        self.app = app
        self.queue: deque = deque()
        self.seconds = dict.fromkeys(self.NAMES, 0.0)
        self.runs = dict.fromkeys(self.NAMES, 0)
        for name in self.NAMES:
            app.tasks[name].apply_async = self._publisher(name)

    def _publisher(self, name):
        def apply_async(args=None, kwargs=None, **options):
            self.queue.append((name, tuple(args or ()), dict(kwargs or {})))

        return apply_async

    def drain(self, progress_every: int = 2500) -> None:
        began = time.perf_counter()
        while self.queue:
            name, args, kwargs = self.queue.popleft()
            started = time.perf_counter()
            self.app.tasks[name](*args, **kwargs)
            self.seconds[name] += time.perf_counter() - started
            self.runs[name] += 1
            if name == "crm.send_email_batch" and self.runs[name] % max(progress_every // 100, 1) == 0:
                elapsed = time.perf_counter() - began
                print(f"  {self.runs[name]:,} email batches sent after {elapsed:.0f} s")


class SmtpTimer:
    """Times the SMTP conversation: Django's SMTP backend's open (connect, EHLO), send_messages (MAIL, RCPT,
    DATA) and close (QUIT). Everything else in a send (loading the row, building the MIME message, the status
    updates, the timeline event) is our code."""

    def __init__(self):
        from django.core.mail.backends.smtp import EmailBackend

        self.seconds = 0.0
        for method in ("open", "send_messages", "close"):
            original = getattr(EmailBackend, method)
            setattr(EmailBackend, method, self._timed(original))

    def _timed(self, original):
        timer = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - started

        return timed


class DatabaseTimer:
    """An execute wrapper: the time spent in SQL statements (the round trip included)."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.statements += 1


def bench_dispatch(table: Table, failures: list[str]) -> list[int]:
    """(a) Returns the ids of the invitations sent (for the answer-page load)."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count

    from crm.models import Contact, OutboundEmail
    from surveys.models import Invitation
    from surveys.scheduling import campaign_invite, dispatch_scan

    survey = bench_survey(DISPATCH_SURVEY)
    reset_dispatch(survey)
    contact_ids = list(
        Contact.objects.filter(unsubscribed_at__isnull=True, bounced_at__isnull=True, complained_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:INVITATIONS]
    )
    if len(contact_ids) < INVITATIONS:
        failures.append(f"only {len(contact_ids)} reachable contacts for {INVITATIONS} invitations")

    smtp = CountingSmtpServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    worker, timer, db_timer = InProcessWorker(), SmtpTimer(), DatabaseTimer()
    try:
        started = time.perf_counter()
        created = campaign_invite(
            survey_id=survey.pk,
            audience={"contacts": contact_ids},
            trigger_key=f"campaign:bench-{time.strftime('%Y%m%d-%H%M%S')}",
        )
        create_seconds = time.perf_counter() - started
        started = time.perf_counter()
        published = dispatch_scan(limit=len(contact_ids) + 1)
        scan_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with connection.execute_wrapper(db_timer):
            worker.drain()
        drain_seconds = time.perf_counter() - started
    finally:
        smtp.stop()

    sent = OutboundEmail.objects.filter(
        status="sent", idempotency_key__startswith="survey_invite:", contact_id__in=contact_ids
    ).count()
    statuses = dict(Invitation.objects.filter(survey=survey).values_list("status").annotate(n=Count("pk")))
    total = scan_seconds + drain_seconds
    ours = total - timer.seconds
    dispatches, batches = worker.runs["surveys.dispatch_invitations"], worker.runs["crm.send_email_batch"]
    sends = smtp.received
    table.add(
        f"create {created:,} invitations (campaign_invite: bulk, a token each)",
        f"{create_seconds:.1f} s",
        note=f"{created / max(create_seconds, 1e-9):,.0f} invitations/s",
    )
    table.add(f"dispatch scan: publish {published:,} invitations in chunk tasks", f"{scan_seconds:.2f} s")
    table.add(
        "SQL statements per email, dispatch + send (not BEGIN/COMMIT)",
        queries=f"{db_timer.statements / max(sends, 1):.1f}",
        note=f"{db_timer.seconds / max(db_timer.statements, 1) * 1000:.2f} ms each on average",
    )
    table.add(
        "surveys.dispatch_invitations: ledger, email rows, timeline (per invitation)",
        ms(worker.seconds["surveys.dispatch_invitations"] / max(sends, 1)),
        note=f"{dispatches:,} chunk tasks",
    )
    table.add(
        "crm.send_email_batch, SMTP to localhost included (per email)",
        ms(worker.seconds["crm.send_email_batch"] / max(sends, 1)),
        note=f"{batches:,} batch tasks",
    )
    table.add(
        f"{len(contact_ids):,} invitations dispatched and sent by one worker",
        f"{total:.1f} s",
        note=f"{smtp.received / total:,.0f} emails/s; our code {ours / total:.0%} (of the total: Python "
        f"{(ours - db_timer.seconds) / total:.0%}, SQL {db_timer.seconds / total:.0%}), "
        f"SMTP {timer.seconds / total:.0%}",
    )
    if smtp.received != len(contact_ids) or sent != len(contact_ids):
        failures.append(
            f"dispatch: {len(contact_ids):,} invitations, {sent:,} emails marked sent, {smtp.received:,} "
            f"received by the SMTP server; invitation statuses {statuses}"
        )
    return list(Invitation.objects.filter(survey=survey, status="sent").order_by("pk").values_list("pk", flat=True))


# --- (b) the answer page under load -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server():
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
        "DJANGO_DEBUG": "False",
        "CELERY_BROKER_URL": "memory://",
        "EMAIL_URL": "dummymail://",
    }
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=2).read()
            return process, port
        except urllib.error.HTTPError:
            return process, port  # it answers (healthz may say 503 when the broker is not Redis)
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited") from None
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not start within 30 s")


def load(port: int, make_request, seconds: float, threads: int) -> tuple[list[float], int, int, float]:
    """`threads` clients, each sending requests back to back for `seconds`. Returns (latencies, ok, errors,
    wall seconds)."""
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client():
        while time.perf_counter() < stop_at:
            request = make_request()
            if request is None:
                return
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                    answer.read()
                    ok = answer.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                counts["ok" if ok else "errors"] += 1

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, counts["ok"], counts["errors"], time.perf_counter() - started


def bench_answer_page(table: Table, failures: list[str], invitation_ids: list[int]) -> None:
    import random

    from surveys import tokens
    from surveys.models import Invitation, Response

    nonces = dict(Invitation.objects.filter(pk__in=invitation_ids).values_list("pk", "token_nonce"))
    links = [tokens.token_for(nonces[pk]) for pk in invitation_ids if pk in nonces]
    if len(links) < 100:
        failures.append("answer page: fewer than 100 sent invitations to answer")
        return
    process, port = start_server()
    base_url = f"http://127.0.0.1:{port}/s/"
    rng = random.Random(base.SEED)
    try:
        # Warm up both workers (imports, templates, connections).
        for token in links[:10]:
            urllib.request.urlopen(f"{base_url}{token}/?score=9", timeout=30).read()  # noqa: S310
        before = Response.objects.count()

        def get():
            url = f"{base_url}{rng.choice(links)}/?score={rng.randrange(11)}"
            return urllib.request.Request(url)  # noqa: S310

        fresh = deque(links)  # each POST answers another invitation: a first answer, not a change

        def post():
            try:
                token = fresh.popleft()
            except IndexError:
                return None
            body = urllib.parse.urlencode({"score": rng.randrange(11), "human": "button"}).encode()
            return urllib.request.Request(  # noqa: S310
                f"{base_url}{token}/",
                data=body,
                headers={"X-Requested-With": "fetch", "User-Agent": "bench"},
                method="POST",
            )

        for label, make in (
            ("GET /s/<token>/?score=N (records nothing)", get),
            ("POST /s/<token>/ (records)", post),
        ):
            latencies, ok, errors, wall = load(port, make, LOAD_SECONDS, LOAD_THREADS)
            table.add(
                f"{label}, {LOAD_THREADS} clients",
                ms(statistics.median(latencies)) if latencies else "-",
                ms(percentile(latencies, 90)) if latencies else "-",
                note=f"{ok / wall:,.0f} req/s, {ok:,} ok, {errors} errors",
            )
            if errors or not ok:
                failures.append(f"answer page {label}: {errors} failed requests, {ok} ok")
            if label.startswith("GET") and Response.objects.count() != before:
                failures.append("answer page: a GET recorded a response")
    finally:
        process.terminate()
        process.wait(timeout=30)


# --- (c) results over 1,000,000 responses -------------------------------------------------------------------

SEED_RESULTS_SQL = """
WITH c AS (SELECT id, customer_id, (row_number() OVER (ORDER BY id)) - 1 AS rn FROM crm_contact),
     n AS (SELECT count(*) AS total FROM crm_contact)
INSERT INTO surveys_invitation (survey_id, customer_id, contact_id, trigger, trigger_key, status,
                                suppressed_reason, token_nonce, token_hash, scheduled_for, sent_at,
                                reminded_at, expires_at, created_at)
SELECT %(survey)s, c.customer_id, c.id, 'recurring', 'bench:' || (g / n.total), 'answered', '',
       md5('bench-nonce:' || g),
       encode(sha256(convert_to('bench-results:' || %(survey)s || ':' || g, 'UTF8')), 'hex'),
       t.sent, t.sent, NULL, t.sent + interval '30 days', t.sent
FROM generate_series(0, %(count)s - 1) AS g
CROSS JOIN n
JOIN c ON c.rn = g %% n.total
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + g * (%(span)s::interval / %(count)s) AS sent) AS t
"""
# Scores: 11/24 promoters, 7/24 passives, 6/24 detractors (NPS about 21); answered 1-72 hours after sending.
SEED_RESPONSES_SQL = """
INSERT INTO surveys_response (invitation_id, survey_id, customer_id, contact_id, kind, score, comment,
                              answered_at, updated_at, user_agent, seconds_after_send)
SELECT i.id, i.survey_id, i.customer_id, i.contact_id, 'nps',
       (ARRAY[0,2,4,5,6,6,7,7,7,8,8,8,8,9,9,9,9,9,10,10,10,10,10,10])[1 + (i.id * 7919) %% 24],
       CASE WHEN i.id %% 10 = 0 THEN 'Works well for our team.' ELSE '' END,
       i.sent_at + (1 + i.id %% 72) * interval '1 hour', i.sent_at + (1 + i.id %% 72) * interval '1 hour',
       'Mozilla/5.0', (1 + i.id %% 72) * 3600
FROM surveys_invitation i WHERE i.survey_id = %(survey)s
"""


def prepare_results(survey, count: int) -> None:
    import datetime as dt

    from django.db import connection, transaction

    from surveys.models import Response

    existing = Response.objects.filter(survey=survey).count()
    if existing == count:
        print(f"{existing:,} responses of {survey.name!r} (reused)")
        return
    print(f"Seeding {count:,} responses of {survey.name!r} (once)...")
    started = time.perf_counter()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=730)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM surveys_response WHERE survey_id = %s", [survey.pk])
        cursor.execute("DELETE FROM surveys_invitation WHERE survey_id = %s", [survey.pk])
        params = {"survey": survey.pk, "count": count, "start": start, "span": "727 days"}
        cursor.execute(SEED_RESULTS_SQL, params)
        cursor.execute(SEED_RESPONSES_SQL, params)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE surveys_invitation")
        cursor.execute("ANALYZE surveys_response")
    print(f"  done in {time.perf_counter() - started:.0f} s")


def results_cases(survey, api) -> list[tuple[str, object]]:
    """The results cases over one survey: (label, call). `api`: a test client with an API key, or None."""
    import datetime as dt

    from surveys.results import ResultsQuery, survey_results

    today = dt.date.today()
    cases = [
        ("survey_results: 2 years by month", lambda: survey_results(survey=survey, query=ResultsQuery())),
        (
            "survey_results: last 12 months by week",
            lambda: survey_results(
                survey=survey,
                query=ResultsQuery(start=today - dt.timedelta(days=365), end=today, interval="week"),
            ),
        ),
        (
            "survey_results: enterprise tier, 2 years by month",
            lambda: survey_results(survey=survey, query=ResultsQuery(tiers=("enterprise",))),
        ),
    ]
    if api is not None:

        def api_call():
            response = api.get(f"/api/v1/surveys/{survey.pk}/results/")
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.content[:200]!r}")
            return response.json()

        cases.append(("GET /api/v1/surveys/<id>/results/", api_call))
    return cases


def bench_results(table: Table, failures: list[str]) -> None:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    api_key = api = None
    try:
        from accounts.services import api_key_create, api_key_revoke

        api_key, raw_key = api_key_create(name="make bench surveys", role="admin", actor=None)
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    except Exception as exc:
        failures.append(f"results API not measured: {exc!r}")

    # statement_counts[label][size]: the statements of one call of the case over `size` responses.
    statement_counts: dict[str, dict[int, int]] = {}
    for size, name in ((SMALL_RESPONSES, RESULTS_SURVEY_SMALL), (RESPONSES, RESULTS_SURVEY)):
        survey = bench_survey(name)
        prepare_results(survey, size)
        for label, call in results_cases(survey, api):
            row_label = f"{label} [{size:,}]"
            try:
                result = call()
                # The test client's request_started signal empties the query log: start the count from empty.
                reset_queries()
                with CaptureQueriesContext(connection) as captured:
                    call()
                statements = len(captured.captured_queries)  # now: the log is a window later requests empty
            except Exception as exc:
                table.add(row_label, note=f"error: {type(exc).__name__}: {exc}"[:120])
                failures.append(f"{row_label}: {exc}")
                continue
            samples = []
            for _ in range(RESULTS_REPETITIONS):
                started = time.perf_counter()
                call()
                samples.append(time.perf_counter() - started)
            statement_counts.setdefault(label, {})[size] = statements
            responses = result.get("responses", result.get("invitations_answered"))
            table.add(
                row_label,
                ms(statistics.median(samples)),
                ms(percentile(samples, 90)),
                statements,
                note=f"{responses:,} responses, NPS {result.get('nps')}" if isinstance(responses, int) else "",
            )
    for label, by_size in statement_counts.items():
        if len(set(by_size.values())) > 1:
            counts = ", ".join(f"{n} at {size:,} responses" for size, n in sorted(by_size.items()))
            failures.append(f"results: {label}: the statement count grows with the data ({counts})")
    selector_counts = {
        n for label, by_size in statement_counts.items() if label.startswith("survey_results") for n in by_size.values()
    }
    if len(selector_counts) > 1:
        failures.append(f"results: the statement count changes with the query: {statement_counts}")
    if api_key is not None:
        api_key_revoke(api_key=api_key, actor=None)


def main() -> int:
    base.setup_django()
    base.prepare_data()
    table, failures = Table(), []
    started = time.perf_counter()
    print(f"(a) {INVITATIONS:,} invitations through a real SMTP server on localhost, one in-process worker")
    sent_ids = bench_dispatch(table, failures)
    print(f"(b) the answer page under load: {LOAD_THREADS} clients x {LOAD_SECONDS:.0f} s, GET then POST")
    bench_answer_page(table, failures, sent_ids)
    print(f"(c) results over {SMALL_RESPONSES:,} and {RESPONSES:,} responses, {RESULTS_REPETITIONS} runs per case")
    bench_results(table, failures)
    print()
    print("Times in ms unless marked s")
    table.print()
    print(f"\nsurveys benchmark: {time.perf_counter() - started:.0f} s")
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}")
        return 1
    print(
        "OK: every email received once; no failed request; results in the same number of statements at "
        f"{SMALL_RESPONSES:,} and {RESPONSES:,} responses."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
