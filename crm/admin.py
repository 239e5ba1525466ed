"""The admin CSMs and support agents work in. Thin over the services: every write goes through crm.services
(timeline, history and permission rules apply), every list stays fast at 100,000 customers."""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import smart_split, unescape_string_literal
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from crm.admin_changelist import FastChangelistMixin, MineFilter, OwnerFilter
from crm.admin_extensions import (  # noqa: F401  (register_* re-exported: other apps import them from here)
    CUSTOMER_COLUMNS,
    CUSTOMER_LIST_FILTERS,
    CUSTOMER_LIST_SELECT_RELATED,
    HeaderItem,
    register_customer_column,
    register_customer_header_item,
    register_customer_list_filter,
    register_customer_panel,
    register_home_panel,
    register_timeline_reference,
)
from crm.admin_services import ServiceErrorsAdminMixin, ServiceErrorsInlineMixin, ServiceRefused
from crm.churn import ChurnReason
from crm.customer_page import customer_page_context
from crm.models import Contact, Customer, Heartbeat, LedgerEntry, Note, OutboundEmail, TimelineEvent
from crm.money import money
from crm.outbound_email import email_resend
from crm.resources import ContactResource, CustomerResource
from crm.services import (
    CONTACT_FIELDS,
    CUSTOMER_FIELDS,
    contact_create,
    contact_delete,
    contact_update,
    customer_create,
    customer_update,
    note_create,
)

admin.site.site_header = "Customer Success CRM"
admin.site.site_title = "Customer Success CRM"
# The ticket queue and the changelists need the width more than a second list of every model beside them (the
# home page and the breadcrumbs lead everywhere).
admin.site.enable_nav_sidebar = False
admin.site.index_title = "Customer Success CRM administration"

COMMERCIALS_PERMISSION = "crm.change_customer_commercials"
ARR_LABEL = f"ARR ({settings.REPORTING_CURRENCY})"  # ARR is kept in the reporting currency
EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Panels, columns and list filters other apps add to the customer admin: crm/admin_extensions.py.


