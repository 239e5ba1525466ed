"""When outreach is due in a customer's local time: schedule occurrences and quiet hours.

    zone(name) -> ZoneInfo                       a customer's time zone (UTC when unknown)
    occurrences(schedule, tz, start, end)        the rule's local occurrences in (start, end], oldest first, each
                                                 (UTC instant, period_key)
    next_business_moment(tz, at, holidays=frozenset())
                                                 `at` when it falls in the local business hours, else the next
                                                 opening (OUTREACH_BUSINESS_DAYS / OUTREACH_BUSINESS_HOURS), never
                                                 on one of `holidays` (local dates)

A crontab's fields (django-celery-beat CrontabSchedule, parsed by celery's crontab) are read as LOCAL wall-clock
times: "0 9 * * *" fires at 09:00 in Berlin and at 09:00 in New York, whatever UTC says, and across daylight-saving
changes it still fires once per local day. A wall time skipped by a spring-forward jump (02:30) resolves forward
(zoneinfo's fold=0 read through UTC), a wall time that happens twice in autumn is taken the first time (fold=0),
and the period key names the local date (and time, for a rule that fires several times a day), so the second
01:30 of an autumn night is the same unit of work as the first.

Quiet hours use the same weekly business hours as the ticket desk's calendars (tickets.business_time.Calendar) in
the customer's zone: by default Monday to Friday, 09:00-17:00 local time. A rule with a holiday calendar
(OutreachRule.holiday_calendar, a tickets BusinessCalendar) also skips that calendar's holidays, each read as a date
in the customer's own zone (a holiday on 25 December is 25 December in Auckland and in Los Angeles): work due on a
holiday waits for the next local business day that is not one. The scan reads the dates once per run
(tickets.selectors.holiday_dates) and passes them here.
"""

import datetime as dt
import functools
from functools import cache
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django.conf import settings

from tickets.business_time import Calendar

UTC = dt.UTC
MAX_WINDOW = dt.timedelta(days=2)  # a scan after a long outage fires the latest occurrences only, not a backlog
BUSINESS_SEARCH = dt.timedelta(days=90)  # long enough for any run of holidays


@cache
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def _crontab(schedule) -> crontab:
    return crontab(
        minute=schedule.minute,
        hour=schedule.hour,
        day_of_week=schedule.day_of_week,
        day_of_month=schedule.day_of_month,
        month_of_year=schedule.month_of_year,
    )


def fires_more_than_daily(schedule) -> bool:
    cron = _crontab(schedule)
    return len(cron.hour) * len(cron.minute) > 1


def occurrences(schedule, tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str]]:
    """Local occurrences of `schedule` in (start, end] (aware datetimes), as (UTC instant, period key)."""
    cron = _crontab(schedule)
    with_time = len(cron.hour) * len(cron.minute) > 1
    start = max(start, end - MAX_WINDOW)
    found = []
    day = start.astimezone(tz).date() - dt.timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        cron_dow = (day.weekday() + 1) % 7  # celery: 0 = Sunday
        if day.month in cron.month_of_year and day.day in cron.day_of_month and cron_dow in cron.day_of_week:
            for hour in sorted(cron.hour):
                for minute in sorted(cron.minute):
                    wall = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)
                    instant = wall.astimezone(UTC)
                    if start < instant <= end:
                        key = f"{day.isoformat()}T{hour:02d}:{minute:02d}" if with_time else day.isoformat()
                        found.append((instant, key))
        day += dt.timedelta(days=1)
    return found


def _business_calendar(tz: ZoneInfo, holidays: frozenset[dt.date] = frozenset()) -> Calendar:
    start_hour, end_hour = getattr(settings, "OUTREACH_BUSINESS_HOURS", (9, 17))
    days = getattr(settings, "OUTREACH_BUSINESS_DAYS", (0, 1, 2, 3, 4))
    hours = ((dt.time(start_hour), dt.time(end_hour) if end_hour < 24 else dt.time(0)),)
    return Calendar(tz=tz, weekly={day: hours for day in days}, holidays=holidays)


@functools.lru_cache(maxsize=512)
def _calendar(name: str, holidays: frozenset[dt.date]) -> Calendar:
    return _business_calendar(zone(name), holidays)


def next_business_moment(tz_name: str, at: dt.datetime, holidays: frozenset[dt.date] = frozenset()) -> dt.datetime:
    """`at` itself inside the customer's local business hours, else the start of the next ones; a local date in
    `holidays` has none."""
    calendar = _calendar(tz_name or "UTC", frozenset(holidays))
    for lo, _hi in calendar.open_intervals(at, at + BUSINESS_SEARCH):
        return max(lo, at)
    return at
