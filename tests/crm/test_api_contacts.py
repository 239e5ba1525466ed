"""REST API v1: /api/v1/contacts/."""

import pytest
from django.utils import timezone

from crm.models import Contact, TimelineEvent
from crm.services import contact_create, customer_create

pytestmark = pytest.mark.django_db

LIST = "/api/v1/contacts/"


def detail(pk) -> str:
    return f"/api/v1/contacts/{pk}/"


def snapshot() -> tuple:
    return list(Contact.objects.order_by("pk").values()), TimelineEvent.objects.count()


@pytest.fixture
def customer():
    return customer_create(name="Acme", external_id="acme")


@pytest.fixture
def contact(customer):
    return contact_create(
        customer=customer, email="ann@acme.com", first_name="Ann", role="champion", is_primary=True
    )


def emails(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["email"] for row in response.json()["results"]]


def test_401_without_credentials(client, contact):
    assert client.get(LIST).status_code == 401
    assert client.post(LIST, {}).status_code == 401


def test_list_and_retrieve_show_ledger_fields(api_client_for, contact):
    Contact.objects.filter(pk=contact.pk).update(unsubscribed_at=timezone.now())
    api = api_client_for("read_only")
    row = api.get(LIST).json()["results"][0]
    assert row["email"] == "ann@acme.com"
    assert row["customer"] == contact.customer_id
    assert row["unsubscribed_at"] is not None and row["bounced_at"] is None
    assert set(row) == {
        "id",
        "customer",
        "email",
        "first_name",
        "last_name",
        "role",
        "is_primary",
        "phone",
        "timezone",
        "unsubscribed_at",
        "bounced_at",
        "complained_at",
        "created_at",
        "updated_at",
    }
    assert api.get(detail(contact.pk)).json() == row
    assert api.get(detail(contact.pk + 999)).status_code == 404


def test_create_normalises_email_and_writes_timeline(api_client_for, customer):
    api = api_client_for("support_agent")
    response = api.post(
        LIST,
        {"customer": customer.pk, "email": "  Bob@ACME.com ", "role": "billing", "timezone": "Asia/Tokyo"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get()
    assert contact.email == "bob@acme.com"
    assert response["Location"].endswith(detail(contact.pk))
    event = TimelineEvent.objects.get(kind="contact.added")
    assert event.customer_id == customer.pk and event.actor == api.api_key.user


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": "ANN@acme.com"}, "email", "This customer already has a contact with this email."),
        ({"role": "ceo"}, "role", '"ceo" is not a valid choice.'),
        ({"timezone": "Moon/Base"}, "timezone", "Unknown time zone Moon/Base"),
        ({"customer": 10**30}, "customer", "object does not exist"),
        ({"customer": "abc"}, "customer", "Incorrect type"),
        ({"customer": None}, "customer", "This field may not be null."),
        ({"unsubscribed_at": None}, "unsubscribed_at", "This field is read-only."),
        ({"bounced_at": "2026-01-01T00:00:00Z"}, "bounced_at", "This field is read-only."),
        ({"nickname": "A"}, "nickname", "Unknown field."),
        ({"is_primary": "perhaps"}, "is_primary", "Must be a valid boolean."),
        ({"phone": "1" * 41}, "phone", "Ensure this field has no more than 40 characters."),
    ],
)
def test_create_bad_input_is_400_and_changes_nothing(api_client_for, contact, payload, field, message):
    api = api_client_for("csm")
    before = snapshot()
    response = api.post(
        LIST, {"customer": contact.customer_id, "email": "new@acme.com", **payload}, format="json"
    )
    assert response.status_code == 400
    assert any(message in m for m in response.json()[field]), response.json()
    assert snapshot() == before


def test_same_email_at_another_customer_is_fine(api_client_for, contact):
    other = customer_create(name="Other")
    response = api_client_for("csm").post(
        LIST, {"customer": other.pk, "email": "ann@acme.com"}, format="json"
    )
    assert response.status_code == 201


