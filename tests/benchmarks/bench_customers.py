#!/usr/bin/env python
"""`make bench`: the customer list pages of the API and the admin at 100,000 customers, against raw SQL.

A plain script (not collected by pytest). It uses PostgreSQL at DATABASE_URL, by default
postgres://postgres@127.0.0.1:5432/crm_bench: it creates that database if missing, migrates it and seeds it
once with 100,000 customers x 3 contacts (`seed_demo`), then measures in-process with Django's test client
(DEBUG off):

- the baseline: the same 100 rows the API returns, fetched with one raw SQL query through psycopg and
  dumped with json.dumps;
- GET /api/v1/customers/?page_size=100 and ?page_size=10 with an admin API key;
- GET /admin/crm/customer/ (100 rows a page), its page 5, and a filtered view, logged in as an admin.

Each case runs N times after a warm-up; the table shows median and p90 milliseconds, queries per request
(counted with CaptureQueriesContext on a separate request) and the ratio of the median to the baseline's.
Exit status 1 when a target is missed: the API's 100-row page at 5x the baseline or more, an API page that
holds other rows (ids, in order) than the baseline, a query count that differs between page sizes, or a page
that does not answer 200.
"""

import gc
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench")
os.environ["DJANGO_DEBUG"] = "False"  # measure what production runs
warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise: static files not collected here

CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "100000"))
REPETITIONS = int(os.environ.get("BENCH_REPETITIONS", "30"))
WARMUP = 3
API_RATIO_TARGET = 5.0
SEED = 2026

# The API's default page: customers ordered by name, then id (crm.api.views.CustomerViewSet.ordering).
BASELINE_SQL = """
SELECT c.id, c.name, c.domain, c.external_id, c.lifecycle_stage, c.tier, u.email AS owner, c.arr,
       c.contract_start, c.renewal_date, c.timezone,
       (SELECT count(*) FROM crm_contact ct WHERE ct.customer_id = c.id) AS contacts_count,
       c.created_at, c.updated_at
FROM crm_customer c
LEFT JOIN accounts_user u ON u.id = c.owner_id
ORDER BY c.name, c.id
LIMIT %s
"""


