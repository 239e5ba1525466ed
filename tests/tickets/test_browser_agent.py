"""A support agent's day in a real browser (Debian's Chromium through Playwright): sign in through the login
page, find the ticket in the queue, read the SLA panel, reply from the ticket page; the requester receives the
reply by email through a real SMTP server, threaded and with the ticket reference, and the clock shows the first
response met."""

from crm.models import OutboundEmail
from crm.services import contact_create, customer_create
from crm.tasks import send_email
from tests.browser import BROWSER_MARKS
from tickets.models import Status, TicketMessage
from tickets.services import ticket_create

pytestmark = BROWSER_MARKS
PASSWORD = "correct horse battery staple"  # tests/factories.py


def sla_state(page, label: str) -> str:
    """The State cell of one target's row in the ticket page's SLA panel."""
    row = page.locator("#sla-panel > table > tbody > tr").filter(has_text=label).first
    return row.locator("> td").nth(5).inner_text().strip()


def test_an_agent_signs_in_and_replies_from_the_ticket_page(
    browser, live_server, settings, smtp_settings, smtp_server, make_staff, standard_policy
):
    settings.SITE_URL = live_server.url
    agent = make_staff("support_agent", email="sam@example.com")
    customer = customer_create(name="Acme", domain="acme.example")
    ann = contact_create(customer=customer, email="ann@acme.example", first_name="Ann")
    ticket = ticket_create(
        customer=customer, requester=ann, subject="Export fails", body="Clicking Export gives an error 500.",
        channel="email", email_message_id="<ann-1@acme.example>",
    )

    page = browser.new_page()
    page.goto(f"{live_server.url}/admin/")
    assert "/accounts/login/" in page.url  # the admin's login goes through allauth
    page.fill('input[name="login"]', agent.email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")

    # The queue lists the ticket with its reference; its page explains the running first-response clock.
    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    row = page.locator("#result_list tbody tr", has_text="Export fails")
    assert row.count() == 1 and f"#{ticket.pk}" in row.inner_text()
    row.get_by_role("link", name="Export fails").click()
    page.wait_for_url(f"**/admin/tickets/ticket/{ticket.pk}/change/")
    assert sla_state(page, "First response") == "running"

    page.check('input[name="reply_kind"][value="public"]')
    page.fill('textarea[name="reply_body"]', "Hi Ann, please clear the export cache and try again.")
    page.click('input[name="_continue"]')
    page.wait_for_load_state()
    assert "Reply sent to ann@acme.example." in page.inner_text(".messagelist")
    # The page the agent lands on shows the first response met (its policy's target: 60 business minutes).
    assert sla_state(page, "First response").startswith("met")
    page.close()

    reply = TicketMessage.objects.get(ticket=ticket, author_user=agent)
    assert reply.public and reply.body_text.startswith("Hi Ann")
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.first_response_at is not None

    # The email row is sent by the worker's task; here the task runs in the test against the SMTP server.
    outbound = OutboundEmail.objects.get(to_email="ann@acme.example")
    send_email(outbound.pk)
    [received] = [m for m in smtp_server.messages if m.rcpt_tos == ["ann@acme.example"]]
    assert f"[#{ticket.pk}]" in received.message["Subject"]
    assert received.message["In-Reply-To"] == "<ann-1@acme.example>"
    assert "please clear the export cache" in received.text
    send_email(outbound.pk)  # delivered twice: sent once
    assert len([m for m in smtp_server.messages if m.rcpt_tos == ["ann@acme.example"]]) == 1
