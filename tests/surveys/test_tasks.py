"""The survey scans beat runs (surveys.scheduling / surveys.tasks) and their unit tasks: every invitation is
sent once, reminded once and expired once, however often the scans run and however often a task is
delivered.

Celery runs in this process: the broker is replaced by a recorder of what the tasks publish, and `deliver()`
runs each published message like a worker would, twice by default (a message redelivered after a lost
acknowledgement, as acks_late allows). Time is a test clock (`django.utils.timezone.now` is replaced), so a
scan "tomorrow" runs tomorrow for every service it calls.
"""

import datetime as dt
import threading

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as dj_timezone

import crm.tasks  # noqa: F401  (registers the tasks the broker below stands in for)
import surveys.tasks  # noqa: F401
from config.celery import app as celery_app
from crm.ledger import contact_unsubscribe
from crm.models import OutboundEmail
from surveys import tokens
from surveys.models import Invitation, Response
from surveys.scheduling import (
    campaign_invite,
    campaign_progress,
    campaign_start,
    dispatch_scan,
    expiry_scan,
    reminder_scan,
)
from surveys.services import invitation_create, survey_answer, survey_create

TASKS = (
    "surveys.dispatch_invitation",
    "surveys.dispatch_invitations",
    "surveys.remind_invitation",
    "surveys.remind_invitations",
    "surveys.send_campaign",
    "crm.send_email",
    "crm.send_email_batch",
)
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)  # a Monday


class Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now

    def set(self, moment: dt.datetime) -> dt.datetime:
        self.now = moment
        return moment


@pytest.fixture(name="clock")
def clock_fixture(monkeypatch):
    """The time every service sees (`timezone.now()`), starting Monday 2 March 2026 08:00 UTC."""
    clock = Clock(START)
    monkeypatch.setattr(dj_timezone, "now", clock)
    return clock


class Broker:
    """Stands in for the broker: records what is published; `deliver()` runs it like a worker, `times` times
    per message, until nothing more is published (a dispatch publishes its email's send task)."""

    def __init__(self, capture_on_commit):
        self.published: list[tuple[str, tuple, dict]] = []
        self.capture_on_commit = capture_on_commit
        self.lock = threading.Lock()

    def recorder(self, name):
        def apply_async(args=None, kwargs=None, countdown=None, **options):
            with self.lock:
                self.published.append((name, tuple(args or ()), dict(kwargs or {})))

        return apply_async

    def run(self, function, **kwargs):
        """Call a scan or service and let its transactions' on-commit callbacks publish."""
        with self.capture_on_commit(execute=True):
            return function(**kwargs)

    def take(self, name=None) -> list:
        """Remove and return the published messages (of one task name), without running them."""
        with self.lock:
            taken = [m for m in self.published if name is None or m[0] == name]
            self.published = [m for m in self.published if not (name is None or m[0] == name)]
        return taken

    def ids(self, name) -> list:
        return [args[0] for task, args, _ in self.published if task == name]

    def chunked_ids(self, name) -> list:
        """The ids of chunk tasks (surveys.dispatch_invitations: a list of ids each), in publishing order."""
        return [pk for chunk in self.ids(name) for pk in chunk]

    def deliver(self, times: int = 2) -> list:
        delivered = []
        while self.published:
            with self.lock:
                published, self.published = self.published, []
            for name, args, kwargs in published:
                for _ in range(times):
                    with self.capture_on_commit(execute=True):
                        celery_app.tasks[name].apply(args, kwargs)
            delivered.extend(published)
        return delivered


@pytest.fixture(name="broker")
def broker_fixture(monkeypatch, django_capture_on_commit_callbacks):
    broker = Broker(django_capture_on_commit_callbacks)
    for name in TASKS:
        monkeypatch.setattr(celery_app.tasks[name], "apply_async", broker.recorder(name))
    return broker


@pytest.fixture
def nps(db):
    return survey_create(name="Quarterly NPS", kind="nps")


