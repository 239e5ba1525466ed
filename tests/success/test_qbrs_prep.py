"""The QBR preparation pack's playbook status: the customer's active and finished runs read through
success.playbooks.selectors (template, progress, state, next step, time to value), stored with the pack and shown on
the printable page."""

import datetime as dt

import pytest

from success.playbooks.definitions import playbook_save
from success.playbooks.services import playbook_start, run_step_complete
from success.qbrs import services

UTC = dt.UTC


def at(day: str, hour=9) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=UTC)


@pytest.fixture
def customer_with_runs(customer_factory, contact_factory, make_staff):
    csm = make_staff("csm", email="csm@example.com")
    customer = customer_factory(name="Acme", timezone="UTC", owner=csm)
    contact = contact_factory(customer=customer, email="ada@acme.example")
    quick, _ = playbook_save(
        name="Quick start",
        steps=[
            {"title": "Kick-off", "kind": "task", "offset_days": 1},
            {"title": "Live", "kind": "milestone", "offset_days": 2},
        ],
    )
    onboarding, _ = playbook_save(
        name="Onboarding",
        steps=[
            {"title": "Call", "kind": "task", "offset_days": 1},
            {"title": "Setup", "kind": "task", "offset_days": 2, "offset_from": "previous"},
            {"title": "Live", "kind": "milestone", "offset_days": 10},
        ],
    )
    finished = playbook_start(template=quick, customer=customer, now=at("2026-03-02", 9))
    for step in finished.steps.order_by("position"):
        run_step_complete(step=step, now=at("2026-03-05", 15))  # Monday 2 to Thursday 5 March: 3 days to value
    active = playbook_start(template=onboarding, customer=customer, now=at("2026-03-02", 10))
    run_step_complete(step=active.steps.get(position=0), now=at("2026-03-03", 11))  # Call done; Setup due 5 March
    return customer, contact, finished, active


@pytest.mark.django_db
def test_prep_pack_shows_the_customer_playbook_runs(customer_with_runs, customer_factory):
    customer, contact, finished, active = customer_with_runs
    other = customer_factory(timezone="UTC")
    from success.playbooks.models import PlaybookTemplate

    playbook_start(template=PlaybookTemplate.objects.get(name="Onboarding"), customer=other, now=at("2026-03-02"))
    qbr = services.qbr_schedule(
        customer=customer, starts_at=at("2026-03-20", 15), contacts=[contact], now=at("2026-03-10", 8)
    )
    qbr.refresh_from_db()
    runs = qbr.prep["playbooks"]
    assert [r["run_id"] for r in runs] == [active.pk, finished.pk]  # newest first; the other customer's run absent
    assert runs[0] == {
        "run_id": active.pk,
        "template": "Onboarding",
        "version": 1,
        "status": "active",
        "started_on": "2026-03-02",
        "completed_at": None,
        "done": 1,
        "skipped": 0,
        "total": 3,
        "state": "late",  # Setup was due Thursday 5 March: 5 days late on the 10th
        "state_label": "Late",
        "days_late": 5,
        "next_step": {"title": "Setup", "due_date": "2026-03-05"},
        "time_to_value_days": None,
    }
    assert runs[1]["status"] == "completed" and runs[1]["state"] == "completed"
    assert (runs[1]["done"], runs[1]["total"], runs[1]["time_to_value_days"], runs[1]["next_step"]) == (2, 2, 3, None)


@pytest.mark.django_db
def test_printable_pack_shows_playbook_status(client, customer_with_runs):
    customer, contact, _finished, _active = customer_with_runs
    now = dt.datetime.now(UTC)
    qbr = services.qbr_schedule(customer=customer, starts_at=now + dt.timedelta(days=10), contacts=[contact], now=now)
    client.force_login(customer.owner)
    page = client.get(f"/admin/success/qbr/{qbr.pk}/prep/").content.decode()
    section = page.split('class="qbr-playbooks"', 1)[1].split("</section>", 1)[0]
    assert "Onboarding v1 (started 2026-03-02)" in section and "1/3 done" in section
    assert "Late" in section and "Setup (due 2026-03-05)" in section
    assert "Quick start v1" in section and "2/2 done" in section and "3 days" in section


@pytest.mark.django_db
def test_prep_pack_without_runs_says_so(client, customer_factory, contact_factory, make_staff):
    customer = customer_factory(timezone="UTC", owner=make_staff("csm"))
    contact = contact_factory(customer=customer)
    now = dt.datetime.now(UTC)
    qbr = services.qbr_schedule(customer=customer, starts_at=now + dt.timedelta(days=3), contacts=[contact], now=now)
    qbr.refresh_from_db()
    assert qbr.prep["playbooks"] == []
    client.force_login(customer.owner)
    assert "No playbook runs." in client.get(f"/admin/success/qbr/{qbr.pk}/prep/").content.decode()
