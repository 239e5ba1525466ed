"""The support desk in the admin, for agents and leads.

- Tickets: the queue sorted by the next SLA due time (fast at millions of tickets: filtered on status, ordered
  along the (status, next_sla_due_at) index, no COUNT(*) of the whole table), filters for "mine", unassigned,
  breached, due within an hour and pending, bulk assignment and status changes; the ticket page with the
  conversation, a reply or internal note, edits and the SLA clock explained interval by interval.
- Business calendars, SLA policies and flag rules (the configuration a support lead owns).
- Inbound email: the unmatched queue for triage and failed messages to process again.
- The metrics report (tickets.metrics.ticket_metrics) at /admin/tickets/ticket/metrics/.

Every write on a ticket goes through tickets.services (timeline, status log and SLA clock included); a refused
write is shown as a form error or a message, never a 500, and saves nothing.
"""

from tickets.admin import customer_page  # noqa: F401  (registers the customer page's ticket parts)
from tickets.admin.configuration import BusinessCalendarAdmin, FlagRuleAdmin, SlaPolicyAdmin
from tickets.admin.inbound import InboundEmailAdmin
from tickets.admin.queue import (
    MAX_BULK,
    TicketAdmin,
    TicketQueuePaginator,
    due_text,
    duration_text,
    query_row_estimate,
)

__all__ = [
    "MAX_BULK",
    "BusinessCalendarAdmin",
    "FlagRuleAdmin",
    "InboundEmailAdmin",
    "SlaPolicyAdmin",
    "TicketAdmin",
    "TicketQueuePaginator",
    "due_text",
    "duration_text",
    "query_row_estimate",
]