def copy_saved(obj, saved) -> None:
    """Make the admin's instance the row the service saved (pk, normalised values)."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


def form_changes(request, form) -> list[str]:
    """The fields to send to an update service: the edited ones; every field when reverting to a version
    (that form starts from the old version, so "changed" would mean changed relative to it)."""
    if getattr(request, "_crm_reverting", False):
        return list(form.cleaned_data)
    return list(form.changed_data)


def _local(dt, tz=None) -> str:
    """A date-time in the viewer's time zone (or `tz`), with the zone's name: "Dec. 3, 2026, 4:40 p.m. UTC"."""
    return date_format(timezone.localtime(dt, tz), "DATETIME_FORMAT")


def _customer_zone(customer: Customer) -> ZoneInfo:
    try:
        return ZoneInfo(customer.timezone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


class CustomerFilter(admin.SimpleListFilter):
    """`?customer=<id>`: one customer's rows (linked from the customer page); never lists customers."""

    title = "customer"
    parameter_name = "customer"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return []
        customer = Customer.objects.filter(pk=value).only("name").first() if value.isdigit() else None
        return [(value, customer.name if customer else f"#{value}")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(customer_id=int(value))


class ReadOnlyAdminMixin:
    """Rows written only by the system: viewable, never added, changed or deleted in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ServiceImportExportMixin:
    """django-import-export through the services: all-or-nothing imports, permission-aware buttons."""

    import_template_name = "admin/crm/import.html"

    def has_import_permission(self, request):
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request):
        return self.has_view_or_change_permission(request)

    def get_import_data_kwargs(self, **kwargs):
        kwargs = super().get_import_data_kwargs(**kwargs)
        # One invalid row (even one that only fails at confirm time) rolls back the whole file.
        kwargs["rollback_on_validation_errors"] = True
        return kwargs

    def process_result(self, result, request):
        if result.has_errors() or result.has_validation_errors():
            messages.error(request, "Import failed, nothing was written. " + describe_import_errors(result))
            return HttpResponseRedirect(reverse("admin:{}_{}_import".format(*self.get_model_info())))
        return super().process_result(result, request)


def describe_import_errors(result, limit: int = 10) -> str:
    problems = [f"Error: {error.error}" for error in result.base_errors]
    for number, errors in result.row_errors():
        problems += [f"Row {number}: {error.error}" for error in errors]
    for row in result.invalid_rows:
        for field, field_messages in row.error_dict.items():
            label = "" if field == "__all__" else f"{field}: "
            problems += [f"Row {row.number}: {label}{message}" for message in field_messages]
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more


# --- Customers ---------------------------------------------------------------------------------


class MyCustomersFilter(MineFilter):
    title = "my customers"
    label = "My customers"


class ContactForm(forms.ModelForm):
    """The one-primary-contact rule is the service's: it makes this contact the primary one and unsets the
    previous one, so the form must not reject "primary" just because another contact is primary now."""

    def _get_validation_exclusions(self):
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_primary")
        return exclusions


class ContactInline(ServiceErrorsInlineMixin, admin.TabularInline):
    model = Contact
    form = ContactForm
    fields = ("email", "first_name", "last_name", "role", "is_primary", "phone", "timezone")
    extra = 0
    show_change_link = True


class AddNoteInline(ServiceErrorsInlineMixin, admin.StackedInline):
    """An empty form to add a note (written by note_create); existing notes show read-only above."""

    model = Note
    fields = ("body",)
    extra = 1
    can_delete = False
    verbose_name = "new note"
    verbose_name_plural = "add a note"

    def get_queryset(self, request):
        return super().get_queryset(request).none()


class CustomerAdminForm(forms.ModelForm):
    """The customer, plus why it churned: not stored on the customer, passed with the ARR change to the churn
    ARR movement (crm.signals.customer_arr_changed)."""

    churn_reason = forms.ChoiceField(
        choices=[("", "---------"), *ChurnReason.choices],
        required=False,
        help_text="Required when ARR goes to 0 (a churn).",
    )
    churn_note = forms.CharField(max_length=500, required=False, help_text="Why it churned, in a few words.")

    class Meta:
        model = Customer
        fields = CUSTOMER_FIELDS


@admin.register(Customer)
class CustomerAdmin(
    ServiceErrorsAdminMixin, FastChangelistMixin, ServiceImportExportMixin, ImportExportModelAdmin, SimpleHistoryAdmin
):
    form = CustomerAdminForm
    list_display = ("name", "domain", "lifecycle_stage", "tier", "owner", "arr_reporting", "renewal_date")
    list_select_related = ("owner",)
    list_filter = (MyCustomersFilter, "lifecycle_stage", "tier", OwnerFilter)
    sortable_by = ("name", "domain", "arr_reporting", "renewal_date")
    # get_search_results below implements these without duplicate rows (contacts via a subquery).
    search_fields = ("name", "domain", "external_id", "contacts__email")
    search_help_text = "Search by name, domain, external id or a contact's email."
    autocomplete_fields = ("owner",)
    inlines = (ContactInline, AddNoteInline)
    resource_classes = (CustomerResource,)
    change_form_template = "admin/crm/customer/change_form.html"

    def get_list_display(self, request):
        return (*super().get_list_display(request), *CUSTOMER_COLUMNS)

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), *CUSTOMER_LIST_FILTERS)

    def get_list_select_related(self, request):
        return (*super().get_list_select_related(request), *CUSTOMER_LIST_SELECT_RELATED)

    def get_sortable_by(self, request):
        sortable = [column for column in CUSTOMER_COLUMNS if getattr(column, "admin_order_field", None)]
        return (*super().get_sortable_by(request), *sortable)

    def get_search_results(self, request, queryset, search_term):
        """Each word must match (in any case) the name, domain, external id or a contact's email.

        Django would join contacts and add DISTINCT to the whole query; `pk IN (subquery)` matches the same
        customers, returns each once, and keeps the changelist's ordering. Domains and contact emails are
        stored lower case, so a plain LIKE on the lowered word does (cheaper than UPPER(...) LIKE UPPER(...));
        a complete email address is looked up exactly, on the contact email index. Name and external id use
        icontains, UPPER(col) LIKE UPPER('%word%'), which the trigram indexes on UPPER(col) serve (crm 0003):
        cus-0005001, CUS-0005001 and 0005001 all find CUS-0005001.
        """
        for bit in smart_split(search_term or ""):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
                bit = unescape_string_literal(bit)
            bit = bit.strip()
            if not bit:
                continue
            lowered = bit.lower()
            if EMAIL_ADDRESS.match(lowered):
                queryset = queryset.filter(pk__in=Contact.objects.filter(email=lowered).values("customer_id"))
                continue
            contact_customers = Contact.objects.filter(email__contains=lowered).values("customer_id")
            queryset = queryset.filter(
                Q(name__icontains=bit)
                | Q(domain__contains=lowered)
                | Q(external_id__icontains=bit)
                | Q(pk__in=contact_customers)
            )
        return queryset, False

    @admin.display(description=ARR_LABEL, ordering="arr")
    def arr_reporting(self, obj):
        return money(obj.arr)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "arr" in form.base_fields:
            form.base_fields["arr"].label = ARR_LABEL
        return form

    def get_fieldsets(self, request, obj=None):
        main = (
            None,
            {
                "fields": (
                    "name",
                    "domain",
                    "external_id",
                    "lifecycle_stage",
                    "tier",
                    "owner",
                    # Editable: the form field (labelled in get_form); read-only: the labelled display.
                    *(
                        ("arr", "churn_reason", "churn_note")
                        if request.user.has_perm(COMMERCIALS_PERMISSION)
                        else ("arr_reporting",)
                    ),
                    "contract_start",
                    "renewal_date",
                    "timezone",
                    *(("local_time",) if obj is not None else ()),
                )
            },
        )
        if obj is None:
            return [main]
        return [main, ("Record", {"fields": ("created_at", "updated_at"), "classes": ("collapse",)})]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm(COMMERCIALS_PERMISSION):
            readonly += ["arr", "arr_reporting", "owner", "tier"]
        if obj is not None:
            readonly += ["created_at", "updated_at", "local_time"]
        return readonly

    @admin.display(description="Customer's local time")
    def local_time(self, obj):
        zone = _customer_zone(obj)
        return f"{date_format(timezone.localtime(timezone.now(), zone), 'D N j, P T')} ({zone.key})"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The customer page: header, section links and sections (crm.customer_page; other apps add theirs).
        if obj is not None:
            context["customer_page"] = customer_page_context(request, obj)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = {f: form.cleaned_data[f] for f in form_changes(request, form) if f in CUSTOMER_FIELDS}
                if not data:
                    return
                saved = customer_update(customer=obj, actor=request.user, **data, **_churn(form, data))
            else:
                data = {f: v for f, v in form.cleaned_data.items() if f in CUSTOMER_FIELDS}
                saved = customer_create(actor=request.user, **data, **_churn(form, data))
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc) from exc
        copy_saved(obj, saved)

    def save_formset(self, request, form, formset, change):
        if formset.model is Contact:
            save_contacts_formset(request, form.instance, formset)
        elif formset.model is Note:
            save_notes_formset(request, form.instance, formset)
        else:  # pragma: no cover - no other inlines
            super().save_formset(request, form, formset, change)

    def history_form_view(self, request, *args, **kwargs):
        # Reverting to a version saves through save_model, i.e. through customer_update.
        request._crm_reverting = True
        return self._rerun_with_errors(super().history_form_view, request, *args, **kwargs)


def _churn(form, data) -> dict:
    """The churn fields go with an ARR change only."""
    if "arr" not in data:
        return {}
    return {key: form.cleaned_data.get(key) or "" for key in ("churn_reason", "churn_note")}


def save_contacts_formset(request, customer, formset) -> None:
    """Inline contact changes through the services: deletions, then changes, then additions."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    deleted = set(formset.deleted_forms)

    def call(index, service, **kwargs):
        try:
            return service(actor=request.user, **kwargs)
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc, prefix=formset.prefix, index=index) from exc

    for index, form in enumerate(formset.forms):
        if form in deleted and form.instance.pk:
            call(index, contact_delete, contact=form.instance)
            formset.deleted_objects.append(form.instance)
    for index, form in enumerate(formset.initial_forms):
        if form in deleted or not form.has_changed():
            continue
        changed = [f for f in form.changed_data if f in CONTACT_FIELDS]
        if changed:
            contact = call(index, contact_update, contact=form.instance, **{f: form.cleaned_data[f] for f in changed})
            formset.changed_objects.append((contact, changed))
    offset = len(formset.initial_forms)
    for index, form in enumerate(formset.extra_forms, start=offset):
        if form in deleted or not form.has_changed():
            continue
        data = {f: v for f, v in form.cleaned_data.items() if f in CONTACT_FIELDS}
        formset.new_objects.append(call(index, contact_create, customer=customer, **data))


