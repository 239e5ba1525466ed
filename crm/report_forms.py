"""Fields for the period-and-filters forms of admin reports (templates/admin/report_filters.html): dates with the
admin's date picker, a customer picked by name (the admin's autocomplete) rather than typed as an id.

A template showing such a form loads its widgets' scripts in its head:
    {% block extrahead %}{{ block.super }}<script src="{% url 'admin:jsi18n' %}"></script>{{ form.media }}{% endblock %}
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminDateWidget, AutocompleteSelect

from crm.models import Contact, Customer


class ReportDateField(forms.DateField):
    widget = AdminDateWidget


class CustomerChoiceField(forms.ModelChoiceField):
    """One customer, searched by name in a select box (the customer admin's search), submitted as its id."""

    def __init__(self, **kwargs):
        kwargs.setdefault("queryset", Customer.objects.all())
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Type part of the customer's name.")
        # The autocomplete view needs a foreign key to Customer on a model the admin registers: Contact.customer.
        kwargs.setdefault("widget", AutocompleteSelect(Contact._meta.get_field("customer"), admin.site))
        super().__init__(**kwargs)
