"""Email templates shared by every email written once and sent to many customers (playbook email steps today,
the outreach engine next).

    VARIABLES                  the variables a template may name, e.g. {customer.name}, {contact.first_name}
    variable_errors(**texts)   {field: message} for texts naming an unknown variable (or with a stray brace)
    email_template_save(...)   create or change a template; refuses an unknown variable naming the field
    template_render(...)       (subject, text, html) for one customer and contact: the one place they are filled

An unknown variable is refused when the template is saved, so a sent email never carries a literal
"{custmer.name}" nor an empty hole. A known variable whose value is empty gets a fallback (a contact without a
first name is greeted as "there"; a customer without an owner CSM signs as "The <company> team"). Values are
HTML-escaped in the HTML body. Double braces ("{{", "}}") write a literal brace.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.html import escape

from crm.models import Contact, Customer, EmailTemplate

TEXT_FIELDS = ("subject", "text_body", "html_body")
VARIABLES = {
    "company": "Our company's name (settings.COMPANY_NAME).",
    "customer.name": "The customer's (account's) name.",
    "contact.first_name": 'The contact\'s first name ("there" when it is empty).',
    "contact.last_name": "The contact's last name.",
    "contact.full_name": "The contact's first and last name (their email address when both are empty).",
    "contact.email": "The contact's email address.",
    "csm.name": 'The owner CSM\'s name ("The <company> team" when the customer has no owner).',
    "csm.email": "The owner CSM's email address (the default sender when the customer has no owner).",
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def _known() -> str:
    return ", ".join(f"{{{name}}}" for name in VARIABLES)


def variable_error(text: str) -> str | None:
    """Why `text` cannot be saved (an unknown variable or a stray brace), or None."""
    for match in _TOKEN.finditer(text or ""):
        name = match[1]
        if name is not None and name.strip() not in VARIABLES:
            return f"Unknown variable {match[0]}: the variables are {_known()}."
    rest = _TOKEN.sub("", text or "")
    if "{" in rest or "}" in rest:
        return f'A brace must be part of a variable ({_known()}); write "{{{{" or "}}}}" for a literal brace.'
    return None


def variable_errors(**texts: str) -> dict[str, str]:
    errors = {}
    for field, text in texts.items():
        error = variable_error(text) if isinstance(text, str) else None
        if error:
            errors[field] = error
    return errors


@transaction.atomic
def email_template_save(*, template: EmailTemplate | None = None, actor=None, **fields) -> EmailTemplate:
    """Create or change a template (fields: name, subject, text_body, html_body). Raises ValidationError naming
    the field (subject, text_body, html_body, name) and saves nothing when it is wrong."""
    unknown = set(fields) - {"name", *TEXT_FIELDS}
    if unknown:
        raise ValidationError({field: "This field cannot be set here." for field in sorted(unknown)})
    template = template or EmailTemplate()
    for field, value in fields.items():
        value = value if isinstance(value, str) else ("" if value is None else str(value))
        setattr(template, field, value.strip() if field in ("name", "subject") else value)
    errors: dict[str, list] = {}
    try:
        template.full_clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for field, message in variable_errors(**{f: getattr(template, f) for f in TEXT_FIELDS}).items():
        errors.setdefault(field, []).append(ValidationError(message, code="unknown_variable"))
    if errors:
        raise ValidationError(errors)
    template.save()
    return template


def _values(customer: Customer, contact: Contact | None) -> dict[str, str]:
    owner = customer.owner
    company = settings.COMPANY_NAME
    values = {
        "company": company,
        "customer.name": customer.name,
        "csm.name": (owner.get_full_name() if owner else "") or f"The {company} team",
        "csm.email": (owner.email if owner else "") or settings.DEFAULT_FROM_EMAIL,
    }
    if contact is not None:
        values |= {
            "contact.first_name": contact.first_name or "there",
            "contact.last_name": contact.last_name,
            "contact.full_name": contact.full_name or contact.email,
            "contact.email": contact.email,
        }
    else:  # a preview without a contact
        values |= {
            "contact.first_name": "there",
            "contact.last_name": "",
            "contact.full_name": "",
            "contact.email": "",
        }
    return values


def fill(text: str, values: dict[str, str], *, html: bool = False) -> str:
    def replace(match: re.Match) -> str:
        if match[0] in ("{{", "}}"):
            return match[0][0]
        value = values.get(match[1].strip())
        if value is None:  # refused at save; a template saved before a variable was removed stays visible
            return match[0]
        return escape(value) if html else value

    return _TOKEN.sub(replace, text or "")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def template_render(*, template: EmailTemplate, customer: Customer, contact: Contact | None = None) -> Rendered:
    values = _values(customer, contact)
    return Rendered(
        subject=" ".join(fill(template.subject, values).split()),
        text=fill(template.text_body, values),
        html=fill(template.html_body, values, html=True) if template.html_body else "",
    )
