"""Doing what a scan claimed: pending OutreachRecords become sent, skipped (with the reason) or failed.

    records_perform(limit=PERFORM_BATCH, now=None) -> int     how many records this call settled

One transaction per call: up to `limit` pending records due by `now` are locked with
`select_for_update(skip_locked=True)` (several workers share the backlog, none takes a row twice); each action goes
through its app's own service, inside a savepoint (an action that raises is recorded "failed" with the error and
the others go on); the records and their timeline events ("outreach.sent" / "outreach.skipped" / "outreach.failed")
are written in the same transaction, and the emails' tasks are published on commit (crm.outbound_email). A perform
task delivered twice, or redelivered after its worker died, finds the rows no longer pending: one effect.

Statements per call, flat in the number of email records: the records (with rule, customer, owner and contact),
the templates, the ledger's lock, history and INSERT, the emails' INSERT (per crm.outbound_email.BULK_BATCH) and
their ids, one UPDATE per distinct outcome (all sent emails: one), the timeline INSERT. Other actions go through
their services, a few statements each.

    email          crm.ledger.LedgerBatch (kind outreach: the batch's contacts locked and their history read in one
                   statement each, the entries written in one; unsubscribed, bounced, complained and fatigued
                   contacts are skipped with the reason), the template rendered per contact (plain text + HTML,
                   the company name and an RFC 8058 unsubscribe), crm.outbound_email.email_queue_bulk with the
                   idempotency key "outreach:<record id>"; its delivery state (sent / unknown / resent / failed) is
                   read from the email (crm.selectors.email_delivery_state)
    survey         surveys' invitation_create + invitation_dispatch to the primary contact (surveys' own ledger)
    task           crm.task_services.task_create for the owner CSM, source = the rule
    notify_owner   an email to the owner CSM (email_queue, key "outreach-notify:<record id>")
    change_stage   crm.services.customer_update
    start_playbook success.playbooks.services.playbook_start (entry key "outreach:<record id>")
"""

import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.html import escape

from crm.email_templates import template_render
from crm.ledger import LedgerBatch
from crm.models import Contact, EmailTemplate, LedgerEntry, OutboundEmail, TimelineEvent
from crm.outbound_email import email_queue, email_queue_bulk
from crm.services import customer_update
from crm.task_services import task_create
from crm.timeline import timeline_record_many
from crm.unsubscribe import unsubscribe_headers, unsubscribe_url
from success.outreach.execution import PERFORM_BATCH
from success.outreach.models import OutreachRecord, OutreachResult
from success.outreach.timing import zone

logger = logging.getLogger(__name__)

SENT, SKIPPED, FAILED = OutreachResult.SENT, OutreachResult.SKIPPED, OutreachResult.FAILED


def short_reason(reason: str) -> str:
    for short in ("unsubscribed", "bounced", "complained"):
        if reason.startswith(short):
            return short
    return f"fatigued: {reason}"