def test_contact_errors_are_reported_together(api_client_for, customer):
    response = api_client_for("admin").post(
        LIST,
        {"customer": customer.pk, "email": "not-an-email", "role": "boss", "timezone": "Mars/Base"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "email": ["Enter a valid email address."],
        "role": ['"boss" is not a valid choice.'],
        "timezone": ["Unknown time zone Mars/Base; use an IANA name such as Europe/Paris."],
    }
    assert not Contact.objects.exists()


def test_new_primary_replaces_the_old_one(api_client_for, contact):
    before = Contact.objects.get(pk=contact.pk).updated_at
    api = api_client_for("csm")
    response = api.post(
        LIST, {"customer": contact.customer_id, "email": "new@acme.com", "is_primary": True}, format="json"
    )
    assert response.status_code == 201, response.json()
    contact.refresh_from_db()
    assert not contact.is_primary
    assert contact.updated_at > before  # so `updated_after` syncs see the change
    assert Contact.objects.filter(customer_id=contact.customer_id, is_primary=True).count() == 1
    again = api.patch(detail(contact.pk), {"is_primary": True}, format="json")
    assert again.status_code == 200 and again.json()["is_primary"] is True
    assert Contact.objects.get(is_primary=True).pk == contact.pk


def test_replaced_primary_has_its_history_and_timeline(api_client_for, contact):
    api = api_client_for("csm")
    response = api.post(
        LIST, {"customer": contact.customer_id, "email": "new@acme.com", "is_primary": True}, format="json"
    )
    assert response.status_code == 201, response.json()
    new_pk = response.json()["id"]
    history = list(Contact.history.filter(id=contact.pk).order_by("history_date"))
    assert [(h.history_type, h.is_primary) for h in history] == [("+", True), ("~", False)]
    assert history[-1].history_user == api.api_key.user
    event = TimelineEvent.objects.get(customer_id=contact.customer_id, kind="contact.updated")
    assert event.source_id == str(contact.pk) and event.actor == api.api_key.user
    assert "ann@acme.com" in event.summary and "new@acme.com" in event.summary
    assert event.payload["changes"] == {"is_primary": [True, False]}
    assert event.payload["replaced_by"] == {"contact_id": new_pk, "email": "new@acme.com"}
    timeline = api.get(f"/api/v1/customers/{contact.customer_id}/timeline/").json()["results"]
    assert any(row["kind"] == "contact.updated" and "no longer primary" in row["summary"] for row in timeline)

    # Moving primary back by PATCH writes the same trail for the contact that loses it.
    assert api.patch(detail(contact.pk), {"is_primary": True}, format="json").status_code == 200
    new_history = Contact.history.filter(id=new_pk).order_by("history_date")
    assert [h.is_primary for h in new_history] == [True, False]
    assert TimelineEvent.objects.filter(kind="contact.updated", source_id=str(new_pk)).count() == 1


def test_patch(api_client_for, contact):
    api = api_client_for("support_agent")
    response = api.patch(
        detail(contact.pk), {"last_name": "Smith", "email": "Ann.Smith@Acme.com"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["email"] == "ann.smith@acme.com"
    contact.refresh_from_db()
    assert contact.last_name == "Smith"
    event = TimelineEvent.objects.get(kind="contact.updated")
    assert set(event.payload["changes"]) == {"last_name", "email"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"customer": 1}, "customer"),
        ({"email": "bad@"}, "email"),
        ({"email": "taken@acme.com"}, "email"),
        ({"timezone": "Bad/Zone"}, "timezone"),
        ({"complained_at": None}, "complained_at"),
        ({"id": 1}, "id"),
    ],
)
def test_patch_bad_input_is_400_and_changes_nothing(api_client_for, contact, payload, field):
    contact_create(customer=contact.customer, email="taken@acme.com")
    before = snapshot()
    response = api_client_for("csm").patch(
        detail(contact.pk), {"first_name": "Changed", **payload}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert snapshot() == before


def test_put_is_not_offered(api_client_for, contact):
    response = api_client_for("admin").put(detail(contact.pk), {"email": "x@acme.com"}, format="json")
    assert response.status_code == 405


def test_delete(api_client_for, contact):
    assert api_client_for("support_agent").delete(detail(contact.pk)).status_code == 403
    assert api_client_for("read_only").delete(detail(contact.pk)).status_code == 403
    api = api_client_for("csm")
    assert api.delete(detail(contact.pk)).status_code == 204
    assert not Contact.objects.exists()
    event = TimelineEvent.objects.get(kind="contact.removed")
    assert event.payload["email"] == "ann@acme.com"
    assert api.delete(detail(contact.pk)).status_code == 404


def test_read_only_cannot_write(api_client_for, contact):
    api = api_client_for("read_only")
    before = snapshot()
    assert (
        api.post(LIST, {"customer": contact.customer_id, "email": "x@acme.com"}, format="json").status_code
        == 403
    )
    assert api.patch(detail(contact.pk), {"first_name": "X"}, format="json").status_code == 403
    assert snapshot() == before


def test_filters(api_client_for, contact):
    other = customer_create(name="Other")
    contact_create(customer=other, email="zed@other.com", role="billing")
    contact_create(customer=contact.customer, email="bea@acme.com", role="billing")
    Contact.objects.filter(email="zed@other.com").update(updated_at="2020-01-01T00:00:00Z")
    api = api_client_for("read_only")
    assert emails(api.get(LIST)) == ["ann@acme.com", "bea@acme.com", "zed@other.com"]
    assert emails(api.get(LIST, {"customer": other.pk})) == ["zed@other.com"]
    assert emails(api.get(LIST, {"email": "ANN@acme.com"})) == ["ann@acme.com"]
    assert emails(api.get(LIST, {"role": "billing"})) == ["bea@acme.com", "zed@other.com"]
    assert emails(api.get(f"{LIST}?role=billing&role=champion")) == [
        "ann@acme.com",
        "bea@acme.com",
        "zed@other.com",
    ]
    assert emails(api.get(LIST, {"is_primary": "true"})) == ["ann@acme.com"]
    assert emails(api.get(LIST, {"is_primary": "false"})) == ["bea@acme.com", "zed@other.com"]
    assert emails(api.get(LIST, {"updated_after": "2021-01-01T00:00:00Z"})) == [
        "ann@acme.com",
        "bea@acme.com",
    ]
    assert emails(api.get(LIST, {"ordering": "-email"})) == ["zed@other.com", "bea@acme.com", "ann@acme.com"]


@pytest.mark.parametrize(
    "params",
    [
        {"customer": "abc"},
        {"customer": "0"},
        {"customer": str(10**30)},
        {"email": "nope"},
        {"role": "ceo"},
        {"is_primary": "maybe"},
        {"updated_after": "soon"},
        {"ordering": "phone"},
    ],
)
def test_bad_filter_values_are_400(api_client_for, contact, params):
    response = api_client_for("read_only").get(LIST, params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


@pytest.mark.parametrize("n", [5, 60])
def test_list_query_count_is_flat(api_client_for, customer, django_assert_max_num_queries, n):
    Contact.objects.bulk_create(Contact(customer=customer, email=f"p{i}@acme.com") for i in range(n))
    api = api_client_for("read_only")
    api.get(LIST)
    with django_assert_max_num_queries(4):
        response = api.get(LIST, {"page_size": 100, "customer": customer.pk})
    assert len(response.json()["results"]) == n
