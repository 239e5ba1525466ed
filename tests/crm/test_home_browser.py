"""The CSM's home in Debian's Chromium at 1280 px: a CSM and a support agent sign in, see what their role shows,
and the page never scrolls sideways; the CSM closes a task from the home with an outcome."""

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from crm.models import Task
from crm.services import contact_create, customer_create
from crm.task_services import task_create
from tests.browser import BROWSER_MARKS, browser  # noqa: F401  (fixture)
from tickets.models import Ticket
from tickets.services import ticket_create

pytestmark = BROWSER_MARKS
PASSWORD = "correct horse battery staple"  # tests/factories.py


# How many lines each matching element's text takes: a label broken inside a word takes two.
TEXT_LINES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
    const range = document.createRange(); range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size; })"""


def _sign_in(browser, live_server, email):  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/admin/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")
    return page


def test_a_csm_and_an_agent_on_the_home_at_1280_px(browser, live_server, make_staff):  # noqa: F811
    csm = make_staff("csm", email="casey@example.com")
    agent = make_staff("support_agent", email="ari@example.com")
    today = timezone.localdate()
    for n in range(12):
        customer = customer_create(
            name=f"Very Long Customer Name Incorporated Holdings {n}",
            owner=csm,
            arr=Decimal("1234567"),
            renewal_date=today + dt.timedelta(days=10 + n),
        )
        task_create(
            customer=customer,
            reason=f"Call the champion about the renewal and the escalations of last quarter {n}",
            due_date=today - dt.timedelta(days=n % 3),
        )
    page = _sign_in(browser, live_server, csm.email)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator("#home-todays-work").is_visible() and page.locator("#home-my-book").is_visible()
    assert page.locator("#home-todays-work tr.crm-overdue").count() >= 1
    assert page.get_by_text("Settings", exact=True).count() == 0
    # Buttons and short labels stay on one line (Django's dashboard breaks words anywhere in its cells).
    for selector in ("#home-todays-work button", "#home-my-book .health-band", "#home-my-book td.crm-money"):
        lines = page.evaluate(TEXT_LINES, selector)
        assert lines and set(lines) == {1}, (selector, lines)
    first = page.locator("#home-todays-work form.crm-done-form").first
    first.locator('input[name="outcome"]').fill("Renewal confirmed")
    first.locator("button").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "Done:" in page.locator("ul.messagelist").inner_text()
    assert Task.objects.filter(status="done", outcome="Renewal confirmed").count() == 1
    page.close()

    contact = contact_create(customer=customer, email="champion@example.com")
    ticket = ticket_create(customer=customer, requester=contact, subject="Exports time out for every report", body="!")
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent)
    page = _sign_in(browser, live_server, agent.email)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert page.locator("#home-my-book").count() == 0  # owns no customer
    queue = page.locator("#home-my-ticket-queue")  # an agent's own queue comes first
    assert "My ticket queue (1)" in queue.inner_text() and "Exports time out" in queue.inner_text()
    assert page.locator(".crm-home-panel").first.get_attribute("id") == "home-my-ticket-queue"
    assert "No open task" in page.locator("#home-todays-work").inner_text()
    assert page.get_by_text("Settings", exact=True).count() == 0
    assert page.locator("a", has_text="Tickets").count() >= 1
    queue.get_by_role("link", name=f"[#{ticket.pk}] Exports time out for every report").click()
    page.wait_for_url(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")
    page.close()
