"""The contact ledger: consent, deliverability and contact fatigue for every email to customers' contacts.

    ledger_check(contact, kind, subkind)   -> None when the contact may be emailed now, else the reason
    ledger_spacing(contact, kind, subkind) -> None, or (reason, when) the spacing rules alone stop it until
    ledger_claim(...)                      -> check and record (sent or suppressed) under a lock on the contact,
                                              so two dispatches at once cannot both pass the fatigue rule
    LedgerBatch(contact_ids, kind, now)    -> the same for a batch of emails (a campaign's chunk, an outreach
                                              perform): the contacts locked in one statement, their history read
                                              in one, the entries written in one (save()); the same decisions and
                                              reasons. LedgerBatch(contacts=..., ...) checks without locking or
                                              recording anything (previews): one statement, the history
    contact_unsubscribe / contact_mark_bounced / contact_mark_complained

Ticket replies to the contact's own request are always allowed unless the address bounced (or complained).
QBR invites (and their updates and cancellations) are not marketing: they go to a contact a CSM named as an
attendee of a meeting arranged with them, so unsubscribing from surveys and outreach does not stop them; a bounce
or a complaint does (see README "QBR invites and unsubscribes").
Surveys: at most one per LEDGER_SURVEY_MIN_DAYS across every survey and trigger, and per kind
LEDGER_SURVEY_MIN_DAYS_BY_KIND (e.g. NPS at most every 90 days). Outreach and QBR invites have their own spacing.
A survey's own reminder and thank-you (subkinds in SURVEY_CONVERSATION) continue one survey's conversation: stopped
by unsubscribe, bounce and complaint like the survey, but neither subject to nor counted by the survey spacing.
"""

import datetime as dt

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils import timezone

from crm.models import Contact, LedgerEntry
from crm.timeline import timeline_record

Kind = LedgerEntry.Kind
MARKETING_KINDS = {Kind.SURVEY, Kind.OUTREACH, Kind.PLAYBOOK}  # not QBR_INVITE: a meeting the contact is invited to
SURVEY_CONVERSATION = ("reminder", "thanks")  # subkinds of Kind.SURVEY: part of a survey already sent


def _min_days(kind: str, subkind: str) -> list[tuple[int, str]]:
    """(days, subkind or "") spacing rules that apply to this kind of email."""
    if kind == Kind.SURVEY:
        if subkind in SURVEY_CONVERSATION:
            return []
        rules = [(settings.LEDGER_SURVEY_MIN_DAYS, "")]
        per_kind = settings.LEDGER_SURVEY_MIN_DAYS_BY_KIND.get(subkind)
        if per_kind:
            rules.append((per_kind, subkind))
        return rules
    if kind == Kind.OUTREACH:
        return [(settings.LEDGER_OUTREACH_MIN_DAYS, "")]
    return []


def ledger_check(*, contact: Contact, kind: str, subkind: str = "", now: dt.datetime | None = None) -> str | None:
    return _check(contact, kind, subkind, now or timezone.now(), None)


def _check(contact: Contact, kind: str, subkind: str, now: dt.datetime, last_sent) -> str | None:
    consent = _consent_reason(contact, kind)
    if consent:
        return consent
    return next((reason for reason, _until in _spacing_blocks(contact, kind, subkind, now, last_sent)), None)


def ledger_spacing(
    *, contact: Contact, kind: str, subkind: str = "", now: dt.datetime | None = None
) -> tuple[str, dt.datetime] | None:
    """Only the spacing rules (not consent or deliverability): None when they allow this email now, else the
    first rule's reason and when every rule will allow it (if nothing else is sent meanwhile)."""
    blocks = list(_spacing_blocks(contact, kind, subkind, now or timezone.now()))
    if not blocks:
        return None
    return blocks[0][0], max(until for _reason, until in blocks)


def _counts_for(kind: str, sub: str, entry_subkind: str) -> bool:
    """Whether a "sent" entry of `kind` with `entry_subkind` counts for the spacing rule of `sub` ("" = all)."""
    if sub:
        return entry_subkind == sub
    return not (kind == Kind.SURVEY and entry_subkind in SURVEY_CONVERSATION)


