"""POST /api/v1/usage-events/: batches of raw product usage, idempotent by the sender's id, per-event errors,
rollups computed from what was really inserted, a bounded number of statements whatever the batch size."""

import datetime as dt
import threading

import pytest
from django.db import connection

from success.models import UsageDaily, UsageDailyName, UsageEvent
from success.usage.services import usage_events_record

URL = "/api/v1/usage-events/"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
TODAY = NOW.date()
YESTERDAY = TODAY - dt.timedelta(days=1)


def at(day: dt.date, hour: int = 10) -> str:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC).isoformat()


def daily(customer) -> dict:
    return {
        row.day: (row.active_users, row.events, row.quantity) for row in UsageDaily.objects.filter(customer=customer)
    }


def by_name(customer) -> dict:
    return {(row.day, row.name): (row.events, row.quantity) for row in UsageDailyName.objects.filter(customer=customer)}


@pytest.fixture
def api(api_client_for):
    return api_client_for("admin")


@pytest.fixture
def acme(customer_factory, contact_factory):
    customer = customer_factory(external_id="acme")
    contact_factory(customer=customer, email="Ann@Acme.example")
    return customer


def test_batch_is_recorded_with_its_rollups(api, acme, customer_factory):
    other = customer_factory(external_id="globex")
    events = [
        {
            "id": "e1",
            "customer": acme.pk,
            "contact_email": "ann@acme.example",
            "name": "login",
            "occurred_at": at(YESTERDAY, 9),
        },
        {
            "id": "e2",
            "customer_external_id": "acme",
            "contact_email": "ANN@acme.example",
            "name": "export",
            "occurred_at": at(YESTERDAY, 11),
            "quantity": 5,
        },
        {
            "id": "e3",
            "customer": acme.pk,
            "contact_email": "bob@acme.example",
            "name": "login",
            "occurred_at": at(YESTERDAY, 23),
        },
        {"id": "e4", "customer": acme.pk, "name": "api_call", "occurred_at": at(TODAY, 0), "quantity": 40},
        {
            "id": 5,
            "customer_external_id": "globex",
            "contact_email": "cy@globex.example",
            "name": "login",
            "occurred_at": at(TODAY, 1),
        },
    ]
    response = api.post(URL, {"events": events}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"accepted": 5, "duplicates": 0, "errors": []}
    # Yesterday: ann twice (any case) and bob = 2 active users, 3 events, quantity 1 + 5 + 1.
    assert daily(acme) == {YESTERDAY: (2, 3, 7), TODAY: (0, 1, 40)}
    assert by_name(acme) == {
        (YESTERDAY, "login"): (2, 2),
        (YESTERDAY, "export"): (1, 5),
        (TODAY, "api_call"): (1, 40),
    }
    assert daily(other) == {TODAY: (1, 1, 1)}
    ann = UsageEvent.objects.get(external_id="e2")
    assert ann.customer == acme and ann.contact.email == "Ann@Acme.example" and ann.contact_email == "ann@acme.example"
    assert UsageEvent.objects.get(external_id="e3").contact is None  # no such contact: the email is kept
    assert UsageEvent.objects.get(external_id="5").customer == other


def test_retried_batch_records_nothing_twice(api, acme):
    events = [
        {
            "id": f"r{i}",
            "customer": acme.pk,
            "contact_email": f"u{i % 2}@acme.example",
            "name": "login",
            "occurred_at": at(YESTERDAY, i),
        }
        for i in range(4)
    ]
    assert api.post(URL, {"events": events}, format="json").json() == {"accepted": 4, "duplicates": 0, "errors": []}
    assert daily(acme) == {YESTERDAY: (2, 4, 4)}
    # The retry, with one new event and one new user the same day.
    events.append(
        {
            "id": "r9",
            "customer": acme.pk,
            "contact_email": "new@acme.example",
            "name": "login",
            "occurred_at": at(YESTERDAY, 20),
        }
    )
    assert api.post(URL, {"events": events}, format="json").json() == {"accepted": 1, "duplicates": 4, "errors": []}
    assert UsageEvent.objects.count() == 5
    assert daily(acme) == {YESTERDAY: (3, 5, 5)}
    assert by_name(acme) == {(YESTERDAY, "login"): (5, 5)}


