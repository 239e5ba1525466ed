"""The public answer page: GET never records, POST records; the follow-up question; 7 days to change; friendly
404/410 pages and clear 400s for bad input, never a 500."""

import datetime as dt
import html as htmllib
import re

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from crm.models import TimelineEvent
from surveys import tokens
from surveys.models import Invitation, Response
from surveys.services import invitation_create, invitation_dispatch, survey_create

UNHAPPY = "We're sorry to hear that. What could we have done better?"
GENERAL = "What is the main reason for your score?"


def invite(contact, kind="nps", key="campaign:1", sent_at=None, **options):
    survey = survey_create(name=f"Quarterly {kind.upper()}", kind=kind, **options)
    scheduled = sent_at or timezone.now()
    invitation, _ = invitation_create(
        survey=survey, contact=contact, trigger="campaign", trigger_key=key, scheduled_for=scheduled
    )
    invitation = invitation_dispatch(invitation_id=invitation.pk, now=scheduled)
    return invitation, f"/s/{tokens.token_for(invitation.token_nonce)}/"


@pytest.fixture
def nps_link(db, contact_factory):
    return invite(contact_factory())


def follow_up(html: str) -> str:
    """The follow-up question the page asks (the label of the comment box)."""
    return htmllib.unescape(
        re.search(r'<label class="follow-up" for="comment" id="follow-up">([^<]*)</label>', html)[1]
    )


def nothing_recorded(invitation):
    invitation.refresh_from_db()
    return not Response.objects.exists() and invitation.status == "sent"


@pytest.mark.django_db
def test_get_shows_the_clicked_score_selected_and_records_nothing(nps_link, client):
    invitation, url = nps_link
    page = client.get(f"{url}?score=4")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('type="radio"') == 11 and html.count(" checked") == 1
    assert 'value="4" checked' in html
    assert "How likely are you to recommend Acme Software to a friend or colleague?" in html
    assert "0 = Not at all likely" in html and "10 = Extremely likely" in html
    assert "Acme Software" in html and "Quarterly NPS" in html
    assert (
        follow_up(html) == UNHAPPY
    )  # 4 is a detractor's score: the follow-up question asks what to do better
    assert 'id="submit"' in html  # the visible button for browsers without JavaScript, and a hint to press it
    assert "Your answer is not sent yet: press Submit below." in html
    assert "data-autosubmit" in html and "surveys/answer.js" in html  # the script records after human input
    assert page["Cache-Control"].startswith("max-age=0") and "no-store" in page["Cache-Control"]
    assert client.head(f"{url}?score=4").status_code == 200
    assert nothing_recorded(invitation)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "scale", "low", "high"),
    [
        ("ces", range(1, 8), "Strongly disagree", "Strongly agree"),
        ("csat", range(1, 6), "Very dissatisfied", "Very satisfied"),
    ],
)
def test_each_kind_has_its_scale(contact_factory, client, kind, scale, low, high):
    _, url = invite(contact_factory(), kind=kind)
    html = client.get(f"{url}?score={scale[-1]}").content.decode()
    assert [f'value="{s}"' in html for s in range(0, 12)] == [s in scale for s in range(0, 12)]
    assert f'value="{scale[-1]}" checked' in html and follow_up(html) == GENERAL
    assert f"{scale[0]} = {low}" in html and f"{scale[-1]} = {high}" in html
    # A score outside this scale (0 for CES/CSAT) selects nothing and asks the script to record nothing.
    outside = client.get(f"{url}?score=0").content.decode()
    assert " checked" not in outside and "data-autosubmit" not in outside


