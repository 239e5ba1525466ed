"""Inbound email: raw message first, then parsed into a ticket, a threaded reply, or the unmatched queue.

    inbound_email_receive(raw, source)   stores the raw bytes (committed on their own), then processes them
    inbound_email_process(inbound)       parse -> drop loops and duplicates -> thread or open -> attachments

A message that fails to parse or process keeps its raw bytes with status "failed" and the error, and can be
processed again (admin action, `ingest_email --retry-failed`).
"""

import email
import email.policy
import hashlib
import html
import logging
import re
import string
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from crm.models import Contact, Customer
from crm.outbound_email import email_mark_replied
from crm.services import contact_create, normalize_email
from tickets.attachments import attachment_name
from tickets.inbound_mime import MAX_MULTIPARTS, bounded_raw, headers_only, pg_text, structure_note
from tickets.models import Channel, InboundEmail, Ticket, TicketAttachment, TicketMessage
from tickets.services import MAX_BODY, REPLY_MARKER, ticket_create, ticket_customer_message, ticket_surviving

logger = logging.getLogger(__name__)

REFERENCE_RE = re.compile(r"\[#(\d+)\]")
MSGID_RE = re.compile(r"<[^<>\s]+>")
LOOP_SENDERS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply", "bounce"}
QUOTE_HEADERS = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.S),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.S),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.S),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}\s*$", re.I),
    re.compile(r"^_{10,}\s*$"),
    re.compile(r"^From:\s.+$"),
]
# Every pattern below runs on text a stranger wrote, up to the size cap: each is linear (a run of dashes is
# matched from its start only; the From line is looked for near the marker).
FORWARD_MARK_RE = re.compile(r"(?<!-)-{5,}+[ \t]*Forwarded message[ \t]*-{5,}", re.I)
FORWARD_FROM_RE = re.compile(r"^From:\s*(?P<from>.+?)$", re.M | re.I)
FORWARD_FROM_WITHIN = 5_000
DROPPED_TAGS = ("script", "style", "head")
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
QUOTE_WORDS = ("wrote", "écrit", "schrieb")


NOT_AN_EMAIL = "not an RFC 822 message"
MAX_ATTACHMENTS = 100
MAX_HTML = 1_000_000


class NotAnEmail(ValidationError):
    pass


def read_message(raw: bytes) -> tuple[EmailMessage, str]:
    """The message parsed within bounds (tickets.inbound_mime), and why its MIME structure was not read ("" when
    it was: then the message has the headers only and an empty plain-text body)."""
    if not raw or not raw.strip():
        raise NotAnEmail("The message is empty.")
    note = structure_note(raw)
    if not note:
        try:
            message = email.message_from_bytes(bounded_raw(raw), policy=email.policy.default)
            _walk_bounded(message)
        except RecursionError:
            note = f"MIME parts nested deeper than {MAX_MULTIPARTS} levels"
    if note:
        message = email.message_from_bytes(headers_only(raw), policy=email.policy.default)
    _check(message)
    return message, note


def _walk_bounded(message: EmailMessage) -> None:
    """Raise RecursionError when parts nest deeper than MAX_MULTIPARTS (the email package walks them
    recursively); iterative, so it cannot overflow itself."""
    stack = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MULTIPARTS:
            raise RecursionError("too deep")
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            stack.extend((child, depth + 1) for child in payload)


def parse(raw: bytes) -> EmailMessage:
    return read_message(raw)[0]


def _check(message: EmailMessage) -> None:
    if not message.keys() or (not message.get("From") and not message.get("Message-ID")):
        raise NotAnEmail("This is not an RFC 822 message: it has no From or Message-ID header.")
    if message.defects and not message.get("From"):
        raise NotAnEmail(f"This is not an RFC 822 message: {message.defects[0].__class__.__name__}.")


def _header(message: EmailMessage, name: str) -> str:
    """The header's decoded value, as text PostgreSQL can store."""
    try:
        value = str(message.get(name, "") or "")
    except (ValueError, TypeError, IndexError, AttributeError):  # malformed encoded words
        raw = message.get_all(name) or [""]
        value = str(raw[0])
    return pg_text(value).strip()


def _own_addresses() -> set[str]:
    return {
        normalize_email(parseaddr(addr)[1])
        for addr in (settings.DEFAULT_FROM_EMAIL, settings.SERVER_EMAIL, settings.SUPPORT_EMAIL)
        if addr
    }


