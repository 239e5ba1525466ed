"""Admin glue for writes through services: their errors become form errors, never a 500.

The admin validates the form and inlines, then calls `save_model` / `save_formset`, where our admins call the
services. A service may still refuse (a rule the form cannot know, a concurrent change, a permission):
`ServiceRefused` carries its message out of the admin's transaction (which rolls back everything the
request wrote), and `ServiceErrorsAdminMixin` renders the same POST again with those errors attached to the
form, or to the inline form that failed. Nothing is saved by the second pass: the errors make it invalid.
"""

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError


class ServiceRefused(Exception):
    """A service rejected an admin write. `prefix`/`index`: the inline form it concerns (None: main form)."""

    def __init__(self, errors: dict[str | None, list[str]], prefix: str | None = None, index: int | None = None):
        super().__init__(errors)
        self.errors = errors
        self.prefix = prefix
        self.index = index

    @classmethod
    def from_exception(cls, exc: Exception, prefix: str | None = None, index: int | None = None):
        return cls(service_error_messages(exc), prefix=prefix, index=index)


def service_error_messages(exc: Exception) -> dict[str | None, list[str]]:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return {
                (None if field == NON_FIELD_ERRORS else field): list(messages)
                for field, messages in exc.message_dict.items()
            }
        return {None: list(exc.messages)}
    if isinstance(exc, PermissionDenied):
        return {None: [str(exc) or "You do not have permission to make this change."]}
    return {None: [str(exc)]}


def add_errors_to_form(form, errors: dict[str | None, list[str]]) -> None:
    for field, messages in errors.items():
        if field is not None and field in form.fields:
            form.add_error(field, messages)
        else:
            label = f"{field.replace('_', ' ').capitalize()}: " if field else ""
            form.add_error(None, [f"{label}{message}" for message in messages])


def form_with_errors(form_class, errors):
    class FormWithServiceErrors(form_class):
        def clean(self):
            cleaned_data = super().clean()
            add_errors_to_form(self, errors)
            return cleaned_data

    FormWithServiceErrors.__name__ = form_class.__name__
    return FormWithServiceErrors


def formset_with_errors(formset_class, refused: ServiceRefused):
    class FormSetWithServiceErrors(formset_class):
        def clean(self):
            super().clean()
            if refused.index is not None and refused.index < len(self.forms):
                add_errors_to_form(self.forms[refused.index], refused.errors)
            else:
                raise ValidationError([m for messages in refused.errors.values() for m in messages])

    FormSetWithServiceErrors.__name__ = formset_class.__name__
    return FormSetWithServiceErrors


def _refused(request) -> ServiceRefused | None:
    return getattr(request, "_service_refused", None)


class ServiceErrorsAdminMixin:
    """For a ModelAdmin whose save_model/save_formset raise `ServiceRefused`."""

    def _rerun_with_errors(self, view, request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceRefused as refused:
            if _refused(request) is not None:
                raise  # the second pass should never save; do not loop
            request._service_refused = refused
            return view(request, *args, **kwargs)

    def changeform_view(self, request, *args, **kwargs):
        return self._rerun_with_errors(super().changeform_view, request, *args, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refused = _refused(request)
        if refused is not None and refused.prefix is None:
            form = form_with_errors(form, refused.errors)
        return form


class ServiceErrorsInlineMixin:
    """For the inlines of a `ServiceErrorsAdminMixin` admin: shows a refused write on the inline form."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        refused = _refused(request)
        if refused is not None and refused.prefix == formset.get_default_prefix():
            formset = formset_with_errors(formset, refused)
        return formset
