"""CSM tasks in the admin: "My open tasks" by default; writes through crm.task_services."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from crm.admin_changelist import DefaultChoiceFilter, FastChangelistMixin, OwnerFilter
from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused
from crm.customer_page import source_html
from crm.models import Task
from crm.task_services import task_close, task_create, task_update

UPDATABLE_FIELDS = ("owner", "due_date", "priority", "reason", "type")


class TaskViewFilter(DefaultChoiceFilter):
    """Which tasks: "My open tasks" unless another view is chosen."""

    title = "tasks"
    parameter_name = "view"
    MINE_OPEN = "mine_open"
    default = MINE_OPEN

    def lookups(self, request, model_admin):
        return [
            (self.MINE_OPEN, "My open tasks"),
            ("mine", "All my tasks"),
            ("open", "All open tasks"),
            ("all", "All tasks"),
        ]

    def queryset(self, request, queryset):
        view = self.value()
        if view in (self.MINE_OPEN, "mine"):
            queryset = queryset.filter(owner=request.user)
        if view in (self.MINE_OPEN, "open"):
            queryset = queryset.filter(status=Task.Status.OPEN)
        return queryset


@admin.register(Task)
class TaskAdmin(ServiceErrorsAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    # "source_display", not "source": a changelist column named after the GenericForeignKey would be sorted by it
    # (?o=N) and fail.
    list_display = ("reason", "customer", "owner", "type", "due_date", "priority", "status", "source_display")
    list_select_related = ("customer", "owner", "source_type")
    list_filter = (TaskViewFilter, "status", "type", "priority", OwnerFilter)
    search_fields = ("reason", "customer__name")
    sortable_by = ("due_date", "priority", "status")
    autocomplete_fields = ("customer", "owner")
    actions = ("mark_done", "cancel")

    class Media:
        css = {"all": ("crm/admin/lists.css",)}

    @admin.display(description="Source")
    def source_display(self, obj):
        # What created the task (a ticket, a survey invitation, a QBR), linked to its page.
        return source_html(obj.source_type, obj.source_id, "manual")

    def get_fields(self, request, obj=None):
        fields = ["customer", "owner", "type", "reason", "due_date", "priority"]
        if obj is not None:
            fields += ["status", "outcome", "source_display", "created_by", "created_at", "closed_at"]
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The customer is fixed once created; status changes through the Mark done / Cancel actions.
            readonly += ["customer", "status", "outcome", "source_display", "created_by", "created_at", "closed_at"]
        return readonly

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                changes = {f: data[f] for f in form.changed_data if f in UPDATABLE_FIELDS}
                if not changes:
                    return
                saved = task_update(task=obj, actor=request.user, **changes)
            else:
                saved, created = task_create(
                    customer=data["customer"],
                    reason=data["reason"],
                    type=data["type"],
                    owner=data.get("owner"),
                    due_date=data.get("due_date"),
                    priority=data["priority"],
                    actor=request.user,
                )
                if not created:
                    raise ValidationError(
                        {"reason": f"Open task #{saved.pk} already has this customer, type and reason."}
                    )
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc) from exc
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def _close(self, request, queryset, status):
        closed, problems = 0, []
        for task in queryset:
            if task.status == status:
                continue
            try:
                task_close(task=task, status=status, actor=request.user)
            except ValidationError as exc:
                problems.append(f"“{task.reason}”: {' '.join(exc.messages)}")
            else:
                closed += 1
        label = "done" if status == Task.Status.DONE else "cancelled"
        self.message_user(request, f"{closed} task(s) marked {label}.", messages.SUCCESS)
        if problems:
            self.message_user(request, "Not changed: " + "; ".join(problems), messages.WARNING)

    @admin.action(description="Mark done", permissions=["change"])
    def mark_done(self, request, queryset):
        self._close(request, queryset, Task.Status.DONE)

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        self._close(request, queryset, Task.Status.CANCELLED)

    def get_urls(self):
        return [
            path("<int:task_id>/done/", self.admin_site.admin_view(self.done_view), name="crm_task_done"),
            *super().get_urls(),
        ]

    def done_view(self, request, task_id: int):
        """One-click done (from the home's Today's work), with an optional outcome note: POST only."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        task = get_object_or_404(Task, pk=task_id)
        back = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, require_https=request.is_secure()):
            back = ""
        back = back or reverse("admin:index")
        if not self.has_change_permission(request, task):
            raise PermissionDenied
        try:
            task_close(task=task, status=Task.Status.DONE, actor=request.user, outcome=request.POST.get("outcome", ""))
        except ValidationError as exc:
            self.message_user(request, f"“{task.reason}” not changed: {' '.join(exc.messages)}", messages.ERROR)
        else:
            self.message_user(request, f"Done: “{task.reason}”.", messages.SUCCESS)
        return HttpResponseRedirect(back)
