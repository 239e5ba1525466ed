"""What the support desk adds to the customer page (crm.customer_page): open tickets and SLA breaches in the
header, a tickets section (open first, with their SLA state) and `[#598]` in timeline summaries as a link."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.admin import HeaderItem, register_customer_header_item, register_customer_panel, register_timeline_reference
from tickets.admin.queue import due_text
from tickets.forms import status_name
from tickets.metrics import UNSOLVED
from tickets.models import Ticket
from tickets.selectors import ticket_breached, ticket_breached_filter
from tickets.sla import is_past_due

OPEN_TICKETS = 15
RECENT_SOLVED = 5

register_timeline_reference(r"\[#(\d+)\]", "admin:tickets_ticket_change")


def _tickets_url(customer, status: str = "unsolved", sla: str = "") -> str:
    url = reverse("admin:tickets_ticket_changelist") + f"?customer={customer.pk}&status={status}"
    return url + (f"&sla={sla}" if sla else "")


@register_customer_header_item
def ticket_figures(customer) -> list[HeaderItem]:
    unsolved = Ticket.objects.filter(customer=customer, status__in=UNSOLVED, merged_into__isnull=True)
    count = unsolved.count()
    breached = ticket_breached_filter(unsolved, True).count() if count else 0
    return [
        HeaderItem(
            "Open tickets",
            str(count),
            url=_tickets_url(customer),
            tone="bad" if breached else "",
            detail=f"{breached} breached SLA" if breached else "no SLA breach",
        )
    ]


def sla_state(ticket, now: dt.datetime) -> tuple[str, str]:
    """(css class, text) of a ticket's SLA, as the queue shows it."""
    if ticket.status not in UNSOLVED:
        return "sla-ok", "breached" if ticket.was_breached else "met"
    if ticket.was_breached:
        return "sla-overdue", "breached"
    due = ticket.next_sla_due_at
    if due is None:
        return "sla-paused", "paused" if ticket.status in ("pending", "on_hold") else "—"
    if is_past_due(due, now):
        return "sla-overdue", due_text(due, now)
    if due <= now + dt.timedelta(hours=1):
        return "sla-soon", due_text(due, now)
    return "sla-ok", due_text(due, now)


@register_customer_panel
def tickets_panel(customer):
    """Open tickets first (by next SLA due time), then the latest solved: two queries whatever their number."""
    now = timezone.now()
    base = (
        Ticket.objects.filter(customer=customer).select_related("assignee").annotate(was_breached=ticket_breached(now))
    )
    open_tickets = list(base.filter(status__in=UNSOLVED).order_by("next_sla_due_at", "created_at")[:OPEN_TICKETS])
    solved = list(base.exclude(status__in=UNSOLVED).order_by("-created_at", "-id")[:RECENT_SOLVED])
    rows = []
    for ticket in [*open_tickets, *solved]:
        css, sla = sla_state(ticket, now)
        rows.append(
            (
                reverse("admin:tickets_ticket_change", args=[ticket.pk]),
                f"#{ticket.pk}",
                ticket.subject,
                status_name(ticket.status),
                ticket.get_priority_display(),
                css,
                sla,
                ticket.assignee or "unassigned",
                date_format(timezone.localtime(ticket.created_at), "SHORT_DATE_FORMAT"),
            )
        )
    body = format_html_join(
        "",
        '<tr><td class="nowrap"><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
        '<td class="nowrap"><span class="{}">{}</span></td><td>{}</td><td class="nowrap">{}</td></tr>',
        rows,
    )
    return "Tickets", format_html(
        '<table class="crm-tickets"><thead><tr><th>Ref.</th><th>Subject</th><th>Status</th><th>Priority</th>'
        "<th>SLA</th><th>Assignee</th><th>Opened</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">Open tickets of this customer</a> · <a href="{}">All its tickets</a></p>',
        body or mark_safe('<tr><td colspan="7">No tickets.</td></tr>'),
        _tickets_url(customer),
        _tickets_url(customer, status="all"),
    )
