"""OpenAPI 3 at /api/schema/ (valid, no generator warnings, real shapes and error codes); /api/docs/."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/customers/", "get"): {200, 400, 401, 403},
    ("/api/v1/customers/", "post"): {201, 400, 401, 403, 409, 415},
    ("/api/v1/customers/{id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/customers/{id}/", "put"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/customers/{id}/", "patch"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/customers/by-external-id/{external_id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/customers/by-external-id/{external_id}/", "put"): {200, 201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/customers/{customer_id}/timeline/", "get"): {200, 400, 401, 403, 404},
    ("/api/v1/customers/{customer_id}/notes/", "get"): {200, 400, 401, 403, 404},
    ("/api/v1/customers/{customer_id}/notes/", "post"): {201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/contacts/", "get"): {200, 400, 401, 403},
    ("/api/v1/contacts/", "post"): {201, 400, 401, 403, 409, 415},
    ("/api/v1/contacts/{id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/contacts/{id}/", "patch"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/contacts/{id}/", "delete"): {204, 401, 403, 404, 409},
    ("/api/v1/tasks/", "get"): {200, 400, 401, 403},
    ("/api/v1/tasks/", "post"): {200, 201, 400, 401, 403, 409, 415},
    ("/api/v1/tasks/{id}/", "get"): {200, 401, 403, 404},
    ("/api/v1/tasks/{id}/", "patch"): {200, 400, 401, 403, 404, 409, 415},
    ("/api/v1/customers/{customer_id}/health/", "get"): {200, 400, 401, 403, 404},
    ("/api/v1/customers/{customer_id}/health/overrides/", "get"): {200, 400, 401, 403, 404},
    ("/api/v1/customers/{customer_id}/health/overrides/", "post"): {201, 400, 401, 403, 404, 409, 415},
    ("/api/v1/customers/{customer_id}/health/overrides/{id}/end/", "post"): {200, 400, 401, 403, 404, 409},
}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_operation_with_its_error_codes(schema):
    found = {
        (path, method): {int(code) for code in operation["responses"]}
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
        and path.startswith(("/api/v1/customers/", "/api/v1/contacts/", "/api/v1/tasks/"))
    }
    assert found == OPERATIONS


def test_shapes(schema):
    components = schema["components"]["schemas"]
    customer = components["Customer"]["properties"]
    assert customer["owner"]["format"] == "email"
    assert customer["arr"]["type"] == "string" and customer["arr"]["format"] == "decimal"
    # The currency of ARR (settings.REPORTING_CURRENCY), in the response and the request shapes.
    assert "in USD" in customer["arr"]["description"]
    assert "in USD" in components["CustomerInputRequest"]["properties"]["arr"]["description"]
    assert set(components["CustomerInputRequest"]["properties"]) == {
        "name",
        "domain",
        "external_id",
        "lifecycle_stage",
        "tier",
        "owner",
        "arr",
        "contract_start",
        "renewal_date",
        "timezone",
        "churn_reason",  # write-only: passed on to the churn ARR movement
        "churn_note",
    }
    assert components["CustomerInputRequest"]["required"] == ["name"]
    assert "required" not in components["CustomerUpsertInputRequest"]
    contact = components["Contact"]["properties"]
    assert contact["unsubscribed_at"]["readOnly"] and contact["bounced_at"]["readOnly"]
    assert "unsubscribed_at" not in components["ContactInputRequest"]["properties"]
    assert components["ValidationError"]["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    page = components["PaginatedCustomerList"]["properties"]
    assert set(page) == {"next", "previous", "results"}
    params = {p["name"] for p in schema["paths"]["/api/v1/customers/"]["get"]["parameters"]}
    assert params == {
        "cursor",
        "page_size",
        "ordering",
        "external_id",
        "domain",
        "lifecycle_stage",
        "tier",
        "owner",
        "updated_after",
        "search",
    }
    task_params = {p["name"] for p in schema["paths"]["/api/v1/tasks/"]["get"]["parameters"]}
    assert {"customer", "owner", "status", "type", "priority", "due_before", "mine"} <= task_params
    assert schema["paths"]["/api/v1/tasks/"]["post"]["responses"]["200"]["description"].startswith(
        "An open task with the same customer, type and reason already exists"
    )
    assert "ApiKeyAuth" in schema["components"]["securitySchemes"]


def test_generator_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/customers/by-external-id/{external_id}/" in out.read_text()


def test_swagger_ui_page(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    # Its start-up script is a file of its own (no inline script: Content-Security-Policy), which loads the schema.
    assert b"<script>" not in response.content
    assert b'src="/api/docs/?script="' in response.content
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content


def test_fast_output_matches_drf_rendering(api_client_for, make_staff):
    """OutputSerializer renders plain attributes itself: the result must be exactly DRF's."""
    import datetime

    from rest_framework import serializers

    from crm import selectors, task_selectors
    from crm.api.serializers import (
        ContactSerializer,
        CustomerSerializer,
        NoteSerializer,
        TimelineEventSerializer,
    )
    from crm.api.task_serializers import TaskSerializer
    from crm.services import contact_create, customer_create, note_create
    from crm.task_services import task_create

    csm = make_staff("csm", email="csm@example.com")
    customer = customer_create(name="Acme", owner=csm, arr="12.5", renewal_date=datetime.date(2027, 1, 2))
    bare = customer_create(name="Bare")
    contact_create(customer=customer, email="a@acme.com", is_primary=True)
    note_create(customer=customer, body="hello", actor=csm)
    task_create(customer=customer, reason="Call", due_date=datetime.date(2026, 5, 1), source=customer)
    cases = [
        (CustomerSerializer, selectors.customer_list().filter(pk__in=[customer.pk, bare.pk])),
        (ContactSerializer, selectors.contact_list()),
        (NoteSerializer, selectors.note_list()),
        (TimelineEventSerializer, selectors.timeline_list(customer_id=customer.pk)),
        (TaskSerializer, task_selectors.task_list()),
    ]
    for serializer_class, queryset in cases:
        for obj in queryset:
            serializer = serializer_class()
            assert serializer.to_representation(obj) == serializers.Serializer.to_representation(
                serializer, obj
            )
    row = CustomerSerializer(selectors.customer_get(pk=customer.pk)).data
    assert row["arr"] == "12.50" and row["renewal_date"] == "2027-01-02" and row["created_at"].endswith("Z")


