"""The customer page (customer 360): a header that answers "how is this account?", anchored sections (timeline,
tickets, tasks, health, playbooks, QBRs, surveys, contacts, notes) each linking to its full list, and a timeline
filtered by kind that hides system emails by default.

crm imports no app above it: other apps add header figures (`register_customer_header_item`), sections
(`register_customer_panel`) and timeline links (`register_timeline_reference`) from their admin.py. Every part runs
a fixed number of queries, whatever the number of tickets, tasks or events the customer has."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.admin_extensions import (
    TIMELINE_REFERENCES,
    HeaderItem,
    customer_header_items,
    customer_panel_sections,
    register_customer_header_item,
)
from crm.models import Note, Task, TimelineEvent
from crm.money import money

LATEST_EVENTS = 20
LATEST_NOTES = 20
OPEN_TASKS = 20
CLOSED_TASKS = 10

# The timeline's filters: key -> (label, condition). The default hides system emails (email.sent, .failed, ...):
# they are the mail our services sent, and would drown what happened to the customer.
SYSTEM_EMAILS = Q(kind__startswith="email.")
TIMELINE_FILTERS = {
    "": ("Everything but system emails", ~SYSTEM_EMAILS),
    "tickets": ("Tickets", Q(kind__startswith="ticket.")),
    "emails": ("Emails", SYSTEM_EMAILS),
    "surveys": ("Surveys", Q(kind__startswith="survey.")),
    "tasks": ("Tasks", Q(kind__startswith="task.")),
    "notes": ("Notes", Q(kind__startswith="note.")),
    "stage": ("Stage changes", Q(kind="customer.stage_changed")),
    "all": ("All, with system emails", Q()),
}
TIMELINE_PARAMETER = "timeline"


def customer_zone(customer) -> ZoneInfo:
    try:
        return ZoneInfo(customer.timezone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def local(dt, tz=None) -> str:
    return date_format(timezone.localtime(dt, tz), "DATETIME_FORMAT")


def admin_link(app_label: str, model: str, pk) -> str:
    """The admin change URL of an object, or "" when it has none."""
    try:
        return reverse(f"admin:{app_label}_{model}_change", args=[pk])
    except NoReverseMatch:
        return ""


def linkify(summary: str) -> str:
    """The summary, escaped, with the references apps registered (`[#598]`, `invitation #1352`) as links."""
    spans = []
    for pattern, url_name in TIMELINE_REFERENCES:
        for match in pattern.finditer(summary):
            try:
                url = reverse(url_name, args=[match.group(1)])
            except NoReverseMatch:
                continue
            spans.append((match.start(), match.end(), url))
    spans.sort()
    parts, position = [], 0
    for start, end, url in spans:
        if start < position:
            continue  # overlapping references: the first wins
        parts.append(escape(summary[position:start]))
        parts.append(format_html('<a href="{}">{}</a>', url, summary[start:end]))
        position = end
    parts.append(escape(summary[position:]))
    return mark_safe("".join(parts))  # noqa: S308  (every part escaped or built by format_html)


def source_html(source_type, source_id: str, fallback: str = "") -> str:
    """A link to what created a row (a ticket, a survey response, a playbook step), labelled "ticket #12"."""
    if source_type is None or not source_id:
        return fallback
    label = f"{source_type.model} #{source_id}"
    url = admin_link(source_type.app_label, source_type.model, source_id)
    return format_html('<a href="{}">{}</a>', url, label) if url else label


# --- Sections -------------------------------------------------------------------------------------------------


def timeline_section(customer, chosen: str) -> str:
    chosen = chosen if chosen in TIMELINE_FILTERS else ""
    events = (
        TimelineEvent.objects.filter(customer=customer)
        .filter(TIMELINE_FILTERS[chosen][1])
        .select_related("actor", "source_type")
        .order_by("-occurred_at", "-id")[:LATEST_EVENTS]
    )
    zone = customer_zone(customer)
    rows = format_html_join(
        "",
        '<tr data-kind="{}"><td class="nowrap">{}</td><td class="nowrap">{}</td><td class="nowrap">{}</td><td>{}</td>'
        '<td class="nowrap">{}</td><td>{}</td></tr>',
        (
            (
                e.kind,
                local(e.occurred_at),
                local(e.occurred_at, zone),
                e.kind,
                linkify(e.summary),
                source_html(e.source_type, e.source_id),
                e.actor or "system",
            )
            for e in events
        ),
    )
    tabs = format_html_join(
        "",
        '<li><a href="?{}={}#section-timeline"{}>{}</a></li>',
        (
            (
                TIMELINE_PARAMETER,
                key,
                mark_safe(' class="selected" aria-current="true"') if key == chosen else "",
                label,
            )
            for key, (label, _) in TIMELINE_FILTERS.items()
        ),
    )
    url = reverse("admin:crm_timelineevent_changelist") + f"?customer={customer.pk}"
    return format_html(
        '<ul class="crm-timeline-filters">{}</ul>'
        '<table class="crm-timeline"><thead><tr><th>When</th><th>Customer\'s local time ({})</th><th>Kind</th>'
        "<th>Summary</th><th>Source</th><th>By</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">Full timeline</a></p>',
        tabs,
        zone.key,
        rows or mark_safe('<tr><td colspan="6">No events of this kind.</td></tr>'),
        url,
    )


def tasks_section(customer) -> str:
    """Open tasks first (by due date), then the latest closed ones with their outcome."""
    base = Task.objects.filter(customer=customer).select_related("owner", "source_type")
    open_tasks = list(base.filter(status=Task.Status.OPEN).order_by("due_date", "id")[:OPEN_TASKS])
    closed = list(base.exclude(status=Task.Status.OPEN).order_by("-closed_at", "-id")[:CLOSED_TASKS])
    today = timezone.localdate()

    def row(task):
        overdue = task.status == Task.Status.OPEN and task.due_date is not None and task.due_date < today
        outcome = getattr(task, "outcome", "") or ""
        status = task.get_status_display()
        if task.closed_at:
            status = f"{status} {date_format(timezone.localtime(task.closed_at), 'SHORT_DATE_FORMAT')}"
        return (
            "overdue" if overdue else task.status,
            admin_link("crm", "task", task.pk),
            task.reason,
            task.get_type_display(),
            task.get_priority_display(),
            task.due_date or "—",
            task.owner or "unassigned",
            status,
            outcome or ("—" if task.status != Task.Status.OPEN else ""),
            source_html(task.source_type, task.source_id, "manual"),
        )

    rows = format_html_join(
        "",
        '<tr class="task-{}"><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td class="nowrap">{}</td>'
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (row(task) for task in [*open_tasks, *closed]),
    )
    url = reverse("admin:crm_task_changelist") + f"?view=all&customer__id__exact={customer.pk}"
    add_url = reverse("admin:crm_task_add") + f"?customer={customer.pk}"
    return format_html(
        '<table class="crm-tasks"><thead><tr><th>Task</th><th>Type</th><th>Priority</th><th>Due</th><th>Owner</th>'
        "<th>Status</th><th>Outcome</th><th>Source</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All tasks of this customer</a> · <a href="{}">Add a task</a></p>',
        rows or mark_safe('<tr><td colspan="8">No tasks.</td></tr>'),
        url,
        add_url,
    )


def notes_section(customer) -> str:
    notes = Note.objects.filter(customer=customer).select_related("author").order_by("-created_at", "-id")
    items = format_html_join(
        "",
        "<li><strong>{}</strong> — {}<br>{}</li>",
        ((local(n.created_at), n.author or "system", n.body) for n in notes[:LATEST_NOTES]),
    )
    url = reverse("admin:crm_note_changelist") + f"?customer={customer.pk}"
    return format_html(
        '<ul class="crm-notes">{}</ul><p><a href="{}">All notes</a> · <a href="#notes-group">Add a note</a></p>',
        items or mark_safe("<li>No notes yet.</li>"),
        url,
    )


def customer_page_context(request, customer) -> dict:
    """What the customer's change form shows above and below the form (admin/crm/customer/change_form.html)."""
    panels = customer_panel_sections(customer)
    sections = [
        ("section-timeline", "Timeline", timeline_section(customer, request.GET.get(TIMELINE_PARAMETER, ""))),
        *[(anchor, title, html) for anchor, title, html in panels if anchor == "section-tickets"],
        ("section-tasks", "Tasks", tasks_section(customer)),
        *[(anchor, title, html) for anchor, title, html in panels if anchor != "section-tickets"],
        ("section-notes", "Notes", notes_section(customer)),
    ]
    nav = [("section-overview", "Overview"), *[(a, t) for a, t, _ in sections[:-1]]]
    nav += [("contacts-group", "Contacts"), ("section-notes", "Notes")]
    return {"header_items": customer_header_items(customer), "sections": sections, "section_nav": nav}


