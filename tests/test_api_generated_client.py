"""A Python client generated from the OpenAPI schema by openapi-python-client drives the real test server: it
creates a customer, lists customers, gets a 400 it can read, and every write goes as JSON (DRF's default parsers
made every write accept form and multipart bodies too, and a generated client sent them all as multipart)."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from accounts.services import api_key_create
from crm.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's thread must see the committed rows

# openapi-python-client has no type for a raw email body: the inbound endpoint is generated as a bytes upload.
CONFIG = {"content_type_overrides": {"message/rfc822": "application/octet-stream"}, "post_hooks": []}


@pytest.fixture
def generated(tmp_path, monkeypatch):
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(Client().get("/api/schema/", {"format": "json"}).json()))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    generator = Path(sys.executable).parent / "openapi-python-client"
    run = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(schema),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "crm_api_client"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Warning" not in output, output  # every operation generated, none skipped
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith("crm_api_client")]:
        del sys.modules[name]
    return importlib.import_module("crm_api_client")


def test_a_generated_client_creates_lists_and_reads_errors_in_json(generated, live_server):
    from crm_api_client.api.customers import v1_customers_create, v1_customers_list
    from crm_api_client.models import Customer as CustomerModel
    from crm_api_client.models import CustomerInputRequest, ValidationError

    _key, raw = api_key_create(name="generated client", role="admin")
    sent = []

    def record(request):
        sent.append((request.method, request.headers.get("content-type")))

    client = generated.AuthenticatedClient(
        base_url=live_server.url, token=raw, httpx_args={"event_hooks": {"request": [record]}}
    )
    with client:
        created = v1_customers_create.sync(
            client=client, body=CustomerInputRequest(name="Generated Inc", domain="generated.example", arr="1200.50")
        )
        assert isinstance(created, CustomerModel), created
        assert (created.name, created.arr) == ("Generated Inc", "1200.50")
        assert Customer.objects.get(pk=created.id).domain == "generated.example"

        page = v1_customers_list.sync(client=client, search="Generated")
        assert [row.id for row in page.results] == [created.id]

        refused = v1_customers_create.sync(client=client, body=CustomerInputRequest(name="", arr="-5"))
        assert isinstance(refused, ValidationError), refused
        assert set(refused.additional_properties) == {"name", "arr"}
        assert all(isinstance(m, str) for messages in refused.additional_properties.values() for m in messages)
    assert Customer.objects.count() == 1
    writes = [content_type for method, content_type in sent if method == "POST"]
    assert writes == ["application/json", "application/json"]


def test_writes_accept_json_only(api_client_for):
    api = api_client_for("admin")
    for content_type, body in (
        ("application/x-www-form-urlencoded", "name=Form+Inc"),
        ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nM\r\n--x--\r\n'),
    ):
        response = api.generic("POST", "/api/v1/customers/", body, content_type=content_type)
        assert response.status_code == 415, content_type
        assert "Unsupported media type" in response.json()["detail"]
    assert not Customer.objects.exists()
