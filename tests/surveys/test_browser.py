"""A real browser (Debian's Chromium through Playwright) answers the emailed survey link in one click, while a
plain GET of the same link (what a mail scanner does) stores nothing."""

import os
import re
import time
from urllib.parse import urlsplit

import pytest

from crm.tasks import send_email
from success.models import Task
from surveys.models import Response
from surveys.services import invitation_create, invitation_dispatch, survey_create
from tests.browser import BROWSER_MARKS

UNHAPPY = "We're sorry to hear that. What could we have done better?"
GENERAL = "What is the main reason for your score?"

pytestmark = BROWSER_MARKS


@pytest.fixture
def emailed_link(live_server, settings, smtp_settings, smtp_server, contact_factory):
    """emailed_link(score) -> (invitation, the score's link from the email as received by the SMTP server)."""
    settings.SITE_URL = live_server.url
    survey = survey_create(name="Quarterly NPS", kind="nps")

    def make(score: int):
        contact = contact_factory()
        invitation, _ = invitation_create(
            survey=survey, contact=contact, trigger="campaign", trigger_key="q1"
        )
        invitation = invitation_dispatch(invitation_id=invitation.pk)
        send_email(invitation.email_id)
        received = next(m for m in smtp_server.messages if m.rcpt_tos == [contact.email])
        [link] = re.findall(rf'href="({re.escape(live_server.url)}/s/[^"]+\?score={score})"', received.html)
        return invitation, link

    return make


def stored(invitation, timeout=5.0, **expected):
    """Poll the database (the page records asynchronously) until the response matches, or give up."""
    deadline = time.monotonic() + timeout
    while True:
        response = Response.objects.filter(invitation=invitation).first()
        if response is not None and all(getattr(response, k) == v for k, v in expected.items()):
            return response
        if time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def test_one_click_in_a_browser_records_and_asks_the_follow_up(browser, emailed_link, client, loop_worker):
    invitation, link = emailed_link(3)

    # A mail scanner (no JavaScript) opens the link first: nothing is stored.
    parts = urlsplit(link)
    scanner = client.get(f"{parts.path}?{parts.query}")
    assert scanner.status_code == 200
    assert Response.objects.count() == 0

    page = browser.new_page()
    page.goto(link)
    response = stored(invitation, score=3)
    assert response is not None and response.score == 3
    assert response.user_agent == page.evaluate("navigator.userAgent")
    assert response.seconds_after_send is not None and response.seconds_after_send < 60
    page.wait_for_selector("#recorded:not([hidden])")
    assert page.inner_text("#recorded").startswith("Thank you! Your answer (3) is recorded.")
    assert page.inner_text("#follow-up") == UNHAPPY
    assert page.inner_text("#submit") == "Save"
    assert not page.is_visible("#pending")  # the "press Submit" hint is only for browsers without JavaScript

    page.fill("#comment", "The import kept failing.")
    with page.expect_navigation():
        page.click("#submit")
    assert "Your answer (3) and your comment are saved." in page.inner_text("#recorded")
    response = stored(invitation, comment="The import kept failing.")
    assert (response.score, response.comment) == (3, "The import kept failing.")
    assert Response.objects.count() == 1
    # The CSM's follow-up task, made at the click, now carries the comment saved after it.
    task = Task.objects.get(customer=invitation.customer_id)
    assert task.reason.endswith(': 3 "The import kept failing."')

    # Choosing another score changes the question at once; Save records it.
    page.click("label:has(input[value='10'])")
    assert page.inner_text("#follow-up") == GENERAL
    with page.expect_navigation():
        page.click("#submit")
    assert stored(invitation, score=10).score == 10
    page.close()


def test_without_javascript_nothing_is_stored_until_the_button_is_clicked(browser, emailed_link):
    invitation, link = emailed_link(8)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(link)
    assert page.is_checked("input[value='8']")
    assert page.is_visible("#submit") and page.inner_text("#submit") == "Submit"
    assert page.is_visible("text=Your answer is not sent yet: press Submit below.")
    assert stored(invitation, timeout=1.0) is None
    with page.expect_navigation():
        page.click("#submit")
    response = stored(invitation, score=8)
    assert response is not None and response.score == 8
    assert "Your answer (8) is saved." in page.inner_text("#recorded")
    context.close()


def test_the_page_fits_a_phone(browser, emailed_link):
    invitation, link = emailed_link(0)
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    page.goto(link)
    page.wait_for_selector("#recorded:not([hidden])")
    assert stored(invitation, score=0).score == 0
    # No sideways scrolling; every score button is large enough to tap and fully on screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    boxes = [page.locator(f"label:has(input[value='{s}']) span").bounding_box() for s in range(11)]
    assert all(
        b["width"] >= 36 and b["height"] >= 40 and b["x"] >= 0 and b["x"] + b["width"] <= 360 for b in boxes
    )
    submit = page.locator("#submit").bounding_box()
    assert submit["width"] >= 200
    page.screenshot(path=os.path.join("/tmp", "survey-answer-phone.png"), full_page=True)
    context.close()