def save_notes_formset(request, customer, formset) -> None:
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for index, form in enumerate(formset.forms):
        if form.instance.pk or not form.has_changed() or not (form.cleaned_data.get("body") or "").strip():
            continue
        try:
            note = note_create(customer=customer, body=form.cleaned_data["body"], actor=request.user)
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc, prefix=formset.prefix, index=index) from exc
        formset.new_objects.append(note)


# --- Contacts ----------------------------------------------------------------------------------


@admin.register(Contact)
class ContactAdmin(
    ServiceErrorsAdminMixin, FastChangelistMixin, ServiceImportExportMixin, ImportExportModelAdmin, SimpleHistoryAdmin
):
    list_display = ("email", "full_name", "customer", "role", "is_primary")
    list_select_related = ("customer",)
    list_filter = ("role", "is_primary", CustomerFilter)
    search_fields = ("email", "first_name", "last_name", "customer__name")
    sortable_by = ("email",)
    autocomplete_fields = ("customer",)
    form = ContactForm
    fields = (
        "customer",
        "email",
        "first_name",
        "last_name",
        "role",
        "is_primary",
        "phone",
        "timezone",
        "unsubscribed_at",
        "bounced_at",
        "complained_at",
    )
    readonly_fields = ("unsubscribed_at", "bounced_at", "complained_at")
    resource_classes = (ContactResource,)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly.append("customer")  # a contact does not move between customers
        return readonly

    def save_model(self, request, obj, form, change):
        try:
            if change:
                data = {f: form.cleaned_data[f] for f in form_changes(request, form) if f in CONTACT_FIELDS}
                if not data:
                    return
                saved = contact_update(contact=obj, actor=request.user, **data)
            else:
                data = {f: v for f, v in form.cleaned_data.items() if f in CONTACT_FIELDS}
                saved = contact_create(customer=form.cleaned_data["customer"], actor=request.user, **data)
        except (ValidationError, PermissionDenied) as exc:
            raise ServiceRefused.from_exception(exc) from exc
        copy_saved(obj, saved)

    def delete_model(self, request, obj):
        contact_delete(contact=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for contact in queryset:
            contact_delete(contact=contact, actor=request.user)

    def history_form_view(self, request, *args, **kwargs):
        request._crm_reverting = True
        return self._rerun_with_errors(super().history_form_view, request, *args, **kwargs)

    def get_ordering(self, request):
        if request.GET.get(CustomerFilter.parameter_name):
            return ("-is_primary", "email", "id")
        return ("-id",)


# --- Timeline and notes (written by services only) --------------------------------------------


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "customer_local_time", "customer", "kind", "summary", "actor")
    list_select_related = ("customer", "actor")
    list_filter = (CustomerFilter,)
    sortable_by = ()
    fields = ("customer", "occurred_at", "kind", "summary", "actor", "source_type", "source_id", "payload")

    @admin.display(description="Customer's local time")
    def customer_local_time(self, obj):
        return _local(obj.occurred_at, _customer_zone(obj.customer))

    def get_ordering(self, request):
        # One customer's feed: latest first by time, on crm_timeline_latest_idx. The whole table: by id
        # (insertion order, on the primary key), since there is no index on occurred_at alone.
        if request.GET.get(CustomerFilter.parameter_name):
            return ("-occurred_at", "-id")
        return ("-id",)


