"""Admin for what the system writes (timeline, notes, outbound email, heartbeat) and the contact admin."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, Heartbeat, OutboundEmail, TimelineEvent
from crm.services import contact_create, customer_create, note_create
from crm.timeline import timeline_record
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

TIMELINE = reverse("admin:crm_timelineevent_changelist")
EMAILS = reverse("admin:crm_outboundemail_changelist")


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", full_name="Casey Csm")
    client.force_login(user)
    return user


def _events(customer, count, start):
    for i in range(count):
        timeline_record(
            customer=customer, kind="test.event", summary=f"{customer.name} event {i:02d}",
            occurred_at=start + datetime.timedelta(minutes=i),
        )


# --- timeline --------------------------------------------------------------------------------


def test_full_timeline_of_one_customer_latest_first_and_read_only(client, csm):
    acme = customer_create(name="Acme", external_id="a")
    other = customer_create(name="Globex", external_id="g")
    start = timezone.now() - datetime.timedelta(days=1)
    _events(acme, 3, start)
    _events(other, 2, start)
    # recorded later but happened earlier: "latest first" is by when it happened
    timeline_record(
        customer=acme, kind="test.backfill", summary="Acme backfilled",
        occurred_at=start - datetime.timedelta(days=1),
    )

    response = client.get(TIMELINE, {"customer": acme.pk})
    assert response.status_code == 200
    summaries = [e.summary for e in response.context["cl"].result_list]
    assert summaries == [
        "Customer Acme created", "Acme event 02", "Acme event 01", "Acme event 00", "Acme backfilled"
    ]
    content = response.content.decode()
    assert "Globex event" not in content
    assert "Acme" in content  # the filter names the customer

    event = TimelineEvent.objects.filter(customer=acme).first()
    assert client.get(reverse("admin:crm_timelineevent_change", args=[event.pk])).status_code == 200
    change = reverse("admin:crm_timelineevent_change", args=[event.pk])
    assert client.post(change, {"summary": "x"}).status_code == 403
    assert client.get(reverse("admin:crm_timelineevent_add")).status_code == 403
    delete = reverse("admin:crm_timelineevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert TimelineEvent.objects.filter(pk=event.pk, summary=event.summary).exists()


def test_unknown_customer_filter_shows_nothing(client, csm):
    acme = customer_create(name="Acme", external_id="a")
    assert client.get(TIMELINE, {"customer": acme.pk + 1000}).context["cl"].result_list.count() == 0


def test_timeline_changelist_query_count_is_flat(client, csm, django_assert_max_num_queries):
    acme = customer_create(name="Acme", external_id="a", owner=csm)
    counts = []
    for size in (5, 60):
        _events(acme, size - TimelineEvent.objects.filter(customer=acme).count(), timezone.now())
        for params in ({}, {"customer": acme.pk}):
            with django_assert_max_num_queries(8) as captured:
                response = client.get(TIMELINE, params)
            assert len(response.context["cl"].result_list) == size
            counts.append(len(captured.captured_queries))
    assert counts[:2] == counts[2:]


# --- notes -----------------------------------------------------------------------------------------


def test_note_admin_is_a_read_only_list(client, csm):
    acme = customer_create(name="Acme", external_id="a")
    note = note_create(customer=acme, body="Renewal looks safe", actor=csm)
    response = client.get(reverse("admin:crm_note_changelist"), {"customer": acme.pk})
    assert response.status_code == 200
    assert "Renewal looks safe" in response.content.decode()
    assert client.get(reverse("admin:crm_note_add")).status_code == 403
    change = reverse("admin:crm_note_change", args=[note.pk])
    assert client.post(change, {"body": "changed"}).status_code == 403


# --- contacts admin ----------------------------------------------------------------------------------


def test_contact_admin_writes_through_the_services_and_keeps_history(client, csm):
    acme = customer_create(name="Acme", external_id="a")
    response = client.post(
        reverse("admin:crm_contact_add"),
        {"customer": acme.pk, "email": " Jane@ACME.io", "role": "champion", "first_name": "Jane"},
    )
    assert response.status_code == 302
    jane = Contact.objects.get(email="jane@acme.io")
    assert TimelineEvent.objects.filter(customer=acme, kind="contact.added", actor=csm).exists()

    response = client.post(
        reverse("admin:crm_contact_change", args=[jane.pk]),
        {"email": "jane@acme.io", "role": "decision_maker", "first_name": "Jane"},
    )
    assert response.status_code == 302
    jane.refresh_from_db()
    assert jane.role == "decision_maker"
    history = client.get(reverse("admin:crm_contact_history", args=[jane.pk])).content.decode()
    assert "Champion" in history or "champion" in history
    assert "Casey Csm" in history

    response = client.post(reverse("admin:crm_contact_delete", args=[jane.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=jane.pk).exists()
    assert TimelineEvent.objects.filter(customer=acme, kind="contact.removed", actor=csm).exists()


def test_contact_changelist_query_count_is_flat(client, csm, django_assert_max_num_queries):
    client.get(reverse("admin:crm_contact_changelist"))  # per-process caches (content types) warm, as in production
    counts = []
    for size in (5, 60):
        while Contact.objects.count() < size:
            contact_create(customer=CustomerFactory(), email=f"p{Contact.objects.count()}@x.io")
        # 7, and on PostgreSQL one more when the table has planner statistics (the row estimate before the count)
        with django_assert_max_num_queries(8) as captured:
            response = client.get(reverse("admin:crm_contact_changelist"))
        assert len(response.context["cl"].result_list) == size
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


# --- outbound email ------------------------------------------------------------------------------------


def _email(status, n, customer=None, kind="survey_invite"):
    return OutboundEmail.objects.create(
        idempotency_key=f"test:{n}",
        kind=kind,
        customer=customer,
        from_email="success@example.com",
        to_email=f"person{n}@example.com",
        subject=f"Subject {n}",
        text_body="Hello",
        message_id=f"<{n}@crm.localhost>",
        status=status,
        attempts=5 if status == "failed" else 1,
        next_attempt_at=timezone.now(),
    )


def test_outbound_email_list_filters_and_is_read_only(client, csm):
    failed = _email("failed", 1)
    _email("sent", 2, kind="ticket_reply")
    response = client.get(EMAILS)
    content = response.content.decode()
    for column in ("To email", "Subject", "Kind", "Status", "Attempts", "Created at", "Sent at"):
        assert column in content
    failed_only = client.get(EMAILS, {"status__exact": "failed"}).context["cl"].result_list
    assert [e.pk for e in failed_only] == [failed.pk]
    assert [e.kind for e in client.get(EMAILS, {"kind": "ticket_reply"}).context["cl"].result_list] == [
        "ticket_reply"
    ]
    change = reverse("admin:crm_outboundemail_change", args=[failed.pk])
    assert client.get(change).status_code == 200
    assert client.post(change, {"subject": "x"}).status_code == 403
    assert client.get(reverse("admin:crm_outboundemail_add")).status_code == 403


def test_resend_action_requeues_failed_and_unknown_only(client, csm, django_capture_on_commit_callbacks):
    acme = customer_create(name="Acme", external_id="a")
    failed, unknown, sent = _email("failed", 1, acme), _email("unknown", 2, acme), _email("sent", 3, acme)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            EMAILS,
            {"action": "resend", "_selected_action": [failed.pk, unknown.pk, sent.pk]},
            follow=True,
        )
    assert response.status_code == 200
    for email in (failed, unknown, sent):
        email.refresh_from_db()
    assert (failed.status, failed.attempts) == ("queued", 0)
    assert unknown.status == "queued"
    assert sent.status == "sent"
    assert len(callbacks) == 2  # one send task queued per resent email
    messages = [str(m) for m in response.context["messages"]]
    assert any("Queued 2" in m for m in messages) and any("Skipped 1" in m for m in messages)


def test_read_only_user_has_no_resend_action(client, make_staff):
    client.force_login(make_staff("read_only"))
    failed = _email("failed", 1)
    response = client.get(EMAILS)
    assert response.status_code == 200
    assert response.context["action_form"] is None  # no action they may run
    assert "Resend failed" not in response.content.decode()
    client.post(EMAILS, {"action": "resend", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.status == "failed"


# --- heartbeat and site header ---------------------------------------------------------------------


def test_heartbeat_admin_shows_how_long_ago(client, csm):
    Heartbeat.objects.create(
        name="celery", last_beat_at=timezone.now() - datetime.timedelta(seconds=42), beats=7,
        worker_hostname="celery@worker1",
    )
    content = client.get(reverse("admin:crm_heartbeat_changelist")).content.decode()
    assert "celery@worker1" in content
    assert "42 seconds ago" in content or "43 seconds ago" in content
    assert client.get(reverse("admin:crm_heartbeat_add")).status_code == 403


def test_admin_site_is_titled(client, csm):
    content = client.get(reverse("admin:index")).content.decode()
    assert "Customer Success CRM" in content
