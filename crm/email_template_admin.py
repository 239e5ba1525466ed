"""Email templates in the admin: writes through crm.email_templates.email_template_save (an unknown variable is
a form error naming the field); the change page previews the template rendered for a real customer."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from crm.admin_services import ServiceErrorsAdminMixin, ServiceRefused
from crm.email_templates import TEXT_FIELDS, VARIABLES, email_template_save, template_render
from crm.models import Customer, EmailTemplate


@admin.register(EmailTemplate)
class EmailTemplateAdmin(ServiceErrorsAdminMixin, admin.ModelAdmin):
    list_display = ("name", "subject", "updated_at")
    search_fields = ("name", "subject")
    readonly_fields = ("variables", "preview")
    fields = ("name", "subject", "text_body", "html_body", "variables", "preview")

    @admin.display(description="Variables")
    def variables(self, obj):
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{{{}}}</code>: {}</li>", VARIABLES.items()))

    @admin.display(description="Preview")
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return "Save the template to preview it."
        customer_id = getattr(self, "_preview_customer_id", None)
        customer = (
            Customer.objects.filter(pk=customer_id).select_related("owner").first()
            if customer_id
            else Customer.objects.select_related("owner").order_by("-id").first()
        )
        if customer is None:
            return "No customer to preview with."
        contact = customer.contacts.order_by("-is_primary", "id").first()
        rendered = template_render(template=obj, customer=customer, contact=contact)
        return format_html(
            "<p>For <strong>{}</strong>{} (another customer: add <code>?preview_customer=&lt;id&gt;</code> to "
            "this page's address)</p><p><strong>Subject:</strong> {}</p><pre>{}</pre>",
            customer.name,
            f", {contact.email}" if contact else " (no contact)",
            rendered.subject,
            rendered.text,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        value = request.GET.get("preview_customer", "")
        self._preview_customer_id = int(value) if value.isdigit() else None
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        data = {field: form.cleaned_data.get(field, "") for field in ("name", *TEXT_FIELDS)}
        try:
            saved = email_template_save(template=obj if change else None, actor=request.user, **data)
        except ValidationError as exc:
            raise ServiceRefused.from_exception(exc) from exc
        obj.pk = saved.pk
        obj._state.adding = False