def invite(survey, contact, key="campaign:1", **kwargs):
    invitation, _ = invitation_create(survey=survey, contact=contact, trigger="campaign", trigger_key=key, **kwargs)
    return invitation


def statuses(*invitations):
    return [Invitation.objects.get(pk=i.pk).status for i in invitations]


# --- Beat ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_scans_are_in_the_beat_schedule_and_registered_with_celery():
    from django_celery_beat.models import PeriodicTask

    from crm.management.commands.setup_periodic_tasks import sync_periodic_tasks

    sync_periodic_tasks()
    rows = dict(PeriodicTask.objects.filter(task__startswith="surveys.").values_list("name", "task"))
    assert rows == {
        "Survey dispatch": "surveys.dispatch_scan",
        "Survey reminders": "surveys.reminder_scan",
        "Survey expiry": "surveys.expiry_scan",
        "Survey follow-ups": "surveys.loop_sweep",
        "Recurring NPS": "surveys.recurring_scan",
    }
    assert PeriodicTask.objects.get(name="Survey dispatch").interval.every == 60
    for task in [*rows.values(), *TASKS]:
        assert task in celery_app.tasks


# --- Dispatch -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_due_invitation_is_sent_once_however_often_the_scan_and_its_tasks_run(broker, clock, nps, contact_factory):
    a, b, later = (contact_factory(email=f"{n}@globex.example") for n in ("ana", "bo", "cy"))
    due_a = invite(nps, a, scheduled_for=clock.now - dt.timedelta(minutes=5))
    due_b = invite(nps, b, scheduled_for=clock.now)
    tomorrow = invite(nps, later, scheduled_for=clock.now + dt.timedelta(days=1))

    # A second scan before any worker ran skips what is already queued...
    assert broker.run(dispatch_scan) == 2
    assert broker.run(dispatch_scan) == 0
    # ...until the requeue delay says the messages were lost: published again (a slow message then runs twice).
    clock.advance(minutes=16)
    assert broker.run(dispatch_scan) == 2
    assert broker.ids("surveys.dispatch_invitations") == [[due_a.pk, due_b.pk]] * 2  # one chunk each time
    # Every message is delivered twice: still one email each.
    broker.deliver(times=2)
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@globex.example", "bo@globex.example"]
    assert OutboundEmail.objects.filter(status="sent").count() == 2
    assert statuses(due_a, due_b, tomorrow) == ["sent", "sent", "scheduled"]
    assert broker.run(dispatch_scan) == 0

    clock.advance(days=1)
    assert broker.run(dispatch_scan) == 1
    broker.deliver()
    assert [m.to[0] for m in mail.outbox][-1] == "cy@globex.example" and len(mail.outbox) == 3
    assert statuses(tomorrow) == ["sent"]


@pytest.mark.django_db
def test_a_task_for_a_deleted_or_already_handled_invitation_does_nothing(broker, clock, nps, contact_factory):
    invitation = invite(nps, contact_factory(), scheduled_for=clock.now)
    broker.run(dispatch_scan)
    broker.deliver()
    assert len(mail.outbox) == 1
    celery_app.tasks["surveys.dispatch_invitations"].apply(([invitation.pk, 999_999],))
    celery_app.tasks["surveys.dispatch_invitation"].apply((invitation.pk,))
    celery_app.tasks["surveys.dispatch_invitation"].apply((999_999,))
    broker.deliver()
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_dispatch_scan_works_in_batches_up_to_its_limit(broker, clock, nps, contact_factory):
    invitations = [invite(nps, contact_factory(), scheduled_for=clock.now) for _ in range(5)]
    assert broker.run(dispatch_scan, batch=2, limit=3) == 3
    assert broker.chunked_ids("surveys.dispatch_invitations") == [i.pk for i in invitations[:3]]
    broker.take()
    assert broker.run(dispatch_scan, batch=2) == 2  # the first three are queued already
    assert broker.chunked_ids("surveys.dispatch_invitations") == [i.pk for i in invitations[3:]]


