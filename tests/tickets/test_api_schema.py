"""OpenAPI for the ticket API: every endpoint with its error codes and real shapes; valid, and free of
generator warnings once the enum names are set (SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"])."""

import pytest
from django.core.management import call_command
from drf_spectacular.plumbing import _load_enum_name_overrides
from drf_spectacular.settings import patched_settings, spectacular_settings

from tickets.api.serializers import SCHEMA_ENUM_NAME_OVERRIDES

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/tickets/", "get"): {200, 400, 401, 403},
    ("/api/v1/tickets/", "post"): {201, 400, 401, 403, 409, 415},
    ("/api/v1/tickets/{id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/tickets/{id}/", "patch"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/tickets/{id}/merge/", "post"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/tickets/{id}/sla/", "get"): {200, 401, 403, 404},
    ("/api/v1/tickets/metrics/", "get"): {200, 400, 401, 403},
    ("/api/v1/tickets/{ticket_id}/messages/", "get"): {200, 400, 401, 403, 404},
    ("/api/v1/tickets/{ticket_id}/messages/", "post"): {201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/tickets/{ticket_id}/status-changes/", "get"): {200, 400, 401, 403, 404},
    ("/api/v1/tickets/{ticket_id}/status-changes/", "post"): {200, 201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/business-calendars/", "get"): {200, 400, 401, 403},
    ("/api/v1/business-calendars/", "post"): {201, 400, 401, 403, 409, 415},
    ("/api/v1/business-calendars/{id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/business-calendars/{id}/", "put"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/business-calendars/{id}/", "patch"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/business-calendars/{id}/", "delete"): {204, 401, 403, 404, 409},
    ("/api/v1/business-calendars/by-name/{name}/", "get"): {200, 401, 403, 404},
    ("/api/v1/business-calendars/by-name/{name}/", "put"): {200, 201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/sla-policies/", "get"): {200, 400, 401, 403},
    ("/api/v1/sla-policies/", "post"): {201, 400, 401, 403, 409, 415},
    ("/api/v1/sla-policies/{id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/sla-policies/{id}/", "put"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/sla-policies/{id}/", "patch"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/sla-policies/{id}/", "delete"): {204, 401, 403, 404, 409},
    ("/api/v1/sla-policies/by-name/{name}/", "get"): {200, 401, 403, 404},
    ("/api/v1/sla-policies/by-name/{name}/", "put"): {200, 201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/inbound/email/", "post"): {202, 400, 401, 403, 409, 413, 415},
}
OURS = ("/api/v1/tickets/", "/api/v1/business-calendars/", "/api/v1/sla-policies/", "/api/v1/inbound/")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_ticket_operation_with_its_error_codes(schema):
    found = {
        (path, method): {int(code) for code in operation["responses"]}
        for path, item in schema["paths"].items()
        if path.startswith(OURS)
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert found == OPERATIONS


def ref(schema, prop) -> str:
    target = prop.get("$ref") or prop["allOf"][0]["$ref"]
    return target.rsplit("/", 1)[-1]


def test_shapes(schema):
    components = schema["components"]["schemas"]
    ticket = components["Ticket"]["properties"]
    assert {
        "id",
        "reference",
        "status",
        "assignee",
        "first_response_due_at",
        "resolution_due_at",
        "sla",
    } <= set(ticket)
    assert ticket["assignee"]["format"] == "email"
    summary = components[ref(schema, ticket["sla"])]["properties"]
    assert set(summary) == {"first_response", "next_reply", "resolution"}
    assert set(components["SlaState"]["properties"]) >= {"due_at", "state", "breached"}
    assert set(components["TicketInputRequest"]["required"]) == {
        "customer",
        "requester",
        "subject",
        "body",
    }
    assert components["TicketInputRequest"]["properties"]["created_at"]["format"] == "date-time"
    attachments = components["MessageInputRequest"]["properties"]["attachments"]
    assert attachments["items"] == {"type": "string", "format": "binary"}
    post = schema["paths"]["/api/v1/tickets/{ticket_id}/messages/"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    inbound = schema["paths"]["/api/v1/inbound/email/"]["post"]
    assert set(inbound["requestBody"]["content"]) == {"message/rfc822", "application/octet-stream"}
    assert (
        ref(schema, inbound["responses"]["202"]["content"]["application/json"]["schema"])
        == "InboundEmailResult"
    )
    from_status = components["StatusChange"]["properties"]["from_status"]  # null on a ticket's first change
    assert from_status.get("nullable") is True and "TicketStatusEnum" in str(from_status)
    explain = components["SlaTargetExplain"]["properties"]
    assert {"remaining_seconds", "overdue_seconds", "met", "breached", "intervals"} <= set(explain)
    assert set(components["SlaInterval"]["properties"]) == {"from", "to", "counted", "reason", "seconds"}
    calendar_input = components["BusinessCalendarInputRequest"]["properties"]
    assert ref(schema, calendar_input["opening_hours"]["items"]) == "OpeningHoursInputRequest"
    params = {p["name"] for p in schema["paths"]["/api/v1/tickets/"]["get"]["parameters"]}
    assert params >= {
        "status",
        "priority",
        "assignee",
        "customer",
        "team",
        "channel",
        "category",
        "breached",
        "due_before",
        "created_after",
        "created_before",
        "updated_after",
        "ordering",
        "cursor",
        "page_size",
    }
    metric_params = {p["name"] for p in schema["paths"]["/api/v1/tickets/metrics/"]["get"]["parameters"]}
    assert metric_params == {
        "start",
        "end",
        "customer",
        "tier",
        "assignee",
        "team",
        "channel",
        "category",
    }
    metrics = components["Metrics"]["properties"]
    assert {
        "volume",
        "first_response_seconds",
        "resolution_seconds",
        "sla_attainment",
        "backlog",
    } <= set(metrics)


def test_generator_validates_without_warnings_with_the_enum_names(tmp_path):
    out = tmp_path / "schema.yaml"
    overrides = {**SCHEMA_ENUM_NAME_OVERRIDES, **spectacular_settings.ENUM_NAME_OVERRIDES}
    _load_enum_name_overrides.cache_clear()
    try:
        with patched_settings({"ENUM_NAME_OVERRIDES": overrides}):
            call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    finally:
        _load_enum_name_overrides.cache_clear()
    text = out.read_text()
    assert "/api/v1/inbound/email/" in text and "TicketStatusEnum" in text
