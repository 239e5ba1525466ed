"""Template tags of the admin pages crm owns."""

from django import template

from crm.admin_extensions import render_home_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def home_panels(context):
    """The panels apps registered for the admin's home page (crm.admin_extensions.register_home_panel)."""
    request = context.get("request")
    return render_home_panels(request) if request is not None else ""