@admin.register(Note)
class NoteAdmin(ReadOnlyAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = ("created_at", "customer", "author", "excerpt")
    list_select_related = ("customer", "author")
    list_filter = (CustomerFilter,)
    sortable_by = ()
    fields = ("customer", "author", "created_at", "body")

    @admin.display(description="Note")
    def excerpt(self, obj):
        return obj.body if len(obj.body) <= 120 else obj.body[:119] + "…"

    def get_ordering(self, request):
        if request.GET.get(CustomerFilter.parameter_name):
            return ("-created_at", "-id")
        return ("-id",)


# --- Outbound email and the heartbeat ---------------------------------------------------------


class EmailKindFilter(admin.SimpleListFilter):
    """Kinds seen among recent emails (a bounded query; no DISTINCT over the whole table)."""

    title = "kind"
    parameter_name = "kind"
    sample = 5000

    def lookups(self, request, model_admin):
        recent = OutboundEmail.objects.order_by("-id").values_list("kind", flat=True)[: self.sample]
        kinds = set(recent)
        if self.value():
            kinds.add(self.value())
        return [(kind, kind) for kind in sorted(kinds)]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = ("to_email", "subject", "kind", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", EmailKindFilter, CustomerFilter)
    ordering = ("-id",)
    sortable_by = ()
    actions = ("resend",)
    fields = (
        "to_email",
        "from_email",
        "subject",
        "kind",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "published_at",
        "claimed_at",
        "unknown_at",
        "resends",
        "resent_at",
        "sent_at",
        "customer",
        "contact",
        "message_id",
        "idempotency_key",
        "headers",
        "text_body",
        "html_body",
    )

    def has_resend_permission(self, request):
        return request.user.has_perm("crm.change_outboundemail")

    @admin.action(description="Resend failed/unknown emails", permissions=["resend"])
    def resend(self, request, queryset):
        retryable = [OutboundEmail.Status.FAILED, OutboundEmail.Status.UNKNOWN]
        resent = skipped = 0
        for email in queryset:
            if email.status in retryable:
                email_resend(email=email, actor=request.user)
                resent += 1
            else:
                skipped += 1
        if resent:
            self.message_user(request, f"Queued {resent} email(s) to be sent again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"Skipped {skipped} email(s) that are not failed or unknown.", messages.WARNING)


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "last_beat_at", "ago", "beats", "worker_hostname")
    fields = ("name", "last_beat_at", "ago", "beats", "worker_hostname")
    readonly_fields = ("ago",)

    @admin.display(description="Last beat")
    def ago(self, obj):
        seconds = max(0, int((timezone.now() - obj.last_beat_at).total_seconds()))
        return f"{seconds} second{'' if seconds == 1 else 's'} ago"


# --- The contact ledger (read-only: written by crm.ledger) --------------------------------------------


class LedgerContactFilter(admin.SimpleListFilter):
    """`?contact=<id>`: one contact's ledger; never lists contacts."""

    title = "contact"
    parameter_name = "contact"

    def lookups(self, request, model_admin):
        value = self.value()
        if not value:
            return []
        contact = Contact.objects.filter(pk=value).only("email").first() if value.isdigit() else None
        return [(value, contact.email if contact else f"#{value}")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(contact_id=int(value)) if value.isdigit() else queryset.none()


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, FastChangelistMixin, admin.ModelAdmin):
    list_display = ("created_at", "contact_email", "kind", "subkind", "outcome", "reason")
    list_select_related = ("contact",)
    list_filter = ("outcome", "kind", LedgerContactFilter)
    search_fields = ("contact__email",)
    search_help_text = "A contact's email (a whole address, or part of one)."
    ordering = ("-id",)
    sortable_by = ()
    fields = ("contact", "kind", "subkind", "outcome", "reason", "source_type", "source_id", "created_at")

    @admin.display(description="Contact")
    def contact_email(self, obj):
        return obj.contact.email

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip().lower()
        if not term:
            return queryset, False
        if EMAIL_ADDRESS.match(term):
            contacts = Contact.objects.filter(email=term)
        else:
            contacts = Contact.objects.filter(email__contains=term)
        return queryset.filter(contact_id__in=contacts.values("pk")), False


# --- end contact ledger ---------------------------------------------------------------------------

# --- CSM tasks (crm.task_admin) and email templates (crm.email_template_admin) register themselves -------------
from crm import email_template_admin, task_admin  # noqa: E402, F401
