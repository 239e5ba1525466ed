"""Template tags of the admin pages crm owns."""

from django import template

from crm.admin_extensions import render_home_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def home_panels(context):
    """The panels apps registered for the admin's home page (crm.admin_extensions.register_home_panel)."""
    request = context.get("request")
    return render_home_panels(request) if request is not None else ""


@register.filter
def money(value, currency=None):
    """{{ customer.arr|money }} -> "USD 1,234,567" (crm.money: separators and the reporting currency)."""
    from crm.money import money as format_money

    return format_money(value, currency)
