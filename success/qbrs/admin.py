"""Admin of QBRs: the cadence per tier (editable in the list), the CSM's QBR calendar list, the printable preparation
pack, the customer page's "QBRs" panel (last and next QBR) and the customer list's "Propose a QBR" action."""

from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from crm.admin import register_customer_panel
from success.qbrs import selectors, services
from success.qbrs.forms import QbrCancelForm, QbrScheduleForm
from success.qbrs.models import ACTIVE_STATUSES, Qbr, QbrCadence


def _local_text(qbr: Qbr) -> str:
    return f"{qbr.starts_at.astimezone(ZoneInfo(qbr.timezone)):%a %d %b %Y %H:%M} ({qbr.timezone})"


@admin.register(QbrCadence)
class QbrCadenceAdmin(admin.ModelAdmin):
    list_display = ("tier", "every_months", "updated_at")
    list_editable = ("every_months",)
    readonly_fields = ("updated_at",)

    def has_delete_permission(self, request, obj=None):
        return False  # a tier without a row falls back to the built-in default; set "every" empty for none


class OwnerFilter(admin.SimpleListFilter):
    """A CSM's QBR calendar: their own QBRs by default."""

    title = "owner"
    parameter_name = "owner"

    def lookups(self, request, model_admin):
        return [("mine", "Mine"), ("all", "Everyone's")]

    def choices(self, changelist):
        value = self.value() or "mine"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if (self.value() or "mine") == "mine":
            return queryset.filter(owner=request.user)
        return queryset


class WhenFilter(admin.SimpleListFilter):
    title = "when"
    parameter_name = "when"

    def lookups(self, request, model_admin):
        return [("upcoming", "Upcoming"), ("past", "Past")]

    def queryset(self, request, queryset):
        if self.value() == "upcoming":
            return queryset.filter(starts_at__gte=timezone.now())
        if self.value() == "past":
            return queryset.filter(starts_at__lt=timezone.now())
        return queryset


