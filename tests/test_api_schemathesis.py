"""Schemathesis over the whole OpenAPI schema, against the real test server (live_server) with an admin API key,
on demo data: its stateless checks (no 5xx, every status code and Content-Type documented, every body valid
against its documented schema) on positive and negative examples, a bounded number per operation. Zero failures:
a new endpoint whose answers disagree with its schema fails here. Endpoints added later are covered without
editing this file (the schema lists them).

Reproduce a failure by hand: `make run`, then the command printed in the failure message with the live server's
URL replaced by http://127.0.0.1:8000 and an admin key (`manage.py create_api_key fuzz --role admin`)."""

import json
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.services import api_key_create
from success.health.services import health_recompute
from surveys.models import Campaign, Survey
from tests.test_api_fuzz import ids
from tickets.models import BusinessCalendar, SlaPolicy

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread must see the committed rows

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "8")
# Stateless phases only (the stateful phase chains links the schema does not declare); the coverage phase (every
# boundary value of every parameter, unbounded by MAX_EXAMPLES) takes minutes: run it by hand with
# SCHEMATHESIS_PHASES=examples,coverage,fuzzing.
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing")
BUDGET_SECONDS = 240


def known_objects_config() -> str:
    """schemathesis.toml: path parameters of each operation pinned to a row that exists, so the 200 answers of
    detail endpoints are generated and checked too (random ids only ever meet 404s)."""
    known = ids()
    pins = [
        (rf"^/api/v1/{segment}/\{{id\}}/", "id", int(known[segment]))
        for segment in (
            "customers",
            "contacts",
            "tasks",
            "tickets",
            "business-calendars",
            "sla-policies",
            "surveys",
            "survey-invitations",
            "survey-responses",
            "survey-campaigns",
            "health-models",
            "playbooks",
        )
    ]
    pins += [
        (r"^/api/v1/customers/\{customer_id\}/", "customer_id", int(known["customers"])),
        (r"^/api/v1/tickets/\{ticket_id\}/", "ticket_id", int(known["tickets"])),
        (r"^/api/v1/playbook-runs/\{id\}/", "id", int(known["playbook-runs"])),
        (r"^/api/v1/playbook-runs/\{run_id\}/", "run_id", int(known["playbook-runs"])),
        (r"^/api/v1/playbook-runs/\{run_id\}/steps/\{id\}/", "id", int(known["run_step"])),
        (r"^/api/v1/customers/by-external-id/", "external_id", known["external_id"]),
        (
            r"^/api/v1/business-calendars/by-name/",
            "name",
            BusinessCalendar.objects.exclude(name__contains="/").first().name,
        ),
        (r"^/api/v1/sla-policies/by-name/", "name", SlaPolicy.objects.exclude(name__contains="/").first().name),
    ]
    return "".join(
        f"[[operations]]\ninclude-path-regex = {json.dumps(regex)}\n"
        f'parameters = {{ "path.{name}" = {json.dumps(value)} }}\n\n'
        for regex, name, value in pins
    )


def test_every_operation_conforms_to_its_schema(live_server, tmp_path, api_client_for):
    call_command("seed_demo", "--customers", 12, "--tickets", 12, "--surveys", 30, "--seed", 9, stdout=StringIO())
    if not Campaign.objects.exists():
        survey = Survey.objects.filter(is_active=True).order_by("pk").first()
        started = api_client_for("admin").post(f"/api/v1/surveys/{survey.pk}/campaigns/", {"tiers": ["enterprise"]})
        assert started.status_code in (200, 202), started.json()
    health_recompute()  # scored customers: the health answers carry components and history
    config = tmp_path / "schemathesis.toml"
    config.write_text(known_objects_config())
    _key, raw = api_key_create(name="schemathesis", role="admin")
    schemathesis = Path(sys.executable).parent / "schemathesis"
    command = [
        str(schemathesis),
        "--config-file",
        str(config),
        "run",
        f"{live_server.url}/api/schema/?format=json",
        "--header",
        f"Authorization: Bearer {raw}",
        "--checks",
        CHECKS,
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(tmp_path / "report.json"),
    ]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=BUDGET_SECONDS + 60)
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert (report["failures"], report["errors"]) == ([], [])
    operations = report["operations"]
    assert operations["tested"] == operations["selected"] == operations["total"] >= 61, operations
    assert report["test_cases"]["generated"] >= 3 * operations["total"], report["test_cases"]
    assert elapsed < BUDGET_SECONDS, f"schemathesis took {elapsed:.0f} s"
