"""Routes of the ticket desk in REST API v1 (registered on the router of config/api_router.py)."""

from rest_framework.routers import SimpleRouter

from tickets.api.views import (
    BusinessCalendarByNameViewSet,
    BusinessCalendarViewSet,
    InboundEmailViewSet,
    SlaPolicyByNameViewSet,
    SlaPolicyViewSet,
    TicketMessageViewSet,
    TicketStatusChangeViewSet,
    TicketViewSet,
)

TICKET = r"tickets/(?P<ticket_id>[0-9]{1,18})"

ROUTES = [
    (f"{TICKET}/messages", TicketMessageViewSet, "ticket-message"),
    (f"{TICKET}/status-changes", TicketStatusChangeViewSet, "ticket-status-change"),
    ("tickets", TicketViewSet, "ticket"),
    ("business-calendars/by-name", BusinessCalendarByNameViewSet, "business-calendar-by-name"),
    ("business-calendars", BusinessCalendarViewSet, "business-calendar"),
    ("sla-policies/by-name", SlaPolicyByNameViewSet, "sla-policy-by-name"),
    ("sla-policies", SlaPolicyViewSet, "sla-policy"),
    ("inbound/email", InboundEmailViewSet, "inbound-email"),
]


def register_routes(router: SimpleRouter) -> None:
    for prefix, viewset, basename in ROUTES:
        router.register(prefix, viewset, basename=basename)