def test_bad_events_are_reported_and_good_ones_kept(api, acme):
    old = TODAY - dt.timedelta(days=91)
    events = [
        {"id": "ok1", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)},
        {"id": "u1", "customer": 999999, "name": "login", "occurred_at": at(YESTERDAY)},
        {"id": "u2", "customer_external_id": "nobody", "name": "login", "occurred_at": at(YESTERDAY)},
        {"id": "f1", "customer": acme.pk, "name": "login", "occurred_at": (NOW + dt.timedelta(hours=25)).isoformat()},
        {"id": "o1", "customer": acme.pk, "name": "login", "occurred_at": at(old)},
        {"id": "n1", "customer": acme.pk, "name": "  ", "occurred_at": at(YESTERDAY)},
        {"id": "q1", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY), "quantity": -1},
        {"id": "q2", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY), "quantity": "many"},
        {"id": "ok1", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)},
        {"id": "t1", "customer": acme.pk, "name": "login", "occurred_at": "yesterday"},
        {"customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)},
        "not an object",
        {"id": "x1", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY), "quantiy": 3},
        {"id": "ok2", "customer": acme.pk, "name": "login", "occurred_at": (NOW + dt.timedelta(hours=23)).isoformat()},
    ]
    response = api.post(URL, {"events": events}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    errors = {error["index"]: (error["id"], sorted(error["errors"])) for error in body["errors"]}
    assert errors == {
        1: ("u1", ["customer"]),
        2: ("u2", ["customer_external_id"]),
        3: ("f1", ["occurred_at"]),
        4: ("o1", ["occurred_at"]),
        5: ("n1", ["name"]),
        6: ("q1", ["quantity"]),
        7: ("q2", ["quantity"]),
        8: ("ok1", ["id"]),
        9: ("t1", ["occurred_at"]),
        10: (None, ["id"]),
        11: (None, ["non_field_errors"]),
        12: ("x1", ["quantiy"]),
    }
    assert "future" in body["errors"][2]["errors"]["occurred_at"][0]
    assert "retention" in body["errors"][3]["errors"]["occurred_at"][0]
    assert "Duplicate of event 0" in body["errors"][7]["errors"]["id"][0]

    nul = [
        {"id": "z1", "customer": acme.pk, "name": "log\x00in", "occurred_at": at(YESTERDAY)},
        {"id": "z2", "customer_external_id": "ac\x00me", "name": "login", "occurred_at": at(YESTERDAY)},
        {"id": "z3", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)},
    ]
    body = api.post(URL, {"events": nul}, format="json").json()
    assert body["accepted"] == 1 and [error["index"] for error in body["errors"]] == [0, 1]
    assert set(UsageEvent.objects.values_list("external_id", flat=True)) == {"ok1", "ok2", "z3"}


def test_batch_over_1000_events_is_refused_whole(api, acme):
    events = [{"id": f"b{i}", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)} for i in range(1001)]
    response = api.post(URL, {"events": events}, format="json")
    assert response.status_code == 400
    assert "events" in response.json() and "1001" in response.json()["events"][0]
    assert not UsageEvent.objects.exists()
    for body in ({}, {"events": []}, {"events": {}}, [], {"events": [], "extra": 1}):
        assert api.post(URL, body, format="json").status_code == 400


@pytest.mark.parametrize("role, allowed", [("csm", True), ("support_agent", False), ("read_only", False)])
def test_roles(api_client_for, acme, role, allowed):
    event = {"id": f"role-{role}", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)}
    response = api_client_for(role).post(URL, {"events": [event]}, format="json")
    assert response.status_code == (200 if allowed else 403)
    assert UsageEvent.objects.exists() is allowed


def _batch(customers, contacts, n, prefix):
    return [
        {
            "id": f"{prefix}-{i}",
            "customer": customers[i % len(customers)].pk,
            "contact_email": contacts[i % len(contacts)],
            "name": ("login", "export", "api_call")[i % 3],
            "occurred_at": at(TODAY - dt.timedelta(days=i % 5), i % 24),
            "quantity": i % 7,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [10, 1000])
def test_statements_per_batch_are_bounded(api, customer_factory, django_assert_max_num_queries, n):
    customers = [customer_factory() for _ in range(20)]
    contacts = [f"user{i}@example.com" for i in range(50)]
    api.post(URL, {"events": _batch(customers, contacts, 1, "warm")}, format="json")
    # API key + role permissions (3), savepoint pair (2), customers, contacts, events, active users, daily,
    # daily by name (6): the same at 10 and 1,000 events.
    with django_assert_max_num_queries(11):
        response = api.post(URL, {"events": _batch(customers, contacts, n, "q")}, format="json")
    assert response.json()["accepted"] == n
    assert sum(UsageDaily.objects.values_list("events", flat=True)) == n + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="concurrent writers need PostgreSQL")
def test_concurrent_identical_and_overlapping_batches(customer_factory):
    from django.db import connections

    customer = customer_factory()
    batch = [
        {
            "id": f"c{i}",
            "customer": customer.pk,
            "contact_email": f"u{i % 10}@x.example",
            "name": "login",
            "occurred_at": at(YESTERDAY, i % 24),
        }
        for i in range(300)
    ]
    other = [dict(event, id=f"d{i}", contact_email=f"v{i % 10}@x.example") for i, event in enumerate(batch)]
    results, barrier = [], threading.Barrier(3)

    def post(events):
        try:
            barrier.wait()
            results.append(usage_events_record(events=events))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(events,)) for events in (batch, batch, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted((r.accepted, r.duplicates) for r in results) == [(0, 300), (300, 0), (300, 0)]
    # Two batches of 300 new events; 10 users in each: the increments of concurrent upserts all landed.
    assert daily(customer) == {YESTERDAY: (20, 600, 600)}
    assert by_name(customer) == {(YESTERDAY, "login"): (600, 600)}


def test_schema_documents_the_endpoint():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"][URL]["post"]
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert "accepted" in str(operation["responses"]["200"])
    assert connection.vendor in ("postgresql", "sqlite")


def test_recorded_usage_is_signalled_after_commit_once(api, acme, django_capture_on_commit_callbacks):
    from success.usage.signals import usage_recorded

    received = []

    def receiver(sender, customer_ids, **kwargs):
        received.append(customer_ids)

    usage_recorded.connect(receiver)
    try:
        events = [{"id": "s1", "customer": acme.pk, "name": "login", "occurred_at": at(YESTERDAY)}]
        with django_capture_on_commit_callbacks(execute=True):
            api.post(URL, {"events": events}, format="json")
        with django_capture_on_commit_callbacks(execute=True):
            api.post(URL, {"events": events}, format="json")  # a retry: nothing new, nothing to recompute
    finally:
        usage_recorded.disconnect(receiver)
    assert received == [[acme.pk]]
