"""The calendar file of a playbook meeting step, for the CSM (the run page links to it), built with the
`icalendar` library like the QBR invites (success/qbrs/calendar.py):

- one VEVENT at MEETING_HOUR on the step's due date, written in the customer's time zone (DTSTART;TZID=...)
  with its VTIMEZONE, so the meeting stays at 10:00 local time across a DST change;
- a UID stable per step, so importing the file again updates the same event rather than adding one;
- SEQUENCE = the step's `calendar_sequence`, bumped by the services whenever its due date moves (a re-date, or
  a re-date of the step it counts from), so calendar clients take the newer file as the update.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from success.playbooks.models import RunStep

MEETING_HOUR = 10
PRODID = "-//Customer Success CRM//Playbooks//EN"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def meeting_uid(step: RunStep) -> str:
    return f"playbook-step-{step.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}"


def meeting_start(step: RunStep) -> dt.datetime:
    return dt.datetime.combine(step.due_date, dt.time(MEETING_HOUR), tzinfo=_zone(step.run.customer.timezone))


def meeting_ics(step: RunStep, *, stamp: dt.datetime | None = None) -> str:
    start = meeting_start(step)
    minutes = int(step.spec.get("meeting_minutes") or 30)
    customer = step.run.customer
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    event = Event()
    event.add("uid", meeting_uid(step))
    event.add("sequence", step.calendar_sequence)
    event.add("dtstamp", (stamp or timezone.now()).astimezone(dt.UTC))
    event.add("dtstart", start)
    event.add("dtend", start + dt.timedelta(minutes=minutes))
    event.add("summary", f"{step.title}: {customer.name}")
    event.add("description", step.spec.get("instructions") or step.run.template.name)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()