def loop_reason(message: EmailMessage, sender: str) -> str | None:
    """Why this message must never create a ticket or a reply (None: it may)."""
    auto = _header(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(message, "Precedence").lower()
    if precedence in {"bulk", "junk", "list", "auto_reply"}:
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if message.get(name):
            return f"{name} header"
    if _header(message, "X-Auto-Response-Suppress").lower() in {"all", "oof"} and _header(
        message, "X-MS-Exchange-Generated-Message-Source"
    ):
        return "Exchange auto-response"
    if message.get_content_type() == "multipart/report":
        return "delivery status report (bounce)"
    local = sender.split("@")[0] if sender else ""
    if not sender or local in LOOP_SENDERS:
        return f"sent by {sender or 'an empty sender'}"
    if sender in _own_addresses():
        return "sent from our own address (mail loop)"
    if _header(message, "Return-Path") == "<>":
        return "null return path (bounce)"
    return None


LATIN1_ALIASES = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso_8859-1", "l1"}


def _decode(part) -> str:
    charset = (part.get_content_charset() or "").lower()
    if charset in LATIN1_ALIASES:
        # As browsers do (WHATWG): mail labelled Latin-1 is really Windows-1252 (€, curly quotes, dashes).
        return (part.get_payload(decode=True) or b"").decode("cp1252", "replace")
    try:
        content = part.get_content()
        return content if isinstance(content, str) else content.decode("utf-8", "replace")
    except (LookupError, UnicodeError, KeyError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "latin-1"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("latin-1", "replace")


def _drop_blocks(markup: str) -> str:
    """Without its <script>, <style> and <head> elements (one never closed stays). Linear: each tag is removed
    only up to its last closing tag, so every opening tag looked at has a closing tag after it."""
    for tag in DROPPED_TAGS:
        end = markup.translate(ASCII_LOWER).rfind(f"</{tag}>")  # same length as markup, unlike str.lower()
        if end != -1:
            end += len(tag) + 3
            markup = re.sub(rf"(?is)<{tag}\b.*?</{tag}>", "", markup[:end]) + markup[end:]
    return markup


def html_to_text(markup: str) -> str:
    markup = _drop_blocks(markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>|</h\d>", "\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set())).replace("\xa0", " ")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in text.splitlines())).strip()


def sanitize_html(markup: str) -> str:
    return nh3.clean(markup, link_rel="noopener noreferrer nofollow")


def bodies(message: EmailMessage, kept: list | None = None) -> tuple[str, str]:
    """(text, raw html) of the message; text derived from the HTML when there is no text part. The HTML must go
    through sanitize_html() before it is stored. HTML over MAX_HTML characters is cut before it is read (its
    sanitizer and the text derived from it cost about 1 s per 4 MB) and, with `kept`, kept whole as the attachment
    message.html."""
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    markup = pg_text(_decode(html_part)) if html_part is not None else ""
    if len(markup) > MAX_HTML:
        if kept is not None:
            kept.append(("message.html", "text/html", markup.encode("utf-8")))
        markup = markup[:MAX_HTML]
    text = _decode(text_part) if text_part is not None else html_to_text(markup)
    return pg_text(text.replace("\r\n", "\n")), markup


# Where mail clients start the quoted history in HTML: Gmail, Apple Mail / Thunderbird blockquotes, Outlook's
# reply header, Yahoo, our own reply marker.
HTML_QUOTE_STARTS = re.compile(
    r'<div[^>]{0,1000}class="[^"]{0,500}gmail_quote'
    r"|<blockquote"
    r'|<div[^>]{0,1000}id="(?:divRplyFwdMsg|appendonsend|mail-editor-reference-message-container)"'
    r'|<hr[^>]{0,1000}id="stopSpelling"'
    r'|<div[^>]{0,1000}class="[^"]{0,500}(?:moz-cite-prefix|yahoo_quoted)'
    r"|" + re.escape(REPLY_MARKER),
    re.I,
)


ATTRIBUTION_WITHIN = 2_000
ATTRIBUTION_AT_END = re.compile(
    r"(?is)(<div[^>]*>)?\s*(On|Le|Am)\b[^<]{0,300}(wrote|a écrit|schrieb)[^<]{0,100}:?\s*(<br\s*/?>)?\s*(</div>)?\s*$"
)


