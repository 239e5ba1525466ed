"""Admin for surveys: surveys (written through the services), "Send campaign…" to an audience, the results
page, read-only campaigns (audience, status, counts), invitations (with the suppression reason) and responses
(with CSV export), and the latest NPS / CES / CSAT panel on the customer page."""

import datetime as dt
import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from crm.admin import (
    EMAIL_ADDRESS,
    CustomerFilter,
    HeaderItem,
    ReadOnlyAdminMixin,
    copy_saved,
    register_customer_header_item,
    register_customer_panel,
    register_timeline_reference,
)
from crm.admin_changelist import FastChangelistMixin, owner_candidates
from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused
from crm.models import Contact, ContactRole, LifecycleStage, Tier
from crm.report_forms import CustomerChoiceField, ReportDateField
from crm.selectors import email_delivery_state_expression
from surveys import wording
from surveys.campaigns import campaign_audience_count
from surveys.models import DEFAULT_QUESTIONS, Campaign, Invitation, Kind, Response, Survey
from surveys.results import INTERVALS, ResultsQuery, results_responses, survey_results
from surveys.scheduling import campaign_start
from surveys.selectors import (
    BAND_CHOICES,
    BAND_CONDITIONS,
    audience_summary,
    campaign_email_counts,
    campaign_list,
    campaign_owner_emails,
    latest_responses,
    responses_csv,
)
from surveys.services import SURVEY_UPDATABLE, survey_create, survey_update


def _local(value) -> str:
    return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "—"