@pytest.mark.django_db
def test_post_records_with_user_agent_and_seconds_since_send(contact_factory, client):
    invitation, url = invite(contact_factory(), sent_at=timezone.now() - dt.timedelta(hours=1))
    answered = client.post(
        url,
        {"score": "9", "autosubmit": "1", "comment": "", "human": "pointermove"},
        HTTP_USER_AGENT="Mozilla/5.0 (iPhone)",
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert answered.status_code == 200
    assert answered.json() == {"score": 9, "band": "promoter", "follow_up": GENERAL}
    response = Response.objects.get()
    assert (response.score, response.kind, response.user_agent) == (9, "nps", "Mozilla/5.0 (iPhone)")
    assert 3595 <= response.seconds_after_send <= 3700
    invitation.refresh_from_db()
    assert invitation.status == "answered"
    assert TimelineEvent.objects.filter(customer=invitation.customer, kind="survey.answered").count() == 1
    # A detractor is asked the unhappy follow-up question.
    detractor = client.post(url, {"human": "pointermove", "score": "2"}, HTTP_X_REQUESTED_WITH="fetch")
    assert detractor.json()["follow_up"] == UNHAPPY


@pytest.mark.django_db
def test_without_javascript_the_form_records_then_asks_the_follow_up(nps_link, client):
    _, url = nps_link
    page = client.post(url, {"human": "button", "score": "3", "comment": ""})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Thank you! Your answer (3) is saved." in html
    assert follow_up(html) == UNHAPPY and 'name="comment"' in html and 'value="3" checked' in html
    assert "data-autosubmit" not in html  # nothing left to record by script
    commented = client.post(url, {"human": "button", "score": "3", "comment": "  Onboarding took weeks.  "})
    assert "Thank you! Your answer (3) and your comment are saved." in commented.content.decode()
    response = Response.objects.get()
    assert (response.score, response.comment) == (3, "Onboarding took weeks.")
    # Opening the email link again shows the recorded answer.
    again = client.get(url).content.decode()
    assert "Your answer (3) is recorded" in again and "Onboarding took weeks." in again


@pytest.mark.django_db
def test_the_answer_can_change_for_7_days_then_is_read_only(nps_link, client):
    _, url = nps_link
    client.post(url, {"human": "button", "score": "6", "comment": "Slow support"})
    # Clicking another score in the email within the window selects it; only the page's POST changes it.
    page = client.get(f"{url}?score=8").content.decode()
    assert 'value="8" checked' in page and "data-autosubmit" in page
    assert Response.objects.get().score == 6
    assert client.post(url, {"human": "button", "score": "8"}).status_code == 200
    response = Response.objects.get()
    assert (response.score, response.comment) == (8, "Slow support")  # a POST without a comment keeps it
    client.post(url, {"human": "button", "score": "8", "comment": "Better now"})
    assert Response.objects.get().comment == "Better now"

    Response.objects.update(answered_at=timezone.now() - dt.timedelta(days=7, minutes=1))
    late_page = client.get(f"{url}?score=1")
    html = late_page.content.decode()
    assert late_page.status_code == 200
    assert "can no longer be changed" in html and "<form" not in html and "<script" not in html
    assert "Better now" in html
    assert client.post(url, {"human": "pointermove", "score": "1", "comment": "x"}).status_code == 403
    refused = client.post(url, {"human": "pointermove", "score": "1"}, HTTP_X_REQUESTED_WITH="fetch")
    assert refused.status_code == 403 and refused.json() == {
        "detail": "This answer can no longer be changed."
    }
    response = Response.objects.get()
    assert (response.score, response.comment) == (8, "Better now")


@pytest.mark.django_db
def test_one_response_per_invitation_enforced_by_the_database(nps_link, client):
    invitation, url = nps_link
    for score in ("1", "5", "10"):
        client.post(url, {"human": "button", "score": score})
    assert Response.objects.filter(invitation=invitation).count() == 1
    first = Response.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Response.objects.create(
            invitation=invitation,
            survey=first.survey,
            customer=first.customer,
            contact=first.contact,
            kind="nps",
            score=4,
            answered_at=timezone.now(),
            updated_at=timezone.now(),
        )


@pytest.mark.django_db
def test_posting_needs_no_cookie_or_csrf_token(nps_link):
    """The token in the URL is the proof: a browser that blocks cookies can still answer."""
    _, url = nps_link
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(url, {"human": "button", "score": "7"}).status_code == 200
    assert Response.objects.get().score == 7


@pytest.mark.django_db
def test_unknown_tampered_and_expired_links(nps_link, client, contact_factory):
    invitation, url = nps_link
    token = url.split("/")[2]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (
        "/s/not-a-real-token/",
        f"/s/{tampered}/",
        f"/s/{token[:-3]}/",
        f"/s/{token}x/",
        f"/s/{'a' * 5000}/",
        "/s/%00/",
        "/s/%E2%9C%93/",
    ):
        for method in ("get", "post"):
            page = getattr(client, method)(f"{bad}?score=5", {"score": "5"} if method == "post" else None)
            assert page.status_code == 404, (bad, method)
            assert b"Survey not found" in page.content and b"This survey link is not valid" in page.content
    assert nothing_recorded(invitation)

    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    for page in (
        client.get(f"{url}?score=5"),
        client.post(url, {"human": "pointermove", "score": "5"}),
        client.post(url, {"human": "pointermove", "score": "5"}, HTTP_X_REQUESTED_WITH="fetch"),
    ):
        assert page.status_code == 410 and b"This survey has closed" in page.content
    assert nothing_recorded(invitation)

    # The link of an invitation that was never sent (suppressed by the ledger) is closed too.
    suppressed, suppressed_url = invite(invitation.contact, kind="csat", key="campaign:2")
    assert suppressed.status == "suppressed"
    assert client.get(f"{suppressed_url}?score=5").status_code == 410
    assert client.post(suppressed_url, {"human": "button", "score": "5"}).status_code == 410
    assert not Response.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {"score": "11"},
        {"score": "-1"},
        {"score": "99999999999999999999999999"},
        {"score": "9" * 5000},
        {"score": "ten"},
        {"score": "5.0"},
        {"score": ""},
        {"comment": "Missing score"},
        {},
    ],
    ids=["11", "negative", "huge", "5000-digits", "text", "decimal", "empty", "missing", "nothing"],
)
def test_bad_scores_are_a_clear_400(nps_link, client, data):
    invitation, url = nps_link
    page = client.post(url, {**data, "human": "button"})
    assert page.status_code == 400
    assert b"Choose a score from 0 to 10." in page.content and b'role="alert"' in page.content
    fetched = client.post(url, {**data, "human": "pointermove"}, HTTP_X_REQUESTED_WITH="fetch")
    assert fetched.status_code == 400
    assert fetched.json() == {"errors": {"score": ["Choose a score from 0 to 10."]}}
    assert nothing_recorded(invitation)


