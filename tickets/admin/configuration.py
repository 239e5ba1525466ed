"""Business calendars, SLA policies and flag rules in the admin: the configuration a support lead owns, written
through tickets.configuration.
"""

from django.contrib import admin
from django.core.exceptions import ValidationError

from crm.admin import copy_saved
from crm.admin_services import ServiceErrorsAdminMixin, ServiceErrorsInlineMixin, ServiceRefused
from tickets.configuration import (
    business_calendar_create,
    business_calendar_delete,
    business_calendar_update,
    sla_policy_create,
    sla_policy_delete,
    sla_policy_update,
)
from tickets.forms import POLICY_FIELDS, BusinessCalendarForm, FlagRuleForm, SlaPolicyForm
from tickets.models import BusinessCalendar, FlagRule, Holiday, OpeningHours, SlaPolicy

CALENDAR_NOTE = (
    "Changing opening hours, holidays or the time zone needs nothing else: SLA time already counted on "
    "tickets stays counted (open clocks are counted up to the moment of the change with the old hours), and "
    "only the time that remains is counted in the new hours; due times are recomputed on save."
)
POLICY_NOTE = (
    "Tickets take the first active policy, by order, whose ticked conditions all match. Changing a policy "
    "keeps the time already counted on tickets; only what remains is measured against the new targets."
)


class OpeningHoursInline(ServiceErrorsInlineMixin, admin.TabularInline):
    model = OpeningHours
    fields = ("weekday", "start", "end")
    extra = 0
    verbose_name_plural = "opening hours (several ranges per day allowed; 00:00 as an end means midnight)"


class HolidayInline(ServiceErrorsInlineMixin, admin.TabularInline):
    model = Holiday
    fields = ("date", "name")
    extra = 0


