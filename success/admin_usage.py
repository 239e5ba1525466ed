"""Product usage in the admin: read-only lists (events arrive through the API; rollups are computed)."""

from django.contrib import admin
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from crm.admin import CustomerFilter, register_customer_panel
from crm.admin_changelist import FastChangelistMixin
from crm.charts import line_chart
from success.usage.models import UsageDaily, UsageDailyName, UsageEvent
from success.usage.selectors import customer_usage_summary

USAGE_DAYS = 90


class ReadOnlyAdmin(FastChangelistMixin, admin.ModelAdmin):
    """Big tables: estimated counts, no facets (crm.admin_changelist); nothing to add, change or delete; one
    customer's rows with ?customer=<id> (the customer page's Usage links)."""

    list_filter = (CustomerFilter,)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "customer", "name", "contact_email", "quantity", "external_id", "received_at")
    list_select_related = ("customer",)
    search_fields = ("=external_id", "=contact_email", "=name")
    raw_id_fields = ("customer", "contact")


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyAdmin):
    list_display = ("day", "customer", "active_users", "events", "quantity")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)
    date_hierarchy = "day"


@admin.register(UsageDailyName)
class UsageDailyNameAdmin(ReadOnlyAdmin):
    list_display = ("day", "customer", "name", "events", "quantity")
    list_select_related = ("customer",)
    raw_id_fields = ("customer",)


@register_customer_panel
def usage_panel(customer):
    """The customer page's Usage section: daily active users over 90 days, the last 30 days against the 30 before,
    the last day with usage and the most used features; four statements."""
    today = timezone.now().date()  # usage days are UTC days
    usage = customer_usage_summary(customer_id=customer.pk, last_day=today, days=USAGE_DAYS)
    days_url = reverse("admin:success_usagedaily_changelist") + f"?customer={customer.pk}"
    events_url = reverse("admin:success_usageevent_changelist") + f"?customer={customer.pk}"
    links = format_html('<p><a href="{}">All usage days</a> · <a href="{}">Raw events</a></p>', days_url, events_url)
    if usage["last_used"] is None:
        return "Usage", format_html("<p>No product usage received yet.</p>{}", links)
    window = usage["window"]
    events, previous = window.get("events", 0), window.get("events_prev", 0)
    change = ""
    if previous:
        percent = 100 * (events - previous) / previous
        change = f" ({'+' if percent >= 0 else ''}{percent:.0f} % on the 30 days before)"
    idle = (today - usage["last_used"]).days
    summary = format_html(
        "<p>Last 30 days: <strong>{}</strong> events{} · active on <strong>{}</strong> of 30 days · last used {}{}</p>",
        f"{events:,}",
        change,
        window.get("days_active", 0),
        formats.date_format(usage["last_used"], "SHORT_DATE_FORMAT"),
        format_html(' <strong class="crm-overdue-count">({} days ago)</strong>', idle) if idle >= 7 else "",
    )
    series = usage["series"]
    chart = line_chart(
        [formats.date_format(row["day"], "M d") for row in series],
        [("Active users", "#2563eb", [row["active_users"] for row in series])],
        y_min=0,
        y_max=max([row["active_users"] for row in series] + [1]),
        aria=f"Daily active users of {customer.name} over the last {USAGE_DAYS} days",
    )
    features = (
        format_html(
            '<table class="crm-usage-features"><thead><tr><th>Feature (last 30 days)</th><th>Events</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td></tr>", ((name, f"{n:,}") for name, n in usage["features"])
            ),
        )
        if usage["features"]
        else ""
    )
    return "Usage", format_html("{}{}{}{}", summary, chart, features, links)
