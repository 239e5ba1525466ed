"""The wire bytes of an ordinary outbound email, built without the email package's generator.

Django's EmailMultiAlternatives (through the standard library's email generator) spends about 2 ms building each
message: parsing and re-folding every header, scanning the bodies for a boundary. A campaign sends the same shape
thousands of times, so the bulk path (crm.outbound_batch) builds that shape directly: the same headers, parts,
charsets and transfer encodings Django would produce, written as bytes in a few string operations.

Only the ordinary shape is built here: a text body, optionally an HTML alternative, no line over 998 characters,
a To address without a display name, header values of printable ASCII. Anything else (a calendar part, a long
line, a non-ASCII header value) gets None from `wire_bytes`, and the caller builds it with Django as before.
tests/crm/test_mime.py parses both builds of a range of emails back and compares them part by part.
"""

import re
import secrets
from email.header import Header
from email.utils import formatdate

# RFC 5322 2.1.1: at most 998 characters a line; Django switches such a body to quoted-printable (left to it).
LINE_LIMIT = 998
_PRINTABLE = re.compile(r"[ -~]*\Z")  # printable ASCII: a header value that needs no encoding
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")
# Headers the message itself writes: an extra header of one of these names is left to Django's rules.
_OWN = frozenset(
    {
        "subject",
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "sender",
    }
)


def _part(text: str, subtype: str) -> list[str] | None:
    """A text part's header lines and body lines (CRLF joined by the caller); None for a line over the limit."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if any(len(line) > LINE_LIMIT for line in lines):
        return None
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "MIME-Version: 1.0",
        f"Content-Transfer-Encoding: {'7bit' if text.isascii() else '8bit'}",
        "",
        *lines,
    ]


def _subject(subject: str) -> str:
    """Django's Subject: as it is when printable ASCII, else RFC 2047 encoded words (utf-8, folded)."""
    if _PRINTABLE.match(subject) and len(subject) <= 900:
        return subject
    return Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")


def wire_bytes(
    *,
    from_header: str,
    to_email: str,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str],
    message_id: str,
    localtime: bool = False,
) -> bytes | None:
    """The message as smtplib.sendmail takes it (CRLF line ends; the dot-stuffing is smtplib's), or None when
    the email is not of the ordinary shape. `from_header`: the From value already encoded
    (django.core.mail.message.sanitize_address of the sender, computed once per batch)."""
    if not _PLAIN_ADDRESS.match(to_email) or "\n" in subject or "\r" in subject:
        return None
    top = [
        f"Subject: {_subject(subject)}",
        f"From: {from_header}",
        f"To: {to_email}",
        f"Date: {formatdate(localtime=localtime)}",
        f"Message-ID: {message_id}",
    ]
    for name, value in headers.items():
        if name.lower() in _OWN or not _PRINTABLE.match(name) or ":" in name or " " in name:
            return None
        if not isinstance(value, str) or not _PRINTABLE.match(value) or len(value) > 900:
            return None
        top.append(f"{name}: {value}")
    text_part = _part(text, "plain")
    if text_part is None:
        return None
    if not html:
        return "\r\n".join([text_part[0], *text_part[1:3], *top, *text_part[3:]]).encode()
    html_part = _part(html, "html")
    if html_part is None:
        return None
    boundary = "===============" + secrets.token_hex(10) + "=="
    while boundary in text or boundary in html:  # as the email package: never a line of a body
        boundary = "===============" + secrets.token_hex(10) + "=="
    lines = [
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "MIME-Version: 1.0",
        *top,
        "",
        f"--{boundary}",
        *text_part,
        f"--{boundary}",
        *html_part,
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode()
