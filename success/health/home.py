"""Health on the CSM's home (crm.admin_extensions.register_home_panel): the book's customers per band as a bar,
and the accounts that dropped a band in the last 7 days (timeline `health.band_changed`). A fixed number of
queries whatever the size of the book."""

import datetime as dt

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from crm.admin_extensions import register_home_panel
from crm.home import book_query, home_customer_ids, home_owner_ids
from crm.models import Customer
from success.health.charts import BAND_COLOURS, band_badge
from success.health.selectors import band_drops, health_band_counts

SHOWN_DROPS = 8
DROP_DAYS = 7


@register_home_panel(order=50, permission="crm.view_customer")
def health_panel(request):
    owner_ids = home_owner_ids(request)
    counts = health_band_counts(Customer.objects.filter(owner_id__in=owner_ids))
    total = sum(counts.values())
    if not total:
        return None
    drops, drop_count = band_drops(
        customer_ids=home_customer_ids(request), since=timezone.now() - dt.timedelta(days=DROP_DAYS), limit=SHOWN_DROPS
    )
    customers_url = reverse("admin:crm_customer_changelist")
    scope = book_query(request)
    segments = format_html_join(
        "",
        '<a href="{}?{}&amp;health={}" title="{}: {}" style="flex:{} 1 0;background:{}"></a>',
        (
            (customers_url, scope, band, band, counts[band], counts[band], BAND_COLOURS.get(band, "#d1d5db"))
            for band in ("red", "yellow", "green", "none")
            if counts[band]
        ),
    )
    drop_rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{} → {}</td><td class="crm-nowrap">{}</td></tr>',
        (
            (
                reverse("admin:crm_customer_change", args=[event.customer_id]),
                event.customer.name,
                band_badge(event.payload.get("old_band")),
                band_badge(event.payload.get("new_band")),
                formats.date_format(timezone.localtime(event.occurred_at), "SHORT_DATE_FORMAT"),
            )
            for event in drops
        ),
    )
    return (
        "Health",
        format_html(
            '<div class="crm-band-bar">{}</div><p class="crm-muted">Red {} · Yellow {} · Green {} · Not scored {}</p>'
            "<h3>Dropped a band in the last {} days ({})</h3>{}",
            segments,
            counts["red"],
            counts["yellow"],
            counts["green"],
            counts["none"],
            DROP_DAYS,
            drop_count,
            format_html(
                '<table class="crm-home-drops"><tbody>{}</tbody></table>',
                drop_rows,
            )
            if drops
            else format_html("<p>{}</p>", "No account dropped a band."),
        ),
    )
