"""Playbooks in the admin: the template editor (ordered inline steps, saved through
success.playbooks.definitions.playbook_save: a new version when the definition changed, errors shown on the
field or step that caused them), runs with their steps and progress (complete / skip steps as actions), the
"Start a playbook…" action on customers and a playbook panel on the customer page."""

import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from crm.admin import register_customer_panel
from crm.admin_services import ServiceErrorsAdminMixin, ServiceErrorsInlineMixin, ServiceRefused
from crm.models import Customer
from success.playbooks.definitions import STEP_FIELDS, TEMPLATE_FIELDS, playbook_save
from success.playbooks.meetings import meeting_ics
from success.playbooks.models import PlaybookRun, PlaybookStep, PlaybookTemplate, RunStep, StepKind
from success.playbooks.reports import friction, time_to_value
from success.playbooks.selectors import run_list, run_progress
from success.playbooks.services import playbook_start, run_cancel, run_step_complete, run_step_skip

MAX_BULK = 200


def _apply_each(model_admin, request, items, apply, *, label, done_message, refused_prefix="Not changed"):
    """Apply a service to each of (at most MAX_BULK) items; one success message with the count, one warning
    listing the refusals (a ValidationError per item, by its label)."""
    done, refused = 0, []
    for item in items[:MAX_BULK]:
        try:
            apply(item)
        except ValidationError as exc:
            refused.append(f"{label(item)}: {' '.join(exc.messages)}")
        else:
            done += 1
    model_admin.message_user(request, done_message(done), messages.SUCCESS)
    if refused:
        model_admin.message_user(request, f"{refused_prefix}: " + "; ".join(refused[:20]), messages.WARNING)


_STEP_KEY = re.compile(r"^steps\[(\d+)\]\.(\w+)$")


class PlaybookStepInline(ServiceErrorsInlineMixin, admin.StackedInline):
    model = PlaybookStep
    extra = 0
    ordering = ("position", "id")
    fields = (
        ("position", "title", "kind"),
        ("offset_days", "offset_from", "assignee"),
        "instructions",
        ("email_template", "contact_role"),
        "survey",
        ("milestone_event", "meeting_minutes"),
    )
    raw_id_fields = ("email_template", "survey")


