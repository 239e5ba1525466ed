"""The customer page (customer 360): the header's figures from every app, the sections, the timeline's kind
filter (system emails hidden by default, references linked) and a query count that does not grow with the
customer's tickets, tasks and events."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.money import money
from crm.task_services import task_close, task_create
from crm.timeline import timeline_record
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db


def change_url(customer):
    return reverse("admin:crm_customer_change", args=[customer.pk])


def add_activity(customer, contact, n, start=0):
    for i in range(start, start + n):
        ticket_create(customer=customer, requester=contact, subject=f"Problem {i}", body="It fails.", channel="web")
        task_create(customer=customer, reason=f"Call back {i}", due_date=timezone.localdate())
        timeline_record(customer=customer, kind="email.sent", summary=f"Sent a reminder {i}")


@pytest.fixture
def account(make_staff, customer_factory, contact_factory):
    csm = make_staff("csm", email="csm@example.com")
    customer = customer_factory(
        name="Globex",
        owner=csm,
        arr=Decimal("1234567.00"),
        renewal_date=timezone.localdate() + datetime.timedelta(days=40),
        timezone="Asia/Tokyo",
    )
    return csm, customer, contact_factory(customer=customer, email="ann@globex.example")


def test_header_shows_how_the_account_is(client, account):
    csm, customer, contact = account
    add_activity(customer, contact, 3)
    done, _ = task_create(customer=customer, reason="Kick-off call")
    task_close(task=done, status="done", actor=csm)
    client.force_login(csm)

    page = client.get(change_url(customer)).content.decode()

    assert 'data-label="ARR"' in page and "USD 1,234,567<" in page
    assert "in 40 days" in page
    assert "Asia/Tokyo" in page
    header = page.split('class="c360-header"')[1].split("</section>")[0]
    open_tickets = header.split('data-label="Open tickets"')[1].split("</li>")[0]
    assert ">3</a>" in open_tickets and "no SLA breach" in open_tickets
    open_tasks = header.split('data-label="Open tasks"')[1].split("</li>")[0]
    assert ">3</a>" in open_tasks
    for label in ("Health", "Next QBR", "Latest NPS (0-10)", "Stage", "Tier", "Owner", "Renewal"):
        assert f'data-label="{label}' in header, label
    # The sections, each linking to its full list; open tasks first, the done one after.
    tasks = page.split('id="section-tasks"')[1].split("</section>")[0]
    assert tasks.index("Call back 0") < tasks.index("Kick-off call")
    assert f"customer__id__exact={customer.pk}" in tasks
    tickets = page.split('id="section-tickets"')[1].split("</section>")[0]
    assert "Problem 2" in tickets and f"?customer={customer.pk}&amp;status=all" in tickets
    for anchor in ("section-timeline", "section-notes", "contacts-group", "section-health", "section-qbrs"):
        assert f'href="#{anchor}"' in page, anchor


def test_timeline_hides_system_emails_by_default_and_filters_by_kind(client, account):
    csm, customer, contact = account
    ticket = ticket_create(customer=customer, requester=contact, subject="Export fails", body="500.", channel="web")
    timeline_record(customer=customer, kind="email.sent", summary="Reply sent to ann@globex.example")
    timeline_record(customer=customer, kind="note.added", summary=f"Discussed [#{ticket.pk}] on the call")
    client.force_login(csm)

    timeline = client.get(change_url(customer)).content.decode().split('id="section-timeline"')[1]
    timeline = timeline.split("</section>")[0]
    assert "Reply sent to ann@globex.example" not in timeline
    ticket_url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    assert f'<a href="{ticket_url}">[#{ticket.pk}]</a>' in timeline
    assert 'data-kind="ticket.opened"' in timeline

    emails = client.get(change_url(customer), {"timeline": "emails"}).content.decode()
    emails = emails.split('id="section-timeline"')[1].split("</section>")[0]
    assert "Reply sent to ann@globex.example" in emails
    assert 'data-kind="note.added"' not in emails and 'data-kind="ticket.opened"' not in emails

    notes = client.get(change_url(customer), {"timeline": "notes"}).content.decode()
    notes = notes.split('id="section-timeline"')[1].split("</section>")[0]
    assert 'data-kind="note.added"' in notes and 'data-kind="ticket.opened"' not in notes


def test_query_count_does_not_grow_with_tickets_tasks_and_events(client, account):
    csm, customer, contact = account
    client.force_login(csm)
    add_activity(customer, contact, 2)
    client.get(change_url(customer))  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as small:
        assert client.get(change_url(customer)).status_code == 200
    add_activity(customer, contact, 25, start=2)
    with CaptureQueriesContext(connection) as large:
        page = client.get(change_url(customer))
    assert page.status_code == 200
    assert "Problem 26" in page.content.decode()
    assert len(large) == len(small), [q["sql"][:120] for q in large.captured_queries]


def test_money_has_separators_and_the_reporting_currency(settings):
    settings.REPORTING_CURRENCY = "EUR"
    assert money(Decimal("1234567.5")) == "EUR 1,234,567.50"
    assert money(Decimal("120000")) == "EUR 120,000"
    assert money(None) == "—"


def test_usage_section_compares_the_last_30_days_and_lists_the_features(client, account, customer_factory):
    from success.usage.models import UsageDaily, UsageDailyName

    csm, customer, _ = account
    other = customer_factory(name="Initech")
    client.force_login(csm)
    usage = client.get(change_url(customer)).content.decode().split('id="section-usage"')[1].split("</section>")[0]
    assert "No product usage received yet." in usage

    today = timezone.now().date()
    for n in range(60):  # 10 events a day the 30 days before, 15 a day the last 30, on 20 of them
        day = today - datetime.timedelta(days=n)
        events = (15 if n % 3 else 0) if n < 30 else 10
        UsageDaily.objects.create(customer=customer, day=day, active_users=3, events=events)
    UsageDaily.objects.create(customer=other, day=today, active_users=9, events=999)
    for name, events in (("login", 40), ("report_viewed", 120), ("export", 7)):
        UsageDailyName.objects.create(customer=customer, day=today, name=name, events=events)
    UsageDailyName.objects.create(customer=customer, day=today - datetime.timedelta(days=45), name="old", events=500)

    page = client.get(change_url(customer)).content.decode()
    assert 'href="#section-usage"' in page
    usage = page.split('id="section-usage"')[1].split("</section>")[0]
    assert "Last 30 days: <strong>300</strong> events (+0 % on the 30 days before)" in usage
    assert "active on <strong>20</strong> of 30 days" in usage
    assert "last used" in usage and "days ago" not in usage
    assert usage.index("report_viewed") < usage.index("login") < usage.index("export") and "old" not in usage
    assert 'aria-label="Daily active users of Globex over the last 90 days"' in usage
    days_url = reverse("admin:success_usagedaily_changelist") + f"?customer={customer.pk}"
    assert days_url in usage
    listed = client.get(days_url).content.decode()
    assert "Globex" in listed and "Initech" not in listed