def _spacing_blocks(contact: Contact, kind: str, subkind: str, now: dt.datetime, last_sent=None):
    """(reason, until) for each spacing rule that stops this email now, in rule order (one query each, or
    none with `last_sent(sub, since)`: the latest counting "sent" entry after `since`, from a batch's history)."""
    for days, sub in _min_days(kind, subkind):
        if not days:
            continue
        since = now - dt.timedelta(days=days)
        if last_sent is not None:
            last = last_sent(sub, since)
        else:
            recent = LedgerEntry.objects.filter(
                contact=contact, kind=kind, outcome=LedgerEntry.Outcome.SENT, created_at__gt=since
            )
            if sub:
                recent = recent.filter(subkind=sub)
            elif kind == Kind.SURVEY:
                recent = recent.exclude(subkind__in=SURVEY_CONVERSATION)
            last = recent.order_by("-created_at").values_list("created_at", flat=True).first()
        if last is not None:
            # max(): a claim that waited for the lock may have a `now` a moment before the entry it found.
            ago = max((now - last).days, 0)
            label = f"{sub.upper()} survey" if sub else {"survey": "surveyed", "outreach": "contacted"}[kind]
            when = "today" if ago == 0 else f"{ago} day{'s' if ago != 1 else ''} ago"
            yield (f"{label} {when}" if not sub else f"{label} sent {when}"), last + dt.timedelta(days=days)


def _consent_reason(contact: Contact, kind: str) -> str | None:
    if contact.bounced_at:
        return "bounced"
    if contact.complained_at:
        return "complained (marked as spam)"
    if kind in MARKETING_KINDS and contact.unsubscribed_at:
        return "unsubscribed"
    return None


def ledger_record(
    *,
    contact: Contact,
    kind: str,
    outcome: str,
    reason: str = "",
    subkind: str = "",
    source: models.Model | None = None,
    now: dt.datetime | None = None,
) -> LedgerEntry:
    return LedgerEntry.objects.create(
        contact=contact,
        kind=kind,
        subkind=subkind,
        outcome=outcome,
        reason=reason[:200],
        source_type=ContentType.objects.get_for_model(source) if source is not None else None,
        source_id=str(source.pk) if source is not None else "",
        created_at=now or timezone.now(),
    )


@transaction.atomic
def ledger_claim(
    *,
    contact: Contact,
    kind: str,
    subkind: str = "",
    source: models.Model | None = None,
    now: dt.datetime | None = None,
) -> str | None:
    """Decide and record in one step, holding the contact's row lock: returns None (record "sent": go ahead and
    queue the email in this same transaction) or the suppression reason (recorded)."""
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    reason = ledger_check(contact=contact, kind=kind, subkind=subkind, now=now)
    ledger_record(
        contact=contact,
        kind=kind,
        subkind=subkind,
        outcome=LedgerEntry.Outcome.SUPPRESSED if reason else LedgerEntry.Outcome.SENT,
        reason=reason or "",
        source=source,
        now=now,
    )
    return reason