@admin.register(Qbr)
class QbrAdmin(admin.ModelAdmin):
    list_display = ("customer", "local_start", "duration_minutes", "status", "owner", "origin", "pack")
    list_filter = (OwnerFilter, WhenFilter, "status", "origin")
    list_select_related = ("customer", "owner")
    search_fields = ("customer__name",)
    date_hierarchy = "starts_at"
    raw_id_fields = ("customer", "owner", "contacts", "staff")
    readonly_fields = [
        "qbr_actions",
        "prep_page",
        *[f.name for f in Qbr._meta.concrete_fields if f.name != "prep"],
        "contacts",
        "staff",
    ]

    @admin.display(description="Customer time", ordering="starts_at")
    def local_start(self, obj):
        return _local_text(obj)

    @admin.display(description="Pack")
    def pack(self, obj):
        return format_html('<a href="{}">Pack</a>', reverse("admin:success_qbr_prep", args=[obj.pk]))

    @admin.display(description="Preparation pack")
    def prep_page(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html('<a href="{}">Open the printable pack</a>', reverse("admin:success_qbr_prep", args=[obj.pk]))

    @admin.display(description="Actions")
    def qbr_actions(self, obj):
        if obj is None or obj.pk is None or obj.status not in ACTIVE_STATUSES:
            return "-"
        verb = "Schedule and invite" if obj.status == Qbr.Status.PROPOSED else "Move or change attendees"
        return format_html(
            '<a class="button" href="{}">{}</a> <a class="button" href="{}">Cancel the QBR</a>',
            reverse("admin:success_qbr_schedule", args=[obj.pk]),
            verb,
            reverse("admin:success_qbr_cancel", args=[obj.pk]),
        )

    def get_urls(self):
        return [
            path("<int:object_id>/prep/", self.admin_site.admin_view(self.prep_view), name="success_qbr_prep"),
            path(
                "<int:object_id>/schedule/",
                self.admin_site.admin_view(self.schedule_view),
                name="success_qbr_schedule",
            ),
            path("<int:object_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="success_qbr_cancel"),
            *super().get_urls(),
        ]

    def _form_page(self, request, qbr, form, title, submit):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "qbr": qbr,
            "form": form,
            "submit": submit,
            "local_start": _local_text(qbr),
            "zone": form.zone.key if hasattr(form, "zone") else qbr.timezone,
        }
        return TemplateResponse(request, "admin/success/qbr/form.html", context)

    def _active_qbr(self, request, object_id) -> Qbr:
        if not self.has_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(Qbr.objects.select_related("customer", "owner"), pk=object_id)

    def schedule_view(self, request, object_id):
        """Schedule a proposed QBR (the invites go out) or move a scheduled one (attendees get the update)."""
        qbr = self._active_qbr(request, object_id)
        if qbr.status not in ACTIVE_STATUSES:
            self.message_user(request, f"A {qbr.get_status_display().lower()} QBR cannot be changed.", messages.ERROR)
            return redirect("admin:success_qbr_change", object_id=qbr.pk)
        proposed = qbr.status == Qbr.Status.PROPOSED
        form = QbrScheduleForm(request.POST or None, qbr=qbr)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            fields = dict(
                starts_at=form.starts_at(),
                duration_minutes=data["duration_minutes"],
                contacts=list(data["contacts"]),
                staff=list(data["staff"]),
                agenda=data["agenda"],
                actor=request.user,
            )
            try:
                if proposed:
                    qbr = services.qbr_schedule(qbr=qbr, **fields)
                else:
                    qbr = services.qbr_reschedule(qbr=qbr, **fields)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                done = "scheduled; the attendees are invited" if proposed else "updated; the attendees are told"
                self.message_user(request, f"The QBR with {qbr.customer.name} is {done} ({_local_text(qbr)}).")
                return redirect("admin:success_qbr_change", object_id=qbr.pk)
        title = f"{'Schedule' if proposed else 'Move'} the QBR with {qbr.customer.name}"
        return self._form_page(request, qbr, form, title, "Schedule and invite" if proposed else "Save and notify")

    def cancel_view(self, request, object_id):
        qbr = self._active_qbr(request, object_id)
        form = QbrCancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.qbr_cancel(qbr=qbr, reason=form.cleaned_data["reason"], actor=request.user)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                self.message_user(request, f"The QBR with {qbr.customer.name} of {_local_text(qbr)} is cancelled.")
                return redirect("admin:success_qbr_change", object_id=qbr.pk)
        return self._form_page(request, qbr, form, f"Cancel the QBR with {qbr.customer.name}", "Cancel the QBR")

    def prep_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        qbr = get_object_or_404(Qbr.objects.select_related("customer", "owner"), pk=object_id)
        can_refresh = request.user.has_perm("success.change_qbr")
        if request.method == "POST":
            if not can_refresh:
                raise PermissionDenied
            services.qbr_prep_refresh(qbr=qbr)
            self.message_user(request, "The preparation pack was refreshed.")
            return redirect("admin:success_qbr_prep", object_id=qbr.pk)
        pack = qbr.prep if qbr.prep_generated_at else selectors.qbr_prep(qbr=qbr, now=timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preparation pack: QBR with {qbr.customer.name}",
            "qbr": qbr,
            "pack": pack,
            "surveys": sorted((pack.get("surveys") or {}).items()),
            "generated_at": qbr.prep_generated_at,
            "local_start": f"{qbr.starts_at.astimezone(ZoneInfo(qbr.timezone)):%a %d %b %Y, %H:%M}",
            "can_refresh": can_refresh,
        }
        return TemplateResponse(request, "admin/success/qbr/prep.html", context)

    def has_add_permission(self, request):
        return False  # scheduling sends invites: through the services (API), never a bare save

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description="Propose a QBR for the selected customers", permissions=["propose_qbr"])
def propose_qbr(modeladmin, request, queryset):
    proposed, skipped, refused, made = 0, 0, [], []
    for customer in queryset.order_by("pk"):
        try:
            qbr = services.qbr_propose_next(customer=customer, actor=request.user)
        except ValidationError as exc:
            refused.append(f"{customer.name}: {' '.join(exc.messages)}")
            continue
        if qbr is None:
            skipped += 1
        else:
            proposed += 1
            made.append(qbr)
    text = f"{proposed} QBR{'s' if proposed != 1 else ''} proposed about two weeks ahead (schedule them to invite "
    text += "the attendees)."
    if skipped:
        text += f" {skipped} customer{'s' if skipped != 1 else ''} already had an upcoming QBR."
    modeladmin.message_user(request, text, messages.SUCCESS if proposed or not refused else messages.WARNING)
    for line in refused:
        modeladmin.message_user(request, f"Not proposed: {line}", messages.ERROR)
    if len(made) == 1 and not refused and not skipped:  # one customer: straight on to its scheduling form
        return redirect("admin:success_qbr_schedule", object_id=made[0].pk)
    if made:
        changelist = reverse("admin:success_qbr_changelist")
        modeladmin.message_user(
            request,
            format_html(
                'Schedule them from <a href="{}?status__exact=proposed&amp;owner=all">the proposed QBRs</a>.',
                changelist,
            ),
        )
    return None


