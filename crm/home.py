"""The CSM's home (the admin's front page): whose book a user sees, and crm's panel, "Today’s work".

Whose book: a CSM sees the customers they own; a team lead (accounts.Team.lead) sees their own and those of the
members of every team they lead. Admins are no exception: an admin who owns no customer and leads no team sees an
empty book (and the count of customers without an owner, in the My book panel). `home_owner_ids` is computed once
per request (cached on it), so every panel scopes the same way for one query.

Today's work: my open tasks, overdue first (highlighted), each with a one-click Done and an optional outcome note
(a POST to TaskAdmin.done_view, which calls crm.task_services.task_close).
"""

import datetime as dt

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from crm.admin_extensions import register_customer_list_filter, register_home_panel
from crm.models import Customer, Task

SHOWN_TASKS = 12


def home_owner_ids(request) -> list[int]:
    """Ids of the users whose customers make up the signed-in user's book (themselves first)."""
    cached = getattr(request, "_crm_home_owner_ids", None)
    if cached is not None:
        return cached
    user = request.user
    members = (
        get_user_model()
        .objects.filter(Q(teams__lead=user))
        .exclude(pk=user.pk)
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    ids = [user.pk, *members]
    request._crm_home_owner_ids = ids
    return ids


def home_customer_ids(request) -> list[int]:
    """Ids of the customers in the signed-in user's book (home_owner_ids), once per request: the panels filter
    their rows by these (`customer_id__any_of`, one array parameter), which PostgreSQL answers from each table's
    customer index instead of joining every row to its customer."""
    cached = getattr(request, "_crm_home_customer_ids", None)
    if cached is None:
        cached = list(Customer.objects.filter(owner_id__in=home_owner_ids(request)).values_list("pk", flat=True))
        request._crm_home_customer_ids = cached
    return cached


def is_team_lead(request) -> bool:
    return len(home_owner_ids(request)) > 1


class BookFilter(admin.SimpleListFilter):
    """The customer list of a book: "My team’s customers" (a lead's team, crm.home.home_owner_ids)."""

    title = "book"
    parameter_name = "book"

    def lookups(self, request, model_admin):
        return [("team", "My team’s customers")]

    def queryset(self, request, queryset):
        if self.value() == "team":
            return queryset.filter(owner_id__in=home_owner_ids(request))
        return queryset


class RenewalWithinFilter(admin.SimpleListFilter):
    """Customers renewing (with ARR) within the next 30, 60 or 90 days, today included."""

    title = "renewal"
    parameter_name = "renewal_within"
    WINDOWS = (30, 60, 90)

    def lookups(self, request, model_admin):
        return [(str(days), f"In the next {days} days") for days in self.WINDOWS]

    def queryset(self, request, queryset):
        if self.value() not in {str(days) for days in self.WINDOWS}:
            return queryset
        today = timezone.localdate()
        horizon = today + dt.timedelta(days=int(self.value()))
        return queryset.filter(renewal_date__gte=today, renewal_date__lte=horizon, arr__gt=0)


register_customer_list_filter(BookFilter)
register_customer_list_filter(RenewalWithinFilter)


def book_query(request) -> str:
    """The customer list's filter for the signed-in user's book: theirs, or their team's for a lead."""
    return "book=team" if is_team_lead(request) else "mine=1"


def my_open_tasks(*, owner, today: dt.date, limit: int) -> tuple[list[Task], int, int]:
    """The owner's open tasks, overdue first (oldest due first), then by due date (no date last); with the count
    of all open and of overdue ones. Two queries."""
    tasks = Task.objects.filter(owner=owner, status=Task.Status.OPEN)
    counts = tasks.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(due_date__lt=today)),
    )
    rows = list(
        tasks.select_related("customer")
        .only("pk", "reason", "due_date", "priority", "type", "customer__id", "customer__name")
        .annotate(
            late=Case(When(due_date__lt=today, then=Value(0)), default=Value(1), output_field=IntegerField()),
            no_date=Case(When(due_date__isnull=True, then=Value(1)), default=Value(0), output_field=IntegerField()),
        )
        .order_by("late", "no_date", "due_date", "pk")[:limit]
    )
    return rows, counts["open"], counts["overdue"]


@register_home_panel(order=10)
def todays_work(request):
    today = timezone.localdate()
    tasks, open_count, overdue = my_open_tasks(owner=request.user, today=today, limit=SHOWN_TASKS)
    tasks_url = reverse("admin:crm_task_changelist")
    if not tasks:
        return (
            "Today’s work",
            format_html('<p>No open task. <a href="{}?view=mine">All my tasks</a></p>', tasks_url),
        )
    token = get_token(request)
    here = request.get_full_path()
    can_close = request.user.has_perm("crm.change_task")
    rows = format_html_join(
        "",
        '<tr class="{}"><td><a href="{}">{}</a><div class="crm-muted"><a href="{}">{}</a> · {}</div></td>'
        '<td class="crm-nowrap">{}</td><td>{}</td></tr>',
        (
            (
                "crm-overdue" if task.due_date and task.due_date < today else "",
                reverse("admin:crm_task_change", args=[task.pk]),
                task.reason,
                reverse("admin:crm_customer_change", args=[task.customer.pk]),
                task.customer.name,
                task.get_priority_display(),
                _due(task.due_date, today),
                _done_form(task, token, here) if can_close else "",
            )
            for task in tasks
        ),
    )
    return (
        "Today’s work",
        format_html(
            '<p><a href="{}?view=mine_open">{} open task(s)</a>{}</p>'
            '<table class="crm-home-tasks"><thead><tr><th>Task</th><th>Due</th><th>Done?</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            tasks_url,
            open_count,
            format_html(' · <strong class="crm-overdue-count">{} overdue</strong>', overdue) if overdue else "",
            rows,
        ),
    )


def _due(day: dt.date | None, today: dt.date) -> str:
    if day is None:
        return "—"
    text = formats.date_format(day, "SHORT_DATE_FORMAT")
    if day < today:
        return format_html('<strong title="{} day(s) late">{}</strong>', (today - day).days, text)
    return "Today" if day == today else text


def _done_form(task: Task, token: str, here: str) -> str:
    return format_html(
        '<form method="post" action="{}" class="crm-done-form">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}"><input type="hidden" name="next" value="{}">'
        '<input type="text" name="outcome" maxlength="1000" placeholder="Outcome (optional)" '
        'aria-label="Outcome of {}"><button type="submit" class="button">Done</button></form>',
        reverse("admin:crm_task_done", args=[task.pk]),
        token,
        here,
        task.reason,
    )
