"""Forms of the ticket admin. They validate shape and give early, clear errors; the writes (and the rules they
enforce again) are the services' (tickets.services, tickets.inbound_email)."""

import datetime as dt

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Team
from crm.models import Customer, LifecycleStage, Tier
from crm.validators import available_timezones
from tickets.models import (
    BusinessCalendar,
    Category,
    Channel,
    FlagRule,
    Priority,
    SlaPolicy,
    Status,
    Ticket,
)
from tickets.services import TRANSITIONS


def status_name(status: str) -> str:
    """ "pending", "on hold": the status without its explanation, for messages."""
    return Status(status).label.split(" (")[0].lower()


def _ticket_field(name: str):
    return Ticket._meta.get_field(name)


def staff_assignees():
    """People a ticket can be assigned to: active staff, never an API key's service account."""
    return get_user_model().objects.filter(is_active=True, is_staff=True, is_service_account=False)


class TagsField(forms.CharField):
    """Free tags as one comma-separated line; the value is the list the model stores."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated, e.g. sso, export.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        if isinstance(value, list | tuple):
            return sorted({str(t).strip().lower() for t in value if str(t).strip()})
        text = super().to_python(value)
        return sorted({t.strip().lower() for t in text.split(",") if t.strip()})


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); the value is a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


# --- Tickets -------------------------------------------------------------------------------------


class TicketAddForm(forms.ModelForm):
    """A ticket opened by an agent (written by ticket_create, with the requester's first message)."""

    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text="The customer's request, as they described it (their first message).",
    )
    tags = TagsField()

    class Meta:
        model = Ticket
        fields = (
            "customer",
            "requester",
            "subject",
            "channel",
            "priority",
            "category",
            "tags",
            "assignee",
            "team",
        )

    def clean(self):
        cleaned = super().clean()
        customer, requester = cleaned.get("customer"), cleaned.get("requester")
        if customer is not None and requester is not None and requester.customer_id != customer.pk:
            self.add_error("requester", f"{requester} is not a contact of {customer}.")
        return cleaned


REPLY_PUBLIC = "public"
REPLY_INTERNAL = "internal"


class TicketChangeForm(forms.ModelForm):
    """The ticket page: a reply or internal note, and the ticket's own fields. Status moves only along the
    workflow (tickets.services.TRANSITIONS)."""

    reply_kind = forms.ChoiceField(
        label="Add",
        choices=[
            (REPLY_PUBLIC, "Public reply (emailed to the requester)"),
            (REPLY_INTERNAL, "Internal note (staff only, never sent)"),
        ],
        initial=REPLY_PUBLIC,
        widget=forms.RadioSelect,
        required=False,
    )
    reply_body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        required=False,
        help_text="Leave empty to change only the fields below.",
    )
    reply_files = MultipleFileField(
        label="Attachments",
        required=False,
        help_text="Kept with the message for staff to download from this page (not attached to the email).",
    )
    tags = TagsField()

    class Meta:
        model = Ticket
        fields = ("subject", "status", "priority", "category", "tags", "assignee", "team")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        ticket = self.instance
        if "reply_kind" in self.fields and ticket.requester_id:
            self.fields["reply_kind"].choices = [
                (REPLY_PUBLIC, f"Public reply (emailed to {ticket.requester.email})"),
                (REPLY_INTERNAL, "Internal note (staff only, never sent)"),
            ]
        if "status" in self.fields and ticket.pk:
            allowed = [status_name(s) for s in Status.values if s in TRANSITIONS[ticket.status]]
            self.fields["status"].help_text = (
                f"From {status_name(ticket.status)}: "
                + (", ".join(allowed) if allowed else "no further changes")
                + ". A public reply to a new ticket opens it."
            )

    def clean_status(self):
        status = self.cleaned_data["status"]
        current = self.instance.status if self.instance.pk else None
        if current is None or status == current:
            return status
        start = current
        # A public reply to a new ticket opens it first; the move is then checked from "open".
        if current == Status.NEW and self._replying_publicly():
            start = Status.OPEN
            if status == Status.OPEN:
                return status
        if status not in TRANSITIONS[start]:
            raise ValidationError(f"A ticket cannot go from {status_name(current)} to {status_name(status)}.")
        return status

    def _replying_publicly(self) -> bool:
        body = (self.data.get(self.add_prefix("reply_body")) or "").strip()
        kind = self.data.get(self.add_prefix("reply_kind")) or REPLY_PUBLIC
        return bool(body) and kind == REPLY_PUBLIC

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("reply_body") or "").strip() and not cleaned.get("reply_kind"):
            cleaned["reply_kind"] = REPLY_PUBLIC
        if cleaned.get("reply_files") and not (cleaned.get("reply_body") or "").strip():
            self.add_error("reply_body", "Write a message to go with the attachments.")
        return cleaned


class TicketViewForm(TicketChangeForm):
    """The ticket page for someone who cannot write on this ticket (a closed ticket, a read-only role)."""

    reply_kind = None
    reply_body = None
    reply_files = None
    tags = None


class AssignForm(forms.Form):
    """The "Assign to…" bulk action: one agent for every selected ticket."""

    assignee = forms.ModelChoiceField(
        queryset=staff_assignees(),
        label="Agent",
        widget=AutocompleteSelect(_ticket_field("assignee"), admin.site),
    )


class ChangeStatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    reason = forms.CharField(max_length=200, required=False, help_text="Optional; recorded in the status log.")


class CustomerChoiceForm(forms.Form):
    """Triage of unmatched inbound email: the customer the sender belongs to."""

    customer = forms.ModelChoiceField(
        queryset=Customer.objects.all(),
        widget=AutocompleteSelect(_ticket_field("customer"), admin.site),
        help_text="The sender becomes a contact of this customer and the email is processed again.",
    )


