"""The iCalendar object of a QBR (RFC 5545 / iTIP RFC 5546), built with the `icalendar` library.

METHOD:REQUEST for an invite and each update, METHOD:CANCEL for a cancellation; the UID never changes and the
SEQUENCE is the QBR's (bumped by the services on every change sent), so calendar clients apply an update to the
event they already have. Start and end are written in the QBR's time zone (TZID) with its VTIMEZONE.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Customer Success CRM//QBR//EN"


def _address(email: str, name: str = "", **params) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key.upper().replace("_", "-")] = vText(value)
    return address


def qbr_ics(
    *,
    qbr,
    method: str,
    organizer: tuple[str, str] | None,
    attendees: list[tuple[str, str]],
    stamp: dt.datetime,
) -> str:
    """The calendar object for one change of `qbr`: method "REQUEST" or "CANCEL". `organizer` and `attendees` are
    (email, display name) pairs."""
    zone = ZoneInfo(qbr.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", qbr.ics_uid)
    event.add("sequence", qbr.sequence)
    event.add("dtstamp", stamp.astimezone(dt.UTC))
    event.add("dtstart", qbr.starts_at.astimezone(zone))
    event.add("dtend", qbr.ends_at.astimezone(zone))
    event.add("summary", f"QBR: {qbr.customer.name}")
    if qbr.agenda:
        event.add("description", qbr.agenda)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if organizer:
        event.add("organizer", _address(*organizer))
    for email, name in attendees:
        event.add(
            "attendee",
            _address(email, name, role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="TRUE"),
        )
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()
