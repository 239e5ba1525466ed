"""Inbound email in REST API v1: `POST /api/v1/inbound/email/` with the raw RFC 822 message, stored before it is
parsed (tickets.inbound_email).
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from crm.api.errors import ERROR_401, ERROR_403, ErrorDetailSerializer
from crm.api.views import ApiViewSet
from tickets.api.serializers import InboundEmailFailedSerializer, InboundEmailResultSerializer
from tickets.inbound_email import NOT_AN_EMAIL, inbound_email_receive
from tickets.models import InboundEmail, Ticket


def inbound_max_bytes() -> int:
    return getattr(settings, "TICKETS_INBOUND_EMAIL_MAX_BYTES", 30 * 1024 * 1024)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The message is too large."
    default_code = "too_large"


class RawEmailParser(BaseParser):
    """`message/rfc822`: the request body as bytes, untouched (at most TICKETS_INBOUND_EMAIL_MAX_BYTES; the
    body is streamed, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply)."""

    media_type = "message/rfc822"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = inbound_max_bytes()
        request = (parser_context or {}).get("request")
        meta = getattr(request, "META", {}) if request is not None else {}
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except (TypeError, ValueError):
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(f"The message is {declared} bytes; the limit is {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The message is over the limit of {limit} bytes.")
        return raw


class OctetStreamParser(RawEmailParser):
    media_type = "application/octet-stream"


def chunked_body(request) -> bytes:
    """The body of a request sent without Content-Length (Transfer-Encoding: chunked), read from the WSGI stream
    up to the size limit. Django reads such a body as empty: it only trusts a stream without a length when the
    server says it ends (`wsgi.input_terminated`, set by gunicorn; the development server does not support
    chunked bodies)."""
    meta = request.META
    if meta.get("CONTENT_LENGTH") or not meta.get("wsgi.input_terminated") or "wsgi.input" not in meta:
        return b""
    media_type = (request.content_type or "").split(";")[0].strip().lower()
    if media_type not in {parser.media_type for parser in InboundEmailViewSet.parser_classes}:
        raise exceptions.UnsupportedMediaType(media_type)
    limit, chunks, size = inbound_max_bytes(), [], 0
    stream = meta["wsgi.input"]
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise PayloadTooLarge(f"The message is over the limit of {limit} bytes.")
    return b"".join(chunks)


@extend_schema(tags=["inbound email"])
class InboundEmailViewSet(ApiViewSet):
    """`/inbound/email/`: a raw RFC 822 message, stored before anything else, then turned into a ticket, a
    reply on its ticket, or the unmatched queue."""

    parser_classes = [RawEmailParser, OctetStreamParser]
    serializer_class = InboundEmailResultSerializer

    def get_queryset(self):
        # Permissions: posting an email needs `tickets.add_ticket` (admin, csm, support_agent).
        return Ticket.objects.none()

    @extend_schema(
        summary="Receive a raw email",
        request={"message/rfc822": OpenApiTypes.BINARY, "application/octet-stream": OpenApiTypes.BINARY},
        responses={
            202: OpenApiResponse(
                InboundEmailResultSerializer,
                description="Stored and processed: a new ticket (`created: true`), a reply threaded onto its "
                "ticket, `ignored` (auto-reply, bounce, loop or duplicate Message-ID; `ticket` null) or "
                "`unmatched` (no customer matches the sender; waits for triage).",
            ),
            400: OpenApiResponse(
                InboundEmailFailedSerializer,
                description="Not an RFC 822 message. The raw bytes are still kept, flagged failed, and "
                "can be processed again.",
                examples=[
                    OpenApiExample(
                        "not an email",
                        value={
                            "id": 41,
                            "status": "failed",
                            "detail": "This is not an RFC 822 message: it has no From or Message-ID header.",
                        },
                        response_only=True,
                    )
                ],
            ),
            401: ERROR_401,
            403: ERROR_403,
            413: OpenApiResponse(ErrorDetailSerializer, description="Over TICKETS_INBOUND_EMAIL_MAX_BYTES."),
            415: OpenApiResponse(
                ErrorDetailSerializer,
                description="Send Content-Type message/rfc822 or application/octet-stream.",
            ),
        },
        description="The body is the whole message, headers included, as received. Threading: In-Reply-To / "
        "References to our replies, or the ticket reference [#id] in the subject (for the customer's own "
        "contacts). Needs a role that may add tickets (admin, csm, support_agent).",
    )
    def create(self, request, *args, **kwargs):
        data = request.data
        raw = bytes(data) if isinstance(data, bytes | bytearray) else b""
        raw = raw or chunked_body(request)
        inbound = inbound_email_receive(raw=raw, source="api")
        if inbound.status == InboundEmail.Status.FAILED:
            # The outcome is read from the stored row: the raw message is never parsed again here.
            if inbound.reason == NOT_AN_EMAIL:
                detail = inbound.error or NOT_AN_EMAIL
                return Response(
                    {"id": inbound.pk, "status": "failed", "detail": detail}, status=status.HTTP_400_BAD_REQUEST
                )
            detail = inbound.error or "The message could not be processed; it is kept for a retry."
            code = status.HTTP_202_ACCEPTED
            return Response(
                {
                    "id": inbound.pk,
                    "status": "failed",
                    "reason": detail,
                    "ticket": None,
                    "created": False,
                },
                status=code,
            )
        return Response(
            {
                "id": inbound.pk,
                "status": inbound.status,
                "reason": inbound.reason,
                "ticket": inbound.ticket_id,
                "created": inbound.created_ticket,
            },
            status=status.HTTP_202_ACCEPTED,
        )
