"""Reading a hostile RFC 822 message in bounded time, before the email package sees it.

The standard library's structured header parser grows much faster than its input (a 1.7 MB References header
of 150,000 ids took ~20 s, a From of 20,000 addresses ~8 s), and its MIME parser recurses once per nested
multipart (2,000 levels: RecursionError). So the raw bytes (always stored untouched in InboundEmail.raw) are
read through bounds first:

    bounded_raw(raw)   the header block rewritten with bounded fields: the last MAX_REFERENCE_IDS message ids of
                       References / In-Reply-To (read from the raw text with a regular expression), the first
                       MAX_ADDRESSES addresses of From / To / Cc / Reply-To / Sender, every field cut at
                       MAX_HEADER_BYTES, at most MAX_OTHER_FIELDS fields we do not read
    structure_note(raw) why the MIME structure is not parsed (over MAX_MULTIPARTS multipart containers or
                       MAX_PARTS parts), or "" when it can be
    pg_text(text)      text PostgreSQL can store: no NUL, no lone surrogate

Everything here is linear in the size of the message.
"""

import re

MAX_REFERENCE_IDS = 25
MAX_ADDRESSES = 50
MAX_HEADER_BYTES = 8 * 1024
MAX_OTHER_FIELDS = 500
MAX_MULTIPARTS = 50
MAX_PARTS = 1000

REFERENCE_FIELDS = {b"references", b"in-reply-to"}
ADDRESS_FIELDS = {b"from", b"to", b"cc", b"reply-to", b"sender"}
# Fields the inbound path reads (threading, loop detection, MIME): kept even past MAX_OTHER_FIELDS.
READ_FIELDS = (
    REFERENCE_FIELDS
    | ADDRESS_FIELDS
    | {
        b"subject",
        b"message-id",
        b"date",
        b"mime-version",
        b"content-type",
        b"content-transfer-encoding",
        b"content-disposition",
        b"auto-submitted",
        b"precedence",
        b"x-autoreply",
        b"x-autorespond",
        b"x-auto-reply",
        b"x-auto-response-suppress",
        b"x-ms-exchange-generated-message-source",
        b"return-path",
    }
)

FIELD_MATCH_RE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*")
READ_FIELD_RE = re.compile(
    rb"\n(?:" + b"|".join(re.escape(name) for name in sorted(READ_FIELDS)) + rb")[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*"
)
FIELD_START_RE = re.compile(rb"\n(?![ \t])")
MSGID_RE = re.compile(rb"<[^<>\s]+>")
FOLD_RE = re.compile(rb"\r?\n(?=[ \t])")
MULTIPART_RE = re.compile(rb"\ncontent-type:[ \t]*(?:\r?\n[ \t]+)?multipart/")
SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Fields are read one by one from the first HEADER_PREFIX bytes of the header block; past it only the fields
# we read are looked for (by one regular expression, at most MAX_LATE_FIELDS of them).
HEADER_PREFIX = 128 * 1024
MAX_LATE_FIELDS = 100
REFERENCE_WINDOW = 64 * 1024  # the last ids are read from the end of the field


def _split_header_block(raw: bytes) -> tuple[bytes, bytes]:
    """(header block without its final line break, the rest from the blank line on)."""
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if i != -1]
    if not ends:
        return raw, b""
    end = min(ends)
    if end > 0 and raw[end - 1 : end] == b"\r":
        end -= 1
    return raw[:end], raw[end:]


def _fields(block: bytes) -> tuple[list[bytes], bytes]:
    """The header fields of a block (each with its folded lines), and whatever follows the first line that is not
    a header (which the email package reads as the start of the body). One step per field, not per line."""
    fields, pos = [], 0
    if block.startswith(b"From "):  # an mbox "From " line
        pos = block.find(b"\n") + 1 or len(block)
        fields.append(block[:pos].rstrip(b"\r\n"))
    limit = min(len(block), HEADER_PREFIX)
    while pos < limit:
        match = FIELD_MATCH_RE.match(block, pos)
        if match is None:
            return fields, block[pos:]
        fields.append(match.group())
        pos = match.end() + 1
    if pos < len(block):
        late = READ_FIELD_RE.finditer(block.lower(), pos - 1)
        for _, match in zip(range(MAX_LATE_FIELDS), late, strict=False):
            fields.append(block[match.start() + 1 : match.end()])
    return fields, b""


