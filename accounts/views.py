"""Staff pages of accounts outside the model admin: "My time zone"."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from accounts.models import available_time_zones
from accounts.services import user_time_zone_set


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Every time on the admin pages is shown in this zone, with its name.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", f"The server's ({settings.TIME_ZONE})")] + [
            (name, name) for name in sorted(available_time_zones())
        ]


@staff_member_required
def my_time_zone(request):
    """Any staff user sets their own time zone (no permission on users needed: it is theirs)."""
    form = TimeZoneForm(request.POST or None, initial={"time_zone": request.user.time_zone})
    if request.method == "POST" and form.is_valid():
        try:
            user_time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
        except ValidationError as error:
            form.add_error("time_zone", error.messages)
        else:
            messages.success(request, f"Times are now shown in {request.user.zone.key}.")
            return redirect("my_time_zone")
    context = {
        **admin.site.each_context(request),
        "title": "My time zone",
        "form": form,
        "zone": request.user.zone.key,
    }
    return TemplateResponse(request, "accounts/my_time_zone.html", context)
