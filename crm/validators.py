import re
import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError


@cache
def available_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value and value not in available_timezones():
        raise ValidationError(
            "Unknown time zone %(value)s; use an IANA name such as Europe/Paris.",
            code="invalid_timezone",
            params={"value": value},
        )


# One DNS label: letters, digits and inner hyphens, at most 63 characters (RFC 1035 / 5890 A-labels).
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def validate_domain(value: str) -> None:
    """A customer's web domain as stored (lower-cased, without scheme, path or www.), e.g. acme.com."""
    if not value:
        return
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValidationError(
            '"%(value)s" is not a domain name; enter one such as acme.com.',
            code="invalid_domain",
            params={"value": value[:100]},
        )
