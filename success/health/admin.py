"""Health in the admin (imported by SuccessConfig.ready):

- Health models with their components inline, saved through success.health.definitions.health_model_save (a new
  version when the definition changed; a bad definition is a form error on the component row and field, nothing
  saved). Admins and team leads edit them; CSMs and the other roles read them.
- Overrides: added from the customer page (the add form is prefilled with the customer) through
  success.health.services.health_override_create, ended by an action through health_override_end.
- The customer page's "Health" panel, and the customer list's health column (sortable by score) and band filter.
"""

import re
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from accounts.models import Team
from crm.admin import CustomerFilter, register_customer_column, register_customer_list_filter, register_customer_panel
from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused, add_errors_to_form, form_with_errors
from success.health.admin_validation import validation_link
from success.health.charts import band_badge, health_history_chart
from success.health.definitions import COMPONENT_FIELDS, health_model_save
from success.health.models import HealthComponent, HealthModel, HealthOverride
from success.health.selectors import customer_health
from success.health.services import health_override_create, health_override_end

MODEL_FIELDS = ("name", "description", "lifecycle_stage", "red_below", "green_from", "is_active")
MISSING = "no data: left out, weights renormalised"
COMPONENT_ERROR = re.compile(r"^components\[(\d+)\]\.(\w+)$")


# --- Thresholds as text --------------------------------------------------------------------------------------


def _number_text(value) -> str:
    value = Decimal(str(value))
    return str(int(value)) if value == value.to_integral_value() else str(value.normalize())


def format_thresholds(thresholds) -> str:
    """[[0, 100], [2, 80], [None, 20]] -> "0:100, 2:80, *:20"."""
    return ", ".join(
        f"{'*' if up_to is None else _number_text(up_to)}:{_number_text(score)}" for up_to, score in thresholds or []
    )


def parse_thresholds(text: str) -> list:
    """Text to pairs: "0:100, 2:80, *:20" -> [[0, 100], [2, 80], [None, 20]] ("*": every larger value).
    Raises ValidationError."""
    pairs = []
    for index, part in enumerate(p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        up_to, sep, score = (s.strip() for s in part.partition(":"))
        if not sep:
            raise ValidationError(f"Threshold {index + 1} ({part!r}): write up_to:score, e.g. 2:80.")
        try:
            bound = None if up_to == "*" else _json_number(up_to)
            pairs.append([bound, _json_number(score)])
        except (ArithmeticError, ValueError):
            raise ValidationError(f"Threshold {index + 1} ({part!r}): numbers, or * for the last bound.") from None
    return pairs


def _json_number(text: str):
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError(text)
    return int(value) if value == value.to_integral_value() else float(value)


# --- Health models -------------------------------------------------------------------------------------------


def may_edit_models(request) -> bool:
    """Admins (the role's permissions) and team leads may change health models. The team-lead lookup runs only on
    the health model pages: every other admin page asks too (the app list), and must not pay a query for it."""
    user = request.user
    if not user.is_active:
        return False
    if user.has_perm("success.change_healthmodel"):
        return True
    match = getattr(request, "resolver_match", None)
    if match is None or not (match.url_name or "").startswith("success_healthmodel_"):
        return False
    cached = getattr(request, "_health_team_lead", None)
    if cached is None:
        cached = request._health_team_lead = user.is_staff and Team.objects.filter(lead=user).exists()
    return cached


class HealthComponentForm(forms.ModelForm):
    thresholds = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 24}),
        help_text='Thresholds method: "0:100, 2:80, 5:50, *:20" (up to 0 scores 100, up to 2 scores 80, ..., * '
        "any larger value).",
    )

    class Meta:
        model = HealthComponent
        fields = ("name", "input", "weight", "method", "worst", "best", "thresholds", "key_events")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["thresholds"] = format_thresholds(self.instance.thresholds)
        elif "thresholds" in self.initial and not isinstance(self.initial["thresholds"], str):
            self.initial["thresholds"] = format_thresholds(self.initial["thresholds"])

    def clean_thresholds(self):
        return parse_thresholds(self.cleaned_data.get("thresholds") or "")

    def has_changed(self):
        # The initial thresholds are text, the cleaned value a list: compare as text.
        return bool(self.changed_data)


