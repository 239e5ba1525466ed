"""The ticket queue and the ticket page in the admin, and the metrics report.

The queue is sorted by the next SLA due time (fast at millions of tickets: filtered on status, ordered along
the (status, next_sla_due_at) index, no COUNT(*) of the whole table), with filters for "mine", unassigned,
breached, due within an hour and pending, bulk assignment and status changes; the ticket page shows the
conversation, a reply or internal note, edits and the SLA clock explained interval by interval. The metrics
report (tickets.metrics.ticket_metrics) is at /admin/tickets/ticket/metrics/.
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connections
from django.db.models import F, Prefetch, Q, QuerySet
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from crm.admin import CustomerFilter, copy_saved
from crm.admin_changelist import DefaultChoiceFilter, EstimatedCountPaginator, FastChangelistMixin, is_unfiltered
from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused
from crm.models import Contact, Customer
from tickets.attachments import ticket_attachments_add
from tickets.forms import (
    REPLY_PUBLIC,
    AssignForm,
    ChangeStatusForm,
    MetricsFilterForm,
    TicketAddForm,
    TicketChangeForm,
    TicketViewForm,
    staff_assignees,
    status_name,
)
from tickets.metrics import UNSOLVED, ticket_metrics
from tickets.models import SlaTarget, Status, Ticket, TicketAttachment, TicketMessage
from tickets.selectors import ticket_breached_filter, ticket_scope
from tickets.services import ticket_change_status, ticket_create, ticket_reply, ticket_update
from tickets.sla import is_past_due, sla_explain

# Statuses in which an SLA clock can run, i.e. in which Ticket.next_sla_due_at can be set.
CLOCK_STATUSES = [Status.NEW, Status.OPEN, Status.ON_HOLD]

# The queue's order: the next SLA due time first (tickets with no running clock last), then the oldest.
QUEUE_ORDERING = (F("next_sla_due_at").asc(nulls_last=True), "created_at", "id")
# A bulk action runs one service call per ticket: keep a single request bounded.
MAX_BULK = 500
MAX_MESSAGES = 20
UPDATE_FIELDS = ("subject", "priority", "category", "tags", "assignee", "team")


# --- Human durations -------------------------------------------------------------------------------


def duration_text(seconds: float | int | None) -> str:
    """45 s, 35 min, 2 h 5 min, 3 d 4 h."""
    if seconds is None:
        return "—"
    seconds = round(abs(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def due_text(due_at: dt.datetime, now: dt.datetime | None = None) -> str:
    """ "in 35 min" or "overdue by 2 h 5 min" (wall-clock time from now)."""
    delta = (due_at - (now or timezone.now())).total_seconds()
    return f"overdue by {duration_text(delta)}" if delta < 0 else f"in {duration_text(delta)}"


def _customer_time(customer) -> str:
    """The customer's local time now, with its zone: "Thu 15 Jan 2026 22:10 IST (Asia/Kolkata)"."""
    try:
        zone = ZoneInfo(customer.timezone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo(settings.TIME_ZONE)
    return f"{_local(timezone.now(), zone)} ({zone.key})"


def _local(value: dt.datetime | None, tz=None) -> str:
    if value is None:
        return "—"
    local = value.astimezone(tz) if tz is not None else timezone.localtime(value)
    return local.strftime("%a %d %b %Y %H:%M %Z")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


# --- A paginator for lists of millions of rows ----------------------------------------------------


def query_row_estimate(queryset: QuerySet) -> int | None:
    """The planner's row estimate for a filtered queryset (PostgreSQL), or None."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    try:
        plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
        return int(plan[0]["Plan"]["Plan Rows"])
    except (DatabaseError, ValueError, KeyError, IndexError, TypeError):
        return None


class TicketQueuePaginator(EstimatedCountPaginator):
    """crm's paginator (the planner's estimate for a whole big table), and for filtered lists:

    - an exact count only up to `exact_limit` rows; a bigger result (e.g. every closed ticket) is counted by
      the planner's estimate and shown as "about", so no list counts most of the table;
    - a deferred join: the page's ids are chosen on the ticket table alone (filter and sort along its
      indexes), then only those rows are fetched with their customer, requester and assignee.
    """

    exact_limit = 1_000  # "about N" above: a breached or filtered queue is counted in milliseconds

    @cached_property
    def count(self):
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or is_unfiltered(queryset):
            return super().count
        capped = queryset.order_by()[: self.exact_limit + 1].count()
        if capped <= self.exact_limit:
            return capped
        estimate = query_row_estimate(queryset)
        if estimate is None:
            return super().count
        self.is_estimate = True
        return max(estimate, capped)

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self._rows(bottom, top), number, self)

    def _rows(self, bottom: int, top: int) -> list:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet) or not queryset.query.select_related:
            return list(queryset[bottom:top])
        pks = list(queryset.values_list("pk", flat=True)[bottom:top])
        rows = queryset.in_bulk(pks)
        return [rows[pk] for pk in pks if pk in rows]


# --- Queue filters ---------------------------------------------------------------------------------


class StatusFilter(DefaultChoiceFilter):
    """The queue (unsolved tickets) by default; one status, or all tickets, when asked for."""

    title = "status"
    parameter_name = "status"
    default = "unsolved"

    def lookups(self, request, model_admin):
        return [
            ("unsolved", "Unsolved (the queue)"),
            *[(value, status_name(value).capitalize()) for value in Status.values],
            ("all", "All"),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "unsolved":
            return queryset.filter(status__in=UNSOLVED)
        if value in Status.values:
            return queryset.filter(status=value)
        if value == "all":
            return queryset
        return queryset.none()


class AssignmentFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return [("me", "Mine"), ("none", "Unassigned")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assignee=request.user)
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset


class SlaFilter(admin.SimpleListFilter):
    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [("breached", "Breached (still unsolved)"), ("due_1h", "Due within an hour")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "breached":
            # Unsolved, with a target flagged breached (met late, or paused after its breach) or a running
            # one past its due time (the sweep may not have flagged it yet): the API's definition.
            return ticket_breached_filter(queryset.filter(status__in=UNSOLVED), True, now)
        if self.value() == "due_1h":
            # next_sla_due_at is only set while a clock runs: the status condition lets the queue index
            # serve it.
            return queryset.filter(
                status__in=CLOCK_STATUSES,
                next_sla_due_at__gte=now,  # not past due yet (tickets.sla.is_past_due)
                next_sla_due_at__lte=now + dt.timedelta(hours=1),
            )
        return queryset


# --- Tickets ---------------------------------------------------------------------------------------


@admin.register(Ticket)
class TicketAdmin(ServiceErrorsAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    # What an agent picks the next ticket by comes first (due time, status, priority, assignee); who asked after.
    list_display = (
        "reference_display",
        "subject",
        "next_due",
        "status_display",
        "priority",
        "assignee",
        "customer_requester",
        "escalation_display",
    )
    list_display_links = ("reference_display", "subject")
    list_select_related = ("customer", "requester", "assignee")
    list_filter = (
        StatusFilter,
        AssignmentFilter,
        SlaFilter,
        "priority",
        "channel",
        "category",
        "team",
        CustomerFilter,
    )
    # get_search_results implements the search (reference, subject, requester email, customer name).
    search_fields = ("subject",)
    search_help_text = 'Search by subject, reference ("#123" or "123"), requester email or customer name.'
    sortable_by = ()
    autocomplete_fields = ("customer", "requester", "assignee", "team")
    actions = ("assign_to_me", "assign_to", "change_status")
    list_per_page = 50
    paginator = TicketQueuePaginator

    def has_delete_permission(self, request, obj=None):
        # Tickets are solved, closed or merged, never deleted (the timeline and the metrics keep them).
        return False

    # --- the queue

    def get_ordering(self, request):
        status = request.GET.get(StatusFilter.parameter_name) or StatusFilter.default
        if status == Status.SOLVED:
            return ("-solved_at", "-id")  # tickets_solved_idx
        if status in (Status.CLOSED, "all"):
            return ("-created_at", "-id")  # latest first: no due times to sort by
        return QUEUE_ORDERING  # tickets_queue_idx / tickets_assignee_idx

    def get_search_results(self, request, queryset, search_term):
        """Each word must match. "#123" (or "[#123]") is a reference; a bare number is a reference or text;
        other words match the subject, the requester's email or the customer's name (by subqueries, so no
        joins and no DISTINCT)."""
        for bit in smart_split(search_term or ""):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            bit = bit.strip()
            if not bit:
                continue
            reference = bit.strip("[]")
            if reference.startswith("#"):
                number = reference[1:]
                queryset = queryset.filter(pk=int(number)) if number.isdigit() else queryset.none()
                continue
            text = (
                Q(subject__icontains=bit)
                | Q(requester_id__in=Contact.objects.filter(email__icontains=bit).values("pk"))
                | Q(customer_id__in=Customer.objects.filter(name__icontains=bit).values("pk"))
            )
            if bit.isdigit() and len(bit) < 19:
                text |= Q(pk=int(bit))
            queryset = queryset.filter(text)
        return queryset, False

    @admin.display(description="Ref.")
    def reference_display(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="Requester")
    def requester_email(self, obj):
        return obj.requester.email

    @admin.display(description="Customer / Requester")
    def customer_requester(self, obj):
        # Two short lines (cut with an ellipsis, whole in the tooltip) keep the queue within a 1280 px screen.
        return format_html(
            '<span class="queue-customer" title="{}">{}</span><span class="queue-requester" title="{}">{}</span>',
            obj.customer.name,
            obj.customer.name,
            obj.requester.email,
            obj.requester.email,
        )

    @admin.display(description="Esc.")
    def escalation_display(self, obj):
        return obj.escalation_level or "—"

    @admin.display(description="Status")
    def status_display(self, obj):
        return status_name(obj.status)

    @admin.display(description="Next due")
    def next_due(self, obj):
        if obj.next_sla_due_at is None:
            if obj.status in (Status.PENDING, Status.ON_HOLD):
                return "paused"
            return "—"
        now = timezone.now()
        css = "sla-ok"
        if is_past_due(obj.next_sla_due_at, now):
            css = "sla-overdue"
        elif obj.next_sla_due_at <= now + dt.timedelta(hours=1):
            css = "sla-soon"
        due = obj.next_sla_due_at
        return format_html('<span class="{}" title="{}">{}</span>', css, _local(due), due_text(due, now))

    # --- the ticket page

    def get_object(self, request, object_id, from_field=None):
        """The ticket with what its page shows, in one query."""
        queryset = self.get_queryset(request).select_related(
            "customer", "requester", "assignee", "team", "sla_policy__calendar", "merged_into", "follow_up_of"
        )
        try:
            return queryset.get(pk=Ticket._meta.pk.to_python(object_id))
        except (Ticket.DoesNotExist, ValidationError, ValueError):
            return None

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = TicketAddForm
        else:
            kwargs["form"] = TicketChangeForm if self._can_write(request, obj) else TicketViewForm
        return super().get_form(request, obj, change=change, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = staff_assignees()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _can_write(self, request, obj) -> bool:
        return obj is not None and obj.status != Status.CLOSED and self.has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (
                    None,
                    {
                        "fields": (
                            "customer",
                            "requester",
                            "subject",
                            "body",
                            ("channel", "priority", "category"),
                            "tags",
                            ("assignee", "team"),
                        )
                    },
                )
            ]
        fieldsets = []
        if self._can_write(request, obj):
            fieldsets.append(
                (
                    "Reply",
                    {"fields": ("reply_kind", "reply_body", "reply_files"), "classes": ("ticket-reply",)},
                )
            )
        fieldsets += [
            (
                "Ticket",
                {"fields": ("subject", ("status", "priority", "category"), ("assignee", "team"), "tags")},
            ),
            (
                "Details",
                {
                    "fields": (
                        ("reference_display", "channel", "created_at"),
                        ("customer_link", "requester_link"),
                        ("sla_policy_link", "escalation_level", "next_due"),
                        ("first_response_at", "solved_at", "closed_at"),
                        ("follow_up_of_link", "merged_into_link", "imported_at"),
                    )
                },
            ),
        ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = [
            "reference_display",
            "channel",
            "created_at",
            "customer_link",
            "requester_link",
            "sla_policy_link",
            "escalation_level",
            "next_due",
            "first_response_at",
            "solved_at",
            "closed_at",
            "follow_up_of_link",
            "merged_into_link",
            "imported_at",
        ]
        if obj.status == Status.CLOSED:
            readonly += ["subject", "status", "priority", "category", "assignee", "team", "tags"]
        return readonly

    @admin.display(description="Customer")
    def customer_link(self, obj):
        change = reverse("admin:crm_customer_change", args=[obj.customer_id])
        tickets = reverse("admin:tickets_ticket_changelist") + f"?customer={obj.customer_id}&status=all"
        return format_html(
            '<a href="{}">{}</a> ({}, {}) · <a href="{}">all tickets of this customer</a>',
            change,
            obj.customer,
            obj.customer.get_tier_display(),
            obj.customer.get_lifecycle_stage_display(),
            tickets,
        )

    @admin.display(description="Requester")
    def requester_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:crm_contact_change", args=[obj.requester_id]), obj.requester
        )

    @admin.display(description="SLA policy")
    def sla_policy_link(self, obj):
        if obj.sla_policy_id is None:
            return "none matches (measured 24/7)"
        url = reverse("admin:tickets_slapolicy_change", args=[obj.sla_policy_id])
        return format_html('<a href="{}">{}</a> ({})', url, obj.sla_policy, obj.sla_policy.calendar)

    def _ticket_link(self, ticket):
        if ticket is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("admin:tickets_ticket_change", args=[ticket.pk]), ticket)

    @admin.display(description="Follow-up of")
    def follow_up_of_link(self, obj):
        return self._ticket_link(obj.follow_up_of)

    @admin.display(description="Merged into")
    def merged_into_link(self, obj):
        return self._ticket_link(obj.merged_into)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context.update(self._ticket_page_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _ticket_page_context(self, request, ticket: Ticket) -> dict:
        conversation = (
            TicketMessage.objects.filter(ticket=ticket)
            .select_related("author_user", "author_contact")
            .prefetch_related(Prefetch("attachments", queryset=TicketAttachment.objects.order_by("id")))
            .order_by("created_at", "id")
        )
        tz = ZoneInfo(ticket.sla_policy.calendar.timezone) if ticket.sla_policy_id else dt.UTC
        return {
            "ticket": ticket,
            "conversation": [
                {
                    "message": message,
                    "author": message.author_user or message.author_contact or "system",
                    "from_staff": message.from_staff,
                    "at": _local(message.created_at),  # the viewer's time zone, labelled
                    "attachments": [
                        {
                            "name": a.filename,
                            "size": a.size,
                            "url": reverse("tickets:attachment_download", args=[a.pk]),
                        }
                        for a in message.attachments.all()
                    ],
                }
                for message in conversation
            ],
            "sla_panel": sla_panel(ticket, tz),
            "sla_timezone": str(tz),
            "viewer_zone": timezone.get_current_timezone_name(),
            "customer_time": _customer_time(ticket.customer),
            "closed_note": ticket.status == Status.CLOSED,
        }

    # --- writes, through the services

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if not change:
                saved = ticket_create(
                    customer=data["customer"],
                    requester=data["requester"],
                    subject=data["subject"],
                    body=data["body"],
                    channel=data["channel"],
                    priority=data["priority"],
                    category=data["category"],
                    tags=data.get("tags") or [],
                    assignee=data.get("assignee"),
                    team=data.get("team"),
                    actor=request.user,
                )
            else:
                saved = self._save_changes(request, obj, form)
        except (ValidationError, PermissionDenied) as exc:
            refused = ServiceRefused.from_exception(exc)
            if change:
                for service_field, form_field in (("body", "reply_body"), ("attachments", "reply_files")):
                    if service_field in refused.errors:
                        refused.errors[form_field] = refused.errors.pop(service_field)
            raise refused from exc
        copy_saved(obj, saved)

    def _save_changes(self, request, obj, form) -> Ticket:
        data = form.cleaned_data
        body = (data.get("reply_body") or "").strip()
        if body:
            public = (data.get("reply_kind") or REPLY_PUBLIC) == REPLY_PUBLIC
            message = ticket_reply(ticket=obj, body=data["reply_body"], public=public, actor=request.user)
            if data.get("reply_files"):
                ticket_attachments_add(message=message, files=data["reply_files"], actor=request.user)
            request._ticket_reply = "public reply" if public else "internal note"
        updates = {field: data[field] for field in form.changed_data if field in UPDATE_FIELDS}
        if updates:
            ticket_update(ticket=obj, actor=request.user, **updates)
        if "status" in form.changed_data:
            ticket_change_status(ticket=obj, status=data["status"], actor=request.user)
        return Ticket.objects.get(pk=obj.pk)

    def construct_change_message(self, request, form, formsets, add=False):
        if add:
            return super().construct_change_message(request, form, formsets, add)
        reply_fields = ("reply_body", "reply_kind", "reply_files")
        fields = [form.fields[f].label or f for f in form.changed_data if f not in reply_fields]
        message = [{"changed": {"fields": [str(label) for label in fields]}}] if fields else []
        reply = getattr(request, "_ticket_reply", None)
        if reply:
            message.append({"added": {"name": reply, "object": str(form.instance)}})
        return message

    def response_change(self, request, obj):
        reply = getattr(request, "_ticket_reply", None)
        if reply == "public reply":
            self.message_user(request, f"Reply sent to {obj.requester.email}.", messages.SUCCESS)
        elif reply:
            self.message_user(request, "Internal note added.", messages.SUCCESS)
        return super().response_change(request, obj)

    # --- bulk actions

    def _bulk(self, request, queryset, call, done_text: str) -> None:
        """Run `call(ticket)` per selected ticket; each refusal becomes a message naming the ticket."""
        tickets = list(queryset.select_related(None).order_by("pk").only("pk", "subject")[: MAX_BULK + 1])
        if len(tickets) > MAX_BULK:
            self.message_user(
                request, f"Select at most {MAX_BULK} tickets at a time; nothing was changed.", messages.ERROR
            )
            return
        done, refused = 0, []
        for ticket in tickets:
            try:
                call(ticket)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(getattr(exc, "messages", None) or [str(exc)])
                refused.append(f"Ticket #{ticket.pk} ({ticket.subject}): {text}")
        if done:
            self.message_user(request, f"{done_text} {done} ticket(s).", messages.SUCCESS)
        for text in refused[:MAX_MESSAGES]:
            self.message_user(request, text, messages.ERROR)
        if len(refused) > MAX_MESSAGES:
            self.message_user(request, f"… and {len(refused) - MAX_MESSAGES} more not changed.", messages.ERROR)

    def _action_page(self, request, queryset, form, *, title: str, submit: str, intro: str = ""):
        total = queryset.order_by()[: MAX_BULK + 1].count()
        if total > MAX_BULK:
            self.message_user(
                request, f"Select at most {MAX_BULK} tickets at a time; nothing was changed.", messages.ERROR
            )
            return None
        sample = list(queryset.order_by("pk")[:20])
        return TemplateResponse(
            request,
            "admin/tickets/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "intro": intro,
                "opts": self.opts,
                "form": form,
                "media": self.media + form.media,
                "items": [str(obj) for obj in sample],
                "more": total - len(sample),
                "action": request.POST.get("action", ""),
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "submit": submit,
            },
        )

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        self._bulk(
            request,
            queryset,
            lambda t: ticket_update(ticket=t, assignee=request.user, actor=request.user),
            "Assigned to you:",
        )

    @admin.action(description="Assign to…", permissions=["change"])
    def assign_to(self, request, queryset):
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            agent = form.cleaned_data["assignee"]
            self._bulk(
                request,
                queryset,
                lambda t: ticket_update(ticket=t, assignee=agent, actor=request.user),
                f"Assigned to {agent}:",
            )
            return None
        return self._action_page(request, queryset, form, title="Assign tickets", submit="Assign")

    @admin.action(description="Change status…", permissions=["change"])
    def change_status(self, request, queryset):
        form = ChangeStatusForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            status, reason = form.cleaned_data["status"], form.cleaned_data["reason"]
            self._bulk(
                request,
                queryset,
                lambda t: ticket_change_status(ticket=t, status=status, reason=reason, actor=request.user),
                f"Moved to {status_name(status)}:",
            )
            return None
        return self._action_page(
            request,
            queryset,
            form,
            title="Change the status of tickets",
            submit="Change status",
            intro="Tickets the workflow does not allow to move are left as they are and listed.",
        )

    # --- the metrics report

    def get_urls(self):
        return [
            path(
                "metrics/",
                self.admin_site.admin_view(self.metrics_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_metrics",
            ),
            *super().get_urls(),
        ]

    def metrics_view(self, request):
        if not request.user.has_perm("tickets.view_ticket"):
            raise PermissionDenied
        form = MetricsFilterForm(request.GET if request.GET else {"period": "30"})
        report = None
        if form.is_valid():
            start, end = form.period_bounds()
            scope = ticket_scope(**form.scope_filters())
            report = metrics_report(ticket_metrics(start=start, end=end, scope=scope))
        context = {
            **self.admin_site.each_context(request),
            "title": "Support metrics",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "report": report,
        }
        return TemplateResponse(request, "admin/tickets/ticket/metrics.html", context)


def sla_panel(ticket: Ticket, tz) -> list[dict]:
    """tickets.sla.sla_explain, ready to display: per target the due time, time left or overdue, met/breached
    and the intervals counted and paused with their reasons."""
    now = timezone.now()
    rows = []
    for target in sla_explain(ticket, now=now):
        metric = SlaTarget.Metric(target["metric"])
        label = metric.label
        if metric == SlaTarget.Metric.NEXT_REPLY:
            label += f" #{target['cycle']}"
        if target["state"] == SlaTarget.State.CANCELLED:
            outcome, css = "cancelled (ticket merged)", ""
        elif target["met"]:
            outcome, css = "met", "sla-ok"
        elif target["breached"]:
            outcome, css = "breached", "sla-overdue"
        elif target["state"] == SlaTarget.State.PAUSED:
            outcome, css = "paused", "sla-paused"
        elif target["target_seconds"] is None:
            outcome, css = "measured (no target)", ""
        else:
            outcome, css = "running", "sla-ok"
        remaining = target["remaining_seconds"]
        if remaining is None:
            left = "no target"
        elif remaining >= 0:
            left = f"{duration_text(remaining)} left"
        else:
            left = f"overdue by {duration_text(remaining)}"
        due = target["due_at"]
        open_clock = target["state"] in (SlaTarget.State.RUNNING, SlaTarget.State.PAUSED)
        intervals = []
        for segment in target["intervals"]:
            start, end = parse_datetime(segment["from"]), parse_datetime(segment["to"])
            counted = segment["counted"]
            intervals.append(
                {
                    "from": _local(start, tz),
                    "to": _local(end, tz),
                    "counted": counted,
                    "reason": segment["reason"],
                    "duration": duration_text(segment["seconds"] if counted else (end - start).total_seconds()),
                }
            )
        rows.append(
            {
                "label": label,
                "target": duration_text(target["target_seconds"]) if target["target_seconds"] else "—",
                "elapsed": duration_text(target["elapsed_seconds"]),
                "left": left if open_clock or remaining is None or remaining < 0 else "—",
                "due": _local(due, tz) if due else "—",
                "due_in": due_text(due, now) if due and target["state"] == SlaTarget.State.RUNNING else "",
                "started": _local(target["started_at"], tz),
                "stopped": _local(target["stopped_at"], tz) if target["stopped_at"] else "",
                "outcome": outcome,
                "css": css,
                "intervals": intervals,
            }
        )
    return rows


def metrics_report(metrics: dict) -> dict:
    """ticket_metrics as the report shows it: human durations and percentages."""

    def durations(values):
        return {
            "median": duration_text(values["median"]),
            "p90": duration_text(values["p90"]),
            "count": values["count"],
        }

    return {
        "start": metrics["period"]["start"],
        "end": metrics["period"]["end"],
        "volume": metrics["volume"],
        "first_response": durations(metrics["first_response_seconds"]),
        "resolution": durations(metrics["resolution_seconds"]),
        "solved": metrics["solved"],
        "fcr": _pct(metrics["first_contact_resolution_pct"]),
        "reopen_rate": _pct(metrics["reopen_rate_pct"]),
        "sla": [
            {
                "label": SlaTarget.Metric(metric).label,
                "targets": row["targets"],
                "met": row["met"],
                "breached": row["breached"],
                "attainment": _pct(row["attainment_pct"]),
            }
            for metric, row in sorted(metrics["sla_attainment"].items())
        ],
        "backlog_total": metrics["backlog"]["total"],
        "backlog": list(metrics["backlog"]["by_age"].items()),
    }
