"""What the success capabilities add to the customer page's header (crm.customer_page): health score, band and
trend; the running playbook's progress (onboarding); the next QBR. Each reads its capability's selectors."""

from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils.formats import date_format

from crm.admin import HeaderItem, register_customer_header_item
from success.health.selectors import customer_health
from success.playbooks.models import PlaybookRun
from success.playbooks.selectors import run_list, run_progress
from success.qbrs.selectors import customer_qbrs

BAND_TONES = {"green": "good", "yellow": "warn", "red": "bad"}
RUN_TONES = {"on_track": "good", "at_risk": "warn", "late": "bad"}


@register_customer_header_item
def health_figures(customer) -> list[HeaderItem]:
    health = customer_health(customer, history_days=0)
    url = "#section-health"
    if health is None:
        return [HeaderItem("Health", "—", url=url, detail="not scored yet")]
    trend = health["trend"]
    trend_text = "no trend yet" if trend is None else f"{trend:+.1f} in 30 days"
    band = health["band"] or ""
    return [
        HeaderItem(
            "Health", str(health["score"]), url=url, tone=BAND_TONES.get(band, ""), detail=f"{band} · {trend_text}"
        )
    ]


@register_customer_header_item
def playbook_figures(customer) -> list[HeaderItem]:
    run = run_list().filter(customer=customer, status=PlaybookRun.Status.ACTIVE).order_by("-id").first()
    if run is None:
        return [HeaderItem("Playbook", "none running")]
    progress = run_progress(run)
    return [
        HeaderItem(
            run.template.name,
            f"{progress.closed}/{progress.total} steps",
            url=reverse("admin:success_playbookrun_change", args=[run.pk]),
            tone=RUN_TONES.get(progress.state, ""),
            detail=progress.state.replace("_", " "),
        )
    ]


@register_customer_header_item
def qbr_figures(customer) -> list[HeaderItem]:
    upcoming = customer_qbrs(customer_id=customer.pk)["next"]
    if upcoming is None:
        return [HeaderItem("Next QBR", "none planned", tone="warn")]
    starts = upcoming.starts_at.astimezone(ZoneInfo(upcoming.timezone))
    return [
        HeaderItem(
            "Next QBR",
            date_format(starts, "SHORT_DATE_FORMAT"),
            url=reverse("admin:success_qbr_change", args=[upcoming.pk]),
            detail=upcoming.get_status_display().lower(),
        )
    ]