def csv_download(rows, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def search_by_contact_email(queryset, search_term: str):
    """Rows whose contact's email matches: a whole address exactly (on the email index), else a substring
    (emails are stored lower case)."""
    term = (search_term or "").strip().lower()
    if not term:
        return queryset
    if EMAIL_ADDRESS.match(term):
        return queryset.filter(contact_id__in=Contact.objects.filter(email=term).values("pk"))
    return queryset.filter(contact_id__in=Contact.objects.filter(email__contains=term).values("pk"))


# --- Surveys -------------------------------------------------------------------------------------------


class SurveyForm(forms.ModelForm):
    class Meta:
        model = Survey
        fields = (
            "name",
            "kind",
            "question",
            "is_active",
            "follow_up_question",
            "follow_up_unhappy",
            "on_unhappy",
            "thank_promoters",
            "reminder_after_days",
            "expiry_days",
            "send_after_ticket_solved",
            "ticket_solved_delay_hours",
            "recurring_months",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "question" in self.fields:
            self.fields["question"].required = False
            example = escape(DEFAULT_QUESTIONS[Kind.NPS])
            self.fields["question"].help_text = (
                f"Empty: the standard question of the kind, e.g. “{example}”. {{company}} is filled in with "
                f"“{escape(settings.COMPANY_NAME)}” wherever the question is shown; no other placeholder is allowed."
            )


@admin.register(Survey)
class SurveyAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    form = SurveyForm
    list_display = ("name", "kind", "is_active", "sent_by", "created_at", "links")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    ordering = ("name", "id")
    actions = ("send_campaign",)
    change_form_template = "admin/surveys/survey/change_form.html"
    fieldsets = (
        (None, {"fields": ("name", "kind", "question", "shown_to_contacts", "is_active")}),
        (
            "Follow-up",
            {"fields": ("follow_up_question", "follow_up_unhappy", "on_unhappy", "thank_promoters")},
        ),
        ("Sending", {"fields": ("reminder_after_days", "expiry_days")}),
        (
            "Triggers",
            {
                "fields": ("send_after_ticket_solved", "ticket_solved_delay_hours", "recurring_months"),
                "description": "Campaigns are sent with “Send campaign…” (or the API); these send by themselves.",
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return ("kind", "shown_to_contacts") if obj is not None else ("shown_to_contacts",)

    @admin.display(description="As contacts see it")
    def shown_to_contacts(self, obj):
        """The question and follow-ups with {company} filled in (surveys.wording), as the email and page show them."""
        if obj is None or obj.pk is None:
            return "Shown once the survey is saved."
        lines = [wording.fill(obj.question), wording.fill(obj.follow_up_question)]
        if obj.follow_up_unhappy:
            lines.append(f"{wording.fill(obj.follow_up_unhappy)} (unhappy answers)")
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))

    @admin.display(description="Triggers")
    def sent_by(self, obj):
        parts = []
        if obj.send_after_ticket_solved:
            parts.append(f"ticket solved (+{obj.ticket_solved_delay_hours} h)")
        if obj.recurring_months:
            parts.append(f"every {obj.recurring_months} months")
        return ", ".join(parts) or "campaigns / API"

    def get_list_display(self, request):
        links = "links_and_campaign" if self.has_send_permission(request) else "links"
        return tuple(links if name == "links" else name for name in super().get_list_display(request))

    @admin.display(description="")
    def links(self, obj):
        return format_html('<a href="{}">Results</a>', reverse("admin:surveys_survey_results", args=[obj.pk]))

    @admin.display(description="")
    def links_and_campaign(self, obj):
        return format_html(
            '{} · <a href="{}">Send campaign…</a>',
            self.links(obj),
            reverse("admin:surveys_survey_campaign", args=[obj.pk]),
        )

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = {f: form.cleaned_data[f] for f in form.changed_data if f in SURVEY_UPDATABLE}
                if not data:
                    return
                saved = survey_update(survey=obj, actor=request.user, **data)
            else:
                data = {f: v for f, v in form.cleaned_data.items() if f in SURVEY_UPDATABLE | {"kind"}}
                saved = survey_create(actor=request.user, **data)
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc) from exc
        copy_saved(obj, saved)

    def has_send_permission(self, request):
        return request.user.has_perm("surveys.add_invitation")

    @admin.action(description="Send campaign…", permissions=["send"])
    def send_campaign(self, request, queryset):
        surveys = list(queryset[:2])
        if len(surveys) != 1:
            self.message_user(request, "Choose exactly one survey to send a campaign.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:surveys_survey_campaign", args=[surveys[0].pk]))

    def get_urls(self):
        return [
            path(
                "<int:survey_id>/results/",
                self.admin_site.admin_view(self.results_view),
                name="surveys_survey_results",
            ),
            path(
                "<int:survey_id>/results.csv",
                self.admin_site.admin_view(self.results_csv_view),
                name="surveys_survey_results_csv",
            ),
            path(
                "<int:survey_id>/campaign/",
                self.admin_site.admin_view(self.campaign_view),
                name="surveys_survey_campaign",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, survey, title):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": survey,
            "survey": survey,
            "title": title,
        }

    # --- results ----------------------------------------------------------------------------------------

    def _results_form(self, request):
        form = ResultsForm(request.GET or None)
        if request.GET and not form.is_valid():
            return form, None
        values = form.cleaned_data if request.GET else {}
        owner = values.get("owner")
        return form, ResultsQuery(
            start=values.get("start"),
            end=values.get("end"),
            interval=values.get("interval") or "month",
            tiers=tuple(values.get("tiers") or ()),
            lifecycle_stages=tuple(values.get("lifecycle_stages") or ()),
            owner_email=owner.email if owner else None,
            customer_id=values["customer"].pk if values.get("customer") else None,
        )

    def results_view(self, request, survey_id: int):
        survey = get_object_or_404(Survey, pk=survey_id)
        if not self.has_view_permission(request, survey):
            raise PermissionDenied
        form, query = self._results_form(request)
        results = survey_results(survey=survey, query=query) if query else None
        distribution = []
        if results:
            total = results["responses"]
            distribution = [
                {
                    **row,
                    "pct": round(100 * row["count"] / total, 1) if total else 0,
                    "width": round(200 * row["count"] / total) if total else 0,
                }
                for row in results["distribution"]
            ]
        context = {
            **self._context(request, survey, f"Results: {survey.name}"),
            "form": form,
            "results": results,
            "distribution": distribution,
            "csv_url": reverse("admin:surveys_survey_results_csv", args=[survey.pk])
            + (f"?{request.GET.urlencode()}" if request.GET else ""),
            "responses_url": reverse("admin:surveys_response_changelist") + f"?survey={survey.pk}",
        }
        return TemplateResponse(request, "admin/surveys/survey/results.html", context)

    def results_csv_view(self, request, survey_id: int):
        survey = get_object_or_404(Survey, pk=survey_id)
        if not request.user.has_perm("surveys.view_response"):
            raise PermissionDenied
        _form, query = self._results_form(request)
        if query is None:
            return HttpResponseRedirect(reverse("admin:surveys_survey_results", args=[survey.pk]))
        rows = responses_csv(results_responses(survey=survey, query=query))
        return csv_download(rows, f"survey-{survey.pk}-responses.csv")

    # --- campaigns --------------------------------------------------------------------------------------

    def campaign_view(self, request, survey_id: int):
        survey = get_object_or_404(Survey, pk=survey_id)
        if not self.has_send_permission(request):
            raise PermissionDenied
        audience_count = None
        if request.method == "POST":
            form = CampaignForm(request.POST)
            if form.is_valid():
                audience = form.audience()
                audience_count = campaign_audience_count(audience=audience)
                if "_send" in request.POST:
                    try:
                        campaign, started = campaign_start(
                            survey=survey,
                            audience=audience,
                            actor=request.user,
                            request_key=form.cleaned_data["key"],
                        )
                    except ValidationError as exc:
                        form.add_error(None, list(exc.messages))
                    else:
                        self._campaign_message(request, survey, campaign, started, audience_count)
                        url = (
                            reverse("admin:surveys_invitation_changelist")
                            + "?"
                            + urlencode({"survey": survey.pk, "trigger_key": campaign.trigger_key})
                        )
                        return HttpResponseRedirect(url)
        else:
            form = CampaignForm(initial={"key": uuid.uuid4().hex})
        context = {
            **self._context(request, survey, f"Send campaign: {survey.name}"),
            "form": form,
            "audience_count": audience_count,
        }
        return TemplateResponse(request, "admin/surveys/survey/campaign.html", context)

    def _campaign_message(self, request, survey, campaign, started: bool, audience_count: int) -> None:
        campaign_url = reverse("admin:surveys_campaign_change", args=[campaign.pk])
        if not started:
            self.message_user(
                request,
                format_html(
                    'This <a href="{}">campaign</a> was already started ({}): nothing was started again and '
                    "nobody is invited twice.",
                    campaign_url,
                    campaign.get_status_display().lower(),
                ),
                messages.INFO,
            )
            return
        campaign.refresh_from_db(fields=["queued_at", "status"])
        if campaign.queued_at is None and campaign.status == Campaign.Status.QUEUED:  # the broker refused it
            self.message_user(
                request,
                format_html(
                    'The <a href="{}">campaign</a> is recorded and queued, but the workers cannot be reached '
                    "now: it will start by itself when they are (within a minute or two of their return). "
                    "Nothing needs to be sent again.",
                    campaign_url,
                ),
                messages.WARNING,
            )
            return
        self.message_user(
            request,
            format_html(
                '<a href="{}">Campaign</a> queued: {} contact(s) will be invited to “{}” by the worker. '
                "Contacts who were surveyed recently, unsubscribed or bounced are suppressed, each with its "
                "reason, in the list below.",
                campaign_url,
                audience_count,
                survey.name,
            ),
            messages.SUCCESS,
        )


class ResultsForm(forms.Form):
    start = ReportDateField(required=False, help_text="Included.")
    end = ReportDateField(required=False, help_text="Included.")
    interval = forms.ChoiceField(choices=[(i, i.capitalize()) for i in INTERVALS], required=False)
    tiers = forms.MultipleChoiceField(choices=Tier.choices, required=False, widget=forms.CheckboxSelectMultiple)
    lifecycle_stages = forms.MultipleChoiceField(
        choices=LifecycleStage.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    owner = forms.ModelChoiceField(queryset=None, required=False, label="Owner CSM")
    customer = CustomerChoiceField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_candidates()

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", "Must be on or after the start.")
        for name in ("start", "end"):
            if data.get(name) and not dt.date(2000, 1, 1) <= data[name] <= dt.date(2100, 12, 31):
                self.add_error(name, "Must be between 2000 and 2100.")
        return data


class CampaignForm(forms.Form):
    tiers = forms.MultipleChoiceField(choices=Tier.choices, required=False, widget=forms.CheckboxSelectMultiple)
    lifecycle_stages = forms.MultipleChoiceField(
        choices=LifecycleStage.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    owners = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple, label="Owner CSMs"
    )
    roles = forms.MultipleChoiceField(
        choices=ContactRole.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Contact roles",
    )
    # Made when the page is shown and sent back with the form: a double click (or a resubmitted page) starts
    # the campaign once.
    key = forms.RegexField(r"^[0-9a-f]{32}$", required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owners"].queryset = owner_candidates()

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in ("tiers", "lifecycle_stages", "owners", "roles")):
            raise ValidationError("Choose at least one tier, lifecycle stage, owner or contact role.")
        return data

    def audience(self) -> dict:
        data = self.cleaned_data
        return {
            "tiers": data.get("tiers") or [],
            "lifecycle_stages": data.get("lifecycle_stages") or [],
            "owners": [user.pk for user in data.get("owners") or []],
            "roles": data.get("roles") or [],
        }


# --- Invitations ---------------------------------------------------------------------------------------


class SurveyFilter(admin.SimpleListFilter):
    """Surveys are few: list them all."""

    title = "survey"
    parameter_name = "survey"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Survey.objects.order_by("name", "id").values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(survey_id=int(value)) if value.isdigit() else queryset.none()


class TriggerKeyFilter(admin.SimpleListFilter):
    """`?trigger_key=campaign:…`: one campaign's invitations (linked after sending it)."""

    title = "campaign / trigger key"
    parameter_name = "trigger_key"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, value)] if value else []

    def queryset(self, request, queryset):
        return queryset.filter(trigger_key=self.value()) if self.value() else queryset


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Campaigns as started (admin or API): who was asked, and how it stands. Written only by the services."""

    list_display = (
        "id",
        "survey",
        "audience_text",
        "status",
        "invited",
        "suppressed",
        "email_counts",
        "created_by_email",
        "created_at",
        "invitations_link",
    )
    list_display_links = ("id",)
    list_filter = ("status", SurveyFilter)
    ordering = ("-id",)
    sortable_by = ("id", "status", "created_at")
    fields = (
        "survey",
        "audience_text",
        "status",
        "invited",
        "suppressed",
        "email_counts",
        "trigger_key",
        "invitations_link",
        "created_by",
        "created_at",
        "queued_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = ("audience_text", "email_counts", "trigger_key", "invitations_link", "queued_at")

    def get_queryset(self, request):
        return campaign_list().select_related("survey")

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # The owners the page's audiences name, in one query for the page.
        rows = list(changelist.result_list)
        emails, counts = campaign_owner_emails(rows), campaign_email_counts(rows)
        for row in rows:
            row.owner_emails, row.emails = emails, counts[row.pk]
        changelist.result_list = rows
        return changelist

    @admin.display(description="Audience")
    def audience_text(self, obj):
        emails = getattr(obj, "owner_emails", None)
        if emails is None:
            emails = campaign_owner_emails([obj])
        return audience_summary(obj.audience, emails)

    @admin.display(description="Emails")
    def email_counts(self, obj):
        counts = getattr(obj, "emails", None) or campaign_email_counts([obj])[obj.pk]
        return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "—"

    @admin.display(description="Created by", ordering="created_by__email")
    def created_by_email(self, obj):
        return getattr(obj, "created_by_email", None) or "—"

    @admin.display(description="Invitations")
    def invitations_link(self, obj):
        url = (
            reverse("admin:surveys_invitation_changelist")
            + "?"
            + urlencode({"survey": obj.survey_id, "trigger_key": obj.trigger_key})
        )
        return format_html('<a href="{}">Invitations</a>', url)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "survey",
        "contact_email",
        "customer",
        "trigger",
        "status",
        "suppressed_reason",
        "email_state",
        "sent_at",
    )
    list_display_links = ("id",)
    list_select_related = ("survey", "contact", "customer")
    list_filter = ("status", SurveyFilter, "trigger", TriggerKeyFilter, CustomerFilter)
    search_fields = ("contact__email",)
    search_help_text = "A contact's email (a whole address, or part of one)."
    ordering = ("-id",)
    sortable_by = ()
    fields = (
        "survey",
        "customer",
        "contact",
        "trigger",
        "trigger_key",
        "ticket",
        "status",
        "suppressed_reason",
        "scheduled_for",
        "sent_at",
        "reminded_at",
        "expires_at",
        "email",
        "email_state",
        "response_link",
        "created_by",
        "created_at",
    )
    readonly_fields = ("response_link", "email_state")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(email_state=email_delivery_state_expression("email__"))

    @admin.display(description="Email")
    def email_state(self, obj):  # unknown: the worker stopped mid-send; resent: sent again, same Message-ID
        return obj.email_state or "—"

    @admin.display(description="Contact", ordering="contact__email")
    def contact_email(self, obj):
        return obj.contact.email

    @admin.display(description="Response")
    def response_link(self, obj):
        response = Response.objects.filter(invitation=obj).only("pk", "kind", "score").first()
        if response is None:
            return "—"
        url = reverse("admin:surveys_response_change", args=[response.pk])
        return format_html('<a href="{}">{} {} ({})</a>', url, response.kind.upper(), response.score, response.band)

    def get_search_results(self, request, queryset, search_term):
        return search_by_contact_email(queryset, search_term), False


# --- Responses -----------------------------------------------------------------------------------------


class BandFilter(admin.SimpleListFilter):
    title = "band"
    parameter_name = "band"

    def lookups(self, request, model_admin):
        return BAND_CHOICES

    def queryset(self, request, queryset):
        condition = BAND_CONDITIONS.get(self.value() or "")
        return queryset.filter(condition) if condition is not None else queryset


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = (
        "answered_at",
        "survey",
        "kind",
        "score",
        "band",
        "short_comment",
        "contact_email",
        "customer",
    )
    list_select_related = ("survey", "contact", "customer")
    list_filter = ("kind", BandFilter, SurveyFilter, CustomerFilter)
    search_fields = ("contact__email",)
    search_help_text = "A contact's email (a whole address, or part of one)."
    ordering = ("-id",)
    sortable_by = ()
    actions = ("export_csv",)
    change_list_template = "admin/surveys/response/change_list.html"
    fields = (
        "survey",
        "kind",
        "score",
        "band",
        "comment",
        "customer",
        "contact",
        "invitation",
        "answered_at",
        "updated_at",
        "seconds_after_send",
        "user_agent",
    )
    readonly_fields = ("band",)

    @admin.display(description="Band")
    def band(self, obj):
        return obj.band

    @admin.display(description="Comment")
    def short_comment(self, obj):
        return obj.comment if len(obj.comment) <= 120 else obj.comment[:119] + "…"

    @admin.display(description="Contact")
    def contact_email(self, obj):
        return obj.contact.email

    def get_search_results(self, request, queryset, search_term):
        return search_by_contact_email(queryset, search_term), False

    def has_export_permission(self, request):
        return self.has_view_permission(request)

    @admin.action(description="Export selected responses as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        return csv_download(responses_csv(queryset), "survey-responses.csv")

    def get_urls(self):
        return [
            path("export.csv", self.admin_site.admin_view(self.export_view), name="surveys_response_export"),
            *super().get_urls(),
        ]

    def export_view(self, request):
        """Every response of the changelist as it is filtered and searched now, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return csv_download(responses_csv(changelist.get_queryset(request)), "survey-responses.csv")