class HealthComponentInline(admin.TabularInline):
    model = HealthComponent
    form = HealthComponentForm
    fields = HealthComponentForm.Meta.fields
    extra = 1

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        refused = getattr(request, "_health_refused", None)
        if refused is None or not refused.rows:
            return formset

        class ComponentsWithErrors(formset):
            def clean(self):
                super().clean()
                for index, errors in refused.rows.items():
                    if index < len(self.forms):
                        add_errors_to_form(self.forms[index], errors)

        return ComponentsWithErrors

    def has_add_permission(self, request, obj=None):
        return may_edit_models(request)

    def has_change_permission(self, request, obj=None):
        return may_edit_models(request)

    def has_delete_permission(self, request, obj=None):
        return may_edit_models(request)


class DefinitionRefused(Exception):
    """health_model_save refused: `main` errors for the model form, `rows` {inline form index: {field: [...]}}."""

    def __init__(self, main: dict, rows: dict):
        super().__init__(main, rows)
        self.main, self.rows = main, rows


def split_definition_errors(exc: ValidationError, form_fields, row_of: list[int]) -> DefinitionRefused:
    """Where each error goes: "components[2].thresholds" -> the inline form of the 3rd component saved, field
    thresholds; the model's own fields -> that field of the model form; the rest ("components": none at all,
    weights all 0) -> the top of the page."""
    main: dict = {}
    rows: dict = {}
    for key, msgs in (exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}).items():
        match = COMPONENT_ERROR.match(key)
        if match and int(match.group(1)) < len(row_of):
            rows.setdefault(row_of[int(match.group(1))], {}).setdefault(match.group(2), []).extend(msgs)
        elif key in form_fields:
            main.setdefault(key, []).extend(msgs)
        else:
            label = "" if key == NON_FIELD_ERRORS else f"{key.replace('_', ' ').capitalize()}: "
            main.setdefault(None, []).extend(f"{label}{m}" for m in msgs)
    return DefinitionRefused(main, rows)