class LedgerBatch:
    """ledger_claim for a batch of emails of one kind, in a statement count flat in the batch's size.

    Use inside the caller's transaction (the contacts' row locks last until it ends):

        ledger = LedgerBatch(contact_ids=[...], kind=Kind.SURVEY, now=now)   # lock + history: 2 statements
        reason = ledger.claim(contact_id=..., subkind="nps", source=invitation)  # in memory, as ledger_claim
        ledger.save()                                                          # the entries: 1 INSERT

    The contacts are locked in primary-key order (two batches at once cannot deadlock, and a single
    ledger_claim waits for them as for any other); their "sent" entries within the longest spacing rule are
    read once. Claims are decided in the order made, each seeing the ones before it (two emails to one
    contact in the same batch: the second meets the spacing the first started). `check` and `spacing` are
    ledger_check and ledger_spacing over the same state, recording nothing. A contact deleted meanwhile (not
    found by the lock) is "contact deleted", with no entry.

    Read-only (a preview): LedgerBatch(contacts=[rows already read], kind=..., now=...) locks and re-reads
    nothing (1 statement: the history); `check` and `spacing` work, `claim` refuses."""

    def __init__(
        self,
        *,
        kind: str,
        contact_ids=(),
        contacts: list[Contact] | None = None,
        now: dt.datetime | None = None,
    ):
        self.kind, self.now = kind, now or timezone.now()
        self.read_only = contacts is not None
        if self.read_only:
            self.contacts = {c.pk: c for c in contacts}
        else:
            ids = sorted(set(contact_ids))
            self.contacts = (
                {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=ids).order_by("pk")} if ids else {}
            )
        windows = [days for days, _ in _min_days(kind, "")]  # the longest rule of any subkind of this kind
        if kind == Kind.SURVEY:
            windows += list(settings.LEDGER_SURVEY_MIN_DAYS_BY_KIND.values())
        windows = [days for days in windows if days]
        self.history: dict[int, list[tuple[str, dt.datetime]]] = {pk: [] for pk in self.contacts}
        if windows and self.contacts:
            rows = LedgerEntry.objects.filter(
                contact_id__in=list(self.contacts),
                kind=kind,
                outcome=LedgerEntry.Outcome.SENT,
                created_at__gt=self.now - dt.timedelta(days=max(windows)),
            ).values_list("contact_id", "subkind", "created_at")
            for contact_id, subkind, created_at in rows:
                self.history[contact_id].append((subkind, created_at))
        self.entries: list[LedgerEntry] = []

    def _last_sent(self, contact_id: int):
        def last_sent(sub: str, since: dt.datetime):
            return max(
                (at for s, at in self.history[contact_id] if at > since and _counts_for(self.kind, sub, s)),
                default=None,
            )

        return last_sent

    def check(self, *, contact_id: int, subkind: str = "") -> str | None:
        if contact_id not in self.contacts:
            return "contact deleted"
        return _check(self.contacts[contact_id], self.kind, subkind, self.now, self._last_sent(contact_id))

    def spacing(self, *, contact_id: int, subkind: str = "") -> tuple[str, dt.datetime] | None:
        blocks = list(
            _spacing_blocks(self.contacts[contact_id], self.kind, subkind, self.now, self._last_sent(contact_id))
        )
        return (blocks[0][0], max(until for _reason, until in blocks)) if blocks else None

    def claim(self, *, contact_id: int, subkind: str = "", source: models.Model | None = None) -> str | None:
        """Decide and record (in memory until save()): None to go ahead, else the suppression reason."""
        if self.read_only:
            raise RuntimeError("a read-only LedgerBatch (a preview) records nothing")
        reason = self.check(contact_id=contact_id, subkind=subkind)
        if contact_id not in self.contacts:
            return reason
        self.entries.append(
            LedgerEntry(
                contact_id=contact_id,
                kind=self.kind,
                subkind=subkind,
                outcome=LedgerEntry.Outcome.SUPPRESSED if reason else LedgerEntry.Outcome.SENT,
                reason=(reason or "")[:200],
                source_type=ContentType.objects.get_for_model(source) if source is not None else None,
                source_id=str(source.pk) if source is not None else "",
                created_at=self.now,
            )
        )
        if reason is None:
            self.history[contact_id].append((subkind, self.now))
        return reason

    def suppress(self, *, source: models.Model, reason: str) -> None:
        """Turn the claim made for `source` into a suppression after all (its email could not be queued)."""
        source_id = str(source.pk)
        for entry in self.entries:
            if entry.source_id == source_id and entry.outcome == LedgerEntry.Outcome.SENT:
                entry.outcome, entry.reason = LedgerEntry.Outcome.SUPPRESSED, reason[:200]

    def save(self) -> list[LedgerEntry]:
        LedgerEntry.objects.bulk_create(self.entries)
        saved, self.entries = self.entries, []
        return saved


def _mark(contact: Contact, field: str, kind: str, summary: str, detail: str) -> bool:
    updated = Contact.objects.filter(pk=contact.pk, **{f"{field}__isnull": True}).update(
        **{field: timezone.now(), "updated_at": timezone.now()}
    )
    if updated:
        timeline_record(
            customer=contact.customer_id,
            kind=kind,
            summary=f"{contact.email} {summary}",
            source=contact,
            payload={"contact_id": contact.pk, "detail": detail[:500]},
        )
    contact.refresh_from_db()
    return bool(updated)


@transaction.atomic
def contact_unsubscribe(*, contact: Contact, source: str = "link") -> bool:
    """Idempotent: True the first time. Stops surveys, outreach and QBR invites; ticket replies still go."""
    return _mark(contact, "unsubscribed_at", "contact.unsubscribed", "unsubscribed", source)


@transaction.atomic
def contact_resubscribe(*, contact: Contact, actor=None) -> bool:
    updated = Contact.objects.filter(pk=contact.pk, unsubscribed_at__isnull=False).update(
        unsubscribed_at=None, updated_at=timezone.now()
    )
    if updated:
        timeline_record(
            customer=contact.customer_id,
            kind="contact.resubscribed",
            summary=f"{contact.email} resubscribed",
            actor=actor,
            source=contact,
            payload={"contact_id": contact.pk},
        )
    return bool(updated)


@transaction.atomic
def contact_mark_bounced(*, contact: Contact, detail: str = "") -> bool:
    return _mark(contact, "bounced_at", "contact.bounced", "bounced", detail)


@transaction.atomic
def contact_mark_complained(*, contact: Contact, detail: str = "") -> bool:
    return _mark(contact, "complained_at", "contact.complained", "marked our email as spam", detail)
