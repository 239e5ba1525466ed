"""Closing the loop on answers (surveys.loop): the follow-up task or ticket of an unhappy answer and what a
later comment or score does to it, the promoter's thank-you through the contact ledger, the loop in a worker with
an inline fallback and a sweep, and the time since the email the contact answered."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.ledger import contact_mark_bounced, contact_mark_complained, ledger_check, ledger_record
from crm.models import LedgerEntry, OutboundEmail, Task, TimelineEvent
from crm.tasks import send_email
from surveys import tokens
from surveys.loop import loop_close, loop_sweep
from surveys.models import Invitation, Response
from surveys.services import invitation_create, invitation_dispatch, invitation_remind, survey_answer, survey_create


@pytest.fixture
def nps(db):
    return survey_create(name="Quarterly NPS", kind="nps")


def dispatch(survey, contact, key="campaign:1", now=None):
    invitation, _ = invitation_create(
        survey=survey, contact=contact, trigger="campaign", trigger_key=key, scheduled_for=now
    )
    return invitation_dispatch(invitation_id=invitation.pk, now=now)


def answer_url(invitation):
    return f"/s/{tokens.token_for(invitation.token_nonce)}/"


def follow_up_events(customer):
    return list(
        TimelineEvent.objects.filter(customer=customer, kind__startswith="survey.follow_up")
        .order_by("occurred_at", "id")
        .values_list("kind", "payload")
    )


# --- A comment or score after the one-click answer -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_comment_saved_after_the_one_click_score_reaches_the_open_task_and_the_timeline(
    nps, contact_factory, client, loop_worker
):
    contact = contact_factory(email="ana@globex.example")
    invitation = dispatch(nps, contact)
    url = answer_url(invitation)

    # The page records the clicked score by script as soon as it is shown: the task is made without a comment.
    assert client.post(url, {"human": "pointermove", "score": "2"}, HTTP_X_REQUESTED_WITH="fetch").status_code == 200
    response = Response.objects.get()
    assert loop_worker == [response.pk]  # closed in a worker
    task = Task.objects.get(customer=contact.customer)
    assert task.reason == f"Detractor NPS answer from ana@globex.example (invitation {invitation.pk}): 2"
    assert task.priority == "high"

    # Then the person writes why and saves: the CSM's task and the timeline say it.
    assert client.post(url, {"human": "button", "score": "2", "comment": "The import kept failing."}).status_code == 200
    task = Task.objects.get(customer=contact.customer)
    assert task.reason.endswith(': 2 "The import kept failing."')
    events = follow_up_events(contact.customer)
    assert [kind for kind, _ in events] == ["survey.follow_up", "survey.follow_up_updated"]
    assert (events[0][1]["task_id"], events[0][1]["comment"]) == (task.pk, "")
    assert (events[1][1]["score"], events[1][1]["comment"]) == (2, "The import kept failing.")
    assert TimelineEvent.objects.filter(kind="task.updated", source_id=str(task.pk)).count() == 1

    # The same answer saved again, or its task delivered again, changes nothing.
    client.post(url, {"human": "button", "score": "2", "comment": "The import kept failing."})
    loop_close(response_id=response.pk)
    assert len(follow_up_events(contact.customer)) == 2
    assert Task.objects.filter(customer=contact.customer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_changed_score_is_on_the_open_task_and_a_new_unhappy_score_makes_one(
    nps, contact_factory, client, loop_worker
):
    contact = contact_factory(email="bo@globex.example")
    invitation = dispatch(nps, contact)
    url = answer_url(invitation)
    client.post(url, {"human": "button", "score": "3", "comment": "Slow support"})
    client.post(url, {"human": "button", "score": "9"})  # thought better of it
    task = Task.objects.get(customer=contact.customer)
    assert task.status == "open" and task.priority == "normal"
    assert task.reason == (
        f'Changed NPS answer from bo@globex.example (invitation {invitation.pk}): now 9 (promoter) "Slow support"'
    )
    client.post(url, {"human": "button", "score": "1"})  # ...and worse again
    task = Task.objects.get(customer=contact.customer)
    assert task.priority == "high" and task.reason.startswith("Detractor NPS answer from bo@globex.example")

    # Happy first, then unhappy: a follow-up is made at the change.
    other = contact_factory(email="cy@initech.example")
    second = dispatch(nps, other, key="campaign:2")
    client.post(answer_url(second), {"human": "button", "score": "10"})
    assert not Task.objects.filter(customer=other.customer).exists()
    client.post(answer_url(second), {"human": "button", "score": "4", "comment": "Changed my mind"})
    task = Task.objects.get(customer=other.customer)
    assert task.reason.endswith(': 4 "Changed my mind"')


@pytest.mark.django_db(transaction=True)
def test_a_comment_on_a_done_task_is_on_the_timeline_and_the_task_stays_done(
    nps, contact_factory, client, loop_worker
):
    from crm.task_services import task_close

    contact = contact_factory()
    invitation = dispatch(nps, contact)
    client.post(answer_url(invitation), {"human": "button", "score": "0"})
    task = task_close(task=Task.objects.get(customer=contact.customer), status="done")
    client.post(answer_url(invitation), {"human": "button", "score": "0", "comment": "Still waiting"})
    task.refresh_from_db()
    assert task.status == "done" and "Still waiting" not in task.reason
    kind, payload = follow_up_events(contact.customer)[-1]
    assert (kind, payload["comment"]) == ("survey.follow_up_updated", "Still waiting")
    assert TimelineEvent.objects.get(kind="survey.follow_up_updated").summary.startswith(
        "Follow-up updated (task already done)"
    )


# --- Ticket mode ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ticket_mode_opens_one_ticket_and_the_later_comment_is_the_contacts_message(
    contact_factory, client, loop_worker
):
    from tickets.models import Ticket

    survey = survey_create(name="Support CSAT", kind="csat", on_unhappy="ticket")
    contact = contact_factory()
    invitation = dispatch(survey, contact)
    url = answer_url(invitation)
    client.post(url, {"human": "pointermove", "score": "1"}, HTTP_X_REQUESTED_WITH="fetch")
    ticket = Ticket.objects.get(customer=contact.customer)
    assert (ticket.requester, ticket.priority, ticket.tags) == (contact, "high", ["survey-follow-up"])
    assert ticket.subject == f"Survey follow-up: CSAT 1 (invitation {invitation.pk})"
    assert not Task.objects.exists()
    [(kind, payload)] = follow_up_events(contact.customer)
    assert (kind, payload["ticket_id"]) == ("survey.follow_up", ticket.pk)

    # An agent renames the ticket: the follow-up is still found by its link, not by its subject.
    Ticket.objects.filter(pk=ticket.pk).update(subject="Customer unhappy with onboarding")
    loop_close(response_id=Response.objects.get().pk)
    client.post(url, {"human": "button", "score": "1", "comment": "Nobody answered my emails."})
    assert Ticket.objects.filter(customer=contact.customer).count() == 1
    messages = list(ticket.messages.order_by("created_at", "id").values_list("author_contact", "body_text"))
    assert len(messages) == 2
    assert messages[1] == (contact.pk, "Nobody answered my emails.")
    assert follow_up_events(contact.customer)[-1][1]["comment"] == "Nobody answered my emails."
    # Saved again: no second message.
    client.post(url, {"human": "button", "score": "1", "comment": "Nobody answered my emails."})
    assert ticket.messages.count() == 2


# --- Which answers are followed up, and when it is due -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "score", "followed"),
    [("ces", 1, True), ("ces", 3, True), ("ces", 4, False), ("csat", 1, True), ("csat", 2, True), ("csat", 3, False)],
)
def test_hard_ces_and_unhappy_csat_make_a_task_neutral_ones_do_not(
    kind, score, followed, contact_factory, django_capture_on_commit_callbacks, loop_worker
):
    survey = survey_create(name=f"Support {kind.upper()}", kind=kind)
    contact = contact_factory()
    invitation = dispatch(survey, contact)
    with django_capture_on_commit_callbacks(execute=True):
        survey_answer(invitation=invitation, score=score)
    tasks = list(Task.objects.filter(customer=contact.customer).values_list("type", "reason"))
    if followed:
        reason = f"Unhappy {kind.upper()} answer from {contact.email} (invitation {invitation.pk}): {score}"
        assert tasks == [("risk", reason)]
    else:
        assert tasks == [] and loop_worker == []  # nothing to follow up: nothing queued


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tz", "answered", "due"),
    [
        # Monday 03:00 UTC is still Sunday evening in Los Angeles: due Tuesday (from the UTC date: Wednesday).
        ("America/Los_Angeles", dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC), dt.date(2026, 3, 3)),
        # Thursday 20:00 UTC is Friday morning in Auckland: due Tuesday, over the weekend (UTC: Monday).
        ("Pacific/Auckland", dt.datetime(2026, 3, 5, 20, 0, tzinfo=dt.UTC), dt.date(2026, 3, 10)),
        ("UTC", dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC), dt.date(2026, 3, 10)),
    ],
)
def test_the_task_is_due_two_business_days_after_the_answer_in_the_customers_time_zone(
    tz, answered, due, nps, contact_factory, customer_factory
):
    contact = contact_factory(customer=customer_factory(timezone=tz))
    invitation = dispatch(nps, contact, now=answered - dt.timedelta(days=1))
    response, _ = survey_answer(invitation=invitation, score=5, now=answered)
    loop_close(response_id=response.pk)
    assert Task.objects.get(customer=contact.customer).due_date == due


# --- The loop in a worker, inline when the broker is down, and the sweep -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_answer_is_saved_when_closing_the_loop_fails_and_the_sweep_makes_the_follow_up_once(
    nps, contact_factory, client, monkeypatch
):
    from surveys import loop
    from surveys.tasks import close_loop

    contact = contact_factory()
    invitation = dispatch(nps, contact)

    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    def failing(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(close_loop, "delay", broker_down)
    monkeypatch.setattr(loop, "loop_close", failing)
    fetch = client.post(answer_url(invitation), {"human": "pointermove", "score": "2"}, HTTP_X_REQUESTED_WITH="fetch")
    assert fetch.status_code == 200 and fetch.json()["band"] == "detractor"
    page = client.post(answer_url(invitation), {"human": "button", "score": "2", "comment": "Too slow"})
    assert page.status_code == 200 and b"Too slow" in page.content
    response = Response.objects.get()
    assert (response.score, response.comment) == (2, "Too slow")
    assert not Task.objects.exists()

    # The sweep waits for the task queued on commit (grace), then queues the loop again, once it is lost.
    monkeypatch.undo()
    published = []
    monkeypatch.setattr(close_loop, "delay", lambda response_id: published.append(response_id))
    assert loop_sweep() == 0
    later = timezone.now() + dt.timedelta(minutes=11)
    assert loop_sweep(now=later) == 1 and published == [response.pk]
    for response_id in published * 2:  # a worker, and the message delivered twice
        close_loop.apply((response_id,))
    task = Task.objects.get(customer=contact.customer)
    assert task.reason.endswith(': 2 "Too slow"')
    assert loop_sweep(now=later) == 0  # followed up: nothing more to queue
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_when_the_broker_is_down_the_loop_closes_inline(
    nps, contact_factory, django_capture_on_commit_callbacks, monkeypatch
):
    from surveys.tasks import close_loop

    def broker_down(*args):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(close_loop, "delay", broker_down)
    contact = contact_factory()
    invitation = dispatch(nps, contact)
    with django_capture_on_commit_callbacks(execute=True):
        survey_answer(invitation=invitation, score=6)
    assert Task.objects.filter(customer=contact.customer, source_id=str(invitation.pk)).count() == 1


# --- Thank-you and reminders through the contact ledger ------------------------------------------------------


@pytest.mark.django_db
def test_a_promoter_receives_the_thank_you_once(
    smtp_settings, smtp_server, contact_factory, django_capture_on_commit_callbacks, loop_worker
):
    survey = survey_create(name="Quarterly NPS", kind="nps", thank_promoters=True)
    contact = contact_factory(first_name="Ana")
    invitation = dispatch(survey, contact)
    with django_capture_on_commit_callbacks(execute=True):
        survey_answer(invitation=invitation, score=10)
    with django_capture_on_commit_callbacks(execute=True):
        survey_answer(invitation=invitation, score=9, comment="Great support")  # a change: no second thank-you
    [email] = OutboundEmail.objects.filter(kind="survey_thanks")
    send_email.apply(args=[email.pk])
    [received] = smtp_server.messages
    assert received.rcpt_tos == [contact.email]
    assert received.message["Subject"] == "Thank you from Acme Software"
    assert received.text.startswith("Hi Ana,\n\nThank you for your feedback")
    assert "/u/unsubscribe/" in received.text and received.message["List-Unsubscribe-Post"]
    entries = list(LedgerEntry.objects.filter(contact=contact).values_list("subkind", "outcome"))
    assert sorted(entries) == [("nps", "sent"), ("thanks", "sent")]


@pytest.mark.django_db
def test_a_bounced_promoter_gets_no_thank_you_and_the_ledger_says_why(
    contact_factory, django_capture_on_commit_callbacks, loop_worker
):
    survey = survey_create(name="Quarterly NPS", kind="nps", thank_promoters=True)
    contact = contact_factory()
    invitation = dispatch(survey, contact)
    contact_mark_bounced(contact=contact, detail="550 no such user")
    with django_capture_on_commit_callbacks(execute=True):
        survey_answer(invitation=invitation, score=10)
    assert not OutboundEmail.objects.filter(kind="survey_thanks").exists()
    entry = LedgerEntry.objects.get(contact=contact, subkind="thanks")
    assert (entry.kind, entry.outcome, entry.reason) == ("survey", "suppressed", "bounced")
    assert (entry.source_type, entry.source_id) == (ContentType.objects.get_for_model(Invitation), str(invitation.pk))
    assert TimelineEvent.objects.filter(kind="survey.suppressed", summary__contains="thank-you").count() == 1


@pytest.mark.django_db
def test_a_complained_contact_gets_no_reminder_and_a_reminder_is_in_the_ledger(nps, contact_factory):
    reached, complained = contact_factory(), contact_factory()
    first, second = dispatch(nps, reached), dispatch(nps, complained, key="campaign:2")
    contact_mark_complained(contact=complained, detail="abuse report")
    later = timezone.now() + dt.timedelta(days=3)
    assert invitation_remind(invitation_id=first.pk, now=later) is not None
    assert invitation_remind(invitation_id=second.pk, now=later) is None
    assert invitation_remind(invitation_id=second.pk, now=later) is None  # delivered again: recorded once
    assert list(OutboundEmail.objects.filter(kind="survey_reminder").values_list("contact", flat=True)) == [
        reached.pk
    ]
    assert list(
        LedgerEntry.objects.filter(subkind="reminder").order_by("contact").values_list("contact", "outcome", "reason")
    ) == [(reached.pk, "sent", ""), (complained.pk, "suppressed", "complained (marked as spam)")]


@pytest.mark.django_db
def test_thanks_and_reminders_are_not_survey_fatigue(nps, contact_factory):
    contact = contact_factory()
    now = timezone.now()
    ledger_record(contact=contact, kind="survey", subkind="nps", outcome="sent", now=now - dt.timedelta(days=31))
    ledger_record(contact=contact, kind="survey", subkind="reminder", outcome="sent", now=now - dt.timedelta(days=28))
    ledger_record(contact=contact, kind="survey", subkind="thanks", outcome="sent", now=now - dt.timedelta(days=1))
    assert ledger_check(contact=contact, kind="survey", subkind="csat", now=now) is None
    # ...yet they are stopped like the survey.
    contact.unsubscribed_at = now
    assert ledger_check(contact=contact, kind="survey", subkind="thanks", now=now) == "unsubscribed"


# --- Time since the email the contact answered ---------------------------------------------------------------


@pytest.mark.django_db
def test_seconds_after_send_counts_from_the_email_answered_not_from_queueing(nps, contact_factory, client):
    contact = contact_factory()
    now = timezone.now()
    queued = now - dt.timedelta(days=4)
    invitation = dispatch(nps, contact, now=queued)
    send_email(invitation.email_id)
    # The mail server accepted the invitation an hour after it was queued; the reminder three days later.
    OutboundEmail.objects.filter(pk=invitation.email_id).update(sent_at=queued + dt.timedelta(hours=1))
    invitation_remind(invitation_id=invitation.pk, now=now - dt.timedelta(seconds=30))
    send_email(OutboundEmail.objects.get(kind="survey_reminder").pk)
    assert client.post(answer_url(invitation), {"human": "button", "score": "8"}).status_code == 200
    assert Response.objects.get().seconds_after_send < 60  # the reminder's link, seconds after it arrived

    other = contact_factory()
    second = dispatch(nps, other, key="campaign:2", now=queued)
    send_email(second.email_id)
    OutboundEmail.objects.filter(pk=second.email_id).update(sent_at=queued + dt.timedelta(hours=1))
    response, _ = survey_answer(invitation=second, score=7, now=queued + dt.timedelta(hours=2))
    assert response.seconds_after_send == 3600