@pytest.mark.django_db
def test_a_broker_error_releases_what_was_not_published_for_the_next_scan(
    broker, clock, nps, contact_factory, monkeypatch, settings
):
    invitations = [invite(nps, contact_factory(), scheduled_for=clock.now) for _ in range(3)]
    calls = []

    def flaky(args=None, kwargs=None, **options):
        calls.append(args[0])
        if len(calls) == 2:
            raise ConnectionError("broker down")
        broker.published.append(("surveys.dispatch_invitations", tuple(args), {}))

    settings.SURVEYS_DISPATCH_CHUNK = 1  # a task per invitation: the broker fails on the second
    monkeypatch.setattr(celery_app.tasks["surveys.dispatch_invitations"], "apply_async", flaky)
    broker.run(dispatch_scan)
    assert broker.chunked_ids("surveys.dispatch_invitations") == [invitations[0].pk]
    queued = dict(Invitation.objects.values_list("pk", "queued_at"))
    assert queued[invitations[0].pk] is not None and queued[invitations[1].pk] is None
    assert queued[invitations[2].pk] is None
    assert broker.run(dispatch_scan) == 2  # the next minute, without waiting for the requeue delay
    assert broker.chunked_ids("surveys.dispatch_invitations")[1:] == [i.pk for i in invitations[1:]]


@pytest.mark.django_db
def test_dispatch_scan_query_count_does_not_grow_with_the_number_of_due_invitations(
    broker, clock, nps, contact_factory
):
    def queries_for(count):
        Invitation.objects.update(status="cancelled")
        for _ in range(count):
            invite(nps, contact_factory(), key=f"campaign:{count}", scheduled_for=clock.now)
        with CaptureQueriesContext(connection) as captured:
            assert broker.run(dispatch_scan) == count
        broker.take()
        return len(captured.captured_queries)

    assert queries_for(3) == queries_for(30)


# --- Reminders ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reminders_go_once_to_unanswered_reachable_contacts_after_the_delay(broker, clock, contact_factory):
    survey = survey_create(name="Onboarding CSAT", kind="csat", reminder_after_days=3)
    silent, answered, gone = (contact_factory(email=f"{n}@globex.example") for n in ("silent", "answered", "gone"))
    invitations = [invite(survey, c, scheduled_for=clock.now) for c in (silent, answered, gone)]
    broker.run(dispatch_scan)
    broker.deliver()
    assert len(mail.outbox) == 3
    clock.advance(days=1)
    late = invite(survey, contact_factory(email="late@globex.example"), key="campaign:2", scheduled_for=clock.now)
    broker.run(dispatch_scan)
    broker.deliver()
    broker.run(survey_answer, invitation=invitations[1], score=5)
    broker.run(contact_unsubscribe, contact=gone)
    broker.take()
    mail.outbox.clear()

    clock.advance(days=1, hours=23)  # 2 days 23 hours after sending: not yet
    assert broker.run(reminder_scan) == 0
    clock.advance(hours=1)
    assert broker.run(reminder_scan) == 1
    assert broker.run(reminder_scan) == 0  # queued already
    clock.advance(minutes=16)
    assert broker.run(reminder_scan) == 1  # taken as lost: published again, and still one reminder
    broker.deliver(times=2)
    [reminder] = mail.outbox
    assert reminder.to == ["silent@globex.example"] and reminder.subject.startswith("Reminder: ")
    assert Invitation.objects.get(pk=invitations[0].pk).reminded_at == clock.now
    assert broker.run(reminder_scan) == 0

    clock.advance(days=1)  # the invitation sent a day later is due now
    assert broker.run(reminder_scan) == 1
    broker.deliver()
    assert mail.outbox[-1].to == ["late@globex.example"] and len(mail.outbox) == 2
    assert Invitation.objects.get(pk=late.pk).reminded_at is not None


