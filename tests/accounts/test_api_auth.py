"""Bearer API keys and role permissions through DRF's real request cycle (a tiny test-only view over
Customer with the project's default authentication and permission classes)."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import generics, serializers
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts.services import api_key_create, api_key_revoke
from crm.models import Customer

pytestmark = pytest.mark.django_db


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "name"]


class CustomerListView(generics.ListCreateAPIView):
    serializer_class = CustomerSerializer
    pagination_class = None

    def get_queryset(self):  # RolePermissions must work with get_queryset() (no `queryset` attribute)
        return Customer.objects.order_by("pk")


view = CustomerListView.as_view()
factory = APIRequestFactory()


def call(method="get", auth=None, user=None, data=None):
    extra = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    request = getattr(factory, method)("/api/v1/customers/", data=data, format="json", **extra)
    if user is not None:
        force_authenticate(request, user=user)
    return view(request)


def test_no_credentials_is_401_with_bearer_challenge():
    response = call()
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "credentials were not provided" in str(response.data["detail"])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "no API key"),
        ("Bearer a b", "must not contain spaces"),
        ("Bearer not-a-key", "Malformed API key"),
        ("Bearer csk_0123abcd_" + "x" * 43, "Invalid API key"),
    ],
)
def test_bad_bearer_is_401_with_a_clear_message(header, message):
    response = call(auth=header)
    assert response.status_code == 401
    assert message in str(response.data["detail"])
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_wrong_secret_and_revoked_key_are_401(customer_factory):
    customer_factory()
    key, raw = api_key_create(name="Billing", role="admin")
    assert call(auth=f"Bearer {raw}").status_code == 200
    assert call(auth=f"Bearer {raw[:-2]}zz" if not raw.endswith("zz") else f"Bearer {raw[:-2]}yy").status_code == 401

    api_key_revoke(api_key=key)
    response = call(auth=f"Bearer {raw}")
    assert response.status_code == 401
    assert "revoked" in str(response.data["detail"])


def test_valid_key_acts_as_its_service_user_and_follows_its_role(customer_factory):
    customer_factory(name="Acme")
    key, raw = api_key_create(name="Warehouse", role="read_only")

    response = call(auth=f"bearer {raw}")  # the scheme is case-insensitive
    assert response.status_code == 200
    assert [row["name"] for row in response.data] == ["Acme"]
    assert response.renderer_context["request"].user == key.user
    assert response.renderer_context["request"].auth == key

    response = call("post", auth=f"Bearer {raw}", data={"name": "New"})
    assert response.status_code == 403
    assert Customer.objects.count() == 1

    _, csm_raw = api_key_create(name="Sync", role="csm")
    assert call("post", auth=f"Bearer {csm_raw}", data={"name": "New"}).status_code == 201


def test_reads_need_the_view_permission(user_factory):
    from django.contrib.auth.models import Group

    nobody = user_factory()  # staff, but no role
    assert call(user=nobody).status_code == 403
    nobody.groups.add(Group.objects.get(name="read_only"))
    nobody = type(nobody).objects.get(pk=nobody.pk)  # drop the permission cache
    assert call(user=nobody).status_code == 200


def test_session_users_must_be_active_staff_and_not_service_accounts(make_staff):
    assert call(user=make_staff("csm")).status_code == 200
    assert call(user=make_staff("csm", is_staff=False)).status_code == 403
    key, _ = api_key_create(name="Svc", role="admin")
    assert call(user=key.user).status_code == 403  # a service user without its key (e.g. a session)


def test_other_authorization_schemes_are_left_to_other_authenticators():
    response = call(auth="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert "credentials were not provided" in str(response.data["detail"])


def test_openapi_schema_declares_the_bearer_scheme():
    from django.urls import path

    generator = SchemaGenerator(patterns=[path("api/v1/customers/", view)])
    schema = generator.get_schema(request=None, public=True)
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["type"] == "http"
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    operation = schema["paths"]["/api/v1/customers/"]["get"]
    assert {"ApiKeyAuth": []} in operation["security"]


# --- Through the real API ------------------------------------------------------------------------


def test_real_endpoint_401_for_missing_bad_and_revoked_keys(client, api_client_for):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/customers/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'

    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer csk_deadbeef_" + "x" * 43)
    assert bad.get("/api/v1/customers/").status_code == 401

    api = api_client_for("read_only")
    assert api.get("/api/v1/customers/").status_code == 200
    api_key_revoke(api_key=api.api_key)
    response = api.get("/api/v1/customers/")
    assert response.status_code == 401
    assert "revoked" in response.content.decode()


def test_real_endpoint_session_staff_and_read_only_key_cannot_write(client, make_staff, api_client_for):
    client.force_login(make_staff("read_only"))
    assert client.get("/api/v1/customers/").status_code == 200

    api = api_client_for("read_only")
    response = api.put("/api/v1/customers/by-external-id/ext-1/", {"name": "Acme", "domain": "acme.com"}, format="json")
    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_served_schema_has_the_bearer_scheme(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "csk_<prefix>_<secret>",
        "description": schema["components"]["securitySchemes"]["ApiKeyAuth"]["description"],
    }
    assert {"ApiKeyAuth": []} in schema["paths"]["/api/v1/customers/"]["get"]["security"]
