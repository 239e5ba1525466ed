"""Business-time arithmetic for SLA calendars: which instants count, how much counted, when a target falls due.

A calendar is a time zone, weekly opening ranges (several per day) and holidays. All inputs and outputs are
aware datetimes; ranges are evaluated in the calendar's local time, so daylight-saving changes move the UTC
instants of opening hours as a person would expect ("09:00-17:00 Paris" stays 09:00-17:00 in Paris).
"""

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC
MAX_SEARCH_DAYS = 3 * 366  # a target further than this in business time has no due date


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    # weekday (0 = Monday) -> ranges of (start, end) local times; end == time(0) means midnight at the day's end.
    weekly: Mapping[int, Sequence[tuple[dt.time, dt.time]]] = field(default_factory=dict)
    holidays: frozenset[dt.date] = frozenset()
    always_open: bool = False

    @classmethod
    def twenty_four_seven(cls, tz: str = "UTC") -> "Calendar":
        return cls(tz=ZoneInfo(tz), always_open=True)

    def _day_ranges(self, day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        if day in self.holidays:
            return
        if self.always_open:
            yield (self._local(day, dt.time(0)), self._local(day + dt.timedelta(days=1), dt.time(0)))
            return
        for start, end in sorted(self.weekly.get(day.weekday(), ())):
            end_day = day + dt.timedelta(days=1) if end == dt.time(0) else day
            lo, hi = self._local(day, start), self._local(end_day, end)
            if hi > lo:
                yield lo, hi

    def _local(self, day: dt.date, at: dt.time) -> dt.datetime:
        # A wall time skipped by a DST jump resolves forward (fold=0 then normalised through UTC).
        return dt.datetime.combine(day, at, tzinfo=self.tz).astimezone(UTC)

    def open_intervals(self, start: dt.datetime, end: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """The business intervals inside [start, end), in UTC, in order."""
        if end <= start:
            return
        day = start.astimezone(self.tz).date() - dt.timedelta(days=1)
        last = end.astimezone(self.tz).date()
        while day <= last:
            for lo, hi in self._day_ranges(day):
                lo, hi = max(lo, start), min(hi, end)
                if hi > lo:
                    yield lo, hi
            day += dt.timedelta(days=1)

    def business_seconds(self, start: dt.datetime, end: dt.datetime) -> int:
        return int(sum((hi - lo).total_seconds() for lo, hi in self.open_intervals(start, end)))

    def add_business_seconds(self, start: dt.datetime, seconds: float) -> dt.datetime | None:
        """The instant when `seconds` of business time have passed after `start` (None: never, e.g. no hours)."""
        remaining = dt.timedelta(seconds=seconds)
        if remaining <= dt.timedelta(0):
            return self.next_open(start) if not self.is_open(start) else start
        day = start.astimezone(self.tz).date() - dt.timedelta(days=1)
        limit = day + dt.timedelta(days=MAX_SEARCH_DAYS)
        while day <= limit:
            for lo, hi in self._day_ranges(day):
                lo = max(lo, start)
                if hi <= lo:
                    continue
                if hi - lo >= remaining:
                    return lo + remaining
                remaining -= hi - lo
            day += dt.timedelta(days=1)
        return None

    def is_open(self, at: dt.datetime) -> bool:
        return any(True for _ in self.open_intervals(at, at + dt.timedelta(microseconds=1)))

    def next_open(self, at: dt.datetime) -> dt.datetime | None:
        day = at.astimezone(self.tz).date() - dt.timedelta(days=1)
        limit = day + dt.timedelta(days=MAX_SEARCH_DAYS)
        while day <= limit:
            for lo, hi in self._day_ranges(day):
                if hi > at:
                    return max(lo, at)
            day += dt.timedelta(days=1)
        return None