def _inline_rows(formset, fields: tuple[str, ...]) -> list[dict]:
    """The rows an inline formset ends up with (kept, changed and new; not deleted, not empty extras)."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    rows = []
    for form in formset.forms:
        if formset.can_delete and formset._should_delete_form(form):
            if form.instance.pk:
                formset.deleted_objects.append(form.instance)
            continue
        if not form.instance.pk and not form.has_changed():
            continue
        rows.append({field: form.cleaned_data.get(field) for field in fields})
    return rows


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Written by tickets.configuration: the calendar, its hours and holidays in one validated change; open
    clocks counting in it keep what they counted and recompute what remains."""

    form = BusinessCalendarForm
    list_display = ("name", "timezone", "always_open", "hours", "updated_at")
    search_fields = ("name",)
    inlines = (OpeningHoursInline, HolidayInline)
    fieldsets = ((None, {"fields": ("name", "timezone", "always_open"), "description": CALENDAR_NOTE}),)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("opening_hours")

    @admin.display(description="Opening hours")
    def hours(self, obj):
        if obj.always_open:
            return "24/7"
        names = dict(OpeningHours._meta.get_field("weekday").choices)
        days: dict[int, list[str]] = {}
        for hours in obj.opening_hours.all():
            days.setdefault(hours.weekday, []).append(f"{hours.start:%H:%M}-{hours.end:%H:%M}")
        return "; ".join(f"{names[d][:3]} {', '.join(r)}" for d, r in sorted(days.items())) or "closed"

    def save_model(self, request, obj, form, change):
        """Nothing yet: save_related writes the calendar with its inlines in one service call."""

    def save_related(self, request, form, formsets, change):
        data = {field: form.cleaned_data[field] for field in ("name", "timezone", "always_open")}
        for formset in formsets:
            if formset.model is OpeningHours:
                data["opening_hours"] = _inline_rows(formset, ("weekday", "start", "end"))
            elif formset.model is Holiday:
                data["holidays"] = _inline_rows(formset, ("date", "name"))
        try:
            if change:
                saved = business_calendar_update(calendar=form.instance, actor=request.user, **data)
            else:
                saved = business_calendar_create(actor=request.user, **data)
        except ValidationError as exc:
            raise _calendar_refused(exc) from exc
        copy_saved(form.instance, saved)

    def delete_model(self, request, obj):
        business_calendar_delete(calendar=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for calendar in queryset:
            business_calendar_delete(calendar=calendar, actor=request.user)


def _calendar_refused(exc: ValidationError) -> ServiceRefused:
    """Errors on the hours (or holidays) alone show on that inline; anything else on the calendar's form."""
    errors = ServiceRefused.from_exception(exc).errors
    for inline in ("opening_hours", "holidays"):
        if set(errors) == {inline}:
            return ServiceRefused({None: errors[inline]}, prefix=inline)
    merged: dict[str | None, list[str]] = {}
    for field, texts in errors.items():
        merged.setdefault(None if field in ("opening_hours", "holidays") else field, []).extend(texts)
    return ServiceRefused(merged)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    """Written by tickets.configuration: tickets counting under a changed policy keep what they counted."""

    form = SlaPolicyForm
    list_display = (
        "name",
        "order",
        "is_active",
        "calendar",
        "conditions",
        "first_response_minutes",
        "next_reply_minutes",
        "resolution_minutes",
        "warn_at_percent",
    )
    list_filter = ("is_active",)
    list_select_related = ("calendar",)
    search_fields = ("name",)
    ordering = ("order", "id")
    fieldsets = (
        (None, {"fields": ("name", "order", "is_active", "calendar")}),
        (
            "Applies to",
            {"fields": ("tiers", "priorities", "channels", "categories"), "description": POLICY_NOTE},
        ),
        (
            "Targets (business minutes in the calendar)",
            {
                "fields": (
                    "first_response_minutes",
                    "next_reply_minutes",
                    "resolution_minutes",
                    "warn_at_percent",
                    "pause_on_hold",
                )
            },
        ),
    )

    @admin.display(description="Conditions")
    def conditions(self, obj):
        parts = [
            f"{label}: {', '.join(values)}"
            for label, values in (
                ("tier", obj.tiers),
                ("priority", obj.priorities),
                ("channel", obj.channels),
                ("category", obj.categories),
            )
            if values
        ]
        return "; ".join(parts) or "any ticket"

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            if change:
                changed = {f: data[f] for f in ("name", *POLICY_FIELDS) if f in form.changed_data}
                saved = sla_policy_update(policy=obj, actor=request.user, **changed) if changed else obj
            else:
                saved = sla_policy_create(name=data["name"], actor=request.user, **{f: data[f] for f in POLICY_FIELDS})
        except ValidationError as exc:
            raise ServiceRefused.from_exception(exc) from exc
        copy_saved(obj, saved)

    def delete_model(self, request, obj):
        sla_policy_delete(policy=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            sla_policy_delete(policy=policy, actor=request.user)


@admin.register(FlagRule)
class FlagRuleAdmin(admin.ModelAdmin):
    form = FlagRuleForm
    list_display = ("name", "is_active", "on_open", "on_escalation", "conditions")
    list_filter = ("is_active",)
    search_fields = ("name",)
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "is_active", ("on_open", "on_escalation")),
                "description": "When a matching ticket is opened or escalated, the customer's CSM is "
                "notified "
                "and the flag is marked on the customer's timeline (once per ticket, rule and trigger).",
            },
        ),
        (
            "Customers and tickets it applies to",
            {"fields": ("lifecycle_stages", "tiers", "priorities", "renewal_within_days")},
        ),
    )

    @admin.display(description="Conditions")
    def conditions(self, obj):
        parts = [
            f"{label}: {', '.join(values)}"
            for label, values in (
                ("stage", obj.lifecycle_stages),
                ("tier", obj.tiers),
                ("priority", obj.priorities),
            )
            if values
        ]
        if obj.renewal_within_days is not None:
            parts.append(f"renewal within {obj.renewal_within_days} days")
        return "; ".join(parts) or "every ticket"
