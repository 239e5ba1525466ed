"""Outreach execution: a scan claims once per period (one record, one email through the real SMTP server, one task),
schedules fire once per LOCAL day across DST changes in two zones, quiet hours defer, the ledger skips with the
reason, a perform task delivered twice has one effect, events claim once per event."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm.email_templates import email_template_save
from crm.ledger import LedgerBatch, contact_unsubscribe, ledger_check
from crm.models import Contact, Customer, LedgerEntry, OutboundEmail, Task, TimelineEvent
from crm.outbound_batch import email_send_batch
from success.outreach.definitions import outreach_rule_save
from success.outreach.execution import outreach_tick, rule_event_scan, rule_scan
from success.outreach.models import OutreachRecord, OutreachRule
from success.outreach.perform import records_perform

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def template():
    return email_template_save(
        name="Check-in",
        subject="How is it going, {contact.first_name}?",
        text_body="Hello {contact.first_name}, {customer.name} is in good hands. {company}",
        html_body="<p>Hello {contact.first_name}</p>",
    )


def make_rule(template, *, crontab="0 9 * * *", enabled_at=None, **fields):
    rule = outreach_rule_save(
        name=fields.pop("name", "Check-in play"),
        enabled=True,
        trigger="schedule",
        schedule=crontab,
        actions=fields.pop(
            "actions",
            [
                {"action": "email", "template": template.pk, "role": "all"},
                {"action": "task", "title": "Call them about onboarding", "type": "lifecycle"},
            ],
        ),
        quiet_hours=fields.pop("quiet_hours", False),
        cooldown_days=fields.pop("cooldown_days", 0),
        **fields,
    )
    OutreachRule.objects.filter(pk=rule.pk).update(enabled_at=enabled_at or utc(2026, 1, 1))
    rule.refresh_from_db()
    return rule


def scan(rule, at, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        rule_scan(rule_id=rule.pk, at=at)
        records_perform(now=at)


def test_scan_twice_in_the_same_period_sends_one_email_and_one_task(
    template,
    customer_factory,
    contact_factory,
    user_factory,
    smtp_settings,
    smtp_server,
    django_capture_on_commit_callbacks,
):
    csm = user_factory(email="cleo@acme.test")
    customer = customer_factory(name="Globex", timezone="UTC", owner=csm)
    contact_factory(customer=customer, email="ann@globex.test", first_name="Ann", role="champion")
    rule = make_rule(template)

    scan(rule, utc(2026, 3, 10, 9, 2), django_capture_on_commit_callbacks)
    OutreachRule.objects.filter(pk=rule.pk).update(last_scan_at=None)  # a second beat that saw no scan yet
    scan(rule, utc(2026, 3, 10, 9, 4), django_capture_on_commit_callbacks)
    email_send_batch(email_ids=list(OutboundEmail.objects.values_list("pk", flat=True)))
    email_send_batch(email_ids=list(OutboundEmail.objects.values_list("pk", flat=True)))

    records = OutreachRecord.objects.filter(rule=rule).order_by("action_index")
    assert [(r.action_type, r.result, r.period_key) for r in records] == [
        ("email", "sent", "2026-03-10"),
        ("task", "sent", "2026-03-10"),
    ]
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ann@globex.test"]
    assert received.message["Subject"] == "How is it going, Ann?"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.message["Message-ID"] == records[0].outbound_email.message_id
    assert "Acme" in received.text or "Unsubscribe" in received.text
    assert received.html and "Unsubscribe" in received.html
    [task] = Task.objects.filter(customer=customer)
    assert (task.reason, task.owner, records[1].task) == ("Call them about onboarding", csm, task)
    assert LedgerEntry.objects.filter(kind="outreach", outcome="sent").count() == 1
    assert TimelineEvent.objects.filter(customer=customer, kind="outreach.sent").count() == 2


def test_a_perform_task_delivered_twice_has_one_effect(
    template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    customer = customer_factory(timezone="UTC")
    contact_factory(customer=customer, email="a@x.test")
    rule = make_rule(template)
    with django_capture_on_commit_callbacks(execute=False):
        rule_scan(rule_id=rule.pk, at=utc(2026, 3, 10, 9, 1))
        assert records_perform(now=utc(2026, 3, 10, 9, 2)) == 2
        assert records_perform(now=utc(2026, 3, 10, 9, 2)) == 0
    assert OutboundEmail.objects.count() == 1
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    "tz_name, spring, autumn",
    [
        ("Europe/Berlin", dt.date(2026, 3, 29), dt.date(2026, 10, 25)),
        ("America/New_York", dt.date(2026, 3, 8), dt.date(2026, 11, 1)),
    ],
)
def test_a_daily_09_00_rule_fires_once_per_local_day_across_dst(
    tz_name, spring, autumn, template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    tz = ZoneInfo(tz_name)
    customer = customer_factory(timezone=tz_name)
    rule = make_rule(template, actions=[{"action": "task", "title": "Daily", "type": "activity"}])
    for change in (spring, autumn):
        OutreachRecord.objects.all().delete()
        Task.objects.all().delete()
        start = dt.datetime.combine(change - dt.timedelta(days=2), dt.time(0), tzinfo=tz).astimezone(UTC)
        OutreachRule.objects.filter(pk=rule.pk).update(last_scan_at=start)
        at = start
        with django_capture_on_commit_callbacks(execute=False):
            while at < start + dt.timedelta(days=5):
                at += dt.timedelta(minutes=20)
                rule_scan(rule_id=rule.pk, at=at)
        fired = list(OutreachRecord.objects.filter(customer=customer).order_by("created_at"))
        days = [(change + dt.timedelta(days=d)).isoformat() for d in range(-2, 3)]
        assert [r.period_key for r in fired] == days
        # Each claim happened in the 20 minutes after 09:00 local time on its day.
        for record in fired:
            local = record.created_at.astimezone(tz)
            assert local.date().isoformat() == record.period_key
            assert dt.time(9, 0) <= local.time() <= dt.time(9, 20)


def test_quiet_hours_defer_to_the_local_business_morning(
    template, customer_factory, django_capture_on_commit_callbacks
):
    customer = customer_factory(timezone="America/New_York")
    rule = make_rule(
        template, crontab="0 6 * * *", quiet_hours=True, actions=[{"action": "task", "title": "Early", "type": "risk"}]
    )
    six = dt.datetime(2026, 3, 10, 6, 5, tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)
    with django_capture_on_commit_callbacks(execute=False):
        rule_scan(rule_id=rule.pk, at=six)
        assert records_perform(now=six) == 0
        [record] = OutreachRecord.objects.filter(customer=customer)
        assert record.result == "pending"
        assert record.due_at == dt.datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("America/New_York"))
        assert outreach_tick(at=record.due_at)["due"] == 1
        assert records_perform(now=record.due_at) == 1
    record.refresh_from_db()
    assert record.result == "sent" and Task.objects.filter(customer=customer, type="risk").count() == 1


def test_cooldown_cap_and_ledger_reasons(
    template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    customers = [customer_factory(name=f"c{i}", timezone="UTC") for i in range(3)]
    contact_factory(customer=customers[0], email="ok@x.test")
    gone = contact_factory(customer=customers[0], email="gone@x.test")
    contact_unsubscribe(contact=gone)
    rule = make_rule(template, cap_per_run=2, cooldown_days=30, actions=[{"action": "email", "template": template.pk}])
    scan(rule, utc(2026, 3, 10, 9, 1), django_capture_on_commit_callbacks)
    rows = {
        (r.customer.name, r.contact and r.contact.email): (r.result, r.reason) for r in OutreachRecord.objects.all()
    }
    assert rows == {
        ("c0", "ok@x.test"): ("sent", ""),
        ("c0", "gone@x.test"): ("skipped", "unsubscribed"),
        ("c1", None): ("skipped", "no contact of the role"),
    }
    assert OutreachRule.objects.get(pk=rule.pk).last_scan_summary["cap"] == 1
    # The next day: c0 is in cooldown; c1 was not acted on (skipped), c2 is now within the cap.
    scan(rule, utc(2026, 3, 11, 9, 1), django_capture_on_commit_callbacks)
    assert set(OutreachRecord.objects.filter(period_key="2026-03-11").values_list("customer__name", flat=True)) == {
        "c1",
        "c2",
    }


def test_an_event_claims_once_per_event(template, customer_factory, django_capture_on_commit_callbacks):
    customer = customer_factory(timezone="UTC")
    rule = outreach_rule_save(
        name="Escalated",
        enabled=True,
        trigger="event",
        event="ticket_escalated",
        quiet_hours=False,
        actions=[{"action": "task", "title": "Escalation: call them", "type": "risk"}],
    )
    with django_capture_on_commit_callbacks(execute=False):
        for _ in range(2):
            rule_event_scan(rule_id=rule.pk, customer_id=customer.pk, period_key="event:ticket_escalated:7:1")
            records_perform()
    assert OutreachRecord.objects.filter(rule=rule).count() == 1
    assert Task.objects.filter(customer=customer, reason="Escalation: call them").count() == 1


def test_read_only_ledger_batch_matches_the_single_check(customer_factory, contact_factory, django_assert_num_queries):
    """The preview's ledger: the contacts it read, their history in one statement, nothing locked or recorded."""
    customer = customer_factory()
    contacts = [contact_factory(customer=customer, email=f"p{i}@x.test") for i in range(6)]
    contact_unsubscribe(contact=contacts[0])
    Contact.objects.filter(pk=contacts[1].pk).update(bounced_at=timezone.now())
    LedgerEntry.objects.create(contact=contacts[2], kind="outreach", outcome="sent", created_at=timezone.now())
    fresh = list(Contact.objects.filter(customer=customer))
    entries = LedgerEntry.objects.count()
    with django_assert_num_queries(1):
        ledger = LedgerBatch(contacts=fresh, kind="outreach")
        many = {c.pk: ledger.check(contact_id=c.pk) for c in fresh}
    assert many == {c.pk: ledger_check(contact=c, kind="outreach") for c in fresh}
    assert sorted(v for v in many.values() if v) == ["bounced", "contacted today", "unsubscribed"]
    with pytest.raises(RuntimeError):
        ledger.claim(contact_id=fresh[3].pk)
    assert LedgerEntry.objects.count() == entries and Customer.objects.count() == 1


