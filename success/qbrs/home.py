"""The next QBRs on the CSM's home (crm.admin_extensions.register_home_panel), each with its preparation pack's
link. A fixed number of queries whatever the size of the book."""

from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from crm.admin_extensions import register_home_panel
from crm.home import home_customer_ids
from success.qbrs.selectors import upcoming_qbrs

SHOWN_QBRS = 6


def _when(qbr) -> str:
    try:
        zone = ZoneInfo(qbr.timezone or "UTC")
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return formats.date_format(timezone.localtime(qbr.starts_at, zone), "SHORT_DATETIME_FORMAT")


@register_home_panel(order=60, permission="success.view_qbr")
def next_qbrs(request):
    qbrs, count = upcoming_qbrs(customer_ids=home_customer_ids(request), now=timezone.now(), limit=SHOWN_QBRS)
    if not count:
        return None
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td><a href="{}">Prepare</a></td></tr>',
        (
            (
                reverse("admin:success_qbr_change", args=[qbr.pk]),
                qbr.customer.name,
                _when(qbr),
                qbr.get_status_display(),
                reverse("admin:success_qbr_prep", args=[qbr.pk]),
            )
            for qbr in qbrs
        ),
    )
    return (
        f"Next QBRs ({count})",
        format_html(
            '<table class="crm-home-qbrs"><thead><tr><th>Customer</th><th>When (their time)</th><th>Status</th>'
            "<th></th></tr></thead><tbody>{}</tbody></table>",
            rows,
        ),
    )
