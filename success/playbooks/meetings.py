"""The calendar file of a playbook meeting step, for the CSM (the task links to it from the run page): one VEVENT
at MEETING_HOUR on the step's due date in the customer's time zone, written in UTC (so no VTIMEZONE is needed),
with a UID stable per step, so importing it again updates the same event.

Written by hand (RFC 5545 text): the `icalendar` library is not installed in this environment. QBR invites
(METHOD:REQUEST with VTIMEZONE and SEQUENCE) are a different, richer case."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from success.playbooks.models import RunStep

MEETING_HOUR = 10


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 3.1)."""
    out, current = [], ""
    for char in line:
        if len((current + char).encode()) > 75:
            out.append(current)
            current = " " + char
        else:
            current += char
    out.append(current)
    return "\r\n".join(out)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_start(step: RunStep) -> dt.datetime:
    zone = ZoneInfo(step.run.customer.timezone or "UTC")
    return dt.datetime.combine(step.due_date, dt.time(MEETING_HOUR), tzinfo=zone)


def meeting_ics(step: RunStep) -> str:
    start = meeting_start(step)
    minutes = int(step.spec.get("meeting_minutes") or 30)
    customer = step.run.customer
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Customer Success CRM//Playbooks//EN",
        "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        f"UID:playbook-step-{step.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}",
        f"DTSTAMP:{_utc(timezone.now())}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(start + dt.timedelta(minutes=minutes))}",
        f"SUMMARY:{_escape(f'{step.title}: {customer.name}')}",
        f"DESCRIPTION:{_escape(step.spec.get('instructions') or step.run.template.name)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
