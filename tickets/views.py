"""Attachments are served only to signed-in staff who may see tickets, always as a download."""

import re

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from tickets.attachments import attachment_name
from tickets.models import TicketAttachment

# Types a browser could render or run (even when told to download): always sent as opaque bytes.
ACTIVE_TYPES = re.compile(r"(html|xml|svg|javascript|ecmascript|x-sh|pdf)", re.I)


def _content_type(value: str) -> str:
    value = (value or "").split(";")[0].strip().lower()
    if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", value) or ACTIVE_TYPES.search(value):
        return "application/octet-stream"
    return value


@require_safe
@never_cache
def attachment_download(request, pk: int):
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (request.user.is_active and request.user.is_staff and request.user.has_perm("tickets.view_ticket")):
        raise PermissionDenied
    attachment = get_object_or_404(TicketAttachment, pk=pk)
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("The attachment's file is missing.") from exc
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment_name(attachment.filename),
        content_type=_content_type(attachment.content_type),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