@admin.register(HealthModel)
class HealthModelAdmin(admin.ModelAdmin):
    list_display = ("name", "stage", "red_below", "green_from", "is_active", "updated_at", "validation")
    list_filter = ("is_active", "lifecycle_stage")
    search_fields = ("name",)
    sortable_by = ("name", "stage")
    fields = (*MODEL_FIELDS, "validation", "versions_table")
    readonly_fields = ("validation", "versions_table")
    inlines = (HealthComponentInline,)

    @admin.display(description="Lifecycle stage", ordering="lifecycle_stage")
    def stage(self, obj):
        return obj.get_lifecycle_stage_display() or "Default (every stage without a model of its own)"

    def has_add_permission(self, request):
        return may_edit_models(request)

    def has_change_permission(self, request, obj=None):
        return may_edit_models(request)

    def has_delete_permission(self, request, obj=None):
        return False  # scores name their versions: deactivate a model instead

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else MODEL_FIELDS

    @admin.display(description="Validation")
    def validation(self, obj):
        return validation_link(obj)

    @admin.display(description="Versions")
    def versions_table(self, obj):
        versions = list(obj.versions.select_related("created_by").order_by("-number")) if obj.pk else []
        if not versions:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
            (
                (
                    v.number,
                    date_format(timezone.localtime(v.created_at), "DATETIME_FORMAT"),
                    v.created_by or "system",
                    ", ".join(f"{c['name']} ({_number_text(c['weight'])})" for c in v.definition.get("components", [])),
                    v.definition.get("bands", {}).get("red_below"),
                    v.definition.get("bands", {}).get("green_from"),
                )
                for v in versions
            ),
        )
        return format_html(
            '<table class="health-versions"><thead><tr><th>Version</th><th>Saved</th><th>By</th>'
            "<th>Components (weight)</th><th>Red below / green from</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def changeform_view(self, request, *args, **kwargs):
        try:
            return super().changeform_view(request, *args, **kwargs)
        except DefinitionRefused as refused:
            if getattr(request, "_health_refused", None) is not None:
                raise
            request._health_refused = refused  # same POST again, with the errors on the forms; nothing saved
            return super().changeform_view(request, *args, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refused = getattr(request, "_health_refused", None)
        if refused is not None and refused.main:
            form = form_with_errors(form, refused.main)
        return form

    def save_model(self, request, obj, form, change):
        """Saved with its components in save_related, by the one service (it validates the whole definition)."""

    def save_related(self, request, form, formsets, change):
        components, row_of = [], []
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            if formset.model is not HealthComponent:
                continue
            for index, inline_form in enumerate(formset.forms):
                data = inline_form.cleaned_data
                if not data or data.get("DELETE"):
                    continue
                components.append({field: data.get(field) for field in COMPONENT_FIELDS})
                row_of.append(index)
        fields = {field: form.cleaned_data.get(field) for field in MODEL_FIELDS if field in form.cleaned_data}
        try:
            _model, version = health_model_save(
                model=form.instance, actor=request.user, components=components, **fields
            )
        except ValidationError as exc:
            raise split_definition_errors(exc, form.fields, row_of) from exc
        messages.info(request, f"The definition scoring customers is now version {version.number}.")


# --- Overrides -----------------------------------------------------------------------------------------------


class HealthOverrideForm(forms.ModelForm):
    """The service replaces an open override of the same target, so the one-open-override constraint must not
    refuse the form (the form field still checks the component's length)."""

    def _get_validation_exclusions(self):
        exclusions = super()._get_validation_exclusions()
        exclusions.add("component")
        return exclusions

    class Meta:
        model = HealthOverride
        fields = ("customer", "component", "score", "reason", "expires_on")
        help_texts = {
            "component": "Empty: the whole score. Else the exact name of a component of the customer's model.",
            "expires_on": "Applies up to and including this day (today or later).",
        }


class OverrideStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(ended_at__isnull=True)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


@admin.register(HealthOverride)
class HealthOverrideAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    form = HealthOverrideForm
    list_display = ("customer", "target", "score", "reason", "expires_on", "created_by", "created_at", "ended_at")
    list_select_related = ("customer", "created_by")
    list_filter = (OverrideStateFilter, CustomerFilter)
    sortable_by = ("expires_on", "created_at")
    ordering = ("-created_at", "-id")
    autocomplete_fields = ("customer",)
    actions = ("end_overrides",)
    READ_ONLY = (
        "customer",
        "component",
        "score",
        "reason",
        "expires_on",
        "created_by",
        "created_at",
        "ended_at",
        "ended_by",
    )

    def get_fields(self, request, obj=None):
        return self.READ_ONLY if obj is not None else HealthOverrideForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.READ_ONLY if obj is not None else ()

    def has_change_permission(self, request, obj=None):
        return False  # an override is ended (the action) and replaced, never edited

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Overrides")
    def target(self, obj):
        return obj.component or "the whole score"

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            saved = health_override_create(
                customer=data["customer"],
                score=data["score"],
                reason=data["reason"],
                expires_on=data["expires_on"],
                component=data.get("component") or "",
                actor=request.user,
            )
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc) from exc
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def response_add(self, request, obj, post_url_continue=None):
        if "_continue" not in request.POST and "_addanother" not in request.POST:
            return self._redirect_to_customer(obj)
        return super().response_add(request, obj, post_url_continue)

    def _redirect_to_customer(self, obj):
        return HttpResponseRedirect(reverse("admin:crm_customer_change", args=[obj.customer_id]))

    @admin.action(description="End the selected overrides", permissions=["add"])
    def end_overrides(self, request, queryset):
        ended = 0
        for override in queryset.filter(ended_at__isnull=True):
            health_override_end(override=override, actor=request.user)
            ended += 1
        self.message_user(request, f"{ended} override(s) ended.", messages.SUCCESS)


# --- The customer page and the customer list -----------------------------------------------------------------


def _inputs_text(inputs) -> str:
    if not isinstance(inputs, dict) or not inputs:
        return ""
    return ", ".join(f"{key.replace('_', ' ')}: {'—' if value is None else value}" for key, value in inputs.items())


def _override_text(override) -> str:
    if not override:
        return ""
    by = override.get("by") or "someone"
    return f"overridden to {override.get('score')} by {by} until {override.get('expires_on')}: {override.get('reason')}"


def _trend_text(trend) -> str:
    if trend is None:
        return "no score 30 days ago"
    return f"{trend:+.1f} vs 30 days ago"


@register_customer_panel
def health_panel(customer):
    """Score, band, trend, model version, history chart and the explanation component by component."""
    health = customer_health(customer)
    open_overrides = list(
        HealthOverride.objects.filter(customer_id=customer.pk, ended_at__isnull=True).select_related("created_by")
    )
    add_url = reverse("admin:success_healthoverride_add") + f"?customer={customer.pk}"
    overrides_url = reverse("admin:success_healthoverride_changelist") + f"?customer={customer.pk}"
    overrides_html = format_html_join(
        "",
        "<li>{}: {} by {} until {} — {}</li>",
        (
            (o.component or "whole score", o.score, o.created_by or "system", o.expires_on, o.reason)
            for o in open_overrides
        ),
    )
    links = format_html(
        '<p><a href="{}">Override the health score</a> · <a href="{}">All overrides</a></p>', add_url, overrides_url
    )
    if overrides_html:
        links = format_html("<p>Open overrides:</p><ul>{}</ul>{}", overrides_html, links)
    if health is None:
        return "Health", format_html('<p class="health-none">Not scored yet.</p>{}', links)
    version = health["model_version"]
    summary = format_html(
        '<p class="health-summary"><strong>{}</strong> {} · {} · {} v{} · computed {}</p>',
        health["score"],
        band_badge(health["band"]),
        _trend_text(health["trend"]),
        version["model"],
        version["number"],
        date_format(timezone.localtime(health["computed_at"]), "DATETIME_FORMAT"),
    )
    if health["override"]:
        summary = format_html(
            "{}<p>Computed {}, {}.</p>", summary, health["computed_score"], _override_text(health["override"])
        )
    rows = []
    for c in health["components"]:
        if c["missing"]:
            score = MISSING
        elif c["overridden"]:
            score = (
                f"{c['score']} ({_override_text(c['overridden'])}; computed {c['overridden'].get('computed_score')})"
            )
        else:
            score = c["score"]
        rows.append(
            (
                c["name"],
                score,
                c["weight"],
                f"{c['effective_weight'] * 100:.1f}%",
                c["contribution"],
                _inputs_text(c["inputs"]),
            )
        )
    table = format_html(
        '<table class="health-components"><thead><tr><th>Component</th><th>Score</th><th>Weight</th>'
        "<th>Effective weight</th><th>Contribution</th><th>Inputs</th></tr></thead><tbody>{}</tbody></table>",
        format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
    )
    chart = health_history_chart(health["history"], health["bands"])
    return "Health", format_html("{}{}{}{}", summary, chart, table, links)


def _health_of(customer):
    try:
        return customer.health
    except ObjectDoesNotExist:
        return None


@register_customer_column(select_related=("health",))
@admin.display(description="Health", ordering="health__score")
def health_column(customer):
    health = _health_of(customer)
    if health is None:
        return band_badge(None)
    return format_html("{} {}", band_badge(health.band), health.score)


class HealthBandFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("red", "Red"), ("yellow", "Yellow"), ("green", "Green"), ("none", "Not scored")]

    def queryset(self, request, queryset):
        value = self.value()
        if value in ("red", "yellow", "green"):
            return queryset.filter(health__band=value)
        if value == "none":
            return queryset.filter(health__isnull=True)
        return queryset


register_customer_list_filter(HealthBandFilter)
