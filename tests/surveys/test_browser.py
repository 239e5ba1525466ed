"""A real browser (Debian's Chromium through Playwright) answers the emailed survey link in one click and a mouse
move or tap, while a mail scanner (a plain GET, or a headless Chromium opening every link of the email) stores
nothing."""

import os
import re
import time
from urllib.parse import urlsplit

import pytest

from crm.models import Task
from crm.tasks import send_email
from surveys.models import Response
from surveys.services import invitation_create, invitation_dispatch, survey_create
from tests.browser import BROWSER_MARKS

UNHAPPY = "We're sorry to hear that. What could we have done better?"
GENERAL = "What is the main reason for your score?"

pytestmark = BROWSER_MARKS


@pytest.fixture
def emailed_link(live_server, settings, smtp_settings, smtp_server, contact_factory):
    """emailed_link(score) -> (invitation, the score's link from the email as received by the SMTP server);
    emailed_link(None) -> (invitation, every score link of that email)."""
    settings.SITE_URL = live_server.url
    survey = survey_create(name="Quarterly NPS", kind="nps")

    def make(score: int | None):
        contact = contact_factory()
        invitation, _ = invitation_create(
            survey=survey, contact=contact, trigger="campaign", trigger_key="q1"
        )
        invitation = invitation_dispatch(invitation_id=invitation.pk)
        send_email(invitation.email_id)
        received = next(m for m in smtp_server.messages if m.rcpt_tos == [contact.email])
        links = re.findall(rf'href="({re.escape(live_server.url)}/s/[^"]+\?score=\d+)"', received.html)
        if score is None:
            return invitation, links
        [link] = [u for u in links if u.endswith(f"?score={score}")]
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
    page.wait_for_load_state("networkidle")
    assert stored(invitation, timeout=0.5) is None  # loaded, no input yet: nothing recorded
    page.mouse.move(40, 30)  # the person moves the mouse
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
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(link)
    page.wait_for_load_state("networkidle")
    assert stored(invitation, timeout=0.5) is None
    page.touchscreen.tap(180, 10)  # a tap on the page (not on a score): records the emailed score
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


def test_a_scanner_opening_every_link_of_the_email_records_nothing(browser, emailed_link):
    """What Safe Links / Mimecast / Proofpoint do: a headless Chromium running the page's script opens every score
    link of a real NPS email, seconds after delivery. Nothing is recorded; even a scanner that then moves the
    pointer on every page records nothing (several scores within seconds: the page asks for Confirm)."""
    invitation, links = emailed_link(None)
    assert len(links) == 11
    context = browser.new_context()
    pages = []
    for link in links:
        page = context.new_page()
        page.goto(link)
        page.wait_for_load_state("networkidle")
        pages.append(page)
    time.sleep(1.0)
    assert Response.objects.count() == 0
    invitation.refresh_from_db()
    assert invitation.status == "sent"
    # The pages after the first already ask for a confirmation; none records on load.
    assert all(p.is_visible("text=press Confirm below.") for p in pages[1:])
    for page in pages:
        page.mouse.move(50, 50)
        page.mouse.move(120, 80)
    pages[0].wait_for_selector("text=Please confirm your answer: press Confirm.")
    time.sleep(1.0)
    assert Response.objects.count() == 0
    assert all(p.inner_text("#submit") == "Confirm" for p in pages)
    context.close()


def test_after_a_scanner_the_person_confirms_with_one_click(browser, emailed_link):
    invitation, links = emailed_link(None)
    context = browser.new_context()
    for link in links:  # the scanner
        context.new_page().goto(link)
    page = context.new_page()
    page.goto(links[9])  # the person, within the scanner's seconds
    page.mouse.move(30, 30)
    assert page.is_visible("text=Please confirm your answer (9): press Confirm below.")
    with page.expect_navigation():
        page.click("#submit")
    assert stored(invitation, score=9).score == 9
    assert "Thank you! Your answer (9) is saved." in page.inner_text("#recorded")
    context.close()


def test_a_key_press_records_the_score(browser, emailed_link):
    invitation, link = emailed_link(10)
    page = browser.new_page()
    page.goto(link)
    page.wait_for_load_state("networkidle")
    assert stored(invitation, timeout=0.3) is None
    page.keyboard.press("Tab")
    assert stored(invitation, score=10).score == 10
    page.close()