def trim_quoted_html(markup: str) -> str:
    """The new part of a raw HTML reply: cut where the quoted history starts, if that leaves any text."""
    match = HTML_QUOTE_STARTS.search(markup)
    if match is None:
        return markup
    head = markup[: match.start()]
    # "On ... wrote:" just before the quote (looked for at the end only: the pattern is anchored there).
    head = head[:-ATTRIBUTION_WITHIN] + ATTRIBUTION_AT_END.sub("", head[-ATTRIBUTION_WITHIN:])
    return head if html_to_text(head) else markup


def trim_quoted(text: str) -> str:
    """The new part of a reply: cut at our reply marker, a quote header ("On ... wrote:"), or trailing quotes."""
    if REPLY_MARKER in text:
        text = text.split(REPLY_MARKER)[0]
    lines = text.splitlines()
    cut = len(lines)
    for i, line in enumerate(lines):
        if i == 0:
            continue
        windows = (
            [" ".join(lines[i : i + n]) for n in (1, 2, 3)] if line.strip()[:3] in ("On ", "Le ", "Am ") else [line]
        )
        if len(windows) > 1 and not any(word in windows[-1] for word in QUOTE_WORDS):
            continue  # an "On ..." line with no "wrote:" within three lines is not a quote header
        if any(p.match(w) for p in QUOTE_HEADERS for w in windows):
            cut = i
            break
    lines = lines[:cut]
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    trimmed = "\n".join(lines).strip()
    return trimmed or text.strip()


def attachments(message: EmailMessage):
    """(name, content type, bytes) of each attachment; the name cleaned as staff uploads' are
    (tickets.attachments.attachment_name: no directory part, no control characters)."""
    for part in message.iter_attachments():
        try:
            filename = part.get_filename()
        except (ValueError, TypeError, IndexError, AttributeError):  # malformed encoded words
            filename = None
        filename = attachment_name(pg_text(filename or ""))
        payload = part.get_payload(decode=True)
        if payload is None:  # e.g. an attached message/rfc822
            payload = part.as_bytes() if hasattr(part, "as_bytes") else b""
            filename = filename if filename != "attachment" else "forwarded-message.eml"
        yield filename, pg_text(part.get_content_type()), payload


def _references(message: EmailMessage) -> list[str]:
    """The message ids the message answers: In-Reply-To, then References (each bounded to the last
    MAX_REFERENCE_IDS ids by tickets.inbound_mime.bounded_raw)."""
    ids = MSGID_RE.findall(_header(message, "In-Reply-To")) + MSGID_RE.findall(_header(message, "References"))
    return list(dict.fromkeys(ids))


def _thread(message: EmailMessage, sender: str) -> Ticket | None:
    """The ticket the message answers (by Message-ID, then by [#reference]); a merged ticket's answers go to the
    ticket it was merged into."""
    refs = _references(message)
    if refs:
        found = (
            TicketMessage.objects.filter(email_message_id__in=refs)
            .select_related("ticket")
            .order_by("-created_at")
            .first()
        )
        if found is not None:
            return ticket_surviving(found.ticket)
    match = REFERENCE_RE.search(_header(message, "Subject"))
    if match:
        ticket = Ticket.objects.filter(pk=int(match.group(1))).select_related("customer").first()
        # The reference alone is guessable: only a contact of that customer may thread by it.
        if ticket is not None and Contact.objects.filter(customer=ticket.customer, email=sender).exists():
            return ticket_surviving(ticket)
    return None


def _contact_for(sender: str, customer: Customer | None = None) -> Contact | None:
    contacts = Contact.objects.filter(email=sender).select_related("customer")
    if customer is not None:
        contacts = contacts.filter(customer=customer)
    contact = contacts.order_by("-updated_at").first()
    if contact is not None:
        return contact
    domain = sender.split("@")[-1]
    matches = (
        Customer.objects.filter(domain=domain)
        if customer is None
        else Customer.objects.filter(pk=customer.pk, domain=domain)
    )
    owner = matches.order_by("-updated_at").first()
    if owner is None:
        return None
    return contact_create(customer=owner, email=sender, role="end_user")


def _forwarded_sender(text: str) -> str | None:
    mark = FORWARD_MARK_RE.search(text)
    match = FORWARD_FROM_RE.search(text, mark.end(), mark.end() + FORWARD_FROM_WITHIN) if mark else None
    if not match:
        return None
    return normalize_email(parseaddr(match.group("from"))[1]) or None


