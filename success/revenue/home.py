"""The CSM's landing view: their book on the admin's home page (a panel registered with crm's home hook).

Shown to whoever owns customers (a team lead: their team's, crm.home.home_owner_ids): customers and ARR owned,
customers per health band and lifecycle stage, renewals in the next 30/60/90 days and the first ones of the next 90
with their band, the open risk tasks, and for a lead or an admin the customers without an owner; each a link to the
filtered customer list. A fixed number of queries (success.revenue.book) whatever the size of the book.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from accounts.roles import ADMIN, user_role
from crm.admin import register_home_panel
from crm.home import book_query, home_customer_ids, home_owner_ids, is_team_lead
from crm.models import LifecycleStage
from success.health.charts import band_badge
from success.revenue.book import RENEWAL_WINDOW_DAYS, book, unowned_customer_count

BAND_LINKS = (("red", "Red"), ("yellow", "Yellow"), ("green", "Green"), ("none", "Not scored"))
SHOWN_ROWS = 10


def _money(amount) -> str:
    return f"{settings.REPORTING_CURRENCY} {amount:,.0f}"


@register_home_panel(order=20)
def my_book(request):
    lead = is_team_lead(request)
    data = book(
        owner=request.user,
        owner_ids=home_owner_ids(request),
        customer_ids=home_customer_ids(request),
        today=timezone.localdate(),
        limit=SHOWN_ROWS,
    )
    can_assign = lead or user_role(request.user) == ADMIN
    unowned = unowned_customer_count() if can_assign else 0
    if not data["customers"] and not unowned:
        return None
    customers_url = reverse("admin:crm_customer_changelist")
    tasks_url = reverse("admin:crm_task_changelist")
    scope = book_query(request)
    bands = format_html_join(
        " ",
        '<a href="{}?{}&amp;health={}">{} {}</a>',
        (
            (customers_url, scope, key, label if key == "none" else band_badge(key), data["health"][key])
            for key, label in BAND_LINKS
        ),
    )
    stages = format_html_join(
        " · ",
        '<a href="{}?{}&amp;lifecycle_stage__exact={}">{} {}</a>',
        (
            (customers_url, scope, value, label, data["stages"][value])
            for value, label in LifecycleStage.choices
            if data["stages"][value]
        ),
    )
    windows = format_html_join(
        " · ",
        '<a href="{}?{}&amp;renewal_within={}">{} days: {}</a>',
        ((customers_url, scope, days, days, count) for days, count in data["renewals_by_window"].items()),
    )
    renewals = data["renewals_next_90_days"]
    renewal_rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td class="crm-nowrap">{}</td><td class="crm-money">{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:crm_customer_change", args=[row["id"]]),
                row["name"],
                formats.date_format(row["renewal_date"], "SHORT_DATE_FORMAT"),
                _money(row["arr"]),
                band_badge(row["band"]),
            )
            for row in renewals
        ),
    )
    risks = data["open_risk_tasks"]
    risk_rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td><a href="{}">{}</a></td><td class="crm-nowrap">{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:crm_task_change", args=[row["id"]]),
                row["reason"],
                reverse("admin:crm_customer_change", args=[row["customer_id"]]),
                row["customer_name"],
                formats.date_format(row["due_date"], "SHORT_DATE_FORMAT") if row["due_date"] else "—",
                row["priority"],
            )
            for row in risks
        ),
    )
    renewal_table = (
        format_html(
            '<table class="crm-book-renewals"><thead><tr><th>Customer</th><th>Renewal</th><th>ARR</th>'
            "<th>Health</th></tr></thead><tbody>{}</tbody></table>",
            renewal_rows,
        )
        if renewals
        else format_html("<p>{}</p>", "No renewal due.")
    )
    risk_table = (
        format_html(
            '<table class="crm-book-risks"><thead><tr><th>Task</th><th>Customer</th><th>Due</th><th>Priority</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            risk_rows,
        )
        if risks
        else format_html("<p>{}</p>", "No open risk task.")
    )
    unowned_line = (
        format_html(
            '<p class="crm-book-unowned"><a href="{}?owner=none">{} customer(s) without an owner</a></p>',
            customers_url,
            unowned,
        )
        if can_assign
        else ""
    )
    return (
        "My team’s book" if lead else "My book",
        format_html(
            '<p class="crm-book-summary"><a href="{}?{}">{} customers</a> · ARR {} · Health: {}</p>'
            '<p class="crm-book-stages">Stages: {}</p><p class="crm-book-windows">Renewals in the next {}</p>{}'
            "<h3>Renewals in the next {} days ({})</h3>{}<h3>Open risk tasks ({})</h3>{}"
            '<p><a href="{}?view=mine_open">My open tasks</a></p>',
            customers_url,
            scope,
            data["customers"],
            _money(data["total_arr"]),
            bands,
            stages or "—",
            windows,
            unowned_line,
            RENEWAL_WINDOW_DAYS,
            data["renewals_by_window"][RENEWAL_WINDOW_DAYS],
            renewal_table,
            data["open_risk_task_count"],
            risk_table,
            tasks_url,
        ),
    )
