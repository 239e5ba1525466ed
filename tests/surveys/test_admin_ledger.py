"""The contact ledger in the admin (crm.admin.LedgerEntryAdmin): read-only, filters by outcome and kind,
search by a contact's email, flat queries. Rows are written by the real survey dispatch through the ledger."""

import pytest
from django.urls import reverse

from crm.ledger import contact_unsubscribe, ledger_record
from crm.models import LedgerEntry
from crm.services import contact_create, customer_create
from surveys.services import invitation_create, invitation_dispatch, survey_create

pytestmark = pytest.mark.django_db

LEDGER = reverse("admin:crm_ledgerentry_changelist")
_seq = iter(range(1, 100_000))


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm")
    client.force_login(user)
    return user


def new_contact(email=None):
    n = next(_seq)
    customer = customer_create(name=f"Customer {n}")
    return contact_create(customer=customer, email=email or f"person{n}@example.com")


def dispatch(survey, contact, key):
    invitation, _ = invitation_create(survey=survey, contact=contact, trigger="api", trigger_key=key)
    return invitation_dispatch(invitation_id=invitation.pk)


def listed(client, **params):
    response = client.get(LEDGER, params)
    assert response.status_code == 200
    return [(e.contact.email, e.kind, e.outcome, e.reason) for e in response.context["cl"].result_list]


def test_ledger_lists_sent_and_suppressed_with_reasons(client, csm):
    nps = survey_create(name="NPS", kind="nps")
    csat = survey_create(name="CSAT", kind="csat")
    alice = new_contact("alice@acme.example")
    bob = new_contact("bob@globex.example")
    contact_unsubscribe(contact=bob)
    dispatch(nps, alice, "api:1")
    dispatch(csat, alice, "api:2")  # the same contact again within 30 days
    dispatch(nps, bob, "api:3")
    ledger_record(contact=bob, kind="outreach", outcome="suppressed", reason="unsubscribed")

    assert listed(client) == [
        ("bob@globex.example", "outreach", "suppressed", "unsubscribed"),
        ("bob@globex.example", "survey", "suppressed", "unsubscribed"),
        ("alice@acme.example", "survey", "suppressed", "surveyed today"),
        ("alice@acme.example", "survey", "sent", ""),
    ]
    assert listed(client, outcome="sent") == [("alice@acme.example", "survey", "sent", "")]
    assert [row[1] for row in listed(client, kind="outreach")] == ["outreach"]
    assert len(listed(client, q="ALICE@acme.example")) == 2
    assert len(listed(client, q="globex")) == 2
    assert listed(client, contact=alice.pk, outcome="suppressed") == [
        ("alice@acme.example", "survey", "suppressed", "surveyed today")
    ]
    page = client.get(LEDGER, {"outcome": "suppressed"}).content.decode()
    assert "surveyed today" in page and "unsubscribed" in page


def test_ledger_is_read_only(client, csm):
    contact = new_contact()
    entry = ledger_record(contact=contact, kind="survey", outcome="sent")
    change = reverse("admin:crm_ledgerentry_change", args=[entry.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"reason": "edited"}).status_code == 403
    assert client.get(reverse("admin:crm_ledgerentry_add")).status_code == 403
    assert (
        client.post(reverse("admin:crm_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}).status_code
        == 403
    )
    entry.refresh_from_db()
    assert entry.reason == ""


def test_ledger_changelist_query_count_is_flat(client, csm, django_assert_max_num_queries):
    counts = []
    for size in (3, 30):
        while LedgerEntry.objects.count() < size:
            ledger_record(contact=new_contact(), kind="survey", subkind="nps", outcome="sent")
        for params in ({}, {"outcome": "sent", "kind": "survey"}, {"q": "example.com"}):
            with django_assert_max_num_queries(10) as captured:
                rows = listed(client, **params)
            assert len(rows) == size
            counts.append(len(captured.captured_queries))
    assert counts[:3] == counts[3:]
