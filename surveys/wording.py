"""What a survey says: its questions may name the company with the `{company}` placeholder.

fill(text) -> the text as a contact sees it ({company} replaced by settings.COMPANY_NAME). Every place that
    shows a question (the email's subject and body, the answer page, the admin, the API) shows it through
    this one function, so no customer ever receives a literal "{company}".
placeholder_error(text) -> why a survey's text cannot be saved (an unknown placeholder such as "{compny}",
    or a stray brace), or None.
"""

import re

from django.conf import settings

PLACEHOLDERS = ("company",)
TEXT_FIELDS = ("question", "follow_up_question", "follow_up_unhappy")
_TOKEN = re.compile(r"\{([^{}]*)\}")


def _values() -> dict[str, str]:
    return {"company": settings.COMPANY_NAME}


def fill(text: str) -> str:
    values = _values()
    return _TOKEN.sub(lambda m: values.get(m[1], m[0]), text or "")


def placeholder_error(text: str) -> str | None:
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for match in _TOKEN.finditer(text or ""):
        if match[1] not in PLACEHOLDERS:
            return f"Unknown placeholder {match[0]}: the only placeholder is {known}."
    if "{" in _TOKEN.sub("", text or "") or "}" in _TOKEN.sub("", text or ""):
        return f"A brace must be part of a placeholder ({known})."
    return None


def placeholder_errors(**texts: str) -> dict[str, str]:
    """{field: error} for the given survey texts that cannot be saved."""
    errors = {}
    for field, text in texts.items():
        error = placeholder_error(text) if isinstance(text, str) else None
        if error:
            errors[field] = error
    return errors
