"""The stage_changed event honours from_stage: crm sends the stage left with customer_stage_entered, the outreach
receiver queues a scan only for rules whose from_stage / to_stage match, and the other receivers still work."""

import pytest

from crm.models import Task
from crm.services import customer_create, customer_update
from crm.signals import customer_stage_entered
from success.outreach import tasks
from success.outreach.definitions import outreach_rule_save
from success.outreach.execution import rule_event_scan
from success.outreach.perform import records_perform

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """The event scans the receiver publishes: (rule id, customer id, period key)."""
    calls = []
    monkeypatch.setattr(tasks.event_scan, "delay", lambda *args: calls.append(args))
    return calls


def stage_rule(name, **params):
    return outreach_rule_save(
        name=name,
        enabled=True,
        trigger="event",
        event="stage_changed",
        event_params=params,
        actions=[{"action": "task", "title": f"{name}: call", "type": "lifecycle"}],
        quiet_hours=False,
        cooldown_days=0,
    )


def test_from_stage_fires_on_onboarding_to_adopting_not_at_risk_to_adopting(
    customer_factory, queued, django_capture_on_commit_callbacks
):
    graduated = stage_rule("Graduated", from_stage="onboarding", to_stage="adopting")
    recovered = stage_rule("Recovered", from_stage="at_risk")
    entered = stage_rule("Any entry into adopting", to_stage="adopting")
    new, saved = customer_factory(lifecycle_stage="onboarding"), customer_factory(lifecycle_stage="at_risk")
    with django_capture_on_commit_callbacks(execute=True):
        customer_update(customer=new, lifecycle_stage="adopting")
        customer_update(customer=saved, lifecycle_stage="adopting")
    fired = {(rule_id, customer_id) for rule_id, customer_id, _key in queued}
    assert fired == {
        (graduated.pk, new.pk),
        (entered.pk, new.pk),
        (recovered.pk, saved.pk),
        (entered.pk, saved.pk),
    }
    # The queued scans claim and act: the onboarding graduate gets the "Graduated" task, the recovered one not.
    with django_capture_on_commit_callbacks(execute=False):
        for job in queued:
            rule_event_scan(rule_id=job[0], customer_id=job[1], period_key=job[2])
        records_perform()
    assert Task.objects.filter(customer=new, reason="Graduated: call").count() == 1
    assert not Task.objects.filter(customer=saved, reason="Graduated: call").exists()
    assert Task.objects.filter(customer=saved, reason="Recovered: call").count() == 1


def test_a_new_customer_left_no_stage(queued, django_capture_on_commit_callbacks):
    stage_rule("From onboarding", from_stage="onboarding")
    any_entry = stage_rule("Into onboarding", to_stage="onboarding")
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_create(name="Fresh", lifecycle_stage="onboarding", timezone="UTC")
    assert [(rule_id, customer_id) for rule_id, customer_id, _key in queued] == [(any_entry.pk, customer.pk)]


def test_the_signal_carries_the_previous_stage(customer_factory, django_capture_on_commit_callbacks):
    seen = []

    def listener(sender, **kwargs):
        seen.append((kwargs["stage"], kwargs["previous_stage"]))

    customer_stage_entered.connect(listener, dispatch_uid="test.previous_stage")
    try:
        customer = customer_factory(lifecycle_stage="mature")
        with django_capture_on_commit_callbacks(execute=True):
            customer_update(customer=customer, lifecycle_stage="at_risk")
            customer_update(customer=customer, name="Renamed")  # no stage change: no signal
    finally:
        customer_stage_entered.disconnect(dispatch_uid="test.previous_stage")
    assert seen == [("at_risk", "mature")]
