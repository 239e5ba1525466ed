"""Files attached to ticket messages by staff (API, admin): size-checked, stored under a random name, the
original name kept only as metadata. They are served to staff only, by tickets.views.attachment_download."""

import os
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from tickets.models import TicketAttachment, TicketMessage

MAX_FILES = 20


def attachment_name(name: str | None) -> str:
    """The file's own name without any directory part or control characters (metadata only, never a path)."""
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "attachment"


def attachments_validate(files: Sequence) -> None:
    """Every file within settings.TICKETS_ATTACHMENT_MAX_BYTES (an error names each one that is not)."""
    limit = settings.TICKETS_ATTACHMENT_MAX_BYTES
    errors = []
    if len(files) > MAX_FILES:
        errors.append(f"At most {MAX_FILES} files per message.")
    for upload in files:
        if upload.size > limit:
            errors.append(
                f"{attachment_name(upload.name)} is {upload.size} bytes, over the limit of {limit} bytes per file."
            )
    if errors:
        raise ValidationError({"attachments": errors})


@transaction.atomic
def ticket_attachments_add(*, message: TicketMessage, files: Sequence, actor=None) -> list[TicketAttachment]:
    """Attach uploaded files to a message: all of them or, if one is over the limit, none."""
    attachments_validate(files)
    stored = []
    for upload in files:
        attachment = TicketAttachment(
            message=message,
            filename=attachment_name(upload.name),
            content_type=(getattr(upload, "content_type", "") or "application/octet-stream")[:150],
            size=upload.size,
        )
        # The storage name comes from tickets.models.attachment_path (random); "upload" is never used on disk.
        attachment.file.save("upload", upload, save=False)
        attachment.save()
        stored.append(attachment)
    return stored
