"""Inbound email in the admin: the unmatched queue for triage, and failed messages to process again."""

from collections import Counter

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from crm.admin_changelist import FastChangelistMixin
from tickets.admin.queue import MAX_BULK, MAX_MESSAGES, TicketQueuePaginator
from tickets.forms import CustomerChoiceForm
from tickets.inbound_email import inbound_email_assign, inbound_email_process
from tickets.models import InboundEmail


@admin.register(InboundEmail)
class InboundEmailAdmin(FastChangelistMixin, admin.ModelAdmin):
    """Received email, read-only: triage the unmatched queue, process failed messages again."""

    list_display = ("received_at", "status", "from_email", "subject", "reason", "ticket_link")
    list_filter = ("status",)
    search_fields = ("from_email", "subject")
    sortable_by = ()
    actions = ("process_again", "assign_to_customer")
    paginator = TicketQueuePaginator
    fields = (
        "received_at",
        "source",
        "status",
        "reason",
        "error",
        "from_email",
        "subject",
        "message_id",
        "ticket_link",
        "created_ticket",
        "attempts",
        "processed_at",
        "raw_message",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("raw")

    def get_ordering(self, request):
        if request.GET.get("status__exact"):
            return ("-received_at", "-id")  # tickets_inbound_status_idx
        return ("-id",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_process_permission(self, request):
        return request.user.has_perm("tickets.change_inboundemail")

    @admin.display(description="Ticket")
    def ticket_link(self, obj):
        if obj.ticket_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>',
            reverse("admin:tickets_ticket_change", args=[obj.ticket_id]),
            obj.ticket_id,
        )

    @admin.display(description="Raw message")
    def raw_message(self, obj):
        raw = bytes(obj.raw or b"")
        limit = 50_000
        text = raw[:limit].decode("utf-8", errors="replace")
        more = f"\n… ({len(raw) - limit} more bytes)" if len(raw) > limit else ""
        return format_html(
            '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}{}</pre>', text, more
        )

    @admin.action(description="Process again (received or failed emails)", permissions=["process"])
    def process_again(self, request, queryset):
        retryable = [InboundEmail.Status.RECEIVED, InboundEmail.Status.FAILED]
        rows = list(InboundEmail.objects.filter(pk__in=queryset.values("pk"), status__in=retryable)[: MAX_BULK + 1])
        if len(rows) > MAX_BULK:
            self.message_user(request, f"Select at most {MAX_BULK} emails at a time.", messages.ERROR)
            return
        if not rows:
            self.message_user(request, "None of the selected emails is received or failed.", messages.WARNING)
            return
        self._report(request, [inbound_email_process(inbound=inbound) for inbound in rows])

    @admin.action(description="Assign the sender to a customer…", permissions=["process"])
    def assign_to_customer(self, request, queryset):
        unmatched = queryset.filter(status=InboundEmail.Status.UNMATCHED)
        if not unmatched.exists():
            self.message_user(request, "None of the selected emails is unmatched.", messages.WARNING)
            return None
        form = CustomerChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            customer = form.cleaned_data["customer"]
            rows = list(InboundEmail.objects.filter(pk__in=unmatched.values("pk"))[: MAX_BULK + 1])
            if len(rows) > MAX_BULK:
                self.message_user(request, f"Select at most {MAX_BULK} emails at a time.", messages.ERROR)
                return None
            results = []
            for inbound in rows:
                try:
                    results.append(inbound_email_assign(inbound=inbound, customer=customer, actor=request.user))
                except ValidationError as exc:
                    self.message_user(request, f"{inbound.from_email}: {'; '.join(exc.messages)}", messages.ERROR)
            self._report(request, results)
            return None
        sample = list(unmatched.order_by("-id")[:20])
        return TemplateResponse(
            request,
            "admin/tickets/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Assign senders to a customer",
                "intro": "Each sender becomes a contact of the customer and the email is processed again "
                "(a new ticket, or a reply on the ticket it answers). Only unmatched emails are changed.",
                "opts": self.opts,
                "form": form,
                "media": self.media + form.media,
                "items": [f"{e.from_email}: {e.subject}" for e in sample],
                "more": max(0, unmatched.count() - len(sample)) if len(sample) == 20 else 0,
                "action": request.POST.get("action", ""),
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "submit": "Assign and process",
            },
        )

    def _report(self, request, results: list[InboundEmail]) -> None:
        counts = Counter(inbound.status for inbound in results)
        if counts:
            summary = ", ".join(f"{counts[s]} {s}" for s in InboundEmail.Status.values if counts[s])
            self.message_user(request, f"Processed {len(results)} email(s): {summary}.", messages.INFO)
        problems = [i for i in results if i.status in (InboundEmail.Status.FAILED, InboundEmail.Status.UNMATCHED)]
        for inbound in problems[:MAX_MESSAGES]:
            detail = inbound.error or inbound.reason
            self.message_user(
                request,
                f"{inbound.from_email or f'Email #{inbound.pk}'}: {inbound.status}: {detail}",
                messages.WARNING,
            )