def _store_attachments(message: EmailMessage, ticket_message: TicketMessage, kept: list) -> list[str]:
    """The message's attachments, then `kept` (what the inbound path keeps whole as files: the full text of a long
    body, the raw message whose structure was not read); at most MAX_ATTACHMENTS."""
    skipped = []
    limit = settings.TICKETS_ATTACHMENT_MAX_BYTES
    files = [*kept, *attachments(message)]
    if len(files) > MAX_ATTACHMENTS:
        skipped.append(f"{len(files) - MAX_ATTACHMENTS} attachment(s) over {MAX_ATTACHMENTS}; kept in the raw email")
    for filename, content_type, payload in files[:MAX_ATTACHMENTS]:
        if len(payload) > limit:
            skipped.append(f"{filename} ({len(payload)} bytes) is over the {limit}-byte limit; kept in the raw email")
            continue
        attachment = TicketAttachment(
            message=ticket_message, filename=filename, content_type=content_type[:150], size=len(payload)
        )
        attachment.file.save("upload", ContentFile(payload), save=False)
        attachment.save()
    return skipped


def _bounded_body(text: str, whole: str, kept: list) -> str:
    """A body a ticket message can hold: over MAX_BODY characters it is cut, and the whole text is kept as the
    attachment message.txt."""
    if len(text) <= MAX_BODY:
        return text
    kept.append(("message.txt", "text/plain", whole.encode("utf-8")))
    note = f"\n\n[… cut at {MAX_BODY:,} characters: the whole message is attached as message.txt]"
    return text[: MAX_BODY - len(note)] + note


def inbound_email_receive(*, raw: bytes, source: str = "api") -> InboundEmail:
    """Store the raw message (committed even if processing fails), then process it."""
    inbound = InboundEmail.objects.create(raw=raw, source=source[:50])
    return inbound_email_process(inbound=inbound)


def inbound_email_process(*, inbound: InboundEmail, triaged: bool = False) -> InboundEmail:
    """triaged=True: an unmatched email assigned to a customer by hand, processed again (other unmatched copies
    of it do not make it a duplicate)."""
    if inbound.status not in (InboundEmail.Status.RECEIVED, InboundEmail.Status.FAILED):
        return inbound
    InboundEmail.objects.filter(pk=inbound.pk).update(attempts=inbound.attempts + 1)
    inbound.attempts += 1
    try:
        with transaction.atomic():
            _process(inbound, triaged=triaged)
            # Saved in the transaction that holds the Message-ID's lock: the next delivery of the same message
            # sees this one's outcome (processed or unmatched) once it gets the lock.
            inbound.processed_at = timezone.now()
            inbound.save()
    except Exception as exc:
        inbound.status = InboundEmail.Status.FAILED
        inbound.error = pg_text(f"{type(exc).__name__}: {exc}")[:5000]
        if isinstance(exc, NotAnEmail):
            inbound.reason = NOT_AN_EMAIL
            inbound.error = pg_text(" ".join(exc.messages))[:5000]
        else:
            logger.exception("inbound email %s failed", inbound.pk)
        inbound.processed_at = timezone.now()
        for field in ("message_id", "from_email", "subject", "reason"):
            setattr(inbound, field, pg_text(getattr(inbound, field)))
        try:
            inbound.save()
        except Exception:  # never leave the row "received" with nothing said
            logger.exception("inbound email %s: could not record the failure", inbound.pk)
            InboundEmail.objects.filter(pk=inbound.pk).update(
                status=inbound.status, error=inbound.error, reason=inbound.reason, processed_at=inbound.processed_at
            )
    return inbound


def _finish(inbound: InboundEmail, status: str, reason: str = "") -> None:
    inbound.status, inbound.reason, inbound.error = status, reason[:300], ""


