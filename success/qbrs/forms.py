"""Admin forms of QBRs: schedule (or move) a QBR by its local date and start time in the customer's time zone, and
cancel one. The forms check shape only; the services decide (in the past, overlapping another QBR of the customer,
an attendee from another customer) and their errors are put back on the form's fields (QBR_ERROR_FIELDS)."""

import datetime as dt
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from crm.models import Contact
from success.qbrs.models import Qbr

# A service error's key -> the form field that shows it (None: above the form).
QBR_ERROR_FIELDS = {
    "starts_at": "date",
    "duration_minutes": "duration_minutes",
    "contacts": "contacts",
    "staff": "staff",
    "agenda": "agenda",
    "reason": "reason",
}


class QbrScheduleForm(forms.Form):
    date = forms.DateField(help_text="In the customer's time zone.", widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(
        help_text="Local start time in the customer's time zone.", widget=forms.TimeInput(attrs={"type": "time"})
    )
    duration_minutes = forms.IntegerField(min_value=15, max_value=480, initial=60)
    contacts = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    staff = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    agenda = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False, max_length=10000)

    def __init__(self, *args, qbr: Qbr, **kwargs):
        super().__init__(*args, **kwargs)
        self.qbr = qbr
        self.zone = ZoneInfo(qbr.customer.timezone if qbr.status == Qbr.Status.PROPOSED else qbr.timezone)
        # All contacts, so an attendee from another customer is refused by the service naming them; the
        # checkboxes list the customer's own.
        self.fields["contacts"].queryset = Contact.objects.all()
        self.fields["contacts"].widget.choices = [
            (c.pk, str(c)) for c in Contact.objects.filter(customer_id=qbr.customer_id).order_by("email")
        ]
        User = get_user_model()
        self.fields["staff"].queryset = User.objects.filter(is_active=True, is_staff=True).order_by("email")
        if not self.is_bound:
            local = qbr.starts_at.astimezone(self.zone)
            self.initial.update(
                date=local.date(),
                start_time=local.time().replace(second=0, microsecond=0),
                duration_minutes=qbr.duration_minutes,
                contacts=[c.pk for c in qbr.contacts.all()],
                staff=[u.pk for u in qbr.staff.all()],
                agenda=qbr.agenda,
            )

    def starts_at(self) -> dt.datetime:
        return dt.datetime.combine(self.cleaned_data["date"], self.cleaned_data["start_time"], tzinfo=self.zone)

    def add_service_errors(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for key, errors in exc.message_dict.items():
            self.add_error(QBR_ERROR_FIELDS.get(key), errors)


class QbrCancelForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False, help_text="Shown on the customer's timeline.")

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, errors in getattr(exc, "message_dict", {None: exc.messages}).items():
            self.add_error(QBR_ERROR_FIELDS.get(key), errors)