@admin.register(PlaybookTemplate)
class PlaybookTemplateAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("name", "lifecycle_stage", "next_stage", "is_active", "latest_version", "updated_at")
    list_filter = ("is_active", "lifecycle_stage")
    search_fields = ("name",)
    inlines = (PlaybookStepInline,)
    fields = ("name", "description", "lifecycle_stage", "next_stage", "is_active", "versions_display", "report_link")
    readonly_fields = ("versions_display", "report_link")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("versions")

    @admin.display(description="Version")
    def latest_version(self, obj):
        numbers = [v.number for v in obj.versions.all()]
        return max(numbers) if numbers else "—"

    @admin.display(description="Versions")
    def versions_display(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return format_html_join(
            ", ",
            "v{} ({})",
            ((v.number, f"{v.created_at:%Y-%m-%d %H:%M}") for v in obj.versions.order_by("-number")),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.report_view)
        return [path("<int:pk>/report/", view, name="success_playbooktemplate_report"), *super().get_urls()]

    def report_view(self, request, pk):
        template = get_object_or_404(PlaybookTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            raise Http404
        ttv = time_to_value(template=template)
        distributions = [("All CSMs", ttv.overall)] + [
            (email or "No owner", dist) for email, dist in ttv.by_csm.items()
        ]
        return TemplateResponse(
            request,
            "admin/success/playbooktemplate/report.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{template.name}: time to value and friction",
                "opts": self.opts,
                "template": template,
                "distributions": distributions,
                "friction": friction(template=template),
            },
        )

    @admin.display(description="Report")
    def report_link(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        return format_html(
            '<a href="{}">Time to value and friction</a>',
            reverse("admin:success_playbooktemplate_report", args=[obj.pk]),
        )

    def save_model(self, request, obj, form, change):
        """Saved with its steps in save_related, through the service, as one definition."""

    def construct_change_message(self, request, form, formsets, add=False):
        return super().construct_change_message(request, form, [], add)  # the service replaced the steps

    def save_related(self, request, form, formsets, change):
        [steps_formset] = [f for f in formsets if f.model is PlaybookStep]
        rows = []
        for index, step_form in enumerate(steps_formset.forms):
            data = getattr(step_form, "cleaned_data", None)
            if not data or data.get("DELETE") or (not step_form.has_changed() and not step_form.instance.pk):
                continue
            rows.append((data.get("position") or 0, index, {f: data.get(f) for f in STEP_FIELDS}))
        rows.sort(key=lambda row: (row[0], row[1]))
        fields = {f: form.cleaned_data.get(f) for f in TEMPLATE_FIELDS}
        try:
            template, _ = playbook_save(
                template=form.instance if change else None,
                actor=request.user,
                steps=[row[2] for row in rows],
                **fields,
            )
        except ValidationError as exc:
            errors = exc.message_dict
            for key, messages_ in errors.items():
                match = _STEP_KEY.match(key)
                if match:
                    form_index = rows[int(match[1])][1]
                    raise ServiceRefused({match[2]: messages_}, prefix=steps_formset.prefix, index=form_index) from exc
            raise ServiceRefused.from_exception(exc) from exc
        form.instance.pk = template.pk
        form.instance._state.adding = False


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = (
        "position",
        "title",
        "kind",
        "assignee",
        "due_date",
        "status",
        "skip_reason",
        "result",
        "task",
        "calendar",
    )
    readonly_fields = fields

    @admin.display(description="Calendar")
    def calendar(self, obj):
        return RunStepAdmin.calendar(self, obj)

    ordering = ("position",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SkipForm(forms.Form):
    reason = forms.CharField(max_length=300, help_text="Why (shown on the customer's timeline).")


@admin.register(PlaybookRun)
class PlaybookRunAdmin(admin.ModelAdmin):
    list_display = ("template", "customer", "owner", "status", "started_on", "progress_display", "schedule")
    list_filter = ("status", "template")
    list_select_related = ("template", "customer", "owner", "version")
    search_fields = ("customer__name", "template__name")
    raw_id_fields = ("customer",)
    inlines = (RunStepInline,)
    fields = (
        "template",
        "version",
        "customer",
        "owner",
        "status",
        "started_on",
        "started_at",
        "completed_at",
        "entry_key",
        "progress_display",
        "schedule",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return run_list()

    def has_add_permission(self, request):
        return False

    actions = ("cancel",)

    def has_change_permission(self, request, obj=None):
        return False  # steps change through their own actions (Run steps) or the API

    def has_cancel_permission(self, request):
        return request.user.has_perm("success.change_playbookrun")

    @admin.action(description="Cancel…", permissions=["cancel"])
    def cancel(self, request, queryset):
        form = SkipForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            _apply_each(
                self,
                request,
                queryset.order_by("pk"),
                lambda run: run_cancel(run=run, reason=reason, actor=request.user),
                label=str,
                done_message=lambda done: f"{done} run(s) cancelled.",
            )
            return None
        return _action_page(self, request, queryset, form, title="Cancel playbook runs", submit="Cancel runs")

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Progress")
    def progress_display(self, obj):
        progress = run_progress(obj)
        next_step = progress.next_step
        return f"{progress.closed}/{progress.total}" + (
            f" · next: {next_step.title} ({next_step.due_date})" if next_step else ""
        )

    @admin.display(description="Schedule")
    def schedule(self, obj):
        progress = run_progress(obj)
        label = progress.state.replace("_", " ")
        return f"{label}, {progress.days_late} days late" if progress.days_late else label


@admin.register(RunStep)
class RunStepAdmin(admin.ModelAdmin):
    list_display = ("title", "run", "kind", "assignee", "due_date", "status", "redated_count", "calendar")
    list_filter = ("status", "kind")
    list_select_related = ("run__template", "run__customer", "assignee")
    search_fields = ("title", "run__customer__name")
    actions = ("complete", "skip")
    readonly_fields = [f.name for f in RunStep._meta.fields if f.name != "id"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Calendar")
    def calendar(self, obj):
        if obj.kind != StepKind.MEETING:
            return "—"
        return format_html('<a href="{}">.ics</a>', reverse("admin:success_runstep_ics", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view(self.ics_view)
        return [path("<int:pk>/meeting.ics", view, name="success_runstep_ics"), *super().get_urls()]

    def ics_view(self, request, pk):
        step = get_object_or_404(RunStep.objects.select_related("run__customer", "run__template"), pk=pk)
        if not self.has_view_permission(request, step) or step.kind != StepKind.MEETING:
            raise Http404
        response = HttpResponse(meeting_ics(step), content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="meeting-{step.pk}.ics"'
        return response

    def _each(self, request, queryset, apply, done_label):
        _apply_each(
            self,
            request,
            queryset.order_by("pk"),
            apply,
            label=lambda step: step.title,
            done_message=lambda done: f"{done} step(s) {done_label}.",
        )

    @admin.action(description="Mark done", permissions=["change"])
    def complete(self, request, queryset):
        self._each(request, queryset, lambda s: run_step_complete(step=s, actor=request.user), "done")

    @admin.action(description="Skip…", permissions=["change"])
    def skip(self, request, queryset):
        form = SkipForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(request, queryset, lambda s: run_step_skip(step=s, reason=reason, actor=request.user), "skipped")
            return None
        return _action_page(self, request, queryset, form, title="Skip steps", submit="Skip")


def _action_page(model_admin, request, queryset, form, *, title: str, submit: str):
    sample = list(queryset.order_by("pk")[:20])
    total = queryset.order_by().count()
    return TemplateResponse(
        request,
        "admin/tickets/action_form.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": title,
            "opts": model_admin.opts,
            "form": form,
            "media": model_admin.media + form.media,
            "items": [str(obj) for obj in sample],
            "more": total - len(sample),
            "action": request.POST.get("action", ""),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "submit": submit,
        },
    )


# --- On customers ---------------------------------------------------------------------------------------------


class StartForm(forms.Form):
    playbook = forms.ModelChoiceField(PlaybookTemplate.objects.filter(is_active=True), help_text="Its latest version.")


@admin.action(description="Start a playbook…", permissions=["start_playbook"])
def start_playbook(model_admin, request, queryset):
    form = StartForm(request.POST if "apply" in request.POST else None)
    if not (form.is_bound and form.is_valid()):
        return _action_page(model_admin, request, queryset, form, title="Start a playbook", submit="Start")
    template = form.cleaned_data["playbook"]
    _apply_each(
        model_admin,
        request,
        queryset.order_by("pk"),
        lambda customer: playbook_start(template=template, customer=customer, actor=request.user),
        label=lambda customer: customer.name,
        done_message=lambda done: f"{template.name} started for {done} customer(s).",
        refused_prefix="Not started",
    )
    return None


_customer_admin = admin.site._registry.get(Customer)
if _customer_admin is not None and start_playbook not in (_customer_admin.actions or ()):
    _customer_admin.actions = (*(_customer_admin.actions or ()), start_playbook)
    # Offered to the roles that may start a run (admin, csm), not to every role that may change a customer.
    _customer_admin.has_start_playbook_permission = lambda request: request.user.has_perm("success.add_playbookrun")


@register_customer_panel
def playbook_panel(customer):
    runs = list(run_list().filter(customer=customer)[:5])
    if not runs:
        return None
    rows = []
    for run in runs:
        progress = run_progress(run)
        rows.append(
            (
                f"/admin/success/playbookrun/{run.pk}/change/",
                run.template.name,
                run.get_status_display(),
                f"{progress.closed}/{progress.total}",
                progress.state.replace("_", " "),
                progress.next_step.title if progress.next_step else "—",
            )
        )
    return "Playbooks", format_html(
        "<ul>{}</ul>",
        format_html_join("", '<li><a href="{}">{}</a>: {}, {} steps, {} · next: {}</li>', rows),
    )
