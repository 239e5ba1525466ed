"""The customer page, the ticket queue and the task list in Debian's Chromium at 1280 px, for a CSM and a support
agent: no horizontal scroll, the header shows the account's numbers, the timeline hides system emails."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.task_services import task_create
from crm.timeline import timeline_record
from tests.browser import BROWSER_MARKS
from tickets.services import ticket_create

pytestmark = BROWSER_MARKS
PASSWORD = "correct horse battery staple"  # tests/factories.py
WIDTH = 1280


def sign_in(browser, live_server, email):
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def table_fits(page) -> bool:
    """The changelist's table fits its box: nothing hidden behind a scroll bar of its own."""
    return page.evaluate(
        "document.querySelector('#result_list').scrollWidth <= document.querySelector('.results').clientWidth"
    )


@pytest.mark.parametrize("role", ["csm", "support_agent"])
def test_customer_page_ticket_queue_and_tasks_fit_1280px(
    browser, live_server, make_staff, role, customer_factory, contact_factory
):
    owner = make_staff("csm", email="owner@example.com")
    user = owner if role == "csm" else make_staff("support_agent", email="agent@example.com")
    customer = customer_factory(
        name="Initech International Holdings with a Long Name",
        owner=owner,
        arr=Decimal("2500000"),
        renewal_date=timezone.localdate() + datetime.timedelta(days=30),
    )
    contact = contact_factory(
        customer=customer, email="a.very.long.address.for.the.champion@initech-international-holdings.example"
    )
    for i in range(3):
        ticket_create(
            customer=customer,
            requester=contact,
            subject=f"Exports of the quarterly revenue report time out for large accounts {i}",
            body="It fails.",
            channel="email",
            assignee=user if role == "support_agent" else None,
        )
        task_create(customer=customer, reason=f"Follow up on the export problem {i}", owner=owner)
    timeline_record(customer=customer, kind="email.sent", summary="System email: reply sent to the champion")

    page = sign_in(browser, live_server, user.email)
    page.goto(f"{live_server.url}/admin/crm/customer/{customer.pk}/change/")
    assert scroll_width(page) <= WIDTH
    header = page.locator(".c360-header")
    assert header.locator('[data-label="ARR"] .c360-value').inner_text() == "USD 2,500,000"
    assert header.locator('[data-label="Open tickets"] .c360-value').inner_text() == "3"
    assert header.locator('[data-label="Open tasks"] .c360-value').inner_text() == "3"
    assert "in 30 days" in header.locator('[data-label="Renewal"]').inner_text()
    timeline = page.locator("#section-timeline")
    assert timeline.locator('tr[data-kind="ticket.opened"]').count() == 3
    assert "System email" not in timeline.inner_text()
    timeline.get_by_role("link", name="Emails", exact=True).click()
    page.wait_for_url("**timeline=emails**")
    assert "System email" in page.locator("#section-timeline").inner_text()
    assert scroll_width(page) <= WIDTH

    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    assert page.locator("#result_list tbody tr").count() == 3
    assert scroll_width(page) <= WIDTH and table_fits(page)

    page.goto(f"{live_server.url}/admin/crm/task/?view=all")
    if role == "csm":
        assert page.locator("#result_list tbody tr").count() == 3
        assert table_fits(page)
    assert scroll_width(page) <= WIDTH and table_fits(page)
