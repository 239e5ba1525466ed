"""Time to value and the friction report on crafted runs equal hand-computed values."""

import datetime as dt

import pytest

from success.playbooks.definitions import playbook_save
from success.playbooks.reports import friction, time_to_value
from success.playbooks.services import playbook_start, run_step_complete, run_step_redate, run_step_skip

pytestmark = pytest.mark.django_db


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)


@pytest.fixture
def template(db):
    template, _ = playbook_save(
        name="TTV",
        steps=[
            {"title": "Call", "kind": "task", "offset_days": 1},
            {"title": "Setup", "kind": "task", "offset_days": 2},
            {"title": "Live", "kind": "milestone", "offset_days": 5},
        ],
    )
    return template


def finish(run, day):
    run_step_complete(step=run.steps.get(position=2), now=at(day))


def test_time_to_value_and_friction(template, customer_factory, user_factory):
    cleo, max_ = user_factory(email="cleo@acme.test"), user_factory(email="max@acme.test")
    # Started Monday 2 March 2026 (UTC customers): Call due Tue 3, Setup due Wed 4, Live due Mon 9.
    runs = [
        playbook_start(template=template, customer=customer_factory(owner=cleo, timezone="UTC"), now=at("2026-03-02"))
        for _ in range(3)
    ]
    runs += [
        playbook_start(template=template, customer=customer_factory(owner=max_, timezone="UTC"), now=at("2026-03-02"))
        for _ in range(2)
    ]
    a, b, c, d, e = runs
    # a: Call on time, Setup 2 days late, finished on day 10.
    run_step_complete(step=a.steps.get(position=0), now=at("2026-03-03"))
    run_step_complete(step=a.steps.get(position=1), now=at("2026-03-06"))
    finish(a, "2026-03-12")
    # b: Call 4 days late, Setup skipped, finished on day 40.
    run_step_complete(step=b.steps.get(position=0), now=at("2026-03-07"))
    run_step_skip(step=b.steps.get(position=1), reason="not needed", now=at("2026-03-07"))
    finish(b, "2026-04-11")
    # c: Setup re-dated to the 20th and done then (not late against its new date); finished on day 25.
    run_step_redate(step=c.steps.get(position=1), due_date=dt.date(2026, 3, 20), now=at("2026-03-03"))
    run_step_complete(step=c.steps.get(position=1), now=at("2026-03-20"))
    finish(c, "2026-03-27")
    # d: finished on day 5 (Call and Setup closed "run completed": not skips).
    finish(d, "2026-03-07")
    # e: still going on 15 April, nothing done: Call and Setup late.
    today = dt.date(2026, 4, 15)

    ttv = time_to_value(template=template, today=today)
    assert {row["run"]: row["days"] for row in ttv.per_run} == {a.pk: 10, b.pk: 40, c.pk: 25, d.pk: 5, e.pk: None}
    overall = ttv.overall
    assert (overall.finished, overall.median_days, overall.p90_days) == (4, 17.5, 40)
    assert (overall.decided, overall.within_30, overall.share_within_30) == (5, 3, 0.6)  # e started 44 days ago
    assert ttv.by_csm["cleo@acme.test"].median_days == 25 and ttv.by_csm["cleo@acme.test"].p90_days == 40
    assert ttv.by_csm["max@acme.test"].finished == 1 and ttv.by_csm["max@acme.test"].share_within_30 == 0.5
    assert ttv.by_template["TTV"].finished == 4

    rows = {row.title: row for row in friction(template=template, today=today)}
    call, setup, live = rows["Call"], rows["Setup"], rows["Live"]
    assert (call.runs, call.late, call.skipped, call.redated, call.median_delay) == (5, 2, 0, 0, 2)  # [0, 4], e late
    assert (setup.runs, setup.late, setup.skipped, setup.redated, setup.median_delay) == (5, 2, 1, 1, 1)  # [2, 0]
    # Live: a 3 days late (12th vs 9th), b 33, c 18, d 0 (early): median of [3, 33, 18, 0] = 10.5; e pending late.
    assert (live.runs, live.late, live.skipped, live.median_delay) == (5, 4, 0, 10.5)


def test_report_page(admin_client, template, customer_factory):
    run = playbook_start(template=template, customer=customer_factory(timezone="UTC"), now=at("2026-03-02"))
    finish(run, "2026-03-12")
    page = admin_client.get(f"/admin/success/playbooktemplate/{template.pk}/report/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Time to value" in body and "<td>Setup</td>" in body and "<td>10</td>" in body
    assert "/report/" in admin_client.get(f"/admin/success/playbooktemplate/{template.pk}/change/").content.decode()
