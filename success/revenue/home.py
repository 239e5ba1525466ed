"""The CSM's landing view: their book on the admin's home page (a panel registered with crm's home hook).

Shown to whoever owns customers: customers and ARR owned, customers per health band, the renewals of the next
90 days with their band, and the open risk tasks; each a link to the filtered list. A fixed number of queries
(success.revenue.book) whatever the size of the book.
"""

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from crm.admin import register_home_panel
from success.health.charts import band_badge
from success.revenue.book import RENEWAL_WINDOW_DAYS, book

BAND_LINKS = (("red", "Red"), ("yellow", "Yellow"), ("green", "Green"), ("none", "Not scored"))
SHOWN_ROWS = 10


def _money(amount) -> str:
    return f"{settings.REPORTING_CURRENCY} {amount:,.0f}"


@register_home_panel
def my_book(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    data = book(owner=user, today=timezone.localdate())
    if not data["customers"]:
        return None
    customers_url = reverse("admin:crm_customer_changelist")
    tasks_url = reverse("admin:crm_task_changelist")
    bands = format_html_join(
        " ",
        '<a href="{}?mine=1&amp;health={}">{} {}</a>',
        (
            (customers_url, key, label if key == "none" else band_badge(key), data["health"][key])
            for key, label in BAND_LINKS
        ),
    )
    renewals = data["renewals_next_90_days"]
    renewal_rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="crm-money">{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:crm_customer_change", args=[row["id"]]),
                row["name"],
                formats.date_format(row["renewal_date"], "DATE_FORMAT"),
                _money(row["arr"]),
                band_badge(row["band"]),
            )
            for row in renewals[:SHOWN_ROWS]
        ),
    )
    risks = data["open_risk_tasks"]
    risk_rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td></tr>',
        (
            (
                reverse("admin:crm_task_change", args=[row["id"]]),
                row["reason"],
                reverse("admin:crm_customer_change", args=[row["customer_id"]]),
                row["customer_name"],
                formats.date_format(row["due_date"], "DATE_FORMAT") if row["due_date"] else "—",
                row["priority"],
            )
            for row in risks[:SHOWN_ROWS]
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
    return (
        "My book",
        format_html(
            '<p class="crm-book-summary"><a href="{}?mine=1">{} customers</a> · ARR {} · Health: {}</p>'
            "<h3>Renewals in the next {} days ({})</h3>{}<h3>Open risk tasks ({})</h3>{}"
            '<p><a href="{}?view=mine_open">My open tasks</a></p>',
            customers_url,
            data["customers"],
            _money(data["total_arr"]),
            bands,
            RENEWAL_WINDOW_DAYS,
            len(renewals),
            renewal_table,
            len(risks),
            risk_table,
            tasks_url,
        ),
    )
