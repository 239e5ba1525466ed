"""The invitation email as a contact receives it: sent through a real SMTP server (aiosmtpd), parsed, its
links followed with the test client."""

import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection

from crm.models import OutboundEmail
from crm.outbound_email import email_send
from crm.tasks import send_email
from surveys import tokens
from surveys.models import Invitation, Response
from surveys.services import invitation_create, invitation_dispatch, invitation_remind, survey_create

LABELS = {
    "nps": ("Not at all likely", "Extremely likely"),
    "ces": ("Strongly disagree", "Strongly agree"),
    "csat": ("Very dissatisfied", "Very satisfied"),
}
SCALES = {"nps": list(range(0, 11)), "ces": list(range(1, 8)), "csat": list(range(1, 6))}


class Links(HTMLParser):
    """(href, text) of every <a> in an HTML part."""

    def __init__(self, html):
        super().__init__()
        self.links, self._href, self._text = [], None, []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href, self._text = dict(attrs).get("href"), []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def invite(survey, contact, key="campaign:1"):
    invitation, _ = invitation_create(survey=survey, contact=contact, trigger="campaign", trigger_key=key)
    return invitation_dispatch(invitation_id=invitation.pk)


def score_links(urls, token):
    """The score of each answer link among `urls`, checking every one carries the invitation's token."""
    scores = []
    for url in urls:
        parts = urlsplit(url)
        if not parts.path.startswith("/s/"):
            continue
        assert f"{parts.scheme}://{parts.netloc}" == settings.SITE_URL
        assert parts.path == f"/s/{token}/"
        scores.append(int(parse_qs(parts.query)["score"][0]))
    return scores


QUESTIONS = {
    "nps": "How likely are you to recommend Acme Software to a friend or colleague?",
    "ces": "Acme Software made it easy for me to handle my issue.",
    "csat": "How satisfied are you with the support you received?",
}