def _lock_message_id(message_id: str) -> None:
    """Serialise the processing of one Message-ID until the transaction ends: two deliveries of the same message
    at once (a provider retrying its webhook concurrently) are processed one after the other, so the second sees
    the first. A PostgreSQL transaction-scoped advisory lock; SQLite serialises writers anyway."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"tickets.inbound_email:{message_id}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def _is_duplicate(inbound: InboundEmail, triaged: bool) -> bool:
    """Already received: a message on a ticket carries this Message-ID, or another delivery of it was processed
    or is waiting in triage (unmatched). A failed delivery does not count: the message may come again."""
    if TicketMessage.objects.filter(email_message_id=inbound.message_id).exists():
        return True
    done = [InboundEmail.Status.PROCESSED]
    if not triaged:
        done.append(InboundEmail.Status.UNMATCHED)
    others = InboundEmail.objects.filter(message_id=inbound.message_id, status__in=done).exclude(pk=inbound.pk)
    return others.exists()


def _process(inbound: InboundEmail, triaged: bool = False) -> None:
    raw = bytes(inbound.raw)
    message, unreadable = read_message(raw)
    sender = normalize_email(parseaddr(_header(message, "From"))[1])
    inbound.message_id = (MSGID_RE.findall(_header(message, "Message-ID")) or [""])[0][:300]
    inbound.from_email = sender[:254]
    inbound.subject = _header(message, "Subject")[:300]
    reason = loop_reason(message, sender)
    if reason:
        return _finish(inbound, InboundEmail.Status.IGNORED, reason)
    if inbound.message_id:
        _lock_message_id(inbound.message_id)
        if _is_duplicate(inbound, triaged):
            return _finish(inbound, InboundEmail.Status.IGNORED, f"duplicate of {inbound.message_id}")
    kept: list = []
    if unreadable:
        text = f"(The structure of this email could not be read: {unreadable}. The original message is attached "
        text, markup = text + "as message.eml.)", ""
        kept.append(("message.eml", "message/rfc822", raw))
    else:
        text, markup = bodies(message, kept)
    ticket = _thread(message, sender)
    if ticket is not None:
        contact = _contact_for(sender, customer=ticket.customer)
        if contact is None:
            return _finish(inbound, InboundEmail.Status.UNMATCHED, f"{sender} is not a contact of {ticket.customer}")
        body = _bounded_body(trim_quoted(text) or "(empty message)", text, kept)
        ticket_message = ticket_customer_message(
            ticket=ticket,
            contact=contact,
            body=body,
            body_html=sanitize_html(trim_quoted_html(markup)) if markup else "",
            channel=Channel.EMAIL,
            email_message_id=inbound.message_id,
        )
        inbound.created_ticket = ticket_message.ticket_id != ticket.pk  # a follow-up of a closed ticket
    else:
        forwarded = _forwarded_sender(text) if _is_staff(sender) else None
        contact = _contact_for(forwarded or sender)
        if contact is None:
            return _finish(inbound, InboundEmail.Status.UNMATCHED, f"no customer matches {forwarded or sender}")
        opened = ticket_create(
            customer=contact.customer,
            requester=contact,
            subject=inbound.subject or "(no subject)",
            body=_bounded_body(text.strip() or "(empty message)", text, kept),
            body_html=sanitize_html(markup) if markup else "",
            channel=Channel.EMAIL,
            email_message_id=inbound.message_id,
        )
        ticket_message = opened.messages.get()
        inbound.created_ticket = True
    skipped = _store_attachments(message, ticket_message, kept)
    # An answer to one of our outbound emails (an outreach or playbook email, a survey invitation): it counts as
    # replied, whatever ticket the answer went to.
    email_mark_replied(message_ids=_references(message))
    inbound.ticket_id, inbound.ticket_message = ticket_message.ticket_id, ticket_message
    _finish(inbound, InboundEmail.Status.PROCESSED, "; ".join(skipped))


def _is_staff(sender: str) -> bool:
    from accounts.models import User

    return User.objects.filter(email__iexact=sender, is_staff=True, is_active=True).exists()


def addresses(header_value: str) -> list[str]:
    return [normalize_email(addr) for _, addr in getaddresses([header_value]) if addr]


def inbound_email_assign(*, inbound: InboundEmail, customer: Customer, actor=None) -> InboundEmail:
    """Triage of an unmatched email: its sender becomes a contact of `customer`, then it is processed again
    (a new ticket, or a reply on the ticket it answers)."""
    with transaction.atomic():
        inbound = InboundEmail.objects.select_for_update().get(pk=inbound.pk)
        if inbound.status != InboundEmail.Status.UNMATCHED:
            raise ValidationError({"status": "Only unmatched emails can be assigned to a customer."})
        if not inbound.from_email:
            raise ValidationError({"from_email": "The email has no sender address."})
        if not Contact.objects.filter(customer=customer, email=inbound.from_email).exists():
            contact_create(customer=customer, email=inbound.from_email, role="end_user", actor=actor)
        inbound.status = InboundEmail.Status.RECEIVED
        inbound.save(update_fields=["status"])
    return inbound_email_process(inbound=inbound, triaged=True)
