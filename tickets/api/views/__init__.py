"""REST API v1 of the ticket desk: tickets, their messages, status log, SLA clock and metrics; business
calendars and SLA policies; inbound email. Thin: reads come from tickets.selectors, writes go through the
services (tickets.services, tickets.configuration, tickets.attachments, tickets.inbound_email); errors are
mapped by crm.api.errors (a django ValidationError -> 400 per field, and nothing is changed).

Configuration in version control: `PUT /api/v1/business-calendars/by-name/{name}/` and
`PUT /api/v1/sla-policies/by-name/{name}/` are idempotent (create, or make the object match the body;
repeating the request changes nothing), so a deploy script can apply files of calendars and policies.
`manage.py loaddata` of a fixture of tickets.BusinessCalendar / OpeningHours / Holiday / SlaPolicy rows works
too, but skips the validation and the recount of running clocks that the API does.
"""

from tickets.api.views.configuration import (
    BusinessCalendarByNameViewSet,
    BusinessCalendarViewSet,
    SlaPolicyByNameViewSet,
    SlaPolicyViewSet,
)
from tickets.api.views.inbound import InboundEmailViewSet
from tickets.api.views.tickets import TicketMessageViewSet, TicketStatusChangeViewSet, TicketViewSet

__all__ = [
    "BusinessCalendarByNameViewSet",
    "BusinessCalendarViewSet",
    "InboundEmailViewSet",
    "SlaPolicyByNameViewSet",
    "SlaPolicyViewSet",
    "TicketMessageViewSet",
    "TicketStatusChangeViewSet",
    "TicketViewSet",
]
