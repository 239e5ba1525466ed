"""Content-Security-Policy in a real browser (Debian's Chromium through Playwright): the pages we serve (login,
admin, its exports and third-party admin pages, MFA set-up, API docs, unsubscribe) run with no script violation,
and their scripts still work (the admin's "select all" boxes, Swagger UI)."""

import time
import types

import pytest

from accounts.mfa import security_settings
from crm.unsubscribe import unsubscribe_url
from tests.browser import BROWSER_MARKS
from tickets.services import ticket_create

pytestmark = BROWSER_MARKS
PASSWORD = "correct horse battery staple"  # tests/factories.py

# Records every violation the page reports, whether or not it reaches the console.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}`);
});
"""


@pytest.fixture
def csp_page(browser):
    """csp_page() -> (page, violations): a new page whose CSP violations (console errors and events) are listed."""
    pages = []

    def make():
        context = browser.new_context()
        context.add_init_script(RECORD_VIOLATIONS)
        page = context.new_page()
        console = []
        page.on(
            "console",
            lambda message: console.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None,
        )
        pages.append(page)

        def violations():
            return console + page.evaluate("window.__cspViolations || []")

        return page, violations

    return make


def sign_in(page, live_server, email):
    page.goto(f"{live_server.url}/admin/")
    assert "/accounts/login/" in page.url
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")


def test_admin_login_and_api_docs_run_without_csp_violations(
    csp_page, live_server, make_staff, customer_factory, contact_factory
):
    admin = make_staff("admin", email="root@example.com", is_superuser=True)
    customer_factory(name="Acme")
    globex = customer_factory(name="Globex")
    ticket = ticket_create(
        customer=globex, requester=contact_factory(customer=globex), subject="Export fails", body="Error 500.",
        channel="email",
    )
    page, violations = csp_page()

    page.goto(f"{live_server.url}/accounts/login/")
    response = page.request.get(f"{live_server.url}/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    sign_in(page, live_server, admin.email)
    assert page.is_visible("#nav-sidebar") or page.is_visible("#content-main")

    # The changelist's "select all" box (admin/js/actions.js) checks every row.
    page.goto(f"{live_server.url}/admin/crm/customer/")
    page.check("#action-toggle")
    assert page.locator("input.action-select:checked").count() == 2
    assert "2 of 2 selected" in page.inner_text(".action-counter")

    # django-import-export's export page: its "Select all" box unticks every field (bound without onchange=).
    page.goto(f"{live_server.url}/admin/crm/customer/export/")
    page.wait_for_selector("input.select-toggle")
    assert page.locator('.selectable-field-export-row input[type="checkbox"]:checked').count() > 0
    page.uncheck("input.select-toggle")
    assert page.locator('.selectable-field-export-row input[type="checkbox"]:checked').count() == 0

    # Change forms: ours and django-celery-beat's (whose inline script now carries the nonce and runs).
    page.goto(f"{live_server.url}/admin/crm/customer/add/")
    page.wait_for_selector("#customer_form")
    page.goto(f"{live_server.url}/admin/django_celery_beat/periodictask/add/")
    page.wait_for_selector("#periodictask_form")
    assert not page.is_visible(".field-crontab_translation")  # hidden by the nonce'd inline script
    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    page.wait_for_selector("#changelist")

    # django-import-export's import page and a ticket's page.
    page.goto(f"{live_server.url}/admin/crm/customer/import/")
    page.wait_for_selector("input[type='file']")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")
    page.wait_for_selector("#ticket_form")

    # Swagger UI (served without inline script) loads the schema and lists operations.
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=20000)

    assert violations() == []


def test_required_mfa_is_set_up_and_used_in_a_browser_without_csp_violations(
    csp_page, live_server, make_staff, monkeypatch
):
    from allauth.mfa.totp.internal import auth as totp_auth
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    row = security_settings()
    row.mfa_required_for = "admins"
    row.save()
    admin = make_staff("admin", email="root@example.com", is_superuser=True)
    page, violations = csp_page()

    # Signing in leads to the TOTP set-up (after the password again), whose QR code (a data: image) shows.
    page.goto(f"{live_server.url}/admin/")
    page.fill('input[name="login"]', admin.email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    qr = page.locator("img[src^='data:']")
    assert qr.count() == 1 and qr.evaluate("img => img.naturalWidth") > 0
    secret = page.input_value("#authenticator_secret")
    now = time.time()
    page.fill('input[name="code"]', format_hotp_value(hotp_value(secret, int(now) // 30)))
    page.click('button[type="submit"]')
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    assert page.locator("#recovery_codes").input_value().count("\n") >= 9  # the codes are offered
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("#content-main")

    # The next sign-in asks for the app's code (a period later: each code is accepted once).
    page.goto(f"{live_server.url}/accounts/logout/")
    page.click('button[type="submit"]')
    later = now + 30
    monkeypatch.setattr(totp_auth, "time", types.SimpleNamespace(time=lambda: later))
    page.goto(f"{live_server.url}/admin/")
    page.fill('input[name="login"]', admin.email)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url("**/accounts/2fa/authenticate/**")
    page.fill('input[name="code"]', format_hotp_value(hotp_value(secret, int(later) // 30)))
    page.click('button[type="submit"]')
    page.wait_for_url(f"{live_server.url}/admin/")

    assert violations() == []


def test_unsubscribe_page_runs_without_csp_violations(csp_page, live_server, settings, contact_factory):
    settings.SITE_URL = live_server.url
    contact = contact_factory(email="ann@acme.example")
    page, violations = csp_page()
    page.goto(unsubscribe_url(contact))
    page.click("#unsubscribe")
    page.wait_for_load_state()
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    assert violations() == []


def test_survey_pages_run_without_csp_violations(csp_page, live_server, settings, make_staff, contact_factory):
    from surveys import tokens
    from surveys.services import answer_url, invitation_create, invitation_dispatch, survey_create

    settings.SITE_URL = live_server.url
    admin = make_staff("admin", email="root@example.com", is_superuser=True)
    survey = survey_create(name="Quarterly NPS", kind="nps")
    invitation, _ = invitation_create(survey=survey, contact=contact_factory(), trigger="campaign", trigger_key="q1")
    invitation = invitation_dispatch(invitation_id=invitation.pk)
    page, violations = csp_page()

    page.goto(answer_url(tokens.token_for(invitation.token_nonce), score=9))
    page.wait_for_selector("#answer-form", state="attached")
    sign_in(page, live_server, admin.email)
    page.goto(f"{live_server.url}/admin/surveys/survey/{survey.pk}/campaign/")
    page.wait_for_selector("#campaign-form")
    page.click("#campaign-send")  # its inline onsubmit handler is what the policy blocks
    page.wait_for_load_state()
    assert violations() == []