def local(url):
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["nps", "ces", "csat"])
def test_invitation_email_as_received(
    kind,
    smtp_settings,
    smtp_server,
    client,
    contact_factory,
    customer_factory,
    django_capture_on_commit_callbacks,
):
    survey = survey_create(name=f"Quarterly {kind.upper()}", kind=kind)
    question = QUESTIONS[kind]  # as the contact reads it: the default question names the company
    contact = contact_factory(first_name="Ana", customer=customer_factory(name="Globex Ltd"))
    with django_capture_on_commit_callbacks() as queued:
        invitation = invite(survey, contact)
    assert invitation.status == "sent" and len(queued) == 1  # one send task, queued on commit
    stored = OutboundEmail.objects.get(pk=invitation.email_id)
    token = tokens.token_for(invitation.token_nonce)
    assert tokens.PLACEHOLDER in stored.text_body and tokens.PLACEHOLDER in stored.html_body
    assert token not in stored.text_body + stored.html_body + str(stored.headers)

    send_email.apply(args=[stored.pk])  # what the worker runs for the queued row

    [received] = smtp_server.messages
    message = received.message
    assert received.rcpt_tos == [contact.email]
    assert message["Message-ID"] == stored.message_id
    assert message["Subject"] == question
    assert tokens.PLACEHOLDER.encode() not in received.raw
    low, high = LABELS[kind]
    company = settings.COMPANY_NAME

    # RFC 2369 / RFC 8058 unsubscribe headers: one URL in angle brackets, and the one-click POST.
    list_unsubscribe = message["List-Unsubscribe"].strip()  # folded onto its own line: it is long
    assert (
        list_unsubscribe.startswith("<")
        and list_unsubscribe.endswith(">")
        and list_unsubscribe.count("<") == 1
    )
    unsubscribe_url = list_unsubscribe[1:-1]
    assert unsubscribe_url.startswith(settings.SITE_URL + "/u/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Plain text: greeting, question, one link per score with the real token, end labels, footer.
    text = received.text
    assert text.startswith("Hi Ana,")
    assert question in text
    text_urls = [word for word in text.split() if word.startswith("http")]
    assert score_links(text_urls, token) == SCALES[kind]
    first_line = next(line for line in text.splitlines() if f"?score={SCALES[kind][0]}" in line)
    last_line = next(line for line in text.splitlines() if f"?score={SCALES[kind][-1]}" in line)
    assert f"({low})" in first_line and f"({high})" in last_line
    footer = text.split("\n-- \n", 1)[1]
    assert survey.name in footer and company in footer and "Globex Ltd" in footer
    assert unsubscribe_url in footer

    # HTML: the same links as buttons labelled with their score, the end labels, the footer.
    html = received.html
    links = Links(html).links
    answer_links = [(href, label) for href, label in links if "/s/" in href]
    assert score_links([href for href, _ in answer_links], token) == SCALES[kind]
    assert [label for _, label in answer_links] == [str(s) for s in SCALES[kind]]
    assert (unsubscribe_url, "Unsubscribe") in links
    assert question in html and low in html and high in html
    assert 'name="viewport"' in html and "max-width:560px" in html  # readable on a phone
    assert f"{survey.name} · {company}" in html

    # Following a link: the GET (a person or a mail scanner) records nothing; the POST the page makes records.
    chosen = SCALES[kind][1]
    url = local(next(href for href, label in answer_links if label == str(chosen)))
    page = client.get(url)
    assert page.status_code == 200
    assert f'value="{chosen}" checked'.encode() in page.content
    assert question.encode() in page.content
    assert not Response.objects.exists()
    answered = client.post(url, {"human": "button", "score": str(chosen)}, HTTP_USER_AGENT="Mozilla/5.0 (test)")
    assert answered.status_code == 200
    response = Response.objects.get()
    assert (response.invitation_id, response.score, response.user_agent) == (
        invitation.pk,
        chosen,
        "Mozilla/5.0 (test)",
    )

    # The footer link opens the unsubscribe page (and unsubscribes nobody by itself).
    assert client.get(local(unsubscribe_url)).status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None


@pytest.mark.django_db
def test_duplicate_task_delivery_sends_one_email(smtp_settings, smtp_server, contact_factory):
    survey = survey_create(name="Quarterly NPS", kind="nps")
    contact = contact_factory()
    invitation = invite(survey, contact)
    assert invitation_dispatch(invitation_id=invitation.pk) is None  # a second dispatch finds it sent
    [email] = OutboundEmail.objects.filter(contact=contact)
    send_email.apply(args=[email.pk])
    send_email.apply(args=[email.pk])  # the broker delivers the same task again
    send_email(email.pk)
    assert len(smtp_server.messages) == 1
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sent", 1)


@pytest.mark.django_db
def test_retried_send_carries_the_same_token(smtp_settings, smtp_server, contact_factory):
    invitation = invite(survey_create(name="Quarterly NPS", kind="nps"), contact_factory())
    smtp_server.fail_next(1, code=451)
    send_email(invitation.email_id)
    email = OutboundEmail.objects.get(pk=invitation.email_id)
    assert email.status == "queued" and not smtp_server.messages
    OutboundEmail.objects.filter(pk=email.pk).update(next_attempt_at=email.created_at)  # the retry is due
    send_email(email.pk)
    [received] = smtp_server.messages
    token = tokens.token_for(invitation.token_nonce)
    assert received.text.count(f"/s/{token}/?score=") == 11


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_one_email(smtp_settings, smtp_server, contact_factory):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL (SQLite serialises writers)")
    invitation = invite(survey_create(name="Quarterly NPS", kind="nps"), contact_factory())
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait(timeout=5)
            results.append(email_send(email_id=invitation.email_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(smtp_server.wait_for(1, timeout=5)) == 1
    assert sorted(r is None for r in results) == [False, True]


@pytest.mark.django_db
def test_reminder_for_a_silent_contact_never_for_one_who_answered(
    smtp_settings, smtp_server, client, contact_factory
):
    survey = survey_create(name="Quarterly NPS", kind="nps", reminder_after_days=3)
    silent, answering = contact_factory(first_name="Sam"), contact_factory()
    silent_invitation, answered_invitation = (
        invite(survey, silent),
        invite(survey, answering, key="campaign:2"),
    )
    client.post(f"/s/{tokens.token_for(answered_invitation.token_nonce)}/", {"human": "button", "score": "9"})
    assert Invitation.objects.get(pk=answered_invitation.pk).status == "answered"

    assert invitation_remind(invitation_id=answered_invitation.pk) is None
    assert not OutboundEmail.objects.filter(kind="survey_reminder", contact=answering).exists()

    assert invitation_remind(invitation_id=silent_invitation.pk) is not None
    assert invitation_remind(invitation_id=silent_invitation.pk) is None  # once
    reminder = OutboundEmail.objects.get(kind="survey_reminder")
    assert reminder.to_email == silent.email
    send_email(reminder.pk)
    [received] = smtp_server.messages
    assert received.message["Subject"].startswith("Reminder: ")
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "we'd still love your answer" in received.text
    # The reminder's links are the same invitation's: answering through them answers the first email.
    token = tokens.token_for(silent_invitation.token_nonce)
    urls = [word for word in received.text.split() if word.startswith("http")]
    assert score_links(urls, token) == list(range(0, 11))
    assert client.post(local(urls[7]), {"human": "button", "score": "7"}).status_code == 200
    assert Response.objects.get(invitation=silent_invitation).score == 7


@pytest.mark.django_db
def test_no_reminder_after_unsubscribing(contact_factory, client):
    contact = contact_factory()
    invitation = invite(survey_create(name="Quarterly NPS", kind="nps", reminder_after_days=3), contact)
    stored = OutboundEmail.objects.get(pk=invitation.email_id)
    client.post(local(stored.headers["List-Unsubscribe"][1:-1]), {"List-Unsubscribe": "One-Click"})
    assert invitation_remind(invitation_id=invitation.pk) is None
    assert not OutboundEmail.objects.filter(kind="survey_reminder").exists()
