"""The API's error contract (crm.api.errors): 400 per field, 403 with a message, 409 on integrity errors, and
never a 500 whatever the input."""

import itertools

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError

from crm.models import Contact, Customer, Note, Task, TimelineEvent
from crm.services import contact_create, customer_create
from crm.task_services import task_create

pytestmark = pytest.mark.django_db


def everything() -> tuple:
    return (
        list(Customer.objects.order_by("pk").values()),
        list(Contact.objects.order_by("pk").values()),
        list(Task.objects.order_by("pk").values()),
        Note.objects.count(),
        TimelineEvent.objects.count(),
    )


def test_integrity_error_from_a_service_is_409(api_client_for, monkeypatch):
    def racing_create(**kwargs):
        raise IntegrityError('duplicate key value violates unique constraint "crm_customer_external_id_key"')

    monkeypatch.setattr("crm.services.customer_create", racing_create)
    response = api_client_for("admin").post("/api/v1/customers/", {"name": "X"}, format="json")
    assert response.status_code == 409
    assert "concurrent change" in response.json()["detail"]
    assert "crm_customer" not in response.json()["detail"]  # no SQL leaks out


def test_django_permission_denied_from_a_service_is_403_with_its_message(api_client_for, monkeypatch):
    def refuse(**kwargs):
        raise PermissionDenied("Not on Fridays.")

    monkeypatch.setattr("crm.services.note_create", refuse)
    customer = customer_create(name="Acme")
    response = api_client_for("admin").post(
        f"/api/v1/customers/{customer.pk}/notes/", {"body": "x"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "Not on Fridays."}


def test_non_field_validation_errors_use_non_field_errors(api_client_for, monkeypatch):
    from django.core.exceptions import ValidationError

    def invalid(**kwargs):
        raise ValidationError("Something about the whole object.")

    monkeypatch.setattr("crm.services.customer_create", invalid)
    response = api_client_for("admin").post("/api/v1/customers/", {"name": "X"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Something about the whole object."]}


WEIRD_VALUES = [
    None,
    True,
    10**30,
    1.5,
    "\x00",
    "x" * 5000,
    "2026-02-30",
    [1, 2],
    {"a": {"b": [1]}},
]
CUSTOMER_FIELDS = [
    "name",
    "domain",
    "external_id",
    "lifecycle_stage",
    "tier",
    "owner",
    "arr",
    "renewal_date",
    "timezone",
]
CONTACT_FIELDS = ["customer", "email", "role", "is_primary", "phone", "timezone"]
TASK_FIELDS = ["customer", "reason", "type", "owner", "due_date", "priority", "status"]


@pytest.fixture
def world(make_staff):
    csm = make_staff("csm", email="csm@example.com")
    customer = customer_create(name="Acme", external_id="acme", owner=csm)
    contact = contact_create(customer=customer, email="a@acme.com")
    task, _ = task_create(customer=customer, reason="Call")
    return customer, contact, task


def test_no_input_makes_a_500(api_client_for, world):
    customer, contact, task = world
    api = api_client_for("admin")
    writes = [
        ("post", "/api/v1/customers/", CUSTOMER_FIELDS, {"name": "N"}),
        ("patch", f"/api/v1/customers/{customer.pk}/", CUSTOMER_FIELDS, {}),
        ("put", "/api/v1/customers/by-external-id/acme/", CUSTOMER_FIELDS, {}),
        ("put", "/api/v1/customers/by-external-id/new-one/", CUSTOMER_FIELDS, {"name": "N"}),
        ("post", "/api/v1/contacts/", CONTACT_FIELDS, {"customer": customer.pk, "email": "n@acme.com"}),
        ("patch", f"/api/v1/contacts/{contact.pk}/", CONTACT_FIELDS, {}),
        ("post", "/api/v1/tasks/", TASK_FIELDS, {"customer": customer.pk, "reason": "R"}),
        ("patch", f"/api/v1/tasks/{task.pk}/", TASK_FIELDS, {}),
        ("post", f"/api/v1/customers/{customer.pk}/notes/", ["body"], {"body": "b"}),
    ]
    statuses = set()
    for method, url, fields, base in writes:
        for field, value in itertools.product(fields, WEIRD_VALUES):
            response = getattr(api, method)(url, {**base, field: value}, format="json")
            assert response.status_code < 500, (method, url, field, value)
            statuses.add(response.status_code)
        for body in (None, [], "text", 5, [{"name": "x"}]):
            response = getattr(api, method)(url, body, format="json")
            assert response.status_code < 500, (method, url, body)
        for raw in ('{"name": ', "\xff\xfe", "null", '{"name": "a", "name": 1}'):
            response = api.generic(
                method.upper(), url, raw.encode("latin-1"), content_type="application/json"
            )
            assert response.status_code < 500, (method, url, raw)
        response = api.generic(
            method.upper(), url, "name=x&arr=-1&zzz=1", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code < 500, (method, url, "form")
    assert statuses >= {200, 400}


def test_no_query_string_makes_a_500(api_client_for, world):
    customer, _contact, _task = world
    api = api_client_for("read_only")
    lists = {
        "/api/v1/customers/": [
            "external_id",
            "domain",
            "lifecycle_stage",
            "tier",
            "owner",
            "updated_after",
            "search",
        ],
        "/api/v1/contacts/": ["customer", "email", "role", "is_primary", "updated_after"],
        "/api/v1/tasks/": ["customer", "owner", "status", "type", "priority", "due_before", "mine"],
        f"/api/v1/customers/{customer.pk}/timeline/": ["kind", "occurred_after", "occurred_before"],
        f"/api/v1/customers/{customer.pk}/notes/": [],
    }
    common = ["cursor", "page_size", "ordering"]
    values = ["\x00", "x" * 3000, "-1", str(10**40), "1e999", "2026-13-45", "é"]
    for url, params in lists.items():
        for param, value in itertools.product(params + common, values):
            response = api.get(url, {param: value})
            assert response.status_code < 500, (url, param, value)
    for path in (
        "/api/v1/customers/0/",
        "/api/v1/customers/99999999999999999999/",
        "/api/v1/contacts/-1/",
        "/api/v1/tasks/1e3/",
        "/api/v1/customers/by-external-id/%00/",
        "/api/v1/customers/999999999/timeline/",
    ):
        assert api.get(path).status_code in (400, 404), path


def test_options_and_head_do_not_fail(api_client_for, world):
    customer, _contact, _task = world
    api = api_client_for("read_only")
    for url in ("/api/v1/customers/", f"/api/v1/customers/{customer.pk}/", "/api/v1/tasks/"):
        assert api.options(url).status_code == 200
        assert api.head(url).status_code == 200


def test_bad_inputs_change_nothing_at_all(api_client_for, world):
    customer, contact, task = world
    api = api_client_for("admin")
    before = everything()
    api.post("/api/v1/customers/", {"name": "X", "timezone": "Bad/Zone"}, format="json")
    api.patch(f"/api/v1/customers/{customer.pk}/", {"name": "Y", "arr": "-1"}, format="json")
    api.put("/api/v1/customers/by-external-id/zz/", {"name": "Z", "lifecycle_stage": "?"}, format="json")
    api.post("/api/v1/contacts/", {"customer": customer.pk, "email": "A@acme.com"}, format="json")
    api.patch(f"/api/v1/contacts/{contact.pk}/", {"is_primary": True, "timezone": "Bad/Zone"}, format="json")
    api.patch(f"/api/v1/tasks/{task.pk}/", {"priority": "high", "status": "reopened"}, format="json")
    api.post(f"/api/v1/customers/{customer.pk}/notes/", {"body": " "}, format="json")
    assert everything() == before


def test_a_failing_close_undoes_the_update_in_the_same_request(api_client_for, world):
    _customer, _contact, task = world
    api = api_client_for("admin")
    api.patch(f"/api/v1/tasks/{task.pk}/", {"status": "done"}, format="json")
    before = everything()
    response = api.patch(
        f"/api/v1/tasks/{task.pk}/", {"priority": "high", "status": "cancelled"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"status": ["The task is already done."]}
    assert everything() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/customers/abc/",  # no route: the id is not a number
        "/api/v1/contacts/1e3/",
        "/api/v1/customers/abc/timeline/",
        "/api/v1/no-such-endpoint/",
        "/api/v2/customers/",
        "/api/v1/customers/999999/",  # a route, no such row (DRF's own 404)
    ],
)
def test_api_404s_are_json(api_client_for, path):
    response = api_client_for("read_only").get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert list(response.json()) == ["detail"]


def test_404_outside_the_api_stays_a_page_and_missing_slash_still_redirects(api_client_for, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    response = api_client_for("read_only").get("/api/v1/customers")
    assert response.status_code == 301 and response["Location"] == "/api/v1/customers/"


def test_a_write_without_the_trailing_slash_is_a_404_naming_the_url_and_creates_nothing(api_client_for):
    # A 301 would be followed with a GET by most clients: the list, 200, and nothing created.
    api = api_client_for("csm")
    response = api.post("/api/v1/customers", {"name": "No slash Inc"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found. API URLs end with a slash: POST /api/v1/customers/"}
    assert not Customer.objects.filter(name="No slash Inc").exists()
    response = api.patch("/api/v1/customers/1", {"name": "x"}, format="json")
    assert response.status_code == 404 and "PATCH /api/v1/customers/1/" in response.json()["detail"]
    assert api.post("/api/v1/nothing-here", {}, format="json").json() == {"detail": "Not found."}


# --- One shape for every 400: {"dotted.path": ["message", ...]} --------------------------------------------


def is_error_shape(body) -> bool:
    return (
        isinstance(body, dict)
        and bool(body)
        and all(isinstance(key, str) and isinstance(messages, list) and messages for key, messages in body.items())
        and all(isinstance(message, str) for messages in body.values() for message in messages)
    )


def test_list_item_errors_are_flattened_to_a_dotted_path(api_client_for):
    from surveys.services import survey_create

    survey = survey_create(name="NPS", kind="nps")
    response = api_client_for("admin").post(
        f"/api/v1/surveys/{survey.pk}/campaigns/", {"tiers": ["smb", "galactic"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"tiers.1": ['"galactic" is not a valid choice.']}


def test_nested_object_errors_are_flattened_to_a_dotted_path(api_client_for):
    response = api_client_for("admin").post(
        "/api/v1/business-calendars/",
        {
            "name": "Paris",
            "timezone": "Europe/Paris",
            "opening_hours": [
                {"weekday": 0, "start": "09:00", "end": "17:00"},
                {"weekday": 9, "start": "9h", "end": "17:00"},
            ],
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"opening_hours.1.weekday", "opening_hours.1.start"}
    assert is_error_shape(body)


def test_a_body_that_is_not_json_is_a_400_in_the_same_shape(api_client_for):
    response = api_client_for("admin").generic(
        "POST", "/api/v1/customers/", '{"name": "X",', content_type="application/json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]
    assert "JSON parse error" in response.json()["non_field_errors"][0]
    assert not Customer.objects.exists()


def test_a_top_level_list_error_is_under_non_field_errors():
    from rest_framework import exceptions

    from crm.api.errors import exception_handler

    response = exception_handler(exceptions.ValidationError("Wrong as a whole."), {})
    assert response.data == {"non_field_errors": ["Wrong as a whole."]}
    nested = exception_handler(
        exceptions.ValidationError({"a": {"b": [{}, {"c": ["bad"]}], "0": ["x", "y"]}, "d": "one"}), {}
    )
    assert nested.data == {"a.b.1.c": ["bad"], "a.0": ["x", "y"], "d": ["one"]}