@pytest.mark.parametrize("settings_min_days", [0, 30])
def test_performing_email_records_is_flat_in_statements(
    settings, settings_min_days, template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    """Performing 4 email records and 16 costs the same statements (records, templates, the ledger's lock, history
    and INSERT, the emails' INSERT, one UPDATE per outcome, the timeline); each record is linked to its own email
    and has one ledger entry, skipped contacts with the reason."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.LEDGER_OUTREACH_MIN_DAYS = settings_min_days

    def perform(tier, n, at):
        for i in range(n):
            customer = customer_factory(timezone="UTC", tier=tier)
            contact_factory(customer=customer, email=f"ok-{tier}-{i}@x.test")
            contact_unsubscribe(contact=contact_factory(customer=customer, email=f"gone-{tier}-{i}@x.test"))
        rule = make_rule(
            template,
            name=f"Check-in {tier}",
            conditions={"all": [{"field": "tier", "op": "in", "value": [tier]}]},
            actions=[{"action": "email", "template": template.pk, "role": "all"}],
        )
        with django_capture_on_commit_callbacks(execute=False):
            rule_scan(rule_id=rule.pk, at=at)
            with CaptureQueriesContext(connection) as queries:
                assert records_perform(now=at) == 2 * n
        return rule, len(queries)

    _, small = perform("smb", 2, utc(2026, 3, 10, 9, 1))
    rule, large = perform("enterprise", 8, utc(2026, 3, 10, 9, 1))
    assert large <= small <= 14  # the first call also reads a content type
    records = list(OutreachRecord.objects.filter(rule=rule).select_related("outbound_email", "contact"))
    sent = [r for r in records if r.result == "sent"]
    assert len(sent) == 8 and {r.reason for r in records if r.result == "skipped"} == {"unsubscribed"}
    assert all(r.outbound_email.idempotency_key == f"outreach:{r.pk}" for r in sent)
    assert all(r.outbound_email.to_email == r.contact.email for r in sent)
    entries = LedgerEntry.objects.filter(kind="outreach", source_id__in=[str(r.pk) for r in records])
    assert sorted(entries.values_list("outcome", "reason")) == [("sent", "")] * 8 + [("suppressed", "unsubscribed")] * 8


def test_the_rule_page_shows_last_run_and_results(
    admin_client, template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    customer = customer_factory(timezone="UTC")
    contact_factory(customer=customer, email="b@x.test", bounced_at=timezone.now())
    rule = make_rule(template)
    scan(rule, utc(2026, 3, 10, 9, 1), django_capture_on_commit_callbacks)
    listing = admin_client.get("/admin/success/outreachrule/").content.decode()
    assert "1 customers, 0 deferred, 0 over the cap" in listing
    page = admin_client.get(f"/admin/success/outreachrule/{rule.pk}/change/").content.decode()
    assert "<tr><td>bounced</td><td>1</td></tr>" in page
    assert "<tr><td>sent</td><td>1</td></tr>" in page  # the task
    assert f"?rule__id__exact={rule.pk}" in page


def test_a_reply_to_an_outreach_email_counts_as_replied(
    admin_client, template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    """The contact answers the outreach email from their mail client (In-Reply-To: its Message-ID): the desk opens a
    ticket as always, and the outbound email and the rule's results count the reply; a stray reference does not."""
    from tickets.inbound_email import inbound_email_process, inbound_email_receive
    from tickets.models import Ticket

    customer = customer_factory(timezone="UTC", domain="globex.test")
    contact_factory(customer=customer, email="ann@globex.test", first_name="Ann")
    contact_factory(customer=customer, email="bob@globex.test", first_name="Bob")
    rule = make_rule(template, actions=[{"action": "email", "template": template.pk, "role": "all"}])
    scan(rule, utc(2026, 3, 10, 9, 1), django_capture_on_commit_callbacks)
    ann_email = OutboundEmail.objects.get(to_email="ann@globex.test")
    assert OutboundEmail.objects.count() == 2 and ann_email.replied_at is None

    raw = (
        "From: Ann <ann@globex.test>\r\nTo: success@example.com\r\nSubject: Re: How is it going, Ann?\r\n"
        f"Message-ID: <reply-1@globex.test>\r\nIn-Reply-To: {ann_email.message_id}\r\n"
        "References: <not-ours@elsewhere.test>\r\n\r\nGoing well, thanks! One question about SSO though.\r\n"
    ).encode()
    inbound = inbound_email_process(inbound=inbound_email_receive(raw=raw))
    assert inbound.status == "processed"
    assert Ticket.objects.filter(customer=customer).count() == 1  # the answer is on the desk, as before
    ann_email.refresh_from_db()
    assert ann_email.replied_at is not None
    assert OutboundEmail.objects.get(to_email="bob@globex.test").replied_at is None
    # The same reply delivered again changes nothing (the first answer's time is kept).
    first = ann_email.replied_at
    inbound_email_process(inbound=inbound_email_receive(raw=raw))
    ann_email.refresh_from_db()
    assert ann_email.replied_at == first

    page = admin_client.get(f"/admin/success/outreachrule/{rule.pk}/change/").content.decode()
    assert "Emails replied to: 1 of 2." in page


def test_playbook_step_overdue_fires_once_per_overdue_step(
    customer_factory, user_factory, django_capture_on_commit_callbacks
):
    """A run's step overdue by more than `days` (in the rule's event params) claims once per step; a step not yet
    that late, or a finished one, does not."""
    from success.playbooks.definitions import playbook_save
    from success.playbooks.services import playbook_start, run_step_complete

    template, _ = playbook_save(
        name="Setup",
        steps=[
            {"title": "Call", "kind": "task", "offset_days": 1},
            {"title": "Setup", "kind": "task", "offset_days": 3},
        ],
    )
    customer = customer_factory(timezone="UTC", owner=user_factory())
    run = playbook_start(template=template, customer=customer, now=utc(2026, 3, 2, 10))  # Monday: due 3rd, 5th
    rule = outreach_rule_save(
        name="Stalled step",
        enabled=True,
        trigger="event",
        event="playbook_step_overdue",
        event_params={"days": 2},
        actions=[{"action": "task", "title": "Unblock the step", "type": "risk"}],
        quiet_hours=False,
        cooldown_days=0,
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert rule_scan(rule_id=rule.pk, at=utc(2026, 3, 5, 12))["claimed"] == 0  # "Call" 2 days late: not more
        rule_scan(rule_id=rule.pk, at=utc(2026, 3, 6, 12))  # "Call" 3 days late
        rule_scan(rule_id=rule.pk, at=utc(2026, 3, 6, 18))  # again: the same step, nothing new
        call, setup = run.steps.order_by("position")
        run_step_complete(step=call)
        rule_scan(rule_id=rule.pk, at=utc(2026, 3, 9, 12))  # now "Setup" is 4 days late: its own record
    keys = list(OutreachRecord.objects.filter(rule=rule).order_by("pk").values_list("period_key", flat=True))
    assert keys == [f"event:playbook_step_overdue:{call.pk}", f"event:playbook_step_overdue:{setup.pk}"]


def test_a_template_deleted_before_sending_fails_the_record_and_leaves_the_ledger_alone(
    template, customer_factory, contact_factory, django_capture_on_commit_callbacks
):
    customer = customer_factory(timezone="UTC")
    contact_factory(customer=customer, email="a@x.test")
    rule = make_rule(template)
    with django_capture_on_commit_callbacks(execute=False):
        rule_scan(rule_id=rule.pk, at=utc(2026, 3, 10, 9, 1))
        template_id = template.pk
        template.delete()
        records_perform(now=utc(2026, 3, 10, 9, 2))
    email, task = OutreachRecord.objects.filter(rule=rule).order_by("action_index")
    assert (email.result, email.reason) == ("failed", f"email template #{template_id} no longer exists")
    assert task.result == "sent"
    assert not OutboundEmail.objects.exists()
    assert not LedgerEntry.objects.exists()  # no email went: the contact's fatigue clock did not start
