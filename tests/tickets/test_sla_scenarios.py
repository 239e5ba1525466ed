"""SLA scenarios end to end, through the real services with explicit dates, against hand-computed values.

Calendar "Paris office" (tests/tickets/conftest.py): Monday to Friday 09:00-17:00 Europe/Paris.
Policy "Standard": first response 60 min, next reply 120 min, resolution 480 min (one business day).
Paris is UTC+1 in winter (CET) and UTC+2 in summer (CEST); the intervals of the explanation are in UTC.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tickets.escalation import sla_sweep
from tickets.models import BusinessCalendar, Holiday, OpeningHours, SlaPolicy, SlaTarget, Status, Ticket
from tickets.services import (
    ticket_change_status,
    ticket_create,
    ticket_customer_message,
    ticket_reply,
    ticket_update,
)
from tickets.sla import sla_explain

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
HOUR = 3600

pytestmark = pytest.mark.django_db


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


def z(*args):
    """An interval bound as the explanation writes it: ISO 8601 in UTC."""
    return utc(*args).isoformat()


@pytest.fixture
def requester(contact_factory):
    return contact_factory()


def open_ticket(requester, at, **kw):
    return ticket_create(
        customer=requester.customer,
        requester=requester,
        subject="Export fails",
        body="The CSV export fails with error 500.",
        created_at=at,
        **kw,
    )


def reply(ticket, at, body="We are on it.", public=True):
    return ticket_reply(ticket=ticket, body=body, public=public, at=at, send_email=False)


def status(ticket, new, at):
    return ticket_change_status(ticket=ticket, status=new, at=at)


def customer_says(ticket, at, body="More details"):
    return ticket_customer_message(ticket=ticket, contact=ticket.requester, body=body, at=at)


def target(ticket, metric, cycle=1):
    return SlaTarget.objects.get(ticket=ticket, metric=metric, cycle=cycle)


def intervals(segments):
    return [(s["from"], s["to"], s["counted"], s["reason"], s["seconds"]) for s in segments]


def explained(ticket, now):
    return {(t["metric"], t["cycle"]): t for t in sla_explain(ticket, now=now)}


# --- Weekends, holidays -------------------------------------------------------------------------------


def test_a_weekend_does_not_count(standard_policy, requester):
    # Friday 27 Nov 2026 16:30 CET (15:30Z).
    ticket = open_ticket(requester, paris(2026, 11, 27, 16, 30))
    fr, res = target(ticket, "first_response"), target(ticket, "resolution")
    # First response: 30 min on Friday (16:30-17:00) + 30 min on Monday (09:00-09:30).
    assert fr.due_at == paris(2026, 11, 30, 9, 30)
    # Warning at 80 % of 60 min = 48 min: 30 on Friday + 18 on Monday.
    assert fr.warn_at == paris(2026, 11, 30, 9, 18)
    # Resolution: 30 min on Friday + 7 h 30 on Monday (09:00-16:30).
    assert res.due_at == paris(2026, 11, 30, 16, 30)
    assert Ticket.objects.get(pk=ticket.pk).next_sla_due_at == paris(2026, 11, 30, 9, 30)

    # Saturday noon: the clock has not moved since Friday 17:00.
    saturday = explained(ticket, paris(2026, 11, 28, 12))[("first_response", 1)]
    assert (saturday["elapsed_seconds"], saturday["remaining_seconds"], saturday["breached"]) == (
        1800,
        1800,
        False,
    )

    reply(ticket, paris(2026, 11, 30, 9, 10))  # Monday 09:10
    fr.refresh_from_db()
    # 30 min Friday + 10 min Monday = 2,400 s: met.
    assert (fr.state, fr.elapsed_seconds, fr.stopped_at) == ("met", 2400, paris(2026, 11, 30, 9, 10))
    assert intervals(fr.segments) == [
        (z(2026, 11, 27, 15, 30), z(2026, 11, 27, 16), True, "business hours", 1800),
        (z(2026, 11, 27, 16), z(2026, 11, 30, 8), False, "outside business hours", 0),
        (z(2026, 11, 30, 8), z(2026, 11, 30, 8, 10), True, "business hours", 600),
    ]
    assert Ticket.objects.get(pk=ticket.pk).first_response_seconds == 2400


def test_a_holiday_does_not_count_and_is_named_in_the_explanation(standard_policy, paris_office, requester):
    Holiday.objects.create(calendar=paris_office, date=dt.date(2026, 12, 25), name="Christmas")  # a Friday
    # Thursday 24 Dec 2026 16:30 CET (15:30Z).
    ticket = open_ticket(requester, paris(2026, 12, 24, 16, 30))
    # First response: 30 min Thursday + (Friday holiday, weekend) + 30 min Monday 28th.
    assert target(ticket, "first_response").due_at == paris(2026, 12, 28, 9, 30)
    # Resolution: 30 min Thursday + 7 h 30 Monday.
    assert target(ticket, "resolution").due_at == paris(2026, 12, 28, 16, 30)

    reply(ticket, paris(2026, 12, 28, 9, 10))
    fr = target(ticket, "first_response")
    assert (fr.state, fr.elapsed_seconds) == ("met", 2400)
    # The closed time between Thursday 17:00 and Monday 09:00 is told apart: the evening and the weekend are
    # outside business hours, Friday (local midnight to midnight: 23:00Z to 23:00Z) is the holiday.
    assert intervals(fr.segments) == [
        (z(2026, 12, 24, 15, 30), z(2026, 12, 24, 16), True, "business hours", 1800),
        (z(2026, 12, 24, 16), z(2026, 12, 24, 23), False, "outside business hours", 0),
        (z(2026, 12, 24, 23), z(2026, 12, 25, 23), False, "holiday", 0),
        (z(2026, 12, 25, 23), z(2026, 12, 28, 8), False, "outside business hours", 0),
        (z(2026, 12, 28, 8), z(2026, 12, 28, 8, 10), True, "business hours", 600),
    ]


def test_a_ticket_opened_on_a_holiday_starts_counting_on_the_next_business_day(
    standard_policy, paris_office, requester
):
    Holiday.objects.create(calendar=paris_office, date=dt.date(2026, 12, 25), name="Christmas")
    ticket = open_ticket(requester, paris(2026, 12, 25, 10))  # Friday 25 Dec 10:00 CET (09:00Z)
    # Nothing counts before Monday 09:00: first response due Monday 10:00, resolution Monday 17:00.
    assert target(ticket, "first_response").due_at == paris(2026, 12, 28, 10)
    assert target(ticket, "resolution").due_at == paris(2026, 12, 28, 17)
    reply(ticket, paris(2026, 12, 28, 9, 30))
    fr = target(ticket, "first_response")
    assert (fr.state, fr.elapsed_seconds) == ("met", 1800)
    assert intervals(fr.segments) == [
        (z(2026, 12, 25, 9), z(2026, 12, 25, 23), False, "holiday", 0),  # the rest of Friday
        (z(2026, 12, 25, 23), z(2026, 12, 28, 8), False, "outside business hours", 0),  # the weekend
        (z(2026, 12, 28, 8), z(2026, 12, 28, 8, 30), True, "business hours", 1800),
    ]


# --- Daylight saving time -----------------------------------------------------------------------------


def test_spring_forward_weekend_keeps_local_opening_hours(standard_policy, requester):
    # Friday 26 Mar 2027 16:00 CET = 15:00Z; clocks go forward on Sunday 28 Mar (02:00 CET -> 03:00 CEST).
    ticket = open_ticket(requester, paris(2027, 3, 26, 16))
    res = target(ticket, "resolution")
    # 1 h on Friday (16:00-17:00 CET) + 7 h on Monday (09:00-16:00 CEST): Monday 16:00 CEST = 14:00Z.
    # (Counting in UTC offsets of Friday would have said 15:00Z.)
    assert res.due_at == paris(2027, 3, 29, 16) == utc(2027, 3, 29, 14)
    reply(ticket, paris(2027, 3, 26, 16, 20))
    status(ticket, Status.SOLVED, paris(2027, 3, 29, 10))  # Monday 10:00 CEST = 08:00Z
    res.refresh_from_db()
    # 1 h Friday + 1 h Monday (09:00-10:00 CEST, i.e. 07:00Z-08:00Z) = 7,200 s.
    assert (res.state, res.elapsed_seconds) == ("met", 2 * HOUR)
    assert intervals(res.segments) == [
        (z(2027, 3, 26, 15), z(2027, 3, 26, 16), True, "business hours", HOUR),
        (z(2027, 3, 26, 16), z(2027, 3, 29, 7), False, "outside business hours", 0),
        (z(2027, 3, 29, 7), z(2027, 3, 29, 8), True, "business hours", HOUR),
    ]


def test_fall_back_weekend_keeps_local_opening_hours(standard_policy, requester):
    # Friday 23 Oct 2026 16:00 CEST = 14:00Z; clocks go back on Sunday 25 Oct (03:00 CEST -> 02:00 CET).
    ticket = open_ticket(requester, paris(2026, 10, 23, 16))
    # 1 h Friday + 7 h Monday 09:00-16:00 CET: Monday 16:00 CET = 15:00Z.
    assert target(ticket, "resolution").due_at == paris(2026, 10, 26, 16) == utc(2026, 10, 26, 15)
    # First response: Friday 17:00 CEST.
    assert target(ticket, "first_response").due_at == utc(2026, 10, 23, 15)
    explanation = explained(ticket, paris(2026, 10, 26, 9, 30))[("resolution", 1)]
    # Monday 09:30 CET: 1 h Friday + 30 min Monday.
    assert explanation["elapsed_seconds"] == 5400
    assert intervals(explanation["intervals"])[1:] == [
        (z(2026, 10, 23, 15), z(2026, 10, 26, 8), False, "outside business hours", 0),
        (z(2026, 10, 26, 8), z(2026, 10, 26, 8, 30), True, "business hours", 1800),
    ]


@pytest.mark.parametrize(
    ("opened", "due"),
    [
        # Saturday 27 Mar 2027 22:00 CET = 21:00Z; 8 real hours later is 05:00Z = 07:00 CEST (9 on the wall).
        (paris(2027, 3, 27, 22), utc(2027, 3, 28, 5)),
        # Saturday 24 Oct 2026 22:00 CEST = 20:00Z; 8 real hours later is 04:00Z = 05:00 CET (7 on the wall).
        (paris(2026, 10, 24, 22), utc(2026, 10, 25, 4)),
    ],
)
def test_a_24_7_calendar_counts_real_hours_across_the_dst_night(requester, opened, due):
    calendar = BusinessCalendar.objects.create(name="Paris 24/7", timezone="Europe/Paris", always_open=True)
    SlaPolicy.objects.create(name="Round the clock", calendar=calendar, resolution_minutes=480)
    ticket = open_ticket(requester, opened)
    assert target(ticket, "resolution").due_at == due
    explanation = explained(ticket, due)[("resolution", 1)]
    assert (explanation["elapsed_seconds"], explanation["remaining_seconds"]) == (8 * HOUR, 0)


# --- Pauses -------------------------------------------------------------------------------------------


def test_several_pauses_count_only_open_business_time(standard_policy, requester):
    ticket = open_ticket(requester, paris(2026, 11, 23, 9))  # Monday 09:00 CET = 08:00Z
    reply(ticket, paris(2026, 11, 23, 9, 30), "Which browser?")  # first response: 30 min
    status(ticket, Status.PENDING, paris(2026, 11, 23, 9, 30))
    res = target(ticket, "resolution")
    assert (res.state, res.due_at, res.elapsed_seconds) == ("paused", None, 1800)
    assert Ticket.objects.get(pk=ticket.pk).next_sla_due_at is None

    customer_says(ticket, paris(2026, 11, 23, 11), "Firefox")  # reopens; next reply #1 starts
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    res.refresh_from_db()
    # 7 h 30 left from 11:00: 6 h to 17:00 + 1 h 30 on Tuesday.
    assert (res.state, res.elapsed_seconds, res.due_at) == ("running", 1800, paris(2026, 11, 24, 10, 30))
    assert target(ticket, "next_reply").due_at == paris(2026, 11, 23, 13)

    reply(ticket, paris(2026, 11, 23, 11, 20), "Which version?")  # next reply #1 met after 20 min
    status(ticket, Status.PENDING, paris(2026, 11, 23, 11, 20))
    customer_says(ticket, paris(2026, 11, 24, 10), "Firefox 140")  # Tuesday 10:00
    res.refresh_from_db()
    # 30 + 20 min counted = 3,000 s; 25,800 s (7 h 10) left from Tuesday 10:00: 7 h to 17:00 + 10 min Wed.
    assert (res.elapsed_seconds, res.due_at) == (3000, paris(2026, 11, 25, 9, 10))

    reply(ticket, paris(2026, 11, 24, 10, 40), "Fixed in the next release.")
    status(ticket, Status.SOLVED, paris(2026, 11, 24, 10, 45))
    res.refresh_from_db()
    # 30 + 20 + 45 min = 95 min = 5,700 s of a 25 h 45 wall-clock life.
    assert (res.state, res.elapsed_seconds, res.breached) == ("met", 5700, False)
    assert intervals(res.segments) == [
        (z(2026, 11, 23, 8), z(2026, 11, 23, 8, 30), True, "business hours", 1800),
        (z(2026, 11, 23, 8, 30), z(2026, 11, 23, 10), False, "pending: waiting on the customer", 0),
        (z(2026, 11, 23, 10), z(2026, 11, 23, 10, 20), True, "business hours", 1200),
        (z(2026, 11, 23, 10, 20), z(2026, 11, 24, 9), False, "pending: waiting on the customer", 0),
        (z(2026, 11, 24, 9), z(2026, 11, 24, 9, 45), True, "business hours", 2700),
    ]
    ticket.refresh_from_db()
    assert (ticket.first_response_seconds, ticket.resolution_seconds) == (1800, 5700)
    next_replies = SlaTarget.objects.filter(ticket=ticket, metric="next_reply").order_by("cycle")
    # Next reply #1: 11:00-11:20 (1,200 s); #2: Tuesday 10:00-10:40 (2,400 s).
    assert [(t.cycle, t.state, t.elapsed_seconds) for t in next_replies] == [
        (1, "met", 1200),
        (2, "met", 2400),
    ]


@pytest.mark.parametrize(
    ("pause_on_hold", "elapsed", "expected"),
    [
        (
            True,
            # 09:00-10:00 + 12:00-13:00 = 2 h; the two hours on hold do not count.
            2 * HOUR,
            [
                (z(2026, 11, 23, 8), z(2026, 11, 23, 9), True, "business hours", HOUR),
                (z(2026, 11, 23, 9), z(2026, 11, 23, 11), False, "on hold", 0),
                (z(2026, 11, 23, 11), z(2026, 11, 23, 12), True, "business hours", HOUR),
            ],
        ),
        (
            False,
            # 09:00-13:00 all counted = 4 h.
            4 * HOUR,
            [(z(2026, 11, 23, 8), z(2026, 11, 23, 12), True, "business hours", 4 * HOUR)],
        ),
    ],
)
def test_on_hold_pauses_only_when_the_policy_says_so(
    standard_policy, requester, pause_on_hold, elapsed, expected
):
    standard_policy.pause_on_hold = pause_on_hold
    standard_policy.save()
    ticket = open_ticket(requester, paris(2026, 11, 23, 9))
    reply(ticket, paris(2026, 11, 23, 9, 10))
    status(ticket, Status.ON_HOLD, paris(2026, 11, 23, 10))
    res = target(ticket, "resolution")
    if pause_on_hold:
        assert (res.state, res.due_at) == ("paused", None)
    else:
        assert (res.state, res.due_at) == ("running", paris(2026, 11, 23, 17))
    status(ticket, Status.OPEN, paris(2026, 11, 23, 12))
    status(ticket, Status.SOLVED, paris(2026, 11, 23, 13))
    res.refresh_from_db()
    assert (res.state, res.elapsed_seconds) == ("met", elapsed)
    assert intervals(res.segments) == expected


# --- Calendar and policy changes ----------------------------------------------------------------------


def test_calendar_change_mid_ticket_keeps_counted_time_and_moves_the_rest(
    standard_policy, paris_office, requester
):
    ticket = open_ticket(requester, paris(2026, 11, 23, 9))  # Monday 09:00 CET
    reply(ticket, paris(2026, 11, 23, 9, 15))
    reply(ticket, paris(2026, 11, 23, 11), "Checked the logs", public=False)  # checkpoint: 2 h counted
    res = target(ticket, "resolution")
    assert (res.elapsed_seconds, res.due_at) == (2 * HOUR, paris(2026, 11, 23, 17))

    # The office moves to afternoons, 13:00-18:00. Under these hours 09:00-11:00 would not have counted.
    OpeningHours.objects.filter(calendar=paris_office).update(start=dt.time(13), end=dt.time(18))
    reply(ticket, paris(2026, 11, 23, 14), "Still looking", public=False)
    res.refresh_from_db()
    # Counted stays 2 h; 11:00-13:00 is now closed; 13:00-14:00 counts: 3 h. 5 h left from 14:00:
    # 4 h to 18:00 + 1 h on Tuesday from 13:00.
    assert (res.elapsed_seconds, res.due_at) == (3 * HOUR, paris(2026, 11, 24, 14))
    assert intervals(res.segments) == [
        (z(2026, 11, 23, 8), z(2026, 11, 23, 10), True, "business hours", 2 * HOUR),
        (z(2026, 11, 23, 10), z(2026, 11, 23, 12), False, "outside business hours", 0),
        (z(2026, 11, 23, 12), z(2026, 11, 23, 13), True, "business hours", HOUR),
    ]
    assert Ticket.objects.get(pk=ticket.pk).next_sla_due_at == paris(2026, 11, 24, 14)


def test_calendar_change_moves_due_times_before_the_next_event(
    standard_policy, paris_office, requester, monkeypatch
):
    from tickets.configuration import business_calendar_update

    ticket = open_ticket(requester, paris(2026, 11, 23, 9))
    reply(ticket, paris(2026, 11, 23, 9, 15))
    # At Monday 10:00 the office starts closing at 13:00 (through the configuration service, as the admin and
    # the API do): the hour counted 09:00-10:00 stays; the 7 h left run 10:00-13:00 and Tuesday 09:00-13:00.
    monkeypatch.setattr("django.utils.timezone.now", lambda: paris(2026, 11, 23, 10))
    business_calendar_update(
        calendar=paris_office,
        opening_hours=[{"weekday": d, "start": dt.time(9), "end": dt.time(13)} for d in range(5)],
    )
    monkeypatch.undo()
    resolution = SlaTarget.objects.get(ticket=ticket, metric="resolution")
    assert resolution.elapsed_seconds == 3600
    assert resolution.due_at == paris(2026, 11, 24, 13)
    # At Monday 17:01 nothing is overdue under the hours in force, so nobody is told it is breached.
    assert sla_sweep(now=paris(2026, 11, 23, 17, 1))["breached"] == 0
    assert sla_sweep(now=paris(2026, 11, 24, 13, 1))["breached"] == 1


@pytest.fixture
def urgent_policy(paris_office):
    # Tried before "Standard" (order 100).
    return SlaPolicy.objects.create(
        name="Urgent",
        order=10,
        priorities=["urgent"],
        calendar=paris_office,
        first_response_minutes=30,
        next_reply_minutes=60,
        resolution_minutes=240,
    )


def test_priority_change_moves_the_ticket_to_another_policy_keeping_counted_time(
    standard_policy, urgent_policy, requester
):
    ticket = open_ticket(requester, paris(2026, 11, 23, 9))
    assert ticket.sla_policy == standard_policy
    reply(ticket, paris(2026, 11, 23, 9, 20))
    ticket_update(ticket=ticket, priority="urgent", at=paris(2026, 11, 23, 10))
    ticket.refresh_from_db()
    assert ticket.sla_policy == urgent_policy
    res = target(ticket, "resolution")
    # 1 h counted under Standard stays; the Urgent target is 4 h: 3 h left from 10:00 -> 13:00.
    assert (res.target_seconds, res.elapsed_seconds, res.due_at) == (4 * HOUR, HOUR, paris(2026, 11, 23, 13))
    # Warning at 80 % of 4 h = 3 h 12: 2 h 12 after 10:00.
    assert res.warn_at == paris(2026, 11, 23, 12, 12)
    # The stopped first-response target keeps the target it was measured against.
    fr = target(ticket, "first_response")
    assert (fr.state, fr.target_seconds, fr.elapsed_seconds) == ("met", HOUR, 1200)
    assert ticket.next_sla_due_at == paris(2026, 11, 23, 13)


def test_priority_change_to_a_target_already_exceeded_is_breached_at_once(
    standard_policy, urgent_policy, requester
):
    ticket = open_ticket(requester, paris(2026, 11, 23, 9))
    reply(ticket, paris(2026, 11, 23, 9, 20))
    # At 14:00, 5 h are counted; the Urgent resolution target (4 h) was exceeded at 13:00.
    ticket_update(ticket=ticket, priority="urgent", at=paris(2026, 11, 23, 14))
    res = target(ticket, "resolution")
    assert (res.elapsed_seconds, res.breached, res.due_at) == (5 * HOUR, True, paris(2026, 11, 23, 13))
    assert Ticket.objects.get(pk=ticket.pk).next_sla_due_at == paris(2026, 11, 23, 13)
    # So the next sweep escalates it (not at 17:00, the Standard due time).
    assert sla_sweep(now=paris(2026, 11, 23, 14, 1)) == {"warned": 0, "breached": 1}


# --- The explanation ----------------------------------------------------------------------------------


def test_explain_lists_every_interval_with_its_reason(standard_policy, paris_office, requester):
    Holiday.objects.create(calendar=paris_office, date=dt.date(2026, 12, 25), name="Christmas")
    ticket = open_ticket(requester, paris(2026, 12, 24, 16))  # Thursday 16:00 CET = 15:00Z
    reply(ticket, paris(2026, 12, 24, 16, 30))  # first response after 30 min
    status(ticket, Status.ON_HOLD, paris(2026, 12, 28, 10))  # Monday
    status(ticket, Status.OPEN, paris(2026, 12, 28, 11))
    status(ticket, Status.PENDING, paris(2026, 12, 28, 11, 30))
    customer_says(ticket, paris(2026, 12, 28, 14))
    status(ticket, Status.SOLVED, paris(2026, 12, 28, 15))
    customer_says(ticket, paris(2026, 12, 29, 10), "It is back")  # Tuesday: reopens the solved ticket
    status(ticket, Status.SOLVED, paris(2026, 12, 29, 10, 30))

    result = explained(ticket, paris(2026, 12, 29, 12))
    res = result[("resolution", 1)]
    # Counted: Thu 16:00-17:00 (1 h) + Mon 09:00-10:00 (1 h) + 11:00-11:30 (30 min) + 14:00-15:00 (1 h)
    # + Tue 10:00-10:30 (30 min) = 4 h = 14,400 s of the 8 h target.
    assert {k: res[k] for k in ("state", "target_seconds", "elapsed_seconds", "remaining_seconds")} == {
        "state": "met",
        "target_seconds": 8 * HOUR,
        "elapsed_seconds": 4 * HOUR,
        "remaining_seconds": 4 * HOUR,
    }
    assert (res["met"], res["breached"], res["stopped_at"]) == (True, False, paris(2026, 12, 29, 10, 30))
    assert intervals(res["intervals"]) == [
        (z(2026, 12, 24, 15), z(2026, 12, 24, 16), True, "business hours", HOUR),
        (z(2026, 12, 24, 16), z(2026, 12, 24, 23), False, "outside business hours", 0),
        (z(2026, 12, 24, 23), z(2026, 12, 25, 23), False, "holiday", 0),
        (z(2026, 12, 25, 23), z(2026, 12, 28, 8), False, "outside business hours", 0),
        (z(2026, 12, 28, 8), z(2026, 12, 28, 9), True, "business hours", HOUR),
        (z(2026, 12, 28, 9), z(2026, 12, 28, 10), False, "on hold", 0),
        (z(2026, 12, 28, 10), z(2026, 12, 28, 10, 30), True, "business hours", 1800),
        (z(2026, 12, 28, 10, 30), z(2026, 12, 28, 13), False, "pending: waiting on the customer", 0),
        (z(2026, 12, 28, 13), z(2026, 12, 28, 14), True, "business hours", HOUR),
        (z(2026, 12, 28, 14), z(2026, 12, 29, 9), False, "solved", 0),
        (z(2026, 12, 29, 9), z(2026, 12, 29, 9, 30), True, "business hours", 1800),
    ]
    # The counted intervals add up to the elapsed time.
    assert sum(s["seconds"] for s in res["intervals"]) == res["elapsed_seconds"]

    fr = result[("first_response", 1)]
    assert (fr["state"], fr["elapsed_seconds"], fr["met"], fr["due_at"]) == (
        "met",
        1800,
        True,
        paris(2026, 12, 24, 17),
    )
    # Next reply #1 from the customer's message on Monday 14:00 until solved at 15:00; #2 Tuesday 10:00-10:30.
    assert [
        (result[("next_reply", c)]["state"], result[("next_reply", c)]["elapsed_seconds"]) for c in (1, 2)
    ] == [
        ("met", HOUR),
        ("met", 1800),
    ]


def test_explain_of_a_running_target_includes_the_time_since_the_last_event(standard_policy, requester):
    ticket = open_ticket(requester, paris(2026, 11, 27, 16))  # Friday 16:00
    # Monday 10:30: 1 h Friday + 1 h 30 Monday counted, the weekend not; first response overdue by 1 h 30.
    fr = explained(ticket, paris(2026, 11, 30, 10, 30))[("first_response", 1)]
    assert (fr["state"], fr["elapsed_seconds"], fr["remaining_seconds"], fr["breached"], fr["met"]) == (
        "running",
        2 * HOUR + 1800,
        -(HOUR + 1800),
        True,
        False,
    )
    assert fr["due_at"] == paris(2026, 11, 27, 17)
    assert [(s["reason"], s["seconds"]) for s in fr["intervals"]] == [
        ("business hours", HOUR),
        ("outside business hours", 0),
        ("business hours", 5400),
    ]
    # Nothing was written: the explanation is computed.
    stored = target(ticket, "first_response")
    assert (stored.elapsed_seconds, stored.segments, stored.counted_until) == (0, [], paris(2026, 11, 27, 16))