# --- crm's own header figures ------------------------------------------------------------------------------------


@register_customer_header_item
def customer_basics(customer) -> list[HeaderItem]:
    today = timezone.localdate()
    renewal, renewal_detail, renewal_tone = "—", "", ""
    if customer.renewal_date:
        days = (customer.renewal_date - today).days
        renewal = date_format(customer.renewal_date, "SHORT_DATE_FORMAT")
        renewal_detail = f"in {days} days" if days >= 0 else f"{-days} days ago"
        renewal_tone = "warn" if 0 <= days <= 90 else ("bad" if days < 0 else "")
    zone = customer_zone(customer)
    open_tasks = Task.objects.filter(customer=customer, status=Task.Status.OPEN).count()
    tasks_url = reverse("admin:crm_task_changelist") + f"?view=open&customer__id__exact={customer.pk}"
    stage_tone = {"at_risk": "bad", "churned": "bad", "onboarding": "warn"}.get(customer.lifecycle_stage, "")
    return [
        HeaderItem("Stage", customer.get_lifecycle_stage_display(), tone=stage_tone),
        HeaderItem("Tier", customer.get_tier_display()),
        HeaderItem(
            "Owner", str(customer.owner) if customer.owner_id else "nobody", tone="" if customer.owner_id else "warn"
        ),
        HeaderItem("ARR", money(customer.arr)),
        HeaderItem("Renewal", renewal, detail=renewal_detail, tone=renewal_tone),
        HeaderItem("Open tasks", str(open_tasks), url=tasks_url),
        HeaderItem(
            "Local time",
            date_format(timezone.localtime(timezone.now(), zone), "D H:i"),
            detail=zone.key,
        ),
    ]
