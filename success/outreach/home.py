"""Outreach results on the CSM's home (crm.admin_extensions.register_home_panel): what the rules did for my
customers in the last 7 days, by result, each a link to the records. One query."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from crm.admin_extensions import register_home_panel
from crm.home import home_customer_ids
from success.outreach.models import OutreachResult
from success.outreach.selectors import results_since

DAYS = 7


@register_home_panel(order=65, permission="success.view_outreachrecord")
def outreach_results(request):
    counts = results_since(customer_ids=home_customer_ids(request), since=timezone.now() - dt.timedelta(days=DAYS))
    if not counts:
        return None
    url = reverse("admin:success_outreachrecord_changelist")
    return (
        f"Outreach in the last {DAYS} days",
        format_html(
            "<p>{}</p>",
            format_html_join(
                " · ",
                '<a href="{}?result__exact={}">{}: {}</a>',
                ((url, value, label, counts[value]) for value, label in OutreachResult.choices if counts.get(value)),
            ),
        ),
    )
