"""The surveys panels of the CSM's home (crm.admin_extensions.register_home_panel): unhappy answers of my customers
waiting for follow-up, and the NPS and CSAT trend by month. Read through surveys.selectors; a fixed number of
queries whatever the size of the book."""

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from crm.admin_extensions import register_home_panel
from crm.charts import line_chart
from crm.home import home_customer_ids
from surveys.selectors import UNHAPPY_WINDOW_DAYS, monthly_nps_csat, unhappy_awaiting_follow_up

SHOWN_ANSWERS = 8
CHART_MONTHS = 12


@register_home_panel(order=40, permission="surveys.view_response")
def unhappy_answers(request):
    answers, count = unhappy_awaiting_follow_up(
        customer_ids=home_customer_ids(request), now=timezone.now(), limit=SHOWN_ANSWERS
    )
    if not count:
        return None
    rows = format_html_join(
        "",
        '<tr><td><a href="{}">{} {}</a></td><td><a href="{}">{}</a><div class="crm-muted">{}</div></td>'
        '<td class="crm-nowrap">{}</td></tr>',
        (
            (
                reverse("admin:surveys_response_change", args=[answer.pk]),
                answer.kind.upper(),
                answer.score,
                reverse("admin:crm_customer_change", args=[answer.customer_id]),
                answer.customer.name,
                Truncator(answer.comment).chars(90) or answer.contact.email,
                formats.date_format(timezone.localtime(answer.answered_at), "SHORT_DATE_FORMAT"),
            )
            for answer in answers
        ),
    )
    return (
        f"Unhappy answers waiting for follow-up ({count})",
        format_html(
            '<p class="crm-muted">Last {} days; the follow-up task is not done yet.</p>'
            '<table class="crm-home-answers"><thead><tr><th>Answer</th><th>Customer</th><th>Answered</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            UNHAPPY_WINDOW_DAYS,
            rows,
        ),
    )


@register_home_panel(order=46, permission="surveys.view_response")
def survey_trend(request):
    months = monthly_nps_csat(customer_ids=home_customer_ids(request), months=CHART_MONTHS, now=timezone.now())
    if all(m["nps"] is None and m["csat"] is None for m in months):
        return None
    return (
        "NPS and CSAT by month",
        line_chart(
            [m["month"].strftime("%b") for m in months],
            [
                ("NPS", "#7c3aed", [m["nps"] for m in months]),
                ("CSAT %", "#0891b2", [m["csat"] for m in months]),
            ],
            y_min=-100,
            y_max=100,
            aria="NPS and CSAT per month for my customers",
        ),
    )
