import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone

from crm.models import LedgerEntry, OutboundEmail, Task
from crm.tasks import send_email
from surveys.models import Invitation, Response
from surveys.services import invitation_create, invitation_dispatch, survey_create


@pytest.fixture
def nps(db):
    return survey_create(name="Quarterly NPS", kind="nps")


def dispatch(survey, contact, key="campaign:1", capture=None):
    invitation, _ = invitation_create(survey=survey, contact=contact, trigger="campaign", trigger_key=key)
    return invitation_dispatch(invitation_id=invitation.pk)


def sent_links(message):
    return re.findall(r"http://[^\s\"<>]+/s/([A-Za-z0-9_\-]+)/\?score=(\d+)", message.body)


@pytest.mark.django_db
def test_invitation_email_carries_one_link_per_score_and_no_token_is_stored(
    nps, contact_factory, client, django_capture_on_commit_callbacks, loop_worker
):
    contact = contact_factory()
    invitation = dispatch(nps, contact)
    assert invitation.status == "sent"
    email = OutboundEmail.objects.get(idempotency_key=f"survey_invite:{invitation.pk}")
    assert "{{survey_token}}" in email.text_body  # the stored copy holds a placeholder, not the token
    send_email(email.pk)
    message = mail.outbox[-1]
    links = sent_links(message)
    assert [int(s) for _, s in links] == list(range(0, 11))
    token = links[0][0]
    assert token not in str(list(Invitation.objects.values()))
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A scanner's GET records nothing.
    page = client.get(f"/s/{token}/?score=3")
    assert page.status_code == 200 and b'value="3" checked' in page.content
    assert Response.objects.count() == 0
    # The POST the page makes records it, with the user agent and the time since sending.
    with django_capture_on_commit_callbacks(execute=True):
        answered = client.post(
            f"/s/{token}/",
            {"human": "pointermove", "score": "3"},  # the page's script, after the person's first input
            HTTP_USER_AGENT="Mozilla/5.0",
            HTTP_X_REQUESTED_WITH="fetch",
        )
    assert answered.status_code == 200 and answered.json()["band"] == "detractor"
    response = Response.objects.get()
    assert (response.score, response.user_agent, response.kind) == (3, "Mozilla/5.0", "nps")
    assert response.seconds_after_send is not None
    # The detractor becomes a CSM task, once.
    task = Task.objects.get(customer=contact.customer)
    assert task.type == "risk" and task.reason.startswith("Detractor NPS answer from")


@pytest.mark.django_db(transaction=True)
def test_detractor_task_once_and_comment_can_change_within_7_days(nps, contact_factory, client, loop_worker):
    contact = contact_factory()
    invitation = dispatch(nps, contact)
    from surveys import tokens

    token = tokens.token_for(invitation.token_nonce)
    client.post(f"/s/{token}/", {"human": "button", "score": "2"})
    client.post(f"/s/{token}/", {"human": "button", "score": "1", "comment": "Too slow"})
    assert Task.objects.filter(customer=contact.customer).count() == 1
    response = Response.objects.get()
    assert (response.score, response.comment) == (1, "Too slow")
    Response.objects.update(answered_at=timezone.now() - dt.timedelta(days=8))
    late = client.post(f"/s/{token}/", {"human": "button", "score": "10"})
    assert late.status_code == 403 and Response.objects.get().score == 1


@pytest.mark.django_db(transaction=True)
def test_a_closed_follow_up_is_not_made_again_by_a_changed_answer_or_a_second_delivery(
    nps, contact_factory, client, loop_worker
):
    from crm.task_services import task_close
    from surveys.loop import loop_close

    contact = contact_factory()
    invitation = dispatch(nps, contact)
    from surveys import tokens

    token = tokens.token_for(invitation.token_nonce)
    client.post(f"/s/{token}/", {"human": "button", "score": "2"})
    task = Task.objects.get(customer=contact.customer)
    task_close(task=task, status="done")
    response = Response.objects.get()
    loop_close(response_id=response.pk)  # the on-commit callback delivered again
    client.post(f"/s/{token}/", {"human": "button", "score": "8"})  # a passive now...
    client.post(f"/s/{token}/", {"human": "button", "score": "3", "comment": "Still slow"})  # ...and a detractor again
    assert list(Task.objects.filter(customer=contact.customer).values_list("status", flat=True)) == ["done"]


