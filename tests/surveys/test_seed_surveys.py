"""`seed_demo` configures the three demo surveys and records a year of their history through the survey
services: the seeded history must keep every rule a live send keeps (the ledger's throttle, one response per
invitation, answers only while open, one follow-up per unhappy answer) and send no email."""

import datetime as dt
from io import StringIO
from itertools import pairwise

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.models import LedgerEntry, OutboundEmail, Task, TimelineEvent
from surveys.demo_data import CES_NAME, CSAT_NAME, NPS_NAME
from surveys.models import Invitation, Response, Survey
from surveys.scheduling import period_key, recurring_schedule
from tests.shared_data import shared_rows

pytestmark = pytest.mark.django_db

UNHAPPY = {"detractor", "unhappy"}


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *map(str, args), stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One seeded demo for the whole module (each test's writes are undone after it; see tests/shared_data.py)."""
    yield from shared_rows(django_db_blocker, lambda: seed("--customers", 100, "--tickets", 40, "--seed", 11))


def test_the_three_surveys_are_configured_as_a_team_would(seeded):
    surveys = {s.kind: s for s in Survey.objects.all()}
    assert {s.name for s in surveys.values()} == {NPS_NAME, CSAT_NAME, CES_NAME}
    assert surveys["nps"].recurring_months == 6 and surveys["nps"].reminder_after_days
    assert surveys["csat"].send_after_ticket_solved and surveys["csat"].ticket_solved_delay_hours == 24
    assert all(s.is_active for s in surveys.values())
    assert "Seeded 3 surveys with" in seeded


def test_history_keeps_every_rule_of_a_live_send_and_sends_no_email(seeded):
    now = timezone.now()
    invitations = list(Invitation.objects.select_related("survey"))
    statuses = {i.status for i in invitations}
    assert {"answered", "expired", "suppressed", "sent"} <= statuses
    assert {i.survey.kind for i in invitations} == {"nps", "csat", "ces"}
    assert {i.trigger for i in invitations} == {"recurring", "ticket_solved", "campaign"}
    assert not OutboundEmail.objects.filter(kind__startswith="survey").exists()

    for invitation in invitations:
        if invitation.status == "scheduled":
            assert invitation.scheduled_for > now - dt.timedelta(minutes=1)  # left to the worker
            continue
        assert invitation.scheduled_for <= now
        if invitation.status == "suppressed":
            assert invitation.suppressed_reason and invitation.sent_at is None
            continue
        assert invitation.sent_at == invitation.scheduled_for
        assert invitation.expires_at == invitation.sent_at + dt.timedelta(days=invitation.survey.expiry_days)
        assert (invitation.status == "expired") == (invitation.expires_at <= now and invitation.status != "answered")
        if invitation.reminded_at:
            assert invitation.sent_at < invitation.reminded_at < invitation.expires_at

    # The ledger recorded each send and each suppression at its moment, and its throttle held: no contact got
    # two surveys within 30 days.
    sent = LedgerEntry.objects.filter(kind="survey", outcome="sent")
    assert sent.count() == Invitation.objects.filter(sent_at__isnull=False).count()
    by_contact: dict[int, list[dt.datetime]] = {}
    for contact_id, at in sent.values_list("contact_id", "created_at"):
        by_contact.setdefault(contact_id, []).append(at)
    for times in by_contact.values():
        times.sort()
        assert all(b - a >= dt.timedelta(days=30) for a, b in pairwise(times))
    suppressed = Invitation.objects.filter(status="suppressed")
    assert suppressed.filter(suppressed_reason__startswith="surveyed").exists()
    assert LedgerEntry.objects.filter(kind="survey", outcome="suppressed").count() == suppressed.count()


def test_answers_fall_while_the_invitation_was_open_and_are_on_the_timeline_at_their_time(seeded):
    responses = list(Response.objects.select_related("invitation"))
    assert len(responses) > 50
    assert len({r.score for r in responses if r.kind == "nps"}) >= 8
    assert any(r.comment for r in responses) and any(not r.comment for r in responses)
    for response in responses:
        invitation = response.invitation
        assert invitation.status == "answered"
        assert invitation.sent_at < response.answered_at < invitation.expires_at
        assert response.seconds_after_send == int((response.answered_at - invitation.sent_at).total_seconds())
        assert response.user_agent.startswith("Mozilla/5.0")
    answered_events = dict(TimelineEvent.objects.filter(kind="survey.answered").values_list("source_id", "occurred_at"))
    assert {str(r.pk): r.answered_at for r in responses} == answered_events


def test_each_unhappy_answer_has_one_follow_up_and_old_ones_are_done(seeded):
    now = timezone.now()
    unhappy = [r for r in Response.objects.all() if r.band in UNHAPPY]
    assert unhappy
    tasks = {
        int(t.source_id): t for t in Task.objects.filter(source_type=ContentType.objects.get_for_model(Invitation))
    }
    assert sorted(tasks) == sorted(r.invitation_id for r in unhappy)
    for response in unhappy:
        task = tasks[response.invitation_id]
        assert task.created_at == response.answered_at and task.due_date > response.answered_at.date()
        old = now - response.answered_at > dt.timedelta(days=14)
        assert task.status == ("done" if old else "open")
        assert (task.closed_at is not None) == old


def test_live_scheduling_carries_on_from_the_history(seeded):
    nps = Survey.objects.get(kind="nps")
    # Asked in this cycle (a churned account asked shortly before it left, in the previous cycle, is due again).
    asked = set(
        Invitation.objects.filter(survey=nps, trigger_key=period_key(timezone.now(), nps.recurring_months)).values_list(
            "contact_id", flat=True
        )
    )
    history = set(Invitation.objects.values_list("pk", flat=True))  # some wait for the spacing rule: scheduled
    scheduled = recurring_schedule(survey=nps)
    assert scheduled > 0
    new = (
        Invitation.objects.filter(survey=nps, status="scheduled")
        .exclude(pk__in=history)
        .values_list("contact_id", flat=True)
    )
    assert asked and not asked & set(new)  # contacts asked this cycle are not asked again


def test_results_api_and_admin_show_the_demo_results(seeded, api_client_for, admin_client):
    nps = Survey.objects.get(kind="nps")
    body = api_client_for("read_only").get(f"/api/v1/surveys/{nps.pk}/results/").json()
    assert body["responses"] > 20 and -100 <= body["nps"] <= 100
    assert body["promoters"] + body["passives"] + body["detractors"] == body["responses"]
    page = admin_client.get(reverse("admin:surveys_survey_change", args=[nps.pk]))
    assert page.status_code == 200