# --- The customer page ---------------------------------------------------------------------------------

register_timeline_reference(r"[Ii]nvitation #(\d+)", "admin:surveys_invitation_change")
register_timeline_reference(r"[Rr]esponse #(\d+)", "admin:surveys_response_change")
BAND_TONES = {
    "promoter": "good",
    "happy": "good",
    "passive": "warn",
    "neutral": "warn",
    "detractor": "bad",
    "unhappy": "bad",
}


@register_customer_header_item
def latest_score_figures(customer) -> list[HeaderItem]:
    """Latest NPS, CES and CSAT, each with its band and the day it was answered."""
    latest = latest_responses(customer_id=customer.pk)
    items = []
    for kind, label in Kind.choices:
        response = latest.get(kind)
        if response is None:
            items.append(HeaderItem(f"Latest {label}", "—", detail="no answer yet"))
            continue
        answered = date_format(timezone.localtime(response.answered_at), "SHORT_DATE_FORMAT")
        items.append(
            HeaderItem(
                f"Latest {label}",
                str(response.score),
                url=reverse("admin:surveys_response_change", args=[response.pk]),
                tone=BAND_TONES.get(str(response.band), ""),
                detail=f"{response.band} · {answered}",
            )
        )
    return items


@register_customer_panel
def latest_scores_panel(customer):
    """Latest NPS / CES / CSAT of the customer, with the comment."""
    latest = latest_responses(customer_id=customer.pk)
    rows = []
    for kind, label in Kind.choices:
        response = latest.get(kind)
        if response is None:
            rows.append((label, "—", "", "", ""))
            continue
        rows.append(
            (
                label,
                f"{response.score} ({response.band})",
                _local(response.answered_at),
                response.contact.email,
                response.comment,
            )
        )
    body = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
    url = reverse("admin:surveys_response_changelist") + f"?customer={customer.pk}"
    html = format_html(
        '<table class="surveys-latest"><thead><tr><th>Survey</th><th>Latest score</th><th>Answered</th>'
        "<th>By</th><th>Comment</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All survey responses</a></p>',
        body,
        url,
    )
    return "Latest NPS / CES / CSAT", html
