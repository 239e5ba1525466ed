"""The API under `make run` (DEBUG on) answers as in production: JSON 404s, never Django's HTML debug page, and
GET /api/v1/ lists the entry points."""

import pytest
from rest_framework.test import APIClient

from crm.models import Customer

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_a_write_without_the_trailing_slash_is_the_json_404_with_debug_on_too(api_client_for, debug):
    api = api_client_for("csm")
    response = api.post("/api/v1/customers", {"name": "No slash Inc"}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found. API URLs end with a slash: POST /api/v1/customers/"}
    assert not Customer.objects.filter(name="No slash Inc").exists()
    for path in ("/api/v1/no-such-endpoint/", "/api/v1/customers/abc/", "/api/v2/"):
        response = api.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json"), path
        assert response.json() == {"detail": "Not found."}
    # Outside the API a missing page stays a page; a GET without its slash is still redirected.
    assert api.get("/no-such-page/")["Content-Type"].startswith("text/html")
    assert api.get("/api/v1/customers")["Location"] == "/api/v1/customers/"


def test_api_root_lists_the_entry_points_without_a_key(debug):
    response = APIClient().get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["schema"] == "http://testserver/api/schema/"
    assert body["docs"] == "http://testserver/api/docs/"
    assert "Authorization: Bearer" in body["authentication"]
    endpoints = body["endpoints"]
    assert endpoints["customer-list"] == "http://testserver/api/v1/customers/"
    assert endpoints["customer-detail"] == "http://testserver/api/v1/customers/{id}/"
    assert endpoints["timeline-list"] == "http://testserver/api/v1/customers/{customer_id}/timeline/"
    assert endpoints["ticket-message-list"] == "http://testserver/api/v1/tickets/{ticket_id}/messages/"
    assert endpoints["inbound-email-list"] == "http://testserver/api/v1/inbound/email/"
    assert endpoints["survey-results"] == "http://testserver/api/v1/surveys/{id}/results/"
    assert not any("format" in url for url in endpoints.values())
    # Every path of the schema is listed (the schema is the reference; the root is its map).
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    listed = {url.removeprefix("http://testserver") for url in endpoints.values()}
    assert set(schema["paths"]) <= listed
    # The listing is all it gives: the entry points still need a key.
    assert APIClient().get(endpoints["customer-list"]).status_code in (401, 403)
    assert APIClient().post("/api/v1/", {}, format="json").status_code == 405
