"""crm.mime.wire_bytes writes the same message Django would: both builds of a range of emails, parsed back with the
standard library, have the same headers, parts, charsets, transfer encodings and decoded contents; what is not of
the ordinary shape is left to Django (None)."""

import email
from email.policy import default

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import sanitize_address

from crm.mime import wire_bytes

pytestmark = pytest.mark.django_db  # tests/conftest.py empties the caches, which may live in the database

SENDER = "Acme Success <success@acme.example>"
CASES = {
    "ascii text only": ("Renewal next month", "Hello Ann,\nSee you soon.\n-- \nAcme", ""),
    "text and html": ("A quick question", "Hi Ann,\n\nHow is it going?", "<p>Hi Ann,</p><p>How is it going?</p>"),
    "utf-8 everywhere": (
        "Ça va, Zoë? Ihre Meinung zählt 🙂",
        "Grüße aus München\nnaïve café — 100 %",
        "<p>Grüße aus <b>München</b> 🙂</p>",
    ),
    "a line starting with a dot, CRLF and CR": ("Dots", ".hidden\r\n..two\rend", "<p>\n.x</p>"),
    "a long ascii subject": (("word " * 40).strip(), "body", ""),
    "997-character lines": ("Long lines", "x" * 997 + "\n" + "y" * 10, "<p>" + "z" * 990 + "</p>"),
}
HEADERS = {
    "List-Unsubscribe": "<https://crm.example/u/abc.def-ghi/>, <mailto:unsubscribe@acme.example?subject=u>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "In-Reply-To": "<123.456@acme.example>",
    "X-Campaign": "42",
}


def _django(subject, text, html, headers):
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=SENDER,
        to=["ann@globex.example"],
        headers={**headers, "Message-ID": "<1.2@acme.example>"},
    )
    if html:
        message.attach_alternative(html, "text/html")
    return message.message().as_bytes(linesep="\r\n")


def _ours(subject, text, html, headers):
    return wire_bytes(
        from_header=sanitize_address(SENDER, "utf-8"),
        to_email="ann@globex.example",
        subject=subject,
        text=text,
        html=html,
        headers=headers,
        message_id="<1.2@acme.example>",
    )


def _parts(message):
    leaves = [message] if not message.is_multipart() else list(message.iter_parts())
    return [
        (
            part.get_content_type(),
            part.get_content_charset(),
            part["Content-Transfer-Encoding"],
            part.get_content().replace("\r\n", "\n"),
        )
        for part in leaves
    ]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("headers", [{}, HEADERS], ids=["no extra headers", "unsubscribe and threading headers"])
def test_the_same_message_as_django(case, headers):
    subject, text, html = CASES[case]
    theirs = email.message_from_bytes(_django(subject, text, html, headers), policy=default)
    data = _ours(subject, text, html, headers)
    assert data is not None
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF line ends only
    ours = email.message_from_bytes(data, policy=default)
    for name in ("Subject", "From", "To", "Message-ID", "MIME-Version", *headers):
        assert str(ours[name]) == str(theirs[name]), name
    assert ours.get_content_type() == theirs.get_content_type()
    assert _parts(ours) == _parts(theirs)
    assert ours["Date"] and theirs["Date"]
    assert sorted(k.lower() for k in ours.keys()) == sorted(k.lower() for k in theirs.keys())


@pytest.mark.parametrize(
    "change",
    [
        {"to_email": "Ann Smith <ann@globex.example>"},
        {"to_email": "zoë@globex.example"},
        {"text": "x" * 999},
        {"html": "<p>" + "y" * 1000 + "</p>"},
        {"headers": {"X-Note": "Grüße"}},
        {"headers": {"X-Note": "two\r\nlines"}},
        {"headers": {"Reply-To": "help@acme.example"}},
        {"subject": "two\nlines"},
    ],
)
def test_what_is_not_ordinary_is_left_to_django(change):
    fields = {
        "from_header": SENDER,
        "to_email": "ann@globex.example",
        "subject": "Hi",
        "text": "Hello",
        "html": "<p>Hello</p>",
        "headers": {},
        "message_id": "<1@x>",
        **change,
    }
    assert wire_bytes(**fields) is None