def records_perform(*, limit: int = PERFORM_BATCH, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    with transaction.atomic():
        records = list(
            OutreachRecord.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(result=OutreachResult.PENDING, due_at__lte=now)
            .select_related("rule", "customer__owner", "contact")
            .order_by("due_at", "pk")[:limit]
        )
        if not records:
            return 0
        emails, others = [], []
        for record in records:
            actions = record.rule.actions or []
            action = actions[record.action_index] if record.action_index < len(actions) else None
            if action is None or action["action"] != record.action_type:
                _settle(record, SKIPPED, "the rule's actions changed since the claim", now)
            elif not record.rule.enabled:
                _settle(record, SKIPPED, "the rule was disabled", now)
            elif record.action_type == "email":
                emails.append((record, action))
            else:
                others.append((record, action))
        if emails:
            _emails(emails, now)
        for record, action in others:
            try:
                with transaction.atomic():
                    result, reason = PERFORMERS[record.action_type](record, action, now)
            except ValidationError as exc:
                result, reason = FAILED, "; ".join(exc.messages)
            except Exception as exc:  # recorded, never raised: the other records of the batch go on
                logger.exception("outreach record %s failed", record.pk)
                result, reason = FAILED, f"{type(exc).__name__}: {exc}"
            _settle(record, result, reason, now)
        _save(records, now)
        _timeline(records, now)
    if len(records) == limit:  # more may wait: keep going on another task
        from success.outreach.execution import publish_perform

        transaction.on_commit(lambda: publish_perform(1))
    return len(records)


def _settle(record: OutreachRecord, result: str, reason: str, now: dt.datetime) -> None:
    record.result, record.reason, record.done_at, record.updated_at = result, (reason or "")[:200], now, now


def _save(records: list[OutreachRecord], now: dt.datetime) -> None:
    """The settled records, one UPDATE per distinct outcome (bulk_update's CASE per row and field costs more
    than the rest of the batch): every sent email in one (each linked to its email by the idempotency key), the
    skipped ones in one per reason, the other actions' rows by their task / invitation / email."""
    emailed: list[int] = []
    groups: dict[tuple, list[int]] = defaultdict(list)
    for record in records:
        if record.action_type == "email" and record.result == SENT:
            emailed.append(record.pk)
            continue
        values = (record.result, record.reason, record.done_at, record.outbound_email_id, record.task_id)
        groups[(*values, record.invitation_id)].append(record.pk)
    for (result, reason, done_at, email_id, task_id, invitation_id), ids in groups.items():
        OutreachRecord.objects.filter(pk__in=ids).update(
            result=result,
            reason=reason,
            done_at=done_at,
            outbound_email_id=email_id,
            task_id=task_id,
            invitation_id=invitation_id,
            updated_at=done_at,
        )
    if emailed:
        key = Concat(Value("outreach:"), Cast(OuterRef("pk"), CharField()))
        OutreachRecord.objects.filter(pk__in=emailed).update(
            result=SENT,
            reason="",
            done_at=now,
            updated_at=now,
            outbound_email_id=Subquery(OutboundEmail.objects.filter(idempotency_key=key).values("pk")[:1]),
        )


def _footer(contact: Contact, url: str) -> tuple[str, str]:
    company = settings.COMPANY_NAME
    text = f"\n\n--\n{company}\nYou receive this email as a contact of ours. Unsubscribe: {url}\n"
    html = (
        f'<hr><p style="font-size:12px;color:#666">{escape(company)}<br>'
        f'You receive this email as a contact of ours. <a href="{escape(url)}">Unsubscribe</a></p>'
    )
    return text, html


def _emails(items: list[tuple[OutreachRecord, dict]], now: dt.datetime) -> None:
    templates = EmailTemplate.objects.in_bulk({action["template"] for _, action in items})
    ledger = LedgerBatch(
        contact_ids=[record.contact_id for record, _ in items if record.contact_id],
        kind=LedgerEntry.Kind.OUTREACH,
        now=now,
    )
    queued: list[OutreachRecord] = []
    rows = []
    for record, action in items:
        if not record.contact_id:
            _settle(record, SKIPPED, "the contact was deleted", now)
            continue
        template = templates.get(action["template"])
        if template is None:  # before the claim: no email, so no "sent" in the contact's ledger
            _settle(record, FAILED, f"email template #{action['template']} no longer exists", now)
            continue
        reason = ledger.claim(contact_id=record.contact_id, source=record)
        if reason:
            _settle(record, SKIPPED, short_reason(reason), now)
            continue
        contact = record.contact
        rendered = template_render(template=template, customer=record.customer, contact=contact)
        url = unsubscribe_url(contact)
        text_footer, html_footer = _footer(contact, url)
        body = rendered.html or "<p>" + escape(rendered.text).replace("\n", "<br>") + "</p>"
        rows.append(
            {
                "idempotency_key": f"outreach:{record.pk}",
                "kind": "outreach_email",
                "to_email": contact.email,
                "subject": rendered.subject,
                "text_body": rendered.text + text_footer,
                "html_body": body + html_footer,
                "customer": record.customer,
                "contact": contact,
                "headers": unsubscribe_headers(contact, url=url),
            }
        )
        queued.append(record)
    ledger.save()
    if rows:
        # Every row is stored (or was, by an earlier call: that row is the email), else this raises: all sent.
        # _save links each record to its email by the key, in the same UPDATE.
        email_queue_bulk(rows)
        for record in queued:
            _settle(record, SENT, "", now)


def _local_today(record: OutreachRecord, now: dt.datetime) -> dt.date:
    return now.astimezone(zone(record.customer.timezone)).date()


def _task(record: OutreachRecord, action: dict, now: dt.datetime):
    task, created = task_create(
        customer=record.customer,
        reason=action["title"],
        type=action["type"],
        priority=action["priority"],
        due_date=_local_today(record, now) + dt.timedelta(days=action["due_in_days"]),
        source=record.rule,
    )
    record.task = task
    return (SENT, "") if created else (SKIPPED, "an open task with this title already exists")


def _notify(record: OutreachRecord, action: dict, now: dt.datetime):
    owner = record.customer.owner
    if owner is None or not owner.email:
        return SKIPPED, "no owner CSM"
    email = email_queue(
        idempotency_key=f"outreach-notify:{record.pk}",
        kind="outreach_notify",
        to_email=owner.email,
        subject=f"[{record.rule.name}] {record.customer.name}",
        text_body=f"{action['message']}\n\nCustomer: {record.customer.name}\nPlay: {record.rule.name}\n",
        customer=record.customer,
    )
    record.outbound_email = email
    return SENT, ""


def _stage(record: OutreachRecord, action: dict, now: dt.datetime):
    if record.customer.lifecycle_stage == action["stage"]:
        return SKIPPED, f"already in stage {action['stage']}"
    customer_update(customer=record.customer, lifecycle_stage=action["stage"])
    return SENT, ""


def _survey(record: OutreachRecord, action: dict, now: dt.datetime):
    from surveys.models import Invitation, Survey
    from surveys.services import invitation_create, invitation_dispatch

    contact = Contact.objects.filter(customer_id=record.customer_id, is_primary=True).first()
    if contact is None:
        return SKIPPED, "no primary contact"
    invitation, _ = invitation_create(
        survey=Survey.objects.get(pk=action["survey"]),
        contact=contact,
        trigger=Invitation.Trigger.OUTREACH,
        trigger_key=f"outreach:{record.pk}",
        scheduled_for=now,
    )
    invitation = invitation_dispatch(invitation_id=invitation.pk, now=now) or invitation
    record.invitation, record.contact = invitation, contact
    if invitation.status == Invitation.Status.SENT:
        return SENT, ""
    return SKIPPED, short_reason(invitation.suppressed_reason or invitation.status)


def _playbook(record: OutreachRecord, action: dict, now: dt.datetime):
    from success.playbooks.models import PlaybookTemplate
    from success.playbooks.services import playbook_start

    playbook_start(
        template=PlaybookTemplate.objects.get(pk=action["playbook"]),
        customer=record.customer,
        entry_key=f"outreach:{record.pk}",
        now=now,
    )
    return SENT, ""


PERFORMERS = {
    "task": _task,
    "notify_owner": _notify,
    "change_stage": _stage,
    "survey": _survey,
    "start_playbook": _playbook,
}


def _timeline(records: list[OutreachRecord], now: dt.datetime) -> None:
    content_type = ContentType.objects.get_for_model(OutreachRecord)
    events = []
    for record in records:
        who = f" to {record.contact.email}" if record.contact_id and record.contact else ""
        why = f": {record.reason}" if record.reason else ""
        events.append(
            TimelineEvent(
                customer_id=record.customer_id,
                kind=f"outreach.{record.result}",
                summary=f"{record.rule.name}: {record.action_type}{who} {record.result}{why}",
                source_type=content_type,
                source_id=str(record.pk),
                payload={
                    "rule_id": record.rule_id,
                    "record_id": record.pk,
                    "action": record.action_type,
                    "result": record.result,
                    "reason": record.reason,
                    "period_key": record.period_key,
                },
                occurred_at=now,
            )
        )
    timeline_record_many(events)
