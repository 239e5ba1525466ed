"""Unsubscribing from the survey email: the footer link's page (GET never unsubscribes, its button POSTs)
and the RFC 8058 one-click POST a mail client makes from the List-Unsubscribe headers."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.test.client import encode_multipart

from crm.ledger import ledger_check
from crm.models import LedgerEntry, OutboundEmail, TimelineEvent
from crm.unsubscribe import unsubscribe_url
from surveys.services import invitation_create, invitation_dispatch, survey_create


def invite(contact, key="campaign:1", kind="nps"):
    survey = survey_create(name=f"{kind} survey", kind=kind)
    invitation, _ = invitation_create(survey=survey, contact=contact, trigger="campaign", trigger_key=key)
    return invitation_dispatch(invitation_id=invitation.pk)


def header_url(contact):
    """The URL of the List-Unsubscribe header of the contact's survey email, as a path for the test client."""
    email = OutboundEmail.objects.filter(contact=contact).latest("pk")
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return urlsplit(re.fullmatch(r"<(.+)>", email.headers["List-Unsubscribe"])[1]).path


def footer_url(contact):
    email = OutboundEmail.objects.filter(contact=contact).latest("pk")
    [url] = re.findall(r"Unsubscribe from surveys and other messages: (\S+)", email.text_body)
    assert f'href="{url}"' in email.html_body
    return urlsplit(url).path


@pytest.mark.django_db
def test_footer_link_shows_a_page_whose_button_unsubscribes(contact_factory):
    contact = contact_factory(email="ana@globex.example.com")
    invite(contact)
    url = footer_url(contact)
    assert url == header_url(contact)
    browser = Client(enforce_csrf_checks=True)
    for _ in range(2):  # a person, then a mail scanner: looking never unsubscribes
        page = browser.get(url)
        assert page.status_code == 200
        html = page.content.decode()
        assert "Unsubscribe ana@globex.example.com?" in html
        assert re.search(r'<form method="post"[^>]*>\s*<button type="submit" id="unsubscribe"', html)
    assert browser.head(url).status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None

    done = browser.post(
        url, {"confirm": "1"}
    )  # the button: no CSRF token needed, the signed link is the proof
    assert done.status_code == 200
    assert "You are unsubscribed" in done.content.decode() and "<form" not in done.content.decode()
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    event = TimelineEvent.objects.get(kind="contact.unsubscribed", customer=contact.customer)
    assert event.payload["detail"] == "page"
    # Coming back later shows the same answer, and a second POST changes nothing.
    assert "You are unsubscribed" in browser.get(url).content.decode()
    first = contact.unsubscribed_at
    browser.post(url, {"confirm": "1"})
    contact.refresh_from_db()
    assert contact.unsubscribed_at == first
    assert TimelineEvent.objects.filter(kind="contact.unsubscribed").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_rfc8058_one_click_post_unsubscribes_at_once(contact_factory, encoding):
    contact = contact_factory()
    invite(contact)
    url = header_url(contact)
    mail_client = Client(enforce_csrf_checks=True)  # no cookies, no CSRF token: what Gmail's servers send
    if encoding == "urlencoded":
        response = mail_client.post(
            url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
    else:
        body = encode_multipart("mail-client-boundary", {"List-Unsubscribe": "One-Click"})
        response = mail_client.post(
            url, body, content_type="multipart/form-data; boundary=mail-client-boundary"
        )
    assert response.status_code == 200
    assert response.content == b""  # no page
    assert not response.cookies
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    assert TimelineEvent.objects.get(kind="contact.unsubscribed").payload["detail"] == "one-click"

    # No more surveys: the next one is suppressed with its reason, recorded in the ledger.
    later = invite(contact, key="campaign:2", kind="csat")
    assert (later.status, later.suppressed_reason, later.email_id) == ("suppressed", "unsubscribed", None)
    entry = LedgerEntry.objects.filter(contact=contact).latest("created_at")
    assert (entry.outcome, entry.reason) == ("suppressed", "unsubscribed")
    assert OutboundEmail.objects.filter(contact=contact).count() == 1
    # Outreach stops too; replies to the contact's own tickets and invites to a meeting (a QBR) still go.
    assert ledger_check(contact=contact, kind="outreach") == "unsubscribed"
    assert ledger_check(contact=contact, kind="qbr_invite") is None
    assert ledger_check(contact=contact, kind="ticket_reply") is None


@pytest.mark.django_db
def test_tampered_or_unknown_links_are_a_friendly_404(contact_factory, client):
    contact = contact_factory()
    url = urlsplit(unsubscribe_url(contact)).path
    token = url.rstrip("/").rsplit("/", 1)[1]
    other = contact_factory()
    other_token = urlsplit(unsubscribe_url(other)).path.rstrip("/").rsplit("/", 1)[1]
    payload = token.partition(":")[0]
    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
        other_token.split(":")[0] + ":" + token.split(":", 1)[1],  # another contact's id with this signature
        payload,  # no signature
        "forged",
        "x" * 3000,
    ]
    for bad in forged:
        for response in (
            client.get(f"/u/unsubscribe/{bad}/"),
            client.post(
                f"/u/unsubscribe/{bad}/",
                "List-Unsubscribe=One-Click",
                content_type="application/x-www-form-urlencoded",
            ),
        ):
            assert response.status_code == 404, bad
            assert b"This unsubscribe link is not valid" in response.content
    for person in (contact, other):
        person.refresh_from_db()
        assert person.unsubscribed_at is None
    assert client.put(url).status_code == 405
