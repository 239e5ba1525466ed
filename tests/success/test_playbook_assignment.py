"""Steps done by "a support agent": the agent who handled the customer's tickets most in the last 90 days, else the
active support agent with the fewest open tasks, else the owner CSM; the step's timeline event says who and why."""

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Task, TimelineEvent
from crm.task_services import task_close, task_create
from success.playbooks.definitions import playbook_save
from success.playbooks.services import playbook_start
from tickets.services import ticket_create, ticket_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(db):
    template, _ = playbook_save(
        name="Onboard",
        steps=[
            {"title": "Kick-off", "kind": "task", "offset_days": 1},
            {"title": "Check the integration", "kind": "task", "offset_days": 2, "assignee": "support_agent"},
            {"title": "Setup call", "kind": "meeting", "offset_days": 3, "assignee": "support_agent"},
            {"title": "Live", "kind": "milestone", "offset_days": 5},
        ],
    )
    return template


@pytest.fixture
def csm(make_staff):
    return make_staff("csm", email="cleo@acme.test")


@pytest.fixture
def customer(customer_factory, csm):
    return customer_factory(name="Globex", owner=csm)


def ticket(customer, contact_factory, *, assignee=None, days_ago=0):
    created_at = timezone.now() - dt.timedelta(days=days_ago) if days_ago else None
    return ticket_create(
        customer=customer,
        requester=contact_factory(customer=customer),
        subject="Help",
        body="It broke",
        assignee=assignee,
        created_at=created_at,
        imported=bool(days_ago),
    )


def support_steps(run):
    return list(run.steps.filter(assignee_kind="support_agent").select_related("assignee", "task__owner"))


def assigned_events(customer):
    return list(TimelineEvent.objects.filter(customer=customer, kind="playbook.step_assigned").order_by("id"))


def test_the_agent_who_handled_the_customers_tickets_most(
    template, customer, customer_factory, contact_factory, make_staff, csm
):
    ana = make_staff("support_agent", email="ana@acme.test")
    ben = make_staff("support_agent", email="ben@acme.test")
    old = make_staff("support_agent", email="old@acme.test")
    gone = make_staff("support_agent", email="gone@acme.test")
    # Ana: one ticket assigned, another replied to (and a second reply on it counts once) = 2 tickets.
    ticket(customer, contact_factory, assignee=ana)
    replied = ticket(customer, contact_factory)
    ticket_reply(ticket=replied, body="On it", actor=ana)
    ticket_reply(ticket=replied, body="Fixed", actor=ana)
    # Ben: one ticket (a note).
    ticket_reply(ticket=ticket(customer, contact_factory), body="internal", public=False, actor=ben)
    # Not counted: tickets older than 90 days, an inactive agent, a CSM, another customer's tickets.
    for _ in range(3):
        ticket(customer, contact_factory, assignee=old, days_ago=120)
    for _ in range(3):
        ticket(customer, contact_factory, assignee=gone)
    gone.is_active = False
    gone.save()
    for _ in range(3):
        ticket(customer, contact_factory, assignee=csm)
        ticket(other := customer_factory(), contact_factory, assignee=ben)
    assert other != customer

    run = playbook_start(template=template, customer=customer)

    steps = support_steps(run)
    assert [s.assignee for s in steps] == [ana, ana]
    assert [s.task.owner for s in steps] == [ana, ana]  # the tasks go to her too
    assert run.steps.get(position=0).assignee == csm  # the owner's steps stay the CSM's
    events = assigned_events(customer)
    assert [e.payload["step"] for e in events] == ["Check the integration", "Setup call"]
    assert events[0].payload["to"] == "ana@acme.test" and events[0].payload["rule"] == "handled_tickets"
    assert "assigned to ana@acme.test" in events[0].summary
    assert "handled 2 of Globex's tickets in the last 90 days" in events[0].summary


def test_a_tie_goes_to_the_agent_active_on_them_most_recently(template, customer, contact_factory, make_staff):
    ana = make_staff("support_agent", email="ana@acme.test")
    ben = make_staff("support_agent", email="ben@acme.test")
    ticket(customer, contact_factory, assignee=ana, days_ago=10)
    ticket(customer, contact_factory, assignee=ben, days_ago=2)
    run = playbook_start(template=template, customer=customer)
    assert {s.assignee for s in support_steps(run)} == {ben}


def test_no_ticket_handled_the_agent_with_the_fewest_open_tasks(template, customer, customer_factory, make_staff):
    busy = make_staff("support_agent", email="busy@acme.test")
    free = make_staff("support_agent", email="free@acme.test")
    make_staff("csm", email="idle-csm@acme.test")  # not a support agent, though it has no task at all
    someone = customer_factory()
    for n in range(2):
        task_create(customer=someone, reason=f"Open work {n}", owner=busy)
    for n in range(3):  # closed tasks do not count
        task, _ = task_create(customer=someone, reason=f"Done work {n}", owner=free)
        task_close(task=task, status=Task.Status.DONE)
    task_create(customer=someone, reason="One open", owner=free)

    run = playbook_start(template=template, customer=customer)

    assert {s.assignee for s in support_steps(run)} == {free}
    [event, _] = assigned_events(customer)
    assert event.payload["rule"] == "fewest_open_tasks" and event.payload["to"] == "free@acme.test"
    assert "no support agent handled Globex's tickets in the last 90 days" in event.summary
    assert "the support agent with the fewest open tasks (1)" in event.summary


def test_no_support_agent_the_owner_csm(template, customer, contact_factory, make_staff, csm):
    agent = make_staff("support_agent", email="left@acme.test")
    ticket(customer, contact_factory, assignee=agent)
    agent.is_active = False
    agent.save()
    make_staff("admin", email="boss@acme.test")

    run = playbook_start(template=template, customer=customer)

    assert {s.assignee for s in support_steps(run)} == {csm}
    [event, _] = assigned_events(customer)
    assert event.payload["rule"] == "owner_csm" and event.payload["to"] == "cleo@acme.test"
    assert "no active support agent" in event.summary


def test_a_template_without_support_steps_records_no_assignment(customer, make_staff):
    make_staff("support_agent")
    template, _ = playbook_save(name="CSM only", steps=[{"title": "Call", "kind": "task"}])
    playbook_start(template=template, customer=customer)
    assert assigned_events(customer) == []