# --- Calendars, SLA policies, flag rules ----------------------------------------------------------


class BusinessCalendarForm(forms.ModelForm):
    timezone = forms.TypedChoiceField(
        choices=lambda: [(name, name) for name in sorted(available_timezones())],
        initial="UTC",
        help_text="The IANA time zone the opening hours and holidays are in (e.g. Europe/Paris).",
        error_messages={"invalid_choice": "Unknown time zone %(value)s; use an IANA name such as Europe/Paris."},
    )

    class Meta:
        model = BusinessCalendar
        fields = ("name", "timezone", "always_open")


def _checkboxes(choices, help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=choices, required=False, widget=forms.CheckboxSelectMultiple, help_text=help_text
    )


class TargetMinutesField(forms.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value is not None and value <= 0:
            raise ValidationError(
                "A target must be a positive number of minutes (leave it empty for no target).",
                code="min_value",
            )


# The editable fields of an SLA policy besides its name (the admin writes them through the configuration service).
POLICY_FIELDS = (
    "order",
    "is_active",
    "calendar",
    "tiers",
    "priorities",
    "channels",
    "categories",
    "first_response_minutes",
    "next_reply_minutes",
    "resolution_minutes",
    "warn_at_percent",
    "pause_on_hold",
)


class SlaPolicyForm(forms.ModelForm):
    tiers = _checkboxes(Tier.choices, "Customer tiers this policy applies to. None ticked: any tier.")
    priorities = _checkboxes(Priority.choices, "None ticked: any priority.")
    channels = _checkboxes(Channel.choices, "None ticked: any channel.")
    categories = _checkboxes(Category.choices, "None ticked: any category.")
    first_response_minutes = TargetMinutesField(
        label="First response (minutes)",
        help_text="Business minutes from creation to the first public reply.",
    )
    next_reply_minutes = TargetMinutesField(
        label="Next reply (minutes)",
        help_text="Business minutes from each customer message to the next reply.",
    )
    resolution_minutes = TargetMinutesField(
        label="Resolution (minutes)",
        help_text="Business minutes from creation to solved, not counting time waiting on the customer.",
    )
    warn_at_percent = forms.IntegerField(
        min_value=1,
        max_value=99,
        initial=80,
        help_text="Warn the assignee when this share of a target is used (1-99 %).",
    )

    class Meta:
        model = SlaPolicy
        fields = ("name", *POLICY_FIELDS)


class FlagRuleForm(forms.ModelForm):
    lifecycle_stages = _checkboxes(LifecycleStage.choices, "None ticked: any lifecycle stage.")
    tiers = _checkboxes(Tier.choices, "None ticked: any tier.")
    priorities = _checkboxes(Priority.choices, "None ticked: any priority.")
    renewal_within_days = forms.IntegerField(
        required=False,
        min_value=0,
        help_text="Only customers whose renewal is within this many days. Empty: any renewal date.",
    )

    class Meta:
        model = FlagRule
        fields = (
            "name",
            "is_active",
            "on_open",
            "on_escalation",
            "lifecycle_stages",
            "tiers",
            "priorities",
            "renewal_within_days",
        )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("on_open") and not cleaned.get("on_escalation"):
            raise ValidationError("Tick at least one of “when opened” and “when escalated”, or the rule never fires.")
        return cleaned


# --- The metrics report ---------------------------------------------------------------------------

PERIODS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("custom", "From / to dates"),
]


class MetricsFilterForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, initial="30", required=False)
    date_from = forms.DateField(label="From", required=False, widget=AdminDateWidget)
    date_to = forms.DateField(label="To (inclusive)", required=False, widget=AdminDateWidget)
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.all(),
        required=False,
        widget=AutocompleteSelect(_ticket_field("customer"), admin.site),
    )
    tier = forms.ChoiceField(choices=[("", "Any tier"), *Tier.choices], required=False)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.all(),
        required=False,
        widget=AutocompleteSelect(_ticket_field("assignee"), admin.site),
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="Any team")
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    category = forms.ChoiceField(choices=[("", "Any category"), *Category.choices], required=False)

    MAX_DAYS = 731

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("period") or "30") == "custom":
            start, end = cleaned.get("date_from"), cleaned.get("date_to")
            if start is None:
                self.add_error("date_from", "Give the first day of the period.")
            if end is None:
                self.add_error("date_to", "Give the last day of the period.")
            if start and end:
                if end < start:
                    self.add_error("date_to", "The period must end on or after its first day.")
                elif (end - start).days > self.MAX_DAYS:
                    self.add_error("date_to", f"A period is at most {self.MAX_DAYS} days.")
        return cleaned

    def period_bounds(self, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of the chosen period; dates are whole days in the current time zone."""
        now = now or timezone.now()
        period = self.cleaned_data.get("period") or "30"
        if period != "custom":
            return now - dt.timedelta(days=int(period)), now
        tz = timezone.get_current_timezone()
        start = dt.datetime.combine(self.cleaned_data["date_from"], dt.time(0), tzinfo=tz)
        end = dt.datetime.combine(self.cleaned_data["date_to"] + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        return start, end

    def scope_filters(self) -> dict:
        """Keyword arguments of tickets.selectors.ticket_scope for the chosen filters."""
        data = self.cleaned_data

        def pk(value):
            return value.pk if value is not None else None

        return {
            "customer_id": pk(data.get("customer")),
            "tier": data.get("tier") or None,
            "assignee_id": pk(data.get("assignee")),
            "team_id": pk(data.get("team")),
            "channel": data.get("channel") or None,
            "category": data.get("category") or None,
        }
