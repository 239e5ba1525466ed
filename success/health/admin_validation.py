"""The "Health model validation" admin report: a health model version's bands at past month starts against the
churn and contraction of the 90 days after (success.health.validation), with a server-side SVG chart.

Routed in config/urls.py at /admin/success/healthmodel/<id>/validation/ (URL name `health_model_validation`),
in front of the admin site's own URLs, so it does not depend on how the HealthModel admin is written: the
HealthModel change page links to it with `validation_link(model)` (or `reverse("health_model_validation",
args=[model.pk])`).
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from crm.report_forms import ReportDateField
from success.health import validation
from success.health.models import HealthModel
from success.health.validation_chart import churn_rate_chart


class ValidationForm(forms.Form):
    start = ReportDateField(help_text="The model is tested at every 1st of a month from here.")
    end = ReportDateField(help_text=f"Included; at most {validation.MAX_MONTHS} month starts.")
    version = forms.TypedChoiceField(coerce=int, choices=(), help_text="Default: the latest version.")

    def __init__(self, *args, model: HealthModel, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [
            (version.number, f"v{version.number} ({version.created_at:%Y-%m-%d})")
            for version in model.versions.order_by("-number").only("number", "created_at")
        ]

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end"):
            try:
                validation.validation_months(data["start"], data["end"])
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    self.add_error(field, messages)
        return data


def _pct(rate) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def _with_pct(figures: dict) -> dict:
    return {
        **figures,
        "churn_pct": _pct(figures["churn_rate"]),
        "either_pct": _pct(figures["churn_or_contraction_rate"]),
    }


def health_model_validation_view(request, model_id: int):
    if not request.user.has_perm("success.view_healthmodel"):
        raise PermissionDenied
    model = get_object_or_404(HealthModel, pk=model_id)
    latest = model.versions.order_by("-number").first()
    start, end = validation.default_period(timezone.localdate())
    defaults = {"start": start, "end": end, "version": latest.number if latest else None}
    form = ValidationForm(request.GET or None, model=model, initial=defaults)
    report = chart = None
    if latest is not None and (form.is_valid() or not request.GET):
        values = form.cleaned_data if request.GET else defaults
        version = model.versions.get(number=values["version"])
        report = validation.validate_model(version=version, start=values["start"], end=values["end"])
        chart = churn_rate_chart(report["months"])
        report["band_rows"] = [(band, _with_pct(report["bands"][band])) for band in validation.BANDS]
        for month in report["months"]:
            month["band_rows"] = [(band, _with_pct(month["bands"][band])) for band in validation.BANDS]
    try:
        model_url = reverse("admin:success_healthmodel_change", args=[model.pk])
    except NoReverseMatch:  # the HealthModel admin is not registered
        model_url = None
    context = {
        **admin.site.each_context(request),
        "opts": HealthModel._meta,
        "title": f"Health model validation: {model.name}",
        "model": model,
        "model_url": model_url,
        "form": form,
        "report": report,
        "chart": chart,
        "no_version": latest is None,
    }
    return TemplateResponse(request, "admin/success/healthmodel/validation.html", context)


def validation_link(model: HealthModel) -> SafeString:
    """The link the HealthModel admin shows (a read-only field or a list column): "Validate against past churn"."""
    if not model.pk:
        return format_html("{}", "—")
    return format_html(
        '<a href="{}" class="health-validation-link">{}</a>',
        reverse("health_model_validation", args=[model.pk]),
        "Validate against past churn",
    )