@pytest.mark.django_db
def test_no_reminder_without_a_reminder_delay_or_after_expiry(broker, clock, nps, contact_factory):
    expiring = survey_create(name="Short CSAT", kind="csat", reminder_after_days=3, expiry_days=2)
    invite(nps, contact_factory(), scheduled_for=clock.now)
    invite(expiring, contact_factory(), scheduled_for=clock.now)
    broker.run(dispatch_scan)
    broker.deliver()
    clock.advance(days=10)
    assert broker.run(reminder_scan) == 0


# --- Expiry -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_expiry_closes_unanswered_invitations_once_and_their_links_answer_410(
    broker, clock, nps, contact_factory, client
):
    open_one = invite(nps, contact_factory(), scheduled_for=clock.now)
    answered = invite(nps, contact_factory(), scheduled_for=clock.now)
    broker.run(dispatch_scan)
    broker.deliver()
    broker.run(survey_answer, invitation=answered, score=10)
    clock.advance(days=1)
    fresh = invite(nps, contact_factory(), scheduled_for=clock.now)
    broker.run(dispatch_scan)
    broker.deliver()

    clock.set(START + dt.timedelta(days=30))  # expires_at is exactly now: not past it yet
    assert broker.run(expiry_scan) == 0
    clock.advance(seconds=1)
    assert broker.run(expiry_scan, batch=1) == 1
    assert broker.run(expiry_scan) == 0
    assert statuses(open_one, answered, fresh) == ["expired", "answered", "sent"]
    token = tokens.token_for(Invitation.objects.get(pk=open_one.pk).token_nonce)
    assert client.get(f"/s/{token}/?score=9").status_code == 410
    assert client.post(f"/s/{token}/", {"human": "button", "score": "9"}).status_code == 410
    assert not Response.objects.filter(invitation=open_one).exists()


# --- Campaigns ----------------------------------------------------------------------------------------------


@pytest.fixture
def audience(contact_factory, customer_factory):
    """Enterprise champions (two, one unsubscribed), an enterprise end user, an SMB champion."""
    big, small = customer_factory(tier="enterprise"), customer_factory(tier="smb")
    people = {
        "ana": contact_factory(customer=big, email="ana@big.example", role="champion"),
        "ben": contact_factory(customer=big, email="ben@big.example", role="champion"),
        "eve": contact_factory(customer=big, email="eve@big.example", role="end_user"),
        "sam": contact_factory(customer=small, email="sam@small.example", role="champion"),
    }
    contact_unsubscribe(contact=people["ben"])
    return people


@pytest.mark.django_db
def test_a_campaign_invites_its_audience_once_and_the_dispatch_scan_sends_it(broker, clock, nps, audience, make_staff):
    csm = make_staff("csm")
    campaign, started = broker.run(
        campaign_start, survey=nps, audience={"tiers": ["enterprise"], "roles": ["champion"]}, actor=csm
    )
    key = campaign.trigger_key
    assert started and key.startswith("campaign:")
    [(name, args, kwargs)] = broker.take()
    assert (name, args, kwargs) == (
        "surveys.send_campaign",
        (nps.pk, {"roles": ["champion"], "tiers": ["enterprise"]}, key),
        {"actor_id": csm.pk},
    )
    broker.published.append((name, args, kwargs))
    # The campaign task delivered twice (and the dispatch it leads to): one invitation and one email each.
    broker.deliver(times=2)
    invitations = Invitation.objects.filter(trigger_key=key).select_related("contact")
    assert sorted(i.contact.email for i in invitations) == ["ana@big.example", "ben@big.example"]
    assert {(i.trigger, i.created_by_id, i.status) for i in invitations} == {("campaign", csm.pk, "scheduled")}
    assert len({i.token_hash for i in invitations}) == 2

    broker.run(dispatch_scan)
    broker.deliver(times=2)
    assert [m.to for m in mail.outbox] == [["ana@big.example"]]
    ben = invitations.get(contact__email="ben@big.example")
    assert (ben.status, ben.suppressed_reason) == ("suppressed", "unsubscribed")
    assert campaign_progress(survey=nps, trigger_key=key) == {
        "scheduled": 0,
        "sent": 1,
        "suppressed": 1,
        "cancelled": 0,
        "answered": 0,
        "expired": 0,
    }
    # The same task again, much later: nothing new.
    assert (
        broker.run(
            campaign_invite,
            survey_id=nps.pk,
            audience={"tiers": ["enterprise"], "roles": ["champion"]},
            trigger_key=key,
        )
        == 0
    )
    assert Invitation.objects.filter(trigger_key=key).count() == 2