def register_customer_actions() -> None:
    """Adds the QBR action to the customer admin (crm cannot import success: success plugs itself in)."""
    from crm.models import Customer

    customer_admin = admin.site._registry.get(Customer)
    if customer_admin is None or propose_qbr in (customer_admin.actions or ()):
        return
    customer_admin.actions = [*(customer_admin.actions or ()), propose_qbr]
    customer_admin.has_propose_qbr_permission = lambda request: request.user.has_perm("success.add_qbr")


@register_customer_panel
def qbr_panel(customer):
    """The customer's last QBR held (outcomes, open action items) and next one (customer time, status, pack): three
    queries whatever the number of QBRs."""
    both = selectors.customer_qbrs(customer_id=customer.pk)
    last, upcoming = both["last"], both["next"]
    changelist = reverse("admin:success_qbr_changelist")
    parts = []
    if last is None:
        parts.append(mark_safe('<p class="qbr-last">Last QBR: none held yet.</p>'))
    else:
        items = list(selectors.qbr_open_action_items(qbr=last).values_list("reason", "due_date")[:20])
        items_html = (
            format_html(
                "<p>Open action items:</p><ul>{}</ul>",
                format_html_join("", "<li>{} (due {})</li>", ((r, d or "–") for r, d in items)),
            )
            if items
            else mark_safe("<p>No open action items.</p>")
        )
        parts.append(
            format_html(
                '<div class="qbr-last"><p>Last QBR: <a href="{}">{}</a>, {}.</p><p>Outcomes: {}</p>{}</div>',
                reverse("admin:success_qbr_change", args=[last.pk]),
                _local_text(last),
                last.get_status_display().lower(),
                last.outcomes or "none recorded",
                items_html,
            )
        )
    if upcoming is None:
        parts.append(mark_safe('<p class="qbr-next">Next QBR: none planned.</p>'))
    else:
        parts.append(
            format_html(
                '<p class="qbr-next">Next QBR: <a href="{}">{}</a>, {} · <a href="{}">Preparation pack</a> · '
                '<a href="{}">{}</a></p>',
                reverse("admin:success_qbr_change", args=[upcoming.pk]),
                _local_text(upcoming),
                upcoming.get_status_display().lower(),
                reverse("admin:success_qbr_prep", args=[upcoming.pk]),
                reverse("admin:success_qbr_schedule", args=[upcoming.pk]),
                "Schedule" if upcoming.status == Qbr.Status.PROPOSED else "Move",
            )
        )
    parts.append(
        format_html(
            '<p><a href="{}?customer__id__exact={}&amp;owner=all">All QBRs of this customer</a> · '
            '<a href="{}?customer__id__exact={}&amp;owner=all&amp;when=upcoming">Upcoming</a></p>',
            changelist,
            customer.pk,
            changelist,
            customer.pk,
        )
    )
    return "QBRs", format_html_join("", "{}", ((p,) for p in parts))
