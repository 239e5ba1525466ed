"""Two clients send the same survey invitations at once (same trigger key, the contacts in opposite order): real
concurrent requests against the live server on PostgreSQL. Neither gets a 500 (they used to deadlock on the
invitations' unique index); each contact is invited once."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from django.db import connection

from surveys.models import Invitation
from surveys.services import survey_create

TRIES = 10
CONTACTS = 12

pytestmark = pytest.mark.django_db(transaction=True)  # the live server's threads must see the committed rows


def post(url: str, raw_key: str, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 (the test's own live server)
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_concurrent_sends_in_opposite_order_never_fail(live_server, api_client_for, contact_factory):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and deadlocks between concurrent requests need PostgreSQL (SQLite locks the file)")
    raw_key = api_client_for("admin").raw_key
    survey = survey_create(name="Wave NPS", kind="nps")
    contacts = [contact_factory().pk for _ in range(CONTACTS)]
    url = f"{live_server.url}/api/v1/surveys/{survey.pk}/invitations/"
    statuses = []
    for attempt in range(TRIES):
        key = f"wave-{attempt}"
        start = threading.Barrier(2)
        results = [None, None]

        def send(slot, order, key=key, start=start, results=results):
            start.wait()
            results[slot] = post(url, raw_key, {"contacts": order, "trigger_key": key})

        threads = [
            threading.Thread(target=send, args=(0, contacts)),
            threading.Thread(target=send, args=(1, contacts[::-1])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses += [code for code, _ in results]
        if not all(code in (200, 201) for code, _ in results):
            continue  # counted below
        # Both answers list every contact's one invitation, each in its request's order.
        first, second = (json.loads(body)["invitations"] for _, body in results)
        assert [i["contact"] for i in first] == contacts and [i["contact"] for i in second] == contacts[::-1]
        assert sorted(i["id"] for i in first) == sorted(i["id"] for i in second)
        assert Invitation.objects.filter(survey=survey, trigger_key=f"api:{key}").count() == CONTACTS
    failed = [code for code in statuses if code not in (200, 201)]
    assert failed == [], f"{len(failed)} of {len(statuses)} requests failed: {failed}"


class FakeDeadlock(Exception):
    sqlstate = "40P01"  # what psycopg.errors.DeadlockDetected carries


def test_a_deadlock_is_retried_once(api_client_for, contact_factory, monkeypatch):
    """If PostgreSQL still picks this request as a deadlock victim (another writer locking in another order), the
    request retries once instead of answering 500; a second deadlock is not hidden."""
    from django.db import OperationalError

    from surveys import campaigns

    survey = survey_create(name="Wave NPS", kind="nps")
    a, b = contact_factory(), contact_factory()
    real = campaigns.invitation_create
    deadlocks = [1]

    def invitation_create(**kwargs):
        if deadlocks:
            deadlocks.pop()
            raise OperationalError("deadlock detected") from FakeDeadlock()
        return real(**kwargs)

    monkeypatch.setattr(campaigns, "invitation_create", invitation_create)
    client = api_client_for("admin")
    url = f"/api/v1/surveys/{survey.pk}/invitations/"
    answer = client.post(url, {"contacts": [b.pk, a.pk], "trigger_key": "w1"}, format="json")
    assert answer.status_code == 201
    assert [i["contact"] for i in answer.json()["invitations"]] == [b.pk, a.pk]
    assert Invitation.objects.filter(survey=survey).count() == 2

    deadlocks[:] = [1, 1]
    with pytest.raises(OperationalError):
        campaigns.invitations_send(survey=survey, contact_ids=[a.pk], trigger_key="api:w2")
    assert Invitation.objects.filter(survey=survey).count() == 2