def _name(field: bytes) -> bytes:
    return field.partition(b":")[0].strip().lower()


def _bounded_field(field: bytes) -> bytes:
    name, _, value = field.partition(b":")
    key = _name(field)
    if key in REFERENCE_FIELDS:
        ids = MSGID_RE.findall(value[-REFERENCE_WINDOW:])[-MAX_REFERENCE_IDS:]
        if ids:
            return name + b": " + b" ".join(ids)
    value = FOLD_RE.sub(b"", value[: MAX_HEADER_BYTES * 2]).rstrip(b"\r\n")
    if key in ADDRESS_FIELDS:
        value = b",".join(value.split(b",")[:MAX_ADDRESSES])
    return (name + b":" + value)[:MAX_HEADER_BYTES]


def bounded_raw(raw: bytes) -> bytes:
    """The message with its header block bounded (see the module docstring); the body is unchanged."""
    block, rest = _split_header_block(raw)
    fields, tail = _fields(block)
    kept, others = [], 0
    for field in fields:
        if _name(field) not in READ_FIELDS and not field.startswith(b"From "):
            others += 1
            if others > MAX_OTHER_FIELDS:
                continue
        kept.append(_bounded_field(field))
    head = b"\r\n".join(kept)
    if tail:
        head += b"\r\n" + tail
    return head + rest


def headers_only(raw: bytes) -> bytes:
    """The bounded header fields of the message without its MIME structure: a plain-text message with no body
    (for a message whose structure is not parsed)."""
    fields, _ = _fields(_split_header_block(raw)[0])
    kept = [f for f in fields if not _name(f).startswith(b"content-") and _name(f) != b"mime-version"]
    kept += [b"MIME-Version: 1.0", b"Content-Type: text/plain; charset=utf-8"]
    return bounded_raw(b"\r\n".join(kept) + b"\r\n\r\n")


def structure_note(raw: bytes) -> str:
    """Why the MIME structure of this message is not parsed ("" when it can be): the email package recurses
    once per nested multipart and walks every part."""
    lower = b"\n" + raw.lower()
    multiparts = len(MULTIPART_RE.findall(lower))
    if multiparts > MAX_MULTIPARTS:
        return f"{multiparts} multipart containers (the limit is {MAX_MULTIPARTS})"
    parts = lower.count(b"\ncontent-type:")
    if parts > MAX_PARTS:
        return f"{parts} MIME parts (the limit is {MAX_PARTS})"
    return ""


def pg_text(text: str) -> str:
    """Text PostgreSQL can store: NUL removed, lone surrogates (undecodable header bytes) replaced."""
    if not text:
        return text or ""
    text = text.replace("\x00", "")
    if SURROGATE_RE.search(text):
        try:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def message_bytes(message) -> bytes:
    """The bytes of a parsed message (an email provider's webhook hands us a parsed message, not its raw bytes).
    The email package's generator recurses a few frames per nested part and fails near 300 levels, where its
    parser still succeeds: then the message is written without recursion."""
    try:
        return message.as_bytes()
    except RecursionError:
        pass
    out, stack = [], [message]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        if not item.is_multipart():
            try:
                out.append(item.as_bytes())
            except RecursionError:
                out.append(b"")
            continue
        policy = item.policy
        sep = policy.linesep.encode()
        out.append(b"".join(policy.fold_binary(name, value) for name, value in item.raw_items()) + sep)
        children = item.get_payload()
        if item.get_content_maintype() == "message":  # message/rfc822: the message itself, no boundary
            stack.extend(reversed(children))
            continue
        boundary = (item.get_boundary() or "=_part").encode()
        sequence = []
        for child in children:
            sequence += [b"--" + boundary + sep, child, sep]
        sequence.append(b"--" + boundary + b"--" + sep)
        stack.extend(reversed(sequence))
    return b"".join(out)
