"""No input makes a 500, on every endpoint the OpenAPI schema documents: each query parameter and each field of
each request body, given values of the wrong type, out of range, too long, with NUL characters or malformed,
gets a 4xx (or is accepted), on demo data. Endpoints added later are covered without editing this file."""

import itertools
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from crm.models import Contact, Customer, EmailTemplate, Task
from success.health.definitions import ensure_default_model
from success.models import ArrMovement, OutreachRecord, OutreachRule, PlaybookRun, PlaybookTemplate, Qbr
from surveys.models import Campaign, Invitation, Response, Survey
from tests.shared_data import shared_rows
from tickets.models import BusinessCalendar, SlaPolicy, Ticket

WEIRD = [None, True, 10**30, -1, 1.5, "\x00", "x" * 5000, "2026-02-30", "é", [1, 2], {"a": {"b": [1]}}]
WEIRD_QUERY = ["\x00", "x" * 3000, "-1", str(10**40), "1e999", "2026-13-45", "é", "true,false", ""]
BODIES = [None, [], "text", 5, [{"name": "x"}]]
RAW_JSON = ['{"name": ', "\xff\xfe", "null", '{"name": "a", "name": 1}']


@pytest.fixture(scope="module")
def _seeded(django_db_setup, django_db_blocker):
    """The demo, seeded once for the module's tests (tests.shared_data: rolled back after the last one)."""
    yield from shared_rows(
        django_db_blocker,
        lambda: call_command(
            "seed_demo", "--customers", 12, "--tickets", 12, "--surveys", 30, "--seed", 9, stdout=StringIO()
        ),
    )


@pytest.fixture
def world(_seeded, db):
    return _seeded


def ids() -> dict[str, str]:
    """A real value for each path parameter, by the path's first segment."""
    first = {
        model: str(model.objects.order_by("pk").values_list("pk", flat=True).first())
        for model in (
            Customer,
            Contact,
            Task,
            Ticket,
            BusinessCalendar,
            SlaPolicy,
            Survey,
            Invitation,
            Response,
            Campaign,
        )
    }
    run = PlaybookRun.objects.order_by("pk").first()
    return {
        "customers": first[Customer],
        "contacts": first[Contact],
        "tasks": first[Task],
        "tickets": first[Ticket],
        "business-calendars": first[BusinessCalendar],
        "sla-policies": first[SlaPolicy],
        "surveys": first[Survey],
        "survey-invitations": first[Invitation],
        "survey-responses": first[Response],
        "survey-campaigns": first[Campaign],
        "health-models": str(ensure_default_model().pk),
        "arr-movements": str(ArrMovement.objects.order_by("pk").values_list("pk", flat=True).first()),
        "playbooks": str(PlaybookTemplate.objects.order_by("pk").values_list("pk", flat=True).first()),
        "playbook-runs": str(run.pk if run else 0),
        "run_step": str(run.steps.order_by("position").values_list("pk", flat=True).first() if run else 0),
        "qbrs": str(Qbr.objects.order_by("pk").values_list("pk", flat=True).first() or 1),  # none in the demo yet
        "outreach-rules": str(OutreachRule.objects.order_by("pk").values_list("pk", flat=True).first()),
        "outreach-records": str(OutreachRecord.objects.order_by("pk").values_list("pk", flat=True).first() or 1),
        "email-templates": str(EmailTemplate.objects.order_by("pk").values_list("pk", flat=True).first()),
        "users": str(get_user_model().objects.filter(is_staff=True).order_by("pk").values_list("pk", flat=True)[0]),
        "external_id": Customer.objects.order_by("pk").values_list("external_id", flat=True).first(),
        "calendar_name": BusinessCalendar.objects.order_by("pk").values_list("name", flat=True).first(),
        "policy_name": SlaPolicy.objects.order_by("pk").values_list("name", flat=True).first(),
    }


def fill(path: str, known: dict[str, str]) -> str:
    segment = path.split("/")[3]
    if "{" not in path:
        return path
    if "{run_id}" in path:
        path = path.replace("{run_id}", known["playbook-runs"]).replace("{id}", known["run_step"])
    path = path.replace("{id}", known[segment]).replace("{customer_id}", known["customers"])
    path = path.replace("{user_id}", known["users"])
    path = path.replace("{ticket_id}", known["tickets"]).replace("{external_id}", known["external_id"])
    name = known["calendar_name"] if segment == "business-calendars" else known["policy_name"]
    return path.replace("{name}", name)


def body_fields(schema: dict, operation: dict) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema", {})
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return sorted(body.get("properties", {}))


@pytest.fixture
def operations(world):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    known = ids()
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "post", "put", "patch"):
                found.append((method, fill(path, known), operation, schema))
    return found


def test_no_query_parameter_value_makes_a_500(operations, api_client_for):
    api = api_client_for("admin")
    failures, requests = [], 0
    for method, url, operation, _schema in operations:
        if method != "get":
            continue
        params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for param, value in itertools.product(params, WEIRD_QUERY):
            requests += 1
            if not isinstance(status := _status(api.get, url, {param: value}), int) or status >= 500:
                failures.append((url, param, value[:20], status))
    assert failures == []
    assert requests > 500


def test_no_request_body_makes_a_500(operations, api_client_for):
    api = api_client_for("admin")
    failures, requests = [], 0
    for method, url, operation, schema in operations:
        if method == "get" or "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        attempts = [{field: value} for field, value in itertools.product(body_fields(schema, operation), WEIRD)]
        attempts += BODIES
        for body in attempts:
            requests += 1
            status = _status(getattr(api, method), url, body, format="json")
            if not isinstance(status, int) or status >= 500:
                failures.append((method, url, str(body)[:60], status))
        for raw in RAW_JSON:
            requests += 1
            status = _status(api.generic, method.upper(), url, raw.encode("latin-1"), content_type="application/json")
            if not isinstance(status, int) or status >= 500:
                failures.append((method, url, raw, status))
    assert failures == []
    assert requests > 500


def test_no_raw_message_makes_a_500(world, api_client_for):
    api = api_client_for("admin")
    for raw in (
        b"",
        b"\x00\xff" * 100,
        b"From: <>\r\n\r\n",
        b"Subject: " + b"x" * 100_000 + b"\r\n\r\nbody",
        b"From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"From: =?x-unknown?q?=FF?= <a@b.example>\r\nSubject: =?utf-8?b?////?=\r\n\r\nhi",
    ):
        response = api.generic("POST", "/api/v1/inbound/email/", raw, content_type="message/rfc822")
        assert response.status_code < 500, raw[:40]


def _status(send, *args, **kwargs):
    """The status code, or the exception the view raised (the test client re-raises it)."""
    try:
        return send(*args, **kwargs).status_code
    except Exception as error:
        return f"{type(error).__name__}: {str(error)[:100]}"