def pg_connect(dbname: str | None = None):
    """A plain psycopg connection to DATABASE_URL's server (to `dbname`, default the URL's database)."""
    import environ
    import psycopg

    config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    params = {
        "dbname": dbname or config["NAME"],
        "host": config.get("HOST"),
        "port": config.get("PORT"),
        "user": config.get("USER"),
        "password": config.get("PASSWORD"),
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def ensure_database() -> None:
    import environ

    config = environ.Env.db_url_config(os.environ["DATABASE_URL"])
    if config["ENGINE"] != "django.db.backends.postgresql":
        sys.exit(f"make bench needs PostgreSQL; DATABASE_URL is {config['ENGINE']}.")
    with pg_connect("postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone()
        if not exists:
            print(f"Creating database {config['NAME']}")
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


def setup_django():
    import django

    ensure_database()
    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


def prepare_data() -> None:
    from django.core.management import call_command

    from crm.models import Customer

    call_command("migrate", verbosity=0)
    existing = Customer.objects.count()
    if existing < CUSTOMERS:
        print(f"Seeding {CUSTOMERS - existing:,} customers (once; {existing:,} exist)...")
        call_command("seed_demo", customers=CUSTOMERS - existing, seed=SEED, surveys=0)
    print(f"{Customer.objects.count():,} customers in {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}")


@dataclass
class Case:
    """One page to time. `call()` does one request and returns (ok, note)."""

    name: str
    call: Callable[[], tuple[bool, str]]
    count_queries: bool = True
    samples: list[float] = field(default_factory=list)
    queries: int | None = None
    note: str = ""
    ok: bool = True

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def p90(self) -> float:
        if len(self.samples) < 2:
            return self.median
        return statistics.quantiles(self.samples, n=10, method="inclusive")[8]


def run_cases(cases: list[Case]) -> None:
    """Per case: warm up, count its queries on one request, then time REPETITIONS requests back to back.

    Back to back on purpose: interleaving the cases makes each one pay for the garbage and cold caches the
    previous (bigger) page left, which slows the small raw-SQL baseline most and flatters the ratios."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for case in cases:
        for _ in range(WARMUP):
            try:
                case.ok, note = case.call()
            except Exception as exc:  # a broken page is reported in the table, not as a traceback
                case.ok, note = False, f"error: {type(exc).__name__}: {exc}"[:200]
            if not case.ok:
                case.note = note
                break
        if not case.ok:
            continue
        if case.count_queries:
            with CaptureQueriesContext(connection) as captured:
                case.call()
            case.queries = len(captured.captured_queries)
        gc.collect()
        for _ in range(REPETITIONS):
            started = time.perf_counter()
            case.call()
            case.samples.append((time.perf_counter() - started) * 1000)


def raw_sql_page(limit: int):
    raw = pg_connect()
    columns: list[str] = []

    def call():
        nonlocal columns
        with raw.cursor() as cursor:
            cursor.execute(BASELINE_SQL, [limit])
            columns = [c.name for c in cursor.description]
            rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        body = json.dumps({"results": rows}, default=str)
        return len(rows) == limit, body

    return raw, call


def main() -> int:
    setup_django()
    prepare_data()

    from django.contrib.auth import get_user_model
    from django.test import Client

    failures: list[str] = []
    raw_conn, baseline_call = raw_sql_page(100)
    baseline = Case("raw SQL (psycopg) + json.dumps, 100 rows", baseline_call, count_queries=False, queries=1)
    baseline_ids = [row["id"] for row in json.loads(baseline_call()[1])["results"]]
    cases = [baseline]

    # --- API: an admin API key, pages of 100 and 10 rows ---------------------------------------------------
    api_key = None
    api_cases: dict[int, Case] = {}
    api_page_ids: list[int] = []
    try:
        from accounts.services import api_key_create

        api_key, raw_key = api_key_create(name="make bench", role="admin", actor=None)
    except Exception as exc:  # the accounts app is not there yet: report, don't crash
        failures.append(f"the API could not be measured: no API key ({exc!r})")
    if api_key is not None:
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        for size in (100, 10):
            url = f"/api/v1/customers/?page_size={size}"

            def call(url=url, size=size):
                response = api.get(url)
                if response.status_code != 200:
                    return False, f"HTTP {response.status_code}: {response.content[:200]!r}"
                page = response.json()["results"]
                if size == 100:
                    api_page_ids[:] = [row["id"] for row in page]
                return len(page) == size, f"{len(page)} rows instead of {size}"

            api_cases[size] = Case(f"GET {url}", call)
        cases.extend(api_cases.values())

    # --- Admin: the customer changelist (100 rows a page) --------------------------------------------------
    user_model = get_user_model()
    admin = user_model.objects.filter(email="bench-admin@example.com").first()
    if admin is None:
        admin = user_model.objects.create_superuser(email="bench-admin@example.com", password=None)
    browser = Client()
    browser.force_login(admin)
    for url in (
        "/admin/crm/customer/",
        "/admin/crm/customer/?p=5",
        "/admin/crm/customer/?lifecycle_stage__exact=at_risk&tier__exact=smb",
    ):

        def call(url=url):
            response = browser.get(url)
            if response.status_code != 200:
                return False, f"HTTP {response.status_code}"
            return b'id="result_list"' in response.content, "no result list in the page"

        cases.append(Case(f"GET {url}", call))

    run_cases(cases)
    raw_conn.close()
    if api_key is not None:
        from accounts.services import api_key_revoke

        api_key_revoke(api_key=api_key, actor=None)

    # --- Report ---------------------------------------------------------------------------------------------
    print()
    print(f"{REPETITIONS} requests per case after {WARMUP} warm-up; times in ms")
    header = f"{'case':<76} {'median':>8} {'p90':>8} {'queries':>8} {'x raw SQL':>10}"
    print(header)
    print("-" * len(header))
    for case in cases:
        if not case.samples:
            print(f"{case.name:<76} {'-':>8} {'-':>8} {'-':>8} {'-':>10}  {case.note}")
            failures.append(f"{case.name}: {case.note}")
            continue
        ratio = case.median / baseline.median
        print(
            f"{case.name:<76} {case.median:>8.1f} {case.p90:>8.1f} {case.queries!s:>8} {ratio:>10.1f}"
        )
    print()
    if api_cases.get(100) and api_cases[100].samples:
        ratio = api_cases[100].median / baseline.median
        if ratio >= API_RATIO_TARGET:
            failures.append(
                f"API 100-row page is {ratio:.1f}x the raw-SQL baseline (target < {API_RATIO_TARGET}x)"
            )
        if api_page_ids != baseline_ids:
            # Timing a page against a baseline of other rows measures nothing (did the default ordering change?).
            failures.append("the API page holds other rows than the raw-SQL baseline")
    counts = {size: case.queries for size, case in api_cases.items() if case.samples}
    if len(counts) == 2 and len(set(counts.values())) != 1:
        failures.append(f"API query count differs between page sizes: {counts}")
    if failures:
        for failure in failures:
            print(f"FAIL: {failure}")
        return 1
    print(f"OK: API page under {API_RATIO_TARGET}x the raw-SQL baseline; query counts flat in page size.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