@pytest.mark.django_db
def test_bad_comments_are_a_clear_400_and_keep_what_was_typed(nps_link, client):
    invitation, url = nps_link
    long = client.post(url, {"human": "button", "score": "5", "comment": "é" * 5001})
    assert long.status_code == 400 and b"Please keep your comment under 5000 characters." in long.content
    assert ("é" * 5001).encode() in long.content  # not lost: the person can shorten it
    nul = client.post(url, {"human": "button", "score": "5", "comment": "a\x00b"})
    assert nul.status_code == 400 and b"Null characters are not allowed." in nul.content
    assert nothing_recorded(invitation)
    # The longest allowed comment and a user agent with odd bytes are fine.
    ok = client.post(
        url, {"human": "button", "score": "5", "comment": "é" * 5000}, HTTP_USER_AGENT="Bot\x00/1.0" + "x" * 600
    )
    assert ok.status_code == 200
    response = Response.objects.get()
    assert (
        len(response.comment) == 5000
        and response.user_agent.startswith("Bot/1.0")
        and len(response.user_agent) == 500
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "?score=99999999999999999999",
        "?score=-1",
        "?score=abc",
        "?score=",
        "?score=%00",
        "?score=" + "9" * 5000,
        "?score=5&score=x",
        "?foo=bar",
        "",
    ],
)
def test_odd_links_show_the_page_with_nothing_selected_or_recorded(nps_link, client, query):
    invitation, url = nps_link
    page = client.get(url + query)
    assert page.status_code == 200
    assert b" checked" not in page.content and b"data-autosubmit" not in page.content
    assert nothing_recorded(invitation)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_other_methods_are_405(nps_link, client, method):
    invitation, url = nps_link
    assert (
        getattr(client, method)(url, "score=5", content_type="application/x-www-form-urlencoded").status_code
        == 405
    )
    assert nothing_recorded(invitation)


@pytest.mark.django_db
def test_a_record_without_human_input_is_refused_and_records_nothing(nps_link, client):
    """What a scanner's script (or any program) could POST without a person's input: 409, nothing stored."""
    invitation, url = nps_link
    client.get(f"{url}?score=9")
    fetched = client.post(url, {"score": "9", "autosubmit": "1"}, HTTP_X_REQUESTED_WITH="fetch")
    assert fetched.status_code == 409
    assert fetched.json() == {"detail": "Your answer is not saved yet: press Submit.", "confirm": False}
    faked = client.post(url, {"score": "9", "human": "onload"}, HTTP_X_REQUESTED_WITH="fetch")
    assert faked.status_code == 409
    page = client.post(url, {"score": "9", "comment": "typed"})
    assert page.status_code == 409
    html = page.content.decode()
    assert "Please confirm your answer (9): press Confirm below." in html and 'value="9" checked' in html
    assert '<button type="submit" id="submit" name="human" value="button">Confirm</button>' in html
    assert ">typed</textarea>" in html
    assert nothing_recorded(invitation)
    # The person's input (as the page's script reports it) records the score.
    recorded = client.post(url, {"score": "9", "human": "pointermove"}, HTTP_X_REQUESTED_WITH="fetch")
    assert recorded.status_code == 200 and Response.objects.get().score == 9


@pytest.mark.django_db
def test_several_scores_opened_within_seconds_ask_the_person_to_confirm(nps_link, client):
    """A scanner opens every score link of the email within seconds: the page then asks for a button press, and a
    script's record, even after (simulated) input, is refused until then."""
    invitation, url = nps_link
    first = client.get(f"{url}?score=0").content.decode()
    assert "data-autosubmit" in first and "press Confirm" not in first  # one link: one click records
    for score in range(1, 11):
        page = client.get(f"{url}?score={score}").content.decode()
        assert "data-autosubmit" not in page
        assert f"Please confirm your answer ({score}): press Confirm below." in page
        assert ">Confirm</button>" in page
    for signal in ("pointermove", "pointerdown", "touchstart", "keydown", "change"):
        refused = client.post(url, {"score": "10", "human": signal}, HTTP_X_REQUESTED_WITH="fetch")
        assert refused.status_code == 409 and refused.json()["confirm"] is True
    assert nothing_recorded(invitation)
    # The person presses Confirm: recorded.
    confirmed = client.post(url, {"score": "7", "human": "button"})
    assert confirmed.status_code == 200 and "Thank you! Your answer (7) is saved." in confirmed.content.decode()
    assert Response.objects.get().score == 7


@pytest.mark.django_db
def test_the_page_has_no_inline_script(nps_link, client):
    """The Content-Security-Policy allows no inline script: the page's script is a static file."""
    _, url = nps_link
    for html in (client.get(f"{url}?score=5").content.decode(), client.get(url).content.decode()):
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/surveys/answer.js" defer>']
        assert not re.search(r"\son[a-z]+=", html)
