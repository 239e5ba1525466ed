"""The tickets panels of the admin's home (crm.admin_extensions.register_home_panel): an agent's own queue (their
unsolved tickets, next SLA due first), escalated and flagged tickets of my customers, and a chart of ticket volume
and SLA attainment by week. Read through tickets.selectors; a fixed number of queries whatever the size of the
book or the queue."""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from crm.admin_extensions import register_home_panel
from crm.charts import bars_with_rate_chart
from crm.home import home_customer_ids
from tickets.selectors import assigned_queue, attention_tickets, weekly_volume_and_sla

SHOWN_TICKETS = 10
CHART_WEEKS = 12


@register_home_panel(order=5, permission="tickets.view_ticket")
def my_ticket_queue(request):
    """First on the page of whoever has tickets assigned (a support agent): what to answer next."""
    from tickets.admin.customer_page import sla_state

    now = timezone.now()
    tickets, count, breached = assigned_queue(assignee=request.user, limit=SHOWN_TICKETS, now=now)
    if not count:
        return None
    queue_url = reverse("admin:tickets_ticket_changelist")
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{} {}</a><div class="crm-muted">{} · {}</div></td><td class="crm-nowrap">{}</td>'
        '<td class="crm-nowrap {}">{}</td></tr>',
        (
            (
                reverse("admin:tickets_ticket_change", args=[ticket.pk]),
                ticket.reference,
                ticket.subject,
                ticket.customer.name,
                ticket.get_priority_display(),
                ticket.get_status_display().split(" (")[0],
                *sla_state(ticket, now),
            )
            for ticket in tickets
        ),
    )
    return (
        f"My ticket queue ({count})",
        format_html(
            '<p><a href="{}?assignee=me">All {} of my unsolved tickets</a>{}</p>'
            '<table class="crm-home-queue"><thead><tr><th>Ticket</th><th>Status</th><th>SLA</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            queue_url,
            count,
            format_html(
                ' · <a class="crm-overdue-count" href="{}?assignee=me&amp;sla=breached">{} breached</a>',
                queue_url,
                breached,
            )
            if breached
            else "",
            rows,
        ),
    )


@register_home_panel(order=30, permission="tickets.view_ticket")
def tickets_needing_me(request):
    tickets, count = attention_tickets(customer_ids=home_customer_ids(request), limit=SHOWN_TICKETS)
    if not count:
        return None
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{} {}</a><div class="crm-muted">{}</div></td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:tickets_ticket_change", args=[ticket.pk]),
                ticket.reference,
                ticket.subject,
                ticket.customer.name,
                ticket.get_status_display().split(" (")[0],
                format_html("<strong>Escalated ×{}</strong>", ticket.escalation_level)
                if ticket.escalation_level
                else "Flagged",
            )
            for ticket in tickets
        ),
    )
    return (
        f"Escalated and flagged tickets ({count})",
        format_html(
            '<table class="crm-home-tickets"><thead><tr><th>Ticket</th><th>Status</th><th>Why</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        ),
    )


@register_home_panel(order=45, permission="tickets.view_ticket")
def ticket_trend(request):
    weeks = weekly_volume_and_sla(customer_ids=home_customer_ids(request), weeks=CHART_WEEKS, now=timezone.now())
    if not any(week["opened"] for week in weeks):
        return None
    return (
        "Tickets and SLA attainment by week",
        bars_with_rate_chart(
            [week["week"].strftime("%b %d") for week in weeks],
            ("Tickets opened", "#93c5fd", [week["opened"] for week in weeks]),
            ("SLA met %", "#16a34a", [week["sla_pct"] for week in weeks]),
            aria="Tickets opened and SLA attainment per week for my customers",
        ),
    )
