"""Email templates: variables filled by one function; an unknown variable is refused at save naming the field."""

import pytest
from django.core.exceptions import ValidationError

from crm.email_templates import email_template_save, template_render
from crm.models import EmailTemplate


@pytest.mark.django_db
def test_render_fills_every_variable(customer_factory, contact_factory, user_factory, settings):
    settings.COMPANY_NAME = "Acme Software"
    csm = user_factory(full_name="Cleo Manager", email="cleo@acme.test")
    customer = customer_factory(name="Globex", owner=csm)
    contact = contact_factory(customer=customer, first_name="Ada", last_name="Byron", email="ada@globex.test")
    template = email_template_save(
        name="Welcome",
        subject="Welcome to {company}, {customer.name}",
        text_body="Hi {contact.first_name},\n{csm.name} <{csm.email}> here. {{literal}}",
        html_body="<p>Hi {contact.full_name}</p>",
    )
    rendered = template_render(template=template, customer=customer, contact=contact)
    assert rendered.subject == "Welcome to Acme Software, Globex"
    assert rendered.text == "Hi Ada,\nCleo Manager <cleo@acme.test> here. {literal}"
    assert rendered.html == "<p>Hi Ada Byron</p>"


@pytest.mark.django_db
def test_empty_values_get_fallbacks_and_html_is_escaped(customer_factory, contact_factory, settings):
    settings.COMPANY_NAME = "Acme"
    customer = customer_factory(name="<b>Evil</b>", owner=None)
    contact = contact_factory(customer=customer, first_name="", last_name="")
    template = email_template_save(
        name="T", subject="s", text_body="Hi {contact.first_name}, {csm.name}", html_body="{customer.name}"
    )
    rendered = template_render(template=template, customer=customer, contact=contact)
    assert rendered.text == "Hi there, The Acme team"
    assert rendered.html == "&lt;b&gt;Evil&lt;/b&gt;"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field, text",
    [
        ("subject", "Hello {custmer.name}"),
        ("text_body", "Hi {contact.first_nam}"),
        ("html_body", "<p>{company</p>"),
        ("text_body", "a stray } brace"),
    ],
)
def test_unknown_variable_refused_naming_the_field(field, text):
    fields = {"name": "T", "subject": "s", "text_body": "t", "html_body": ""} | {field: text}
    with pytest.raises(ValidationError) as error:
        email_template_save(**fields)
    assert list(error.value.message_dict) == [field]
    assert not EmailTemplate.objects.filter(name="T").exists()  # (the shipped outreach templates exist)


@pytest.mark.django_db
def test_change_refused_keeps_the_saved_template():
    template = email_template_save(name="T", subject="s", text_body="t")
    with pytest.raises(ValidationError):
        email_template_save(template=template, text_body="{nope}")
    template.refresh_from_db()
    assert template.text_body == "t"


@pytest.mark.django_db
def test_admin_refuses_unknown_variable_and_previews(admin_client, customer_factory, contact_factory):
    response = admin_client.post(
        "/admin/crm/emailtemplate/add/", {"name": "T", "subject": "Hi {oops}", "text_body": "x", "html_body": ""}
    )
    assert response.status_code == 200
    assert "Unknown variable {oops}" in response.content.decode()
    assert not EmailTemplate.objects.filter(name="T").exists()  # (the shipped outreach templates exist)
    customer = customer_factory(name="Initech")
    contact_factory(customer=customer, first_name="Peter", is_primary=True)
    template = email_template_save(name="T", subject="For {customer.name}", text_body="Hi {contact.first_name}")
    page = admin_client.get(f"/admin/crm/emailtemplate/{template.pk}/change/?preview_customer={customer.pk}")
    assert page.status_code == 200
    assert "For Initech" in page.content.decode() and "Hi Peter" in page.content.decode()
