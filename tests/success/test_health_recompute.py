"""Health recompute: stored scores equal the scores computed by hand from the rules (missing inputs renormalised,
both kinds of override), one row per customer per day however often it runs, a band change recorded once and a
drop to red opening one risk task, backfill writing history only, event-driven recompute through requests, and a
number of statements that does not grow with the number of customers."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import LifecycleStage, Task, TimelineEvent
from crm.timeline import timeline_record, timeline_record_many
from success.health.definitions import health_model_save
from success.health.models import CustomerHealth, HealthOverride, HealthRecomputeRequest, HealthScore
from success.health.services import (
    RED_TASK_REASON,
    health_override_create,
    health_override_end,
    health_recompute,
    health_recompute_pending,
    health_request_recompute,
)
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db

TODAY = timezone.now().astimezone(dt.UTC).date()

# Open tickets: 0 -> 100, 4 or more -> 0, 25 points per ticket (weight 3). Renewal: 30 days or less -> 0, else 100
# (weight 1); missing without a renewal date.
OPEN = {"name": "Open tickets", "input": "open_tickets", "weight": 3, "method": "linear", "worst": 4, "best": 0}
RENEWAL = {
    "name": "Renewal",
    "input": "days_to_renewal",
    "weight": 1,
    "method": "thresholds",
    "thresholds": [[30, 0], [None, 100]],
}


@pytest.fixture
def model(db):
    """The default model (every stage) of these tests, and one for adopting customers that only measures renewal."""
    health_model_save(name="Adopting", lifecycle_stage="adopting", components=[RENEWAL])
    return health_model_save(name="Test default", lifecycle_stage="", components=[OPEN, RENEWAL])[1]


@pytest.fixture
def csm(make_staff):
    return make_staff("csm", email="csm@example.com")


@pytest.fixture
def make_customer(customer_factory, contact_factory, csm):
    def make(*, tickets=0, renewal_in=200, **fields):
        renewal = TODAY + dt.timedelta(days=renewal_in) if renewal_in is not None else None
        customer = customer_factory(renewal_date=renewal, owner=csm, **fields)
        add_tickets(customer, tickets, contact_factory)
        return customer

    return make


def add_tickets(customer, count, contact_factory):
    contact = customer.contacts.first() or contact_factory(customer=customer)
    for n in range(count):
        ticket_create(customer=customer, requester=contact, subject=f"Problem {n}", body="It broke.")


def stored(customer) -> HealthScore:
    return HealthScore.objects.get(customer=customer, day=TODAY)


def component(score: HealthScore, name: str) -> dict:
    return next(row for row in score.components if row["name"] == name)


def test_stored_scores_are_the_hand_computed_ones(model, make_customer, csm, django_capture_on_commit_callbacks):
    calm = make_customer()  # 100 x 3/4 + 100 x 1/4
    no_renewal = make_customer(tickets=1, renewal_in=None)  # 75, renewal missing: the open tickets weigh it all
    busy = make_customer(tickets=3, renewal_in=10)  # 25 x 3/4 + 0 x 1/4 = 18.75 -> 18.8 (half up)
    component_override = make_customer(tickets=2)  # open tickets 50 overridden to 90: 90 x 3/4 + 100 x 1/4
    whole_override = make_customer()  # computed 100, overridden to 40
    churned = make_customer(lifecycle_stage=LifecycleStage.CHURNED, arr=Decimal("0"))
    nothing = make_customer(lifecycle_stage="adopting", renewal_in=None)  # its only input is missing
    expires = TODAY + dt.timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=False):  # scored below, by one run
        health_override_create(
            customer=component_override,
            component="Open tickets",
            score=90,
            reason="Tickets are a migration",
            expires_on=expires,
            actor=csm,
        )
        health_override_create(customer=whole_override, score=40, reason="Champion left", expires_on=expires, actor=csm)

    stats = health_recompute()

    assert {k: stats[k] for k in ("scored", "unscored", "skipped")} == {"scored": 5, "unscored": 1, "skipped": 1}
    scores = {c: stored(c) for c in (calm, no_renewal, busy, component_override, whole_override)}
    assert {c.pk: (s.score, s.band) for c, s in scores.items()} == {
        calm.pk: (Decimal("100.0"), "green"),
        no_renewal.pk: (Decimal("75.0"), "green"),
        busy.pk: (Decimal("18.8"), "red"),
        component_override.pk: (Decimal("92.5"), "green"),
        whole_override.pk: (Decimal("40.0"), "red"),
    }
    assert not HealthScore.objects.filter(customer__in=[churned, nothing]).exists()
    assert scores[no_renewal].model_version == model

    renewal = component(scores[no_renewal], "Renewal")
    assert renewal["missing"] is True and renewal["effective_weight"] == 0
    assert component(scores[no_renewal], "Open tickets")["effective_weight"] == 1.0
    open_busy = component(scores[busy], "Open tickets")
    assert (open_busy["score"], open_busy["contribution"], open_busy["inputs"]) == (25.0, 18.75, {"open_tickets": 3})
    assert component(scores[busy], "Renewal")["inputs"] == {"renewal_date": busy.renewal_date.isoformat()}

    overridden = component(scores[component_override], "Open tickets")
    assert overridden["score"] == 90.0 and overridden["overridden"]["computed_score"] == 50.0
    assert overridden["overridden"]["reason"] == "Tickets are a migration"
    assert scores[component_override].override is None

    whole = scores[whole_override]
    assert whole.computed_score == Decimal("100.0")
    assert whole.override == {
        "score": 40,
        "reason": "Champion left",
        "expires_on": expires.isoformat(),
        "by": csm.email,
    }

    current = CustomerHealth.objects.get(customer=busy)
    assert (current.score, current.band, current.band_since, current.day) == (Decimal("18.8"), "red", TODAY, TODAY)
    # A first score changes no band: no event, no task.
    assert not TimelineEvent.objects.filter(kind="health.band_changed").exists()
    assert not Task.objects.filter(reason=RED_TASK_REASON).exists()


def test_the_shipped_model_scores_real_tickets_usage_and_notes_as_computed_by_hand(make_customer, csm):
    """Default model: open tickets 1 -> 80 (weight 5); urgent 0, SLA breaches 0 -> 100 (5 each); a note today ->
    CSM engagement 100 (10); renewal in 200 days -> 100 (10); one usage event yesterday and none before -> usage
    trend +100 % -> 100 (25) and 1 active day of 20 -> 5 (5); no survey: NPS (20), CSAT (10) and CES (5) missing,
    so the weights present add up to 100 - 35 = 65 and are renormalised:
    (80x5 + 100x5 + 100x5 + 100x10 + 100x10 + 100x25 + 5x5) / 65
    = (400 + 500 + 500 + 1000 + 1000 + 2500 + 25) / 65 = 5925 / 65 = 91.15 -> 91.2."""
    from crm.services import note_create
    from success.usage.services import usage_events_record

    customer = make_customer(tickets=1)
    note_create(customer=customer, body="Kick-off call went well.", actor=csm)
    yesterday = dt.datetime.combine(TODAY - dt.timedelta(days=1), dt.time(10), tzinfo=dt.UTC)
    recorded = usage_events_record(
        events=[{"id": "e1", "customer": customer.pk, "name": "login", "occurred_at": yesterday.isoformat()}]
    )
    assert recorded.accepted == 1, recorded.errors

    health_recompute(customer_ids=[customer.pk])

    score = stored(customer)
    assert (score.score, score.band, score.model_version.model.name) == (
        Decimal("91.2"),
        "green",
        "Default health model",
    )
    assert {row["name"]: row["score"] for row in score.components} == {
        "Open tickets": 80.0,
        "Urgent open tickets": 100.0,
        "SLA breaches (90 days)": 100.0,
        "Latest NPS": None,
        "CSAT (90 days)": None,
        "CES (90 days)": None,
        "Usage trend": 100.0,
        "Active days (30 days)": 5.0,
        "CSM engagement": 100.0,
        "Renewal proximity": 100.0,
    }
    assert component(score, "CSM engagement")["inputs"] == {"last_touch_on": TODAY.isoformat(), "kind": "note.added"}
    assert component(score, "Usage trend")["effective_weight"] == round(25 / 65, 4)


def test_a_drop_to_red_is_recorded_once_with_one_task_however_often_it_runs(make_customer, model, csm):
    customer = make_customer(renewal_in=None)
    health_recompute()
    assert CustomerHealth.objects.get(customer=customer).band == "green"

    add_tickets(customer, 3, None)  # 25.0: red
    first = health_recompute()
    second = health_recompute(customer_ids=[customer.pk])

    assert (first["band_changes"], first["risk_tasks"]) == (1, 1)
    assert (second["band_changes"], second["risk_tasks"]) == (0, 0)
    assert HealthScore.objects.filter(customer=customer).count() == 1
    assert stored(customer).score == Decimal("25.0")
    event = TimelineEvent.objects.get(customer=customer, kind="health.band_changed")
    assert event.summary == "Health green → red (25.0)"
    assert event.payload | {"model_version_id": None} == {
        "old_band": "green",
        "new_band": "red",
        "old_score": 100.0,
        "new_score": 25.0,
        "model_version_id": None,
        "model_version": model.number,
        "model": "Test default",
    }
    task = Task.objects.get(customer=customer, reason=RED_TASK_REASON)
    assert (task.type, task.priority, task.status, task.owner, task.due_date) == (
        "risk",
        "high",
        "open",
        csm,
        TODAY + dt.timedelta(days=2),
    )
    assert CustomerHealth.objects.get(customer=customer).band_since == TODAY


def test_band_since_is_kept_while_the_band_does_not_change(make_customer, model):
    customer = make_customer(renewal_in=None)
    yesterday = timezone.now() - dt.timedelta(days=1)
    type(customer).objects.filter(pk=customer.pk).update(created_at=yesterday - dt.timedelta(days=1))
    health_recompute(at=yesterday)
    add_tickets(customer, 1, None)  # 75.0: still green
    health_recompute()
    current = CustomerHealth.objects.get(customer=customer)
    assert (current.score, current.band, current.band_since, current.day) == (
        Decimal("75.0"),
        "green",
        yesterday.date(),
        TODAY,
    )
    assert HealthScore.objects.filter(customer=customer).count() == 2


def test_backfill_writes_only_the_history(make_customer, model):
    customer = make_customer(tickets=3)
    past = timezone.now() - dt.timedelta(days=3)
    type(customer).objects.filter(pk=customer.pk).update(created_at=past - dt.timedelta(days=30))
    events = TimelineEvent.objects.count()

    health_recompute(at=past, backfill=True)

    score = HealthScore.objects.get(customer=customer)
    assert (score.day, score.score) == (past.date(), Decimal("100.0"))  # the tickets were opened after that day
    assert not CustomerHealth.objects.exists()
    assert TimelineEvent.objects.count() == events
    assert not Task.objects.exists()


def test_an_expired_override_stops_applying(make_customer, model, csm, django_capture_on_commit_callbacks):
    customer = make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        health_override_create(customer=customer, score=10, reason="Escalated", expires_on=TODAY, actor=csm)
    assert stored(customer).score == Decimal("10.0")  # recomputed right after the commit
    tomorrow = timezone.now() + dt.timedelta(days=1)
    health_recompute(at=tomorrow)
    assert HealthScore.objects.get(customer=customer, day=tomorrow.date()).score == Decimal("100.0")


def test_a_new_override_replaces_the_open_one_and_ending_it_restores_the_score(
    make_customer, model, csm, django_capture_on_commit_callbacks
):
    customer = make_customer()
    week = TODAY + dt.timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=True):
        first = health_override_create(customer=customer, score=30, reason="Angry exec", expires_on=week, actor=csm)
    with django_capture_on_commit_callbacks(execute=True):
        second = health_override_create(customer=customer, score=60, reason="Calmer", expires_on=week, actor=csm)
    first.refresh_from_db()
    assert first.ended_at is not None and first.ended_by == csm
    assert stored(customer).score == Decimal("60.0")
    assert CustomerHealth.objects.get(customer=customer).band == "yellow"

    with django_capture_on_commit_callbacks(execute=True):
        health_override_end(override=second, actor=csm)
    assert stored(customer).score == Decimal("100.0")
    kinds = list(
        TimelineEvent.objects.filter(customer=customer, kind__startswith="health.")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == [
        "health.overridden",
        "health.overridden",
        "health.band_changed",
        "health.override_ended",
        "health.band_changed",
    ]  # red -> yellow, then yellow -> green
    assert not HealthRecomputeRequest.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"expires_on": TODAY - dt.timedelta(days=1)}, "expires_on"),
        ({"expires_on": "soon"}, "expires_on"),
        ({"score": 101}, "score"),
        ({"score": -1}, "score"),
        ({"score": 12.5}, "score"),
        ({"component": "Shoe size"}, "component"),
    ],
)
def test_a_bad_override_is_refused_naming_the_field_and_changes_nothing(make_customer, model, csm, change, field):
    customer = make_customer()
    data = {"score": 50, "reason": "Because", "expires_on": TODAY, "component": ""} | change
    events = TimelineEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        health_override_create(customer=customer, actor=csm, **data)
    assert list(refused.value.message_dict) == [field]
    assert not HealthOverride.objects.exists()
    assert TimelineEvent.objects.count() == events


def test_a_relevant_timeline_event_requests_a_recompute_that_the_pending_run_makes(
    make_customer, model, contact_factory, django_capture_on_commit_callbacks
):
    customer = make_customer()
    quiet = make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        add_tickets(customer, 1, contact_factory)
        timeline_record(customer=quiet, kind="email.sent", summary="Hello")  # moves no score
    assert list(HealthRecomputeRequest.objects.values_list("customer_id", flat=True)) == [customer.pk]

    stats = health_recompute_pending()

    assert (stats["requests"], stats["scored"]) == (1, 1)
    assert stored(customer).score == Decimal("81.3")  # 75 x 3/4 + 100 x 1/4 = 81.25, half up
    assert not HealthScore.objects.filter(customer=quiet).exists()
    assert not HealthRecomputeRequest.objects.exists()


def test_events_recorded_in_bulk_request_a_recompute_once_committed(
    make_customer, model, django_capture_on_commit_callbacks
):
    breached, other = make_customer(), make_customer()
    events = [
        TimelineEvent(customer=breached, kind="ticket.sla_breached", summary="SLA breached"),
        TimelineEvent(customer=other, kind="ticket.flagged", summary="Flagged to the CSM"),
    ]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        timeline_record_many(events)
    assert not HealthRecomputeRequest.objects.exists()  # nothing before the commit
    for callback in callbacks:
        callback()
    assert list(HealthRecomputeRequest.objects.values_list("customer_id", flat=True)) == [breached.pk]


def test_a_request_made_again_during_the_recompute_survives(make_customer, model, monkeypatch):
    from success.health import services

    customer = make_customer()
    health_request_recompute([customer.pk], at=timezone.now() - dt.timedelta(seconds=5))
    real = services.health_recompute

    def recompute_while_a_ticket_arrives(**kwargs):
        stats = real(**kwargs)
        health_request_recompute([customer.pk])
        return stats

    monkeypatch.setattr(services, "health_recompute", recompute_while_a_ticket_arrives)
    health_recompute_pending()
    assert HealthRecomputeRequest.objects.filter(customer=customer).exists()
    monkeypatch.setattr(services, "health_recompute", real)
    health_recompute_pending()
    assert not HealthRecomputeRequest.objects.exists()


def test_a_usage_batch_through_the_api_requests_a_recompute(
    make_customer, model, api_client_for, django_capture_on_commit_callbacks
):
    customer = make_customer()
    event = {"id": "u1", "customer": customer.pk, "name": "login", "occurred_at": timezone.now().isoformat()}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for("admin").post("/api/v1/usage-events/", {"events": [event]}, format="json")
    assert response.status_code == 200, response.content
    assert HealthRecomputeRequest.objects.filter(customer=customer).exists()


def test_a_recompute_takes_as_many_statements_for_50_customers_as_for_5(make_customer, model):
    def statements(count: int) -> int:
        ids = [make_customer(renewal_in=None).pk for _ in range(count)]
        with CaptureQueriesContext(connection) as queries:
            stats = health_recompute(customer_ids=ids)
        assert stats["scored"] == count
        return len(queries)

    assert statements(5) == statements(50)


def test_the_periodic_tasks_are_declared():
    from config.celery import app
    from success.tasks import PERIODIC_TASKS

    specs = {spec["name"]: spec for spec in PERIODIC_TASKS}
    assert specs["Health recompute (pending)"]["every_seconds"] == 30
    assert specs["Health recompute (nightly)"]["crontab"] == {"minute": "40", "hour": "2"}
    for spec in specs.values():
        assert spec["task"] in app.tasks


def test_the_nightly_run_queues_one_recompute_per_chunk_scoring_one_instant(make_customer, model, monkeypatch):
    from success.health import services, tasks

    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    customers = [make_customer() for _ in range(5)]
    queued = []
    monkeypatch.setattr(tasks.recompute_customers, "delay", lambda *args: queued.append(args))

    assert tasks.recompute_nightly() == {"chunks": 3}

    assert [ids for ids, _ in queued] == [
        [c.pk for c in customers[:2]],
        [c.pk for c in customers[2:4]],
        [customers[4].pk],
    ]
    assert len({at for _, at in queued}) == 1
    for ids, at in queued:
        tasks.recompute_customers(ids, at)
    assert HealthScore.objects.filter(day=TODAY).count() == 5


def test_an_older_computation_never_overwrites_a_newer_one(make_customer, model):
    from tickets.models import Ticket

    customer = make_customer(renewal_in=None)
    add_tickets(customer, 3, None)
    before_tickets = Ticket.objects.filter(customer=customer).earliest("created_at").created_at
    before_tickets -= dt.timedelta(microseconds=1)
    type(customer).objects.filter(pk=customer.pk).update(created_at=before_tickets - dt.timedelta(microseconds=1))
    now = timezone.now()
    health_recompute(at=now)  # 25.0, red
    health_recompute(at=before_tickets)  # a late run of an earlier instant, before the tickets: 100.0
    assert stored(customer).score == Decimal("25.0")
    current = CustomerHealth.objects.get(customer=customer)
    assert (current.score, current.computed_at) == (Decimal("25.0"), now)


def test_a_new_renewal_date_requests_a_recompute_and_a_new_name_does_not(
    make_customer, model, make_staff, django_capture_on_commit_callbacks
):
    from crm.services import customer_update

    admin = make_staff("admin")
    renewed, renamed = make_customer(), make_customer()
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(customer=renewed, renewal_date=TODAY + dt.timedelta(days=400), actor=admin)
        customer_update(customer=renamed, name="Renamed Ltd", actor=admin)
    assert list(HealthRecomputeRequest.objects.values_list("customer_id", flat=True)) == [renewed.pk]


def test_the_command_backfills_previous_days_then_scores_today(make_customer, model):
    from io import StringIO

    from django.core.management import call_command

    customer = make_customer()
    type(customer).objects.filter(pk=customer.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    out = StringIO()
    call_command("health_recompute", "--backfill-days", "3", "--customer", str(customer.pk), stdout=out)
    call_command("health_recompute", "--customer", str(customer.pk), stdout=out)
    days = list(HealthScore.objects.filter(customer=customer).order_by("day").values_list("day", flat=True))
    assert days == [TODAY - dt.timedelta(days=n) for n in (3, 2, 1, 0)]
    assert CustomerHealth.objects.get(customer=customer).day == TODAY
    assert f"{TODAY}: 1 scored" in out.getvalue()