@pytest.mark.django_db
def test_bad_tokens_and_scores(nps, contact_factory, client):
    invitation = dispatch(nps, contact_factory())
    from surveys import tokens

    token = tokens.token_for(invitation.token_nonce)
    assert client.get("/s/not-a-real-token/?score=5").status_code == 404
    assert client.post("/s/not-a-real-token/", {"human": "button", "score": "5"}).status_code == 404
    bad = client.post(f"/s/{token}/", {"human": "button", "score": "11"})
    assert bad.status_code == 400 and b"Choose a score from 0 to 10" in bad.content
    long = client.post(f"/s/{token}/", {"human": "button", "score": "5", "comment": "x" * 5001})
    assert long.status_code == 400
    assert Response.objects.count() == 0
    Invitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(f"/s/{token}/?score=5").status_code == 410
    assert client.post(f"/s/{token}/", {"human": "button", "score": "5"}).status_code == 410
    assert Response.objects.count() == 0


@pytest.mark.django_db
def test_one_survey_per_30_days_across_surveys(nps, contact_factory):
    csat = survey_create(name="Support CSAT", kind="csat")
    contact = contact_factory()
    assert dispatch(nps, contact).status == "sent"
    second = dispatch(csat, contact, key="campaign:2")
    assert (second.status, second.suppressed_reason) == ("suppressed", "surveyed today")
    entries = list(LedgerEntry.objects.filter(contact=contact).values_list("outcome", "reason"))
    assert sorted(entries) == [("sent", ""), ("suppressed", "surveyed today")]
    # Dispatching the same invitation again does nothing.
    assert invitation_dispatch(invitation_id=second.pk) is None


@pytest.mark.django_db
def test_unsubscribe_get_never_unsubscribes_post_does(nps, contact_factory, client):
    contact = contact_factory()
    invitation = dispatch(nps, contact)
    email = OutboundEmail.objects.get(idempotency_key=f"survey_invite:{invitation.pk}")
    url = re.search(r"<(http[^>]+)>", email.headers["List-Unsubscribe"]).group(1).replace("http://127.0.0.1:8000", "")
    assert client.get(url).status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is None
    one_click = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    contact.refresh_from_db()
    assert contact.unsubscribed_at is not None
    later = dispatch(nps, contact, key="campaign:9")
    assert (later.status, later.suppressed_reason) == ("suppressed", "unsubscribed")
    assert client.get("/u/unsubscribe/forged/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("keep_old_key", [True, False])
def test_links_work_after_the_secret_key_is_rotated(nps, contact_factory, client, settings, keep_old_key):
    """An invitation scheduled (its token made) under one key and emailed under another gets working links:
    derived with the old key when it is kept as a fallback, else a new token from the current key."""
    contact = contact_factory()
    invitation, _ = invitation_create(survey=nps, contact=contact, trigger="campaign", trigger_key="campaign:k")
    old_hash = invitation.token_hash
    from crm.unsubscribe import unsubscribe_token

    old_unsubscribe = unsubscribe_token(contact)  # in an email sent before the rotation
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY] if keep_old_key else []
    settings.SECRET_KEY = "a-brand-new-key-" + "x" * 50
    invitation_dispatch(invitation_id=invitation.pk)
    send_email(OutboundEmail.objects.get(idempotency_key=f"survey_invite:{invitation.pk}").pk)
    token, score = sent_links(mail.outbox[-1])[7]
    invitation.refresh_from_db()
    assert (invitation.token_hash == old_hash) is keep_old_key
    assert client.get(f"/s/{token}/?score={score}").status_code == 200
    assert client.post(f"/s/{token}/", {"human": "button", "score": score}).status_code == 200
    assert Response.objects.get(invitation=invitation).score == int(score)
    # An unsubscribe link signed under the old key still works while the old key is kept.
    assert client.get(f"/u/unsubscribe/{old_unsubscribe}/").status_code == (200 if keep_old_key else 404)