def test_every_operation_documents_its_errors_with_one_shape_each(schema):
    """400 is always the ValidationError component ({"dotted.path": [messages]}), 401/403/404/409/415 always
    ErrorDetail: described once, referenced by every operation (config/schema.py)."""
    refs = {
        "400": "ValidationError",
        "401": "ErrorDetail",
        "403": "ErrorDetail",
        "404": "ErrorDetail",
        "409": "ErrorDetail",
        "415": "ErrorDetail",
    }
    operations = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            operations += 1
            responses = operation["responses"]
            assert {"401", "403"} <= set(responses), (path, method)
            if "{" in path:
                assert "404" in responses, (path, method)
            if "requestBody" in operation:
                assert {"400", "409", "415"} <= set(responses), (path, method)
            for code, name in refs.items():
                if code in responses and path != "/api/v1/inbound/email/":  # its 400 keeps the raw's id
                    target = responses[code]["content"]["application/json"]["schema"]["$ref"]
                    assert target == f"#/components/schemas/{name}", (path, method, code)
    assert operations > 50
    assert schema["components"]["schemas"]["ValidationError"]["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }


def test_times_are_local_wall_clock_times_not_rfc3339_times(schema):
    start = schema["components"]["schemas"]["OpeningHours"]["properties"]["start"]
    assert "format" not in start and start["pattern"].startswith("^([01]")
    import re

    assert re.match(start["pattern"], "09:00:00") and re.match(start["pattern"], "17:30")
    assert not re.match(start["pattern"], "25:00")


def test_an_unknown_format_is_a_400_naming_it(api_client_for):
    api = api_client_for("read_only")
    response = api.get("/api/v1/customers/", {"format": "xml"})
    assert response.status_code == 400
    assert response.json() == {"format": ['"xml" is not a format of this endpoint; use one of: json.']}
    # A format suffix in the path names no URL: a 404, as documented for the operation.
    assert api.get("/api/v1/customers/1.xml/").status_code == 404
