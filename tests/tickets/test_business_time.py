import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tickets.business_time import Calendar

PARIS = ZoneInfo("Europe/Paris")
NINE_TO_FIVE = {d: [(dt.time(9), dt.time(17))] for d in range(5)}


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


@pytest.fixture
def office():
    return Calendar(tz=PARIS, weekly=NINE_TO_FIVE, holidays=frozenset({dt.date(2026, 12, 25)}))


def test_counts_only_opening_hours(office):
    # Monday 16:00 -> Tuesday 10:00 = 1 h Monday + 1 h Tuesday.
    assert office.business_seconds(paris(2026, 11, 23, 16), paris(2026, 11, 24, 10)) == 2 * 3600


def test_weekend_and_holiday_do_not_count(office):
    # Friday 16:00 -> Monday 10:00 = 2 h; Thursday 24 Dec 16:00 -> Saturday = 1 h (25th is a holiday).
    assert office.business_seconds(paris(2026, 11, 27, 16), paris(2026, 11, 30, 10)) == 2 * 3600
    assert office.business_seconds(paris(2026, 12, 24, 16), paris(2026, 12, 26, 12)) == 3600


def test_due_time_rolls_over_closed_time(office):
    # 4 business hours from Friday 15:00 -> Monday 11:00.
    assert office.add_business_seconds(paris(2026, 11, 27, 15), 4 * 3600) == paris(2026, 11, 30, 11)
    # Starting at night counts from the next opening.
    assert office.add_business_seconds(paris(2026, 11, 23, 22), 3600) == paris(2026, 11, 24, 10)


def test_several_ranges_per_day():
    cal = Calendar(tz=PARIS, weekly={0: [(dt.time(13), dt.time(17)), (dt.time(9), dt.time(12))]})
    assert cal.business_seconds(paris(2026, 11, 23, 0), paris(2026, 11, 24, 0)) == 7 * 3600
    assert cal.add_business_seconds(paris(2026, 11, 23, 11), 2 * 3600) == paris(2026, 11, 23, 14)


def test_daylight_saving_keeps_local_hours(office):
    # 29 March 2027 (Monday after the spring change): 9-17 Paris is 07:00-15:00 UTC, not 08:00-16:00.
    start = dt.datetime(2027, 3, 29, 6, tzinfo=dt.UTC)
    assert office.add_business_seconds(start, 3600) == dt.datetime(2027, 3, 29, 8, tzinfo=dt.UTC)


def test_midnight_end_and_24x7():
    late = Calendar(tz=PARIS, weekly={d: [(dt.time(20), dt.time(0))] for d in range(7)})
    assert late.business_seconds(paris(2026, 11, 23, 0), paris(2026, 11, 25, 0)) == 8 * 3600
    always = Calendar.twenty_four_seven("UTC")
    start = dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC)
    assert always.add_business_seconds(start, 86400 * 2) == start + dt.timedelta(days=2)


def test_calendar_without_hours_has_no_due_time():
    assert Calendar(tz=PARIS).add_business_seconds(paris(2026, 11, 23, 9), 60) is None


def test_round_trip_property(office):
    start = paris(2026, 11, 20, 7, 13)
    for minutes in (1, 59, 480, 481, 2400, 9999):
        due = office.add_business_seconds(start, minutes * 60)
        assert office.business_seconds(start, due) == minutes * 60