@pytest.mark.django_db
def test_a_campaign_to_explicit_contacts_and_customers(broker, clock, nps, audience):
    ana, eve, sam = audience["ana"], audience["eve"], audience["sam"]
    campaign, _ = broker.run(
        campaign_start, survey=nps, audience={"customers": [sam.customer_id], "contacts": [sam, eve]}
    )
    broker.deliver()
    key = campaign.trigger_key
    assert list(Invitation.objects.filter(trigger_key=key).values_list("contact_id", flat=True)) == [sam.pk]
    campaign, _ = broker.run(campaign_start, survey=nps, audience={"contacts": [ana.pk, eve.pk]})
    key = campaign.trigger_key
    broker.deliver()
    assert sorted(Invitation.objects.filter(trigger_key=key).values_list("contact_id", flat=True)) == [
        ana.pk,
        eve.pk,
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("audience", "field", "message"),
    [
        ({"tiers": ["gold"]}, "tiers", "Unknown values ['gold']"),
        ({"regions": ["emea"]}, "regions", "Unknown audience filter"),
        ({"owners": ["alice"]}, "owners", "Give ids"),
        ({"roles": ["ceo"]}, "roles", "Unknown values ['ceo']"),
    ],
)
def test_a_campaign_with_a_bad_audience_changes_nothing(broker, nps, audience, field, message):
    with pytest.raises(ValidationError) as raised:
        broker.run(campaign_start, survey=nps, audience=audience)
    assert message in raised.value.message_dict[field][0]
    assert broker.take() == [] and not Invitation.objects.exists()


@pytest.mark.django_db
def test_an_inactive_survey_cannot_start_a_campaign(broker, audience):
    survey = survey_create(name="Old NPS", kind="nps", is_active=False)
    with pytest.raises(ValidationError) as raised:
        broker.run(campaign_start, survey=survey, audience={})
    assert "inactive" in raised.value.message_dict["survey"][0]
    assert broker.take() == []


@pytest.mark.django_db
def test_campaign_invite_query_count_does_not_grow_with_the_audience(clock, nps, customer_factory, contact_factory):
    def queries_for(count):
        customer = customer_factory()
        for _ in range(count):
            contact_factory(customer=customer)
        with CaptureQueriesContext(connection) as captured:
            created = campaign_invite(survey_id=nps.pk, audience={"customers": [customer.pk]}, trigger_key=f"c:{count}")
        assert created == count == Invitation.objects.filter(trigger_key=f"c:{count}").count()
        return len(captured.captured_queries)

    assert queries_for(3) == queries_for(40)


@pytest.mark.django_db
def test_campaign_invite_works_in_windows_and_a_repeat_adds_nothing(clock, nps, customer_factory, contact_factory):
    customer = customer_factory()
    contacts = [contact_factory(customer=customer) for _ in range(5)]
    contact_factory()  # another customer's contact: not in the audience
    audience = {"customers": [customer.pk]}
    assert campaign_invite(survey_id=nps.pk, audience=audience, trigger_key="campaign:w", batch=2) == 5
    assert campaign_invite(survey_id=nps.pk, audience=audience, trigger_key="campaign:w", batch=2) == 0
    invited = Invitation.objects.filter(trigger_key="campaign:w").values_list("contact_id", flat=True)
    assert sorted(invited) == [c.pk for c in contacts]
