import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKey, Team, User
from accounts.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(client, make_staff):
    def login(role):
        user = make_staff(role)
        client.force_login(user)
        return user

    return login


# --- Roles in the admin -------------------------------------------------------------------------


def test_read_only_can_view_but_not_change(client, as_role, make_staff):
    lead = make_staff("csm")
    team = Team.objects.create(name="EMEA", lead=lead)
    as_role("read_only")

    assert client.get("/admin/accounts/team/").status_code == 200
    page = client.get(f"/admin/accounts/team/{team.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # view-only page
    response = client.post(f"/admin/accounts/team/{team.pk}/change/", {"name": "Hacked"})
    assert response.status_code == 403
    assert client.get("/admin/accounts/team/add/").status_code == 403
    assert client.post("/admin/accounts/team/add/", {"name": "New"}).status_code == 403
    assert client.post(f"/admin/accounts/team/{team.pk}/delete/", {"post": "yes"}).status_code == 403
    team.refresh_from_db()
    assert team.name == "EMEA" and Team.objects.count() == 1
    assert client.get("/admin/accounts/apikey/").status_code == 403


@pytest.mark.parametrize("role", ["csm", "support_agent", "read_only"])
def test_only_admins_manage_api_keys_and_users(client, as_role, role):
    as_role(role)
    assert client.get("/admin/accounts/apikey/").status_code == 403
    assert client.get("/admin/accounts/apikey/add/").status_code == 403
    assert client.get("/admin/accounts/user/add/").status_code == 403
    assert client.get("/admin/accounts/user/").status_code == 200  # view on users (owner names etc.)


# --- API keys -----------------------------------------------------------------------------------


def test_admin_creates_a_key_and_sees_it_once(client, as_role):
    admin_user = as_role("admin")
    response = client.post("/admin/accounts/apikey/add/", {"name": "Billing sync", "role": "csm"}, follow=True)
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    shown = [m for m in messages if m.startswith("Copy this key now, it will not be shown again: ")]
    assert len(shown) == 1
    raw = shown[0].rsplit(" ", 1)[1]

    key = ApiKey.objects.get()
    assert api_key_authenticate(raw) == key
    assert (key.name, key.role, key.created_by) == ("Billing sync", "csm", admin_user)
    assert list(key.user.groups.values_list("name", flat=True)) == ["csm"]

    # Never again: not on the list, not on the change page, and the hash is never shown.
    for url in ("/admin/accounts/apikey/", f"/admin/accounts/apikey/{key.pk}/change/"):
        body = client.get(url).content.decode()
        assert raw not in body and key.hashed_key not in body
        assert key.prefix in body


def test_add_form_asks_only_name_and_role(client, as_role):
    as_role("admin")
    body = client.get("/admin/accounts/apikey/add/").content.decode()
    fields = set(re.findall(r'<(?:input|select|textarea)[^>]*\sname="(\w+)"', body))
    fields -= {"csrfmiddlewaretoken", "_save", "_addanother", "_continue"}
    assert fields == {"name", "role"}


def test_add_form_rejects_bad_role_and_creates_nothing(client, as_role):
    as_role("admin")
    response = client.post("/admin/accounts/apikey/add/", {"name": "x", "role": "root"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert ApiKey.objects.count() == 0


def test_change_form_updates_name_and_role_through_the_service(client, as_role):
    as_role("admin")
    key, raw = api_key_create(name="Old name", role="read_only")
    response = client.post(f"/admin/accounts/apikey/{key.pk}/change/", {"name": "New name", "role": "support_agent"})
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.role) == ("New name", "support_agent")
    assert list(key.user.groups.values_list("name", flat=True)) == ["support_agent"]
    assert api_key_authenticate(raw) == key


def test_revoke_selected_keys_action(client, as_role):
    as_role("admin")
    (a, raw_a), (b, raw_b), (c, raw_c) = (api_key_create(name=n, role="csm") for n in "abc")
    response = client.post(
        "/admin/accounts/apikey/", {"action": "revoke_selected", "_selected_action": [a.pk, b.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "Revoked 2 API key(s)." in [str(m) for m in response.context["messages"]]
    assert api_key_authenticate(raw_a) is None and api_key_authenticate(raw_b) is None
    assert api_key_authenticate(raw_c) == c
    assert not User.objects.get(pk=a.user_id).is_active


def test_keys_cannot_be_deleted(client, as_role):
    as_role("admin")
    key, _ = api_key_create(name="k", role="csm")
    assert client.post(f"/admin/accounts/apikey/{key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_api_key_changelist_query_count_is_flat(client, as_role):
    as_role("admin")

    def count(n):
        for i in range(n):
            api_key_create(name=f"key {ApiKey.objects.count()} {i}", role="read_only")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/accounts/apikey/").status_code == 200
        return len(ctx)

    assert count(2) == count(12)


# --- Users --------------------------------------------------------------------------------------


def test_user_changelist_hides_service_accounts_by_default(client, as_role, make_staff):
    as_role("admin")
    make_staff("support_agent", email="agent@example.com", full_name="Agent Smith")
    key, _ = api_key_create(name="Billing", role="csm")

    body = client.get("/admin/accounts/user/").content.decode()
    assert "agent@example.com" in body and "support_agent" in body  # the role column
    assert key.user.email not in body
    body = client.get("/admin/accounts/user/", {"account_type": "service"}).content.decode()
    assert key.user.email in body and "agent@example.com" not in body
    body = client.get("/admin/accounts/user/", {"account_type": "all"}).content.decode()
    assert key.user.email in body and "agent@example.com" in body


def test_user_changelist_role_column_and_filter(client, as_role, make_staff):
    as_role("admin")
    make_staff("support_agent", email="agent@example.com")
    make_staff("read_only", email="viewer@example.com")
    response = client.get("/admin/accounts/user/", {"role": "support_agent"})
    body = response.content.decode()
    assert "agent@example.com" in body and "viewer@example.com" not in body
    rows = {u.email: u for u in response.context["cl"].result_list}
    assert response.context["cl"].model_admin.role(rows["agent@example.com"]) == "support_agent"


def test_user_changelist_query_count_is_flat(client, as_role, make_staff):
    as_role("admin")

    def count(n):
        for _ in range(n):
            make_staff("csm")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/accounts/user/").status_code == 200
        return len(ctx)

    assert count(2) == count(15)


def test_admin_adds_a_user_with_a_role(client, as_role):
    as_role("admin")
    password = "a good long passphrase 7"
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Person@Example.com",
            "full_name": "New Person",
            "role": "support_agent",
            "usable_password": "true",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(email="new.person@example.com")
    assert user.is_staff and not user.is_service_account
    assert list(user.groups.values_list("name", flat=True)) == ["support_agent"]
    assert user.check_password(password)

    response = client.post(
        "/admin/accounts/user/add/",
        {"email": "NEW.person@example.com", "usable_password": "false", "role": ""},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_owner_autocomplete_offers_only_active_staff_people(client, as_role, make_staff, user_factory):
    me = as_role("csm")
    make_staff("csm", email="zoe.active@example.com")
    make_staff("csm", email="zoe.gone@example.com", is_active=False)
    user_factory(email="zoe.nostaff@example.com", is_staff=False)
    key, _ = api_key_create(name="zoe integration", role="csm")

    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "accounts", "model_name": "team", "field_name": "lead", "term": "zoe"},
    )
    assert response.status_code == 200
    ids = {int(r["id"]) for r in response.json()["results"]}
    assert ids == {User.objects.get(email="zoe.active@example.com").pk}
    # Search is by email and full name.
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "accounts", "model_name": "team", "field_name": "lead", "term": me.full_name.split()[0]},
    )
    assert me.pk in {int(r["id"]) for r in response.json()["results"]}
    # The user list's own search is not restricted.
    body = client.get("/admin/accounts/user/", {"account_type": "all", "q": "zoe"}).content.decode()
    assert "zoe.gone@example.com" in body and key.user.email in body


def test_service_account_change_page_is_read_only(client, as_role):
    as_role("admin")
    key, _ = api_key_create(name="Billing", role="read_only")
    body = client.get(f"/admin/accounts/user/{key.user_id}/change/").content.decode()
    assert f"/admin/accounts/apikey/{key.pk}/change/" in body
    assert 'name="groups"' not in body and 'name="is_superuser"' not in body
    assert Group.objects.get(name="read_only") in key.user.groups.all()


def test_team_admin_uses_autocomplete(client, as_role):
    as_role("admin")
    body = client.get("/admin/accounts/team/add/").content.decode()
    assert "admin-autocomplete" in body
