"""ARR movements in the admin: recorded through success.revenue.services (never edited or deleted: the customer's
ARR is their sum), and the retention report with its chart by month (server-side SVG)."""

import datetime

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from crm.admin_changelist import FastChangelistMixin, owner_candidates
from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused
from crm.churn import ChurnReason
from crm.models import Tier
from crm.money import money
from crm.report_forms import ReportDateField
from success.revenue.charts import retention_chart
from success.revenue.models import ArrMovement
from success.revenue.selectors import month_starts, retention, retention_by_month
from success.revenue.services import arr_movement_create

MAX_MONTHS = 36


class ArrMovementForm(forms.ModelForm):
    churn_reason = forms.ChoiceField(
        choices=[("", "---------"), *ChurnReason.choices], required=False, help_text="Required for a churn."
    )

    class Meta:
        model = ArrMovement
        fields = ("customer", "amount", "effective_date", "churn_reason", "churn_note")
        help_texts = {
            "amount": "Signed change of ARR: 5000 adds, -5000 removes. The kind (new, expansion, contraction, "
            "churn, reactivation) follows from the customer's ARR at that date.",
        }


@admin.register(ArrMovement)
class ArrMovementAdmin(ServiceErrorsAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    form = ArrMovementForm
    list_display = (
        "effective_date",
        "customer",
        "kind",
        "amount_money",
        "arr_after_money",
        "churn_reason",
        "source",
        "created_by",
    )
    list_select_related = ("customer", "created_by")
    list_filter = ("kind", "source", "churn_reason")
    search_fields = ("customer__name",)
    sortable_by = ("effective_date", "amount_money")
    date_hierarchy = None
    autocomplete_fields = ("customer",)
    change_list_template = "admin/success/arrmovement/change_list.html"
    READ_ONLY = (
        "customer",
        "kind",
        "amount",
        "arr_after",
        "effective_date",
        "churn_reason",
        "churn_note",
        "source",
        "created_by",
        "created_at",
    )

    @admin.display(description="Amount", ordering="amount")
    def amount_money(self, obj):
        return money(obj.amount)

    @admin.display(description="ARR after")
    def arr_after_money(self, obj):
        return money(obj.arr_after)

    def get_fields(self, request, obj=None):
        return self.READ_ONLY if obj is not None else ArrMovementForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.READ_ONLY if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # a movement is undone by another movement, so the ARR stays the sum

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            saved = arr_movement_create(
                customer=data["customer"],
                amount=data["amount"],
                effective_date=data["effective_date"],
                churn_reason=data.get("churn_reason") or "",
                churn_note=data.get("churn_note") or "",
                actor=request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc) from exc
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def get_urls(self):
        return [
            path("retention/", self.admin_site.admin_view(self.retention_view), name="success_arrmovement_retention"),
            *super().get_urls(),
        ]

    def retention_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = RetentionForm(request.GET or None)
        result = months = chart = None
        if form.is_valid() or not request.GET:
            values = form.cleaned_data if request.GET else form.defaults()
            filters = {"tier": values.get("tiers") or None, "owner": values.get("owner")}
            start, end = values["start"], values["end"]
            result = retention(start=start, end=end, group_by="tier", **filters)
            months = retention_by_month(start=start, end=end, **filters)
            chart = retention_chart(months)
            for row in [result, *result["groups"], *months]:
                row.update({f"{key}_pct": _pct(row[key]) for key in ("grr", "nrr", "logo_churn")})
            if not request.GET:
                form = RetentionForm(initial=values)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Revenue retention",
            "form": form,
            "result": result,
            "months": months,
            "chart": chart,
            "movements_url": reverse("admin:success_arrmovement_changelist"),
        }
        return TemplateResponse(request, "admin/success/arrmovement/retention.html", context)


def _pct(ratio) -> str:
    return "—" if ratio is None else f"{ratio * 100:.1f} %"


class RetentionForm(forms.Form):
    start = ReportDateField(required=True, help_text="Included.")
    end = ReportDateField(required=True, help_text="Included; not before the start.")
    tiers = forms.MultipleChoiceField(choices=Tier.choices, required=False, widget=forms.CheckboxSelectMultiple)
    owner = forms.ModelChoiceField(queryset=None, required=False, label="Owner CSM")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_candidates()

    @staticmethod
    def defaults() -> dict:
        today = timezone.localdate()
        start = (today.replace(day=1) - datetime.timedelta(days=365)).replace(day=1)
        return {"start": start, "end": today, "tiers": [], "owner": None}

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The end of the period cannot be before its start.")
            elif len(month_starts(start, end)) > MAX_MONTHS:
                self.add_error("end", f"At most {MAX_MONTHS} months.")
        return data
