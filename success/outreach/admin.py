"""Outreach rules in the admin: a form whose JSON fields carry examples in their help text, saved through
`outreach_rule_save` (an error names the field; nothing is saved); a "Preview" page per rule (the dry run); the
records, read-only."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused
from success.outreach.actions import ACTIONS
from success.outreach.conditions import FIELDS, OP_LABELS
from success.outreach.definitions import RULE_FIELDS, crontab_text, outreach_rule_save
from success.outreach.models import OutreachRecord, OutreachRule
from success.outreach.preview import rule_preview
from success.outreach.results import rule_results

CONDITIONS_HELP = (
    'A tree: {"all": [...]} (every one holds), {"any": [...]} (at least one), or a condition {"field", "op", '
    '"value"}. Empty: every customer. Example: {"all": [{"field": "lifecycle_stage", "op": "in", "value": '
    '["onboarding"]}, {"field": "days_in_stage", "op": "gt", "value": 30}]}. The fields are listed below.'
)
ACTIONS_HELP = (
    'A list. Example: [{"action": "email", "template": 3, "role": "champion"}, {"action": "task", "title": '
    '"Check in", "type": "lifecycle", "priority": "high", "due_in_days": 2}]. Actions: '
    + "; ".join(f"{name} ({', '.join(keys)})" for name, keys in ACTIONS.items())
    + "."
)


class PlainJSONField(forms.JSONField):
    """Hands the service whatever JSON was typed; the service validates its shape and names the field."""

    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2)


class OutreachRuleForm(forms.ModelForm):
    crontab = forms.CharField(
        required=False,
        max_length=200,
        help_text='Schedule rules: "minute hour day-of-month month day-of-week" in EACH CUSTOMER\'S local time, '
        'e.g. "0 9 * * 1-5" (09:00 on weekdays).',
    )
    event_params = PlainJSONField(required=False, help_text='e.g. {"days": 90} or {"band": "detractor"}.')
    conditions = PlainJSONField(required=False, help_text=CONDITIONS_HELP, widget=forms.Textarea(attrs={"rows": 8}))
    actions = PlainJSONField(required=False, help_text=ACTIONS_HELP, widget=forms.Textarea(attrs={"rows": 8}))

    class Meta:
        model = OutreachRule
        fields = (
            "name",
            "description",
            "enabled",
            "trigger",
            "event",
            "cooldown_days",
            "cap_per_run",
            "quiet_hours",
            "holiday_calendar",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "crontab" in self.fields:
            self.initial.setdefault("crontab", crontab_text(self.instance.schedule))
        # The service checks the ranges (with the messages the API gives too).
        for name in ("cooldown_days", "cap_per_run"):
            if name not in self.fields:  # a read-only view
                continue
            self.fields[name].validators = []
            self.fields[name].widget.attrs.pop("min", None)

    def _post_clean(self):
        pass  # the service validates and saves (the model's own validation runs there)


@admin.register(OutreachRule)
class OutreachRuleAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    form = OutreachRuleForm
    list_display = ("name", "enabled", "trigger", "when", "cooldown_days", "last_run", "shipped_key", "preview_link")
    list_filter = ("enabled", "trigger")
    search_fields = ("name", "description")
    readonly_fields = ("shipped_key", "created_by", "updated_at", "enabled_at", "last_run", "results", "catalogue")
    fieldsets = (
        (None, {"fields": ("name", "description", "enabled", "shipped_key")}),
        ("When", {"fields": ("trigger", "crontab", "event", "event_params", "quiet_hours", "holiday_calendar")}),
        ("Who", {"fields": ("conditions", "catalogue")}),
        ("What", {"fields": ("actions", "cooldown_days", "cap_per_run")}),
        ("Results", {"fields": ("enabled_at", "last_run", "results")}),
        (None, {"fields": ("created_by", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Read-only (a CSM): the crontab text field is a form field, not the model's; show the schedule instead.
        return [
            (name, {**options, "fields": tuple("schedule_text" if f == "crontab" else f for f in options["fields"])})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "schedule_text")

    @admin.display(description="Crontab")
    def schedule_text(self, obj):
        return f"{crontab_text(obj.schedule)} (in each customer's local time)" if obj and obj.schedule_id else "-"

    @admin.display(description="Last run", ordering="last_scan_at")
    def last_run(self, obj):
        if obj.last_scan_at is None:
            return "never"
        summary = obj.last_scan_summary or {}
        return format_html(
            "{} ({} customers, {} deferred, {} over the cap)",
            date_format(timezone.localtime(obj.last_scan_at), "DATETIME_FORMAT"),
            summary.get("customers", 0),
            summary.get("deferred", 0),
            summary.get("cap", 0),
        )

    @admin.display(description="Results")
    def results(self, obj):
        if obj.pk is None:
            return "-"
        data = rule_results(obj)
        history = reverse("admin:success_outreachrecord_changelist") + f"?rule__id__exact={obj.pk}"

        def rows(counts):
            return format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", sorted(counts.items())) or mark_safe(
                '<tr><td colspan="2">none</td></tr>'
            )

        onboarding = data["onboarding"]
        onboarding_html = (
            format_html(
                "<p>Onboarding finished within 30 days: {} of {} runs started in the {} days since the rule was "
                "enabled, against {} of {} in the {} days before.</p>",
                onboarding["after"]["finished"],
                onboarding["after"]["started"],
                onboarding["days"],
                onboarding["before"]["finished"],
                onboarding["before"]["started"],
                onboarding["days"],
            )
            if onboarding
            else ""
        )
        return format_html(
            '<p><a href="{}">History: every record of this rule</a></p>'
            "<table><tr><th>result</th><th>records</th></tr>{}</table>"
            "<table><tr><th>skipped because</th><th>records</th></tr>{}</table>"
            "<table><tr><th>email delivery</th><th>emails</th></tr>{}</table>"
            "<p>Surveys: {} sent, {} answered.</p>"
            "<p>Emails replied to: {} of {}.</p>{}",
            history,
            rows(data["results"]),
            rows(data["skipped"]),
            rows(data["emails"]),
            data["surveys"]["sent"],
            data["surveys"]["answered"],
            data["replies"]["replied"],
            data["replies"]["emails"],
            onboarding_html,
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("schedule", "created_by")

    @admin.display(description="When")
    def when(self, obj):
        return crontab_text(obj.schedule) if obj.trigger == "schedule" else obj.get_event_display()

    @admin.display(description="Condition fields")
    def catalogue(self, obj):
        return format_html(
            "<table><tr><th>field</th><th>meaning</th><th>ops</th><th>values</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td><code>{}</code></td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        f.name,
                        f.label,
                        f.help,
                        ", ".join(f"{op} ({OP_LABELS[op]})" for op in f.ops),
                        ", ".join(key for key, _ in f.choices) or f.type,
                    )
                    for f in FIELDS.values()
                ),
            ),
        )

    @admin.display(description="Preview")
    def preview_link(self, obj):
        return format_html('<a href="{}">Preview</a>', reverse("admin:success_outreachrule_preview", args=[obj.pk]))

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data.get(field) for field in RULE_FIELDS if field != "schedule"}
        data["schedule"] = form.cleaned_data.get("crontab") or None
        data["description"] = data["description"] or ""
        data["event"] = data["event"] or ""
        data["event_params"] = data["event_params"] or {}
        data["conditions"] = data["conditions"] or {}
        data["actions"] = data["actions"] or []
        try:
            saved = outreach_rule_save(rule=obj if change else None, actor=request.user, **data)
        except ValidationError as exc:
            refused = ServiceRefused.from_exception(exc)
            if "schedule" in refused.errors:  # the form's field for the schedule is the crontab text
                refused.errors["crontab"] = refused.errors.pop("schedule")
            raise refused from exc
        obj.pk = saved.pk
        obj._state.adding = False

    def get_urls(self):
        view = self.admin_site.admin_view(self.preview_view)
        return [path("<int:pk>/preview/", view, name="success_outreachrule_preview"), *super().get_urls()]

    def preview_view(self, request, pk):
        rule = get_object_or_404(OutreachRule, pk=pk)
        if not self.has_view_permission(request, rule):
            raise Http404
        return TemplateResponse(
            request,
            "admin/success/outreachrule/preview.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Preview: {rule.name}",
                "opts": self.opts,
                "rule": rule,
                "preview": rule_preview(rule),
            },
        )


@admin.register(OutreachRecord)
class OutreachRecordAdmin(admin.ModelAdmin):
    list_display = ("created_at", "rule", "customer", "contact", "action_type", "period_key", "result", "reason")
    list_filter = ("result", "action_type", "rule")
    list_select_related = ("rule", "customer", "contact")
    raw_id_fields = ("customer", "contact", "outbound_email", "task", "invitation")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
