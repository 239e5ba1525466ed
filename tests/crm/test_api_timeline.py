"""REST API v1: /api/v1/customers/{id}/timeline/ and /api/v1/customers/{id}/notes/."""

import datetime

import pytest
from django.utils import timezone

from crm.models import Note, TimelineEvent
from crm.services import customer_create, customer_update, note_create
from crm.timeline import timeline_record

pytestmark = pytest.mark.django_db


def timeline(pk) -> str:
    return f"/api/v1/customers/{pk}/timeline/"


def notes(pk) -> str:
    return f"/api/v1/customers/{pk}/notes/"


@pytest.fixture
def csm(make_staff):
    return make_staff("csm", email="csm@example.com")


@pytest.fixture
def customer(csm):
    return customer_create(name="Acme", actor=csm)


def test_timeline_latest_first_with_actor_and_source(api_client_for, customer, csm):
    note = note_create(customer=customer, body="Kick-off call went well\nmore", actor=csm)
    customer_update(customer=customer, lifecycle_stage="adopting")  # by the system: no actor
    response = api_client_for("read_only").get(timeline(customer.pk))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["kind"] for r in rows] == ["customer.stage_changed", "note.added", "customer.created"]
    stage, added, created = rows
    assert stage["actor"] is None and stage["payload"] == {"from": "onboarding", "to": "adopting"}
    assert added["actor"] == "csm@example.com"
    assert added["source_type"] == "crm.note" and added["source_id"] == str(note.pk)
    assert added["summary"] == "Kick-off call went well"
    assert created["source_type"] == "crm.customer" and created["source_id"] == str(customer.pk)
    assert set(stage) == {
        "id",
        "customer",
        "kind",
        "occurred_at",
        "actor",
        "summary",
        "source_type",
        "source_id",
        "payload",
    }


def test_api_writes_appear_on_the_timeline(api_client_for, customer):
    api = api_client_for("csm")
    api.patch(f"/api/v1/customers/{customer.pk}/", {"lifecycle_stage": "mature", "arr": "10"}, format="json")
    api.post("/api/v1/contacts/", {"customer": customer.pk, "email": "a@acme.com"}, format="json")
    api.post(notes(customer.pk), {"body": "Renewal risk"}, format="json")
    rows = api.get(timeline(customer.pk)).json()["results"]
    assert [r["kind"] for r in rows][:4] == [
        "note.added",
        "contact.added",
        "customer.updated",
        "customer.stage_changed",
    ]
    assert {r["actor"] for r in rows[:4]} == {api.api_key.user.email}


def test_timeline_pages_latest_first_across_equal_times(api_client_for, customer):
    when = timezone.now() - datetime.timedelta(days=1)
    for i in range(7):
        timeline_record(customer=customer, kind="usage.signal", summary=f"s{i}", occurred_at=when)
    timeline_record(
        customer=customer, kind="old", summary="old", occurred_at=when - datetime.timedelta(days=9)
    )
    api = api_client_for("read_only")
    seen, url = [], timeline(customer.pk) + "?page_size=3"
    while url:
        body = api.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    expected = list(
        TimelineEvent.objects.filter(customer=customer)
        .order_by("-occurred_at", "-id")
        .values_list("id", flat=True)
    )
    assert seen == expected and len(seen) == 9


def test_timeline_filters(api_client_for, customer, csm):
    note_create(customer=customer, body="x", actor=csm)
    api = api_client_for("read_only")
    kinds = [r["kind"] for r in api.get(timeline(customer.pk), {"kind": "note.added"}).json()["results"]]
    assert kinds == ["note.added"]
    future = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    assert api.get(timeline(customer.pk), {"occurred_after": future}).json()["results"] == []
    assert api.get(timeline(customer.pk), {"occurred_after": "later"}).status_code == 400


def test_timeline_404_and_401(client, api_client_for, customer):
    assert client.get(timeline(customer.pk)).status_code == 401
    api = api_client_for("read_only")
    assert api.get(timeline(customer.pk + 100)).status_code == 404
    assert api.get(timeline(customer.pk + 100)).json() == {"detail": "No Customer matches the given query."}


def test_timeline_is_read_only(api_client_for, customer):
    assert api_client_for("admin").post(timeline(customer.pk), {}, format="json").status_code == 405


def test_notes_list_and_create(api_client_for, customer, csm):
    note_create(customer=customer, body="first", actor=csm)
    api = api_client_for("support_agent")
    response = api.post(notes(customer.pk), {"body": "  Called about SSO  "}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["body"] == "Called about SSO"
    assert body["author"] == api.api_key.user.email
    assert body["customer"] == customer.pk
    note = Note.objects.get(pk=body["id"])
    assert TimelineEvent.objects.filter(kind="note.added", source_id=str(note.pk)).exists()
    listed = api.get(notes(customer.pk)).json()["results"]
    assert [n["body"] for n in listed] == ["Called about SSO", "first"]
    assert listed[1]["author"] == "csm@example.com"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({}, "body"),
        ({"body": "x", "author": "a@b.c"}, "author"),
    ],
)
def test_bad_note_is_400_and_changes_nothing(api_client_for, customer, payload, field):
    before = (Note.objects.count(), TimelineEvent.objects.count())
    response = api_client_for("csm").post(notes(customer.pk), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert (Note.objects.count(), TimelineEvent.objects.count()) == before


def test_notes_permissions_and_404(api_client_for, customer):
    assert (
        api_client_for("read_only").post(notes(customer.pk), {"body": "x"}, format="json").status_code == 403
    )
    assert api_client_for("read_only").get(notes(customer.pk)).status_code == 200
    assert (
        api_client_for("csm").post(notes(customer.pk + 100), {"body": "x"}, format="json").status_code == 404
    )
    assert not Note.objects.exists()


@pytest.mark.parametrize("n", [5, 60])
def test_timeline_query_count_is_flat(api_client_for, customer, csm, django_assert_max_num_queries, n):
    for i in range(n):
        note_create(customer=customer, body=f"note {i}", actor=csm)
    api = api_client_for("read_only")
    api.get(timeline(customer.pk))
    with django_assert_max_num_queries(5):  # key + permissions (3), the customer (1), the page (1)
        response = api.get(timeline(customer.pk), {"page_size": 200})
    assert len(response.json()["results"]) == n + 1
    with django_assert_max_num_queries(5):
        response = api.get(notes(customer.pk), {"page_size": 200})
    assert len(response.json()["results"]) == n
