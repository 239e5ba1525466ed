"""Onboarding runs at risk on the CSM's home (crm.admin_extensions.register_home_panel): active playbook runs of my
customers with an overdue step, most overdue first. A fixed number of queries whatever the size of the book."""

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from crm.admin_extensions import register_home_panel
from crm.home import home_customer_ids
from success.playbooks.selectors import RunState, run_progress, runs_behind

SHOWN_RUNS = 8


@register_home_panel(order=55, permission="success.view_playbookrun")
def runs_at_risk(request):
    runs, count = runs_behind(customer_ids=home_customer_ids(request), today=timezone.localdate(), limit=SHOWN_RUNS)
    if not count:
        return None
    rows = []
    for run in runs:
        progress = run_progress(run, today=timezone.localdate())
        rows.append(
            (
                reverse("admin:success_playbookrun_change", args=[run.pk]),
                run.customer.name,
                run.template.name,
                progress.closed,
                progress.total,
                RunState(progress.state).label if progress.state in RunState.values else progress.state,
                progress.days_late,
                progress.next_step.title if progress.next_step else "—",
            )
        )
    return (
        f"Playbook runs behind ({count})",
        format_html(
            '<table class="crm-home-runs"><thead><tr><th>Run</th><th>Steps</th><th>State</th><th>Next step</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a><div class="crm-muted">{}</div></td><td>{}/{}</td>'
                "<td>{} ({} d)</td><td>{}</td></tr>",
                rows,
            ),
        ),
    )
