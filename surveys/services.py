"""Surveys: invitations through the contact ledger, one email each (sent once), answers that only a POST records,
and unhappy answers turned into action."""

import datetime as dt
import logging

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from crm.ledger import ledger_claim
from crm.models import Contact, LedgerEntry, OutboundEmail
from crm.outbound_email import register_personalizer
from crm.timeline import timeline_record
from crm.unsubscribe import unsubscribe_url
from surveys import tokens, wording
from surveys.models import DEFAULT_QUESTIONS, Invitation, Kind, Response, Survey

logger = logging.getLogger(__name__)

CHANGE_WINDOW = dt.timedelta(days=7)
MAX_COMMENT = 5000
Status = Invitation.Status


@transaction.atomic
def survey_create(*, name: str, kind: str, question: str = "", actor=None, **options) -> Survey:
    if kind not in Kind.values:
        raise ValidationError({"kind": f'"{kind}" is not a valid choice: nps, ces or csat.'})
    survey = Survey(
        name=(name or "").strip(),
        kind=kind,
        question=(question or "").strip() or DEFAULT_QUESTIONS[kind],
        **options,
    )
    _check_wording(survey)
    survey.full_clean()
    survey.save()
    return survey


def _check_wording(survey: Survey) -> None:
    """A question may name the company as {company} (filled in wherever it is shown); any other placeholder
    would reach customers as typed, so it is refused, naming the field."""
    errors = wording.placeholder_errors(**{field: getattr(survey, field) for field in wording.TEXT_FIELDS})
    if errors:
        raise ValidationError(errors)


SURVEY_UPDATABLE = {
    "name",
    "question",
    "follow_up_question",
    "follow_up_unhappy",
    "reminder_after_days",
    "expiry_days",
    "is_active",
    "on_unhappy",
    "thank_promoters",
    "send_after_ticket_solved",
    "ticket_solved_delay_hours",
    "recurring_months",
}


@transaction.atomic
def survey_update(*, survey: Survey, actor=None, **changes) -> Survey:
    """Change a survey's settings. Its kind is fixed once created (its responses are on that scale); an empty
    question takes the kind's default again."""
    if "kind" in changes and changes["kind"] != survey.kind:
        raise ValidationError({"kind": "A survey's kind cannot change; create a new survey instead."})
    changes.pop("kind", None)
    unknown = set(changes) - SURVEY_UPDATABLE
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    for name, value in changes.items():
        if name in ("name", "question") and isinstance(value, str):
            value = value.strip()
        setattr(survey, name, value)
    if not survey.question:
        survey.question = DEFAULT_QUESTIONS[survey.kind]
    _check_wording(survey)
    survey.full_clean()
    survey.save()
    return survey


def invitation_create(
    *,
    survey: Survey,
    contact: Contact,
    trigger: str,
    trigger_key: str,
    scheduled_for: dt.datetime | None = None,
    ticket=None,
    actor=None,
) -> tuple[Invitation, bool]:
    """Schedule one invitation; the same survey, contact and trigger key never makes a second one."""
    existing = Invitation.objects.filter(survey=survey, contact=contact, trigger_key=trigger_key).first()
    if existing is not None:
        return existing, False
    nonce = tokens.new_nonce()
    invitation = Invitation(
        survey=survey,
        customer_id=contact.customer_id,
        contact=contact,
        trigger=trigger,
        trigger_key=trigger_key[:100],
        ticket=ticket,
        token_nonce=nonce,
        token_hash=tokens.token_hash(tokens.token_for(nonce)),
        scheduled_for=scheduled_for or timezone.now(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        return Invitation.objects.get(survey=survey, contact=contact, trigger_key=trigger_key), False
    return invitation, True


def answer_url(token: str, score: int | None = None) -> str:
    # reverse() would percent-encode the placeholder; put the token in after.
    url = settings.SITE_URL + reverse("surveys:answer", args=["TOKEN"]).replace("TOKEN", token)
    return f"{url}?score={score}" if score is not None else url


def _render_invitation(invitation: Invitation, *, reminder: bool) -> tuple[str, str, str]:
    survey = invitation.survey
    placeholder = tokens.PLACEHOLDER
    context = {
        "survey": survey,
        "question": wording.fill(survey.question),
        "contact": invitation.contact,
        "company": settings.COMPANY_NAME,
        "reminder": reminder,
        "scores": [{"value": s, "url": answer_url(placeholder, s)} for s in survey.scale],
        "low_label": {"nps": "Not at all likely", "ces": "Strongly disagree", "csat": "Very dissatisfied"}[survey.kind],
        "high_label": {"nps": "Extremely likely", "ces": "Strongly agree", "csat": "Very satisfied"}[survey.kind],
        "unsubscribe_url": unsubscribe_url(invitation.contact),
    }
    subject = f"{'Reminder: ' if reminder else ''}{context['question']}"
    if len(subject) > 120:
        subject = f"{'Reminder: ' if reminder else ''}A quick question from {settings.COMPANY_NAME}"
    return (
        subject,
        render_to_string("surveys/email/invitation.txt", context),
        render_to_string("surveys/email/invitation.html", context),
    )


def _personalize(email) -> dict[str, str]:
    _, _, pk = email.idempotency_key.partition(":")
    invitation = (
        Invitation.objects.filter(pk=int(pk)).only("token_nonce", "token_hash").first() if pk.isdigit() else None
    )
    if invitation is None:
        return {}
    return _token_values(invitation)


def _personalize_many(emails) -> dict[int, dict[str, str]]:
    """_personalize for a batch of emails (crm.outbound_batch): their invitations in one query."""
    by_invitation = {}
    for email in emails:
        _, _, pk = email.idempotency_key.partition(":")
        if pk.isdigit():
            by_invitation[int(pk)] = email.pk
    invitations = Invitation.objects.filter(pk__in=list(by_invitation)).only("token_nonce", "token_hash")
    return {by_invitation[invitation.pk]: _token_values(invitation) for invitation in invitations}


def _token_values(invitation: Invitation) -> dict[str, str]:
    token = tokens.token_matching(invitation.token_nonce, invitation.token_hash)
    if token is None:
        # The key that made this token is gone (rotated without DJANGO_SECRET_KEY_FALLBACKS): a new token from
        # the current key, so the links in this email work (a link sent earlier with the old token no longer
        # does).
        nonce = tokens.new_nonce()
        token = tokens.token_for(nonce)
        Invitation.objects.filter(pk=invitation.pk).update(token_nonce=nonce, token_hash=tokens.token_hash(token))
        logger.warning("survey invitation %s: new token (the secret key that made its token is gone)", invitation.pk)
    return {tokens.PLACEHOLDER: token}


def _email_kind(*, reminder: bool) -> str:
    return "survey_reminder" if reminder else "survey_invite"


def _email_key(invitation: Invitation, *, reminder: bool) -> str:
    """The idempotency key of the invitation's (or its reminder's) email: one each per invitation."""
    return f"{_email_kind(reminder=reminder)}:{invitation.pk}"


register_personalizer("survey_invite", _personalize, bulk=_personalize_many)
register_personalizer("survey_reminder", _personalize, bulk=_personalize_many)


@transaction.atomic
def invitation_dispatch(
    *, invitation_id: int, now: dt.datetime | None = None, send_email: bool = True
) -> Invitation | None:
    """Send a due invitation once: ledger check (recorded), then its email row, in one transaction; the rules of
    surveys.dispatch (which sends the dispatch scan's chunks), for one invitation, its email on the single path.

    send_email=False records history (imports, demo data): the ledger entry, status and timeline as of `now`,
    but no email row. Returns the invitation, or None when it was not (or no longer) scheduled and due."""
    from surveys import dispatch

    now = now or timezone.now()
    invitations = dispatch._claim([invitation_id], status=Status.SCHEDULED, scheduled_for__lte=now)
    if not invitations:
        return None
    dispatch._dispatch(invitations, now=now, send_email=send_email, bulk=False)
    return invitations[0]


@transaction.atomic
def invitation_remind(*, invitation_id: int, now: dt.datetime | None = None) -> Invitation | None:
    """The invitation's reminder, once (surveys.dispatch.invitation_remind_many for one). Returns the invitation
    when the reminder was queued, else None (not due, already decided, or suppressed by the ledger)."""
    from surveys import dispatch

    now = now or timezone.now()
    invitations = dispatch._claim([invitation_id], status=Status.SENT, reminded_at__isnull=True, expires_at__gt=now)
    if not invitations or not dispatch._remind(invitations, now=now, bulk=False)["reminded"]:
        return None
    invitation = invitations[0]
    invitation.reminded_at = now
    return invitation


def invitation_email_claim(invitation: Invitation, *, subkind: str, what: str, now: dt.datetime | None = None) -> bool:
    """May this follow-on email of an invitation already sent (its reminder, the promoter's thank-you) go out?

    Part of the survey's conversation: the ledger stops it for an unsubscribed, bounced or complained contact,
    never for survey spacing. Decided once per invitation and subkind (a redelivered task finds the ledger entry
    and gets False); a suppression is recorded with its reason on the timeline."""
    if LedgerEntry.objects.filter(
        contact=invitation.contact_id,
        kind=LedgerEntry.Kind.SURVEY,
        subkind=subkind,
        source_type=ContentType.objects.get_for_model(Invitation),
        source_id=str(invitation.pk),
    ).exists():
        return False
    contact = invitation.contact
    reason = ledger_claim(contact=contact, kind=LedgerEntry.Kind.SURVEY, subkind=subkind, source=invitation, now=now)
    if reason:
        timeline_record(
            customer=invitation.customer_id,
            kind="survey.suppressed",
            summary=f"{invitation.survey.name} {what} not sent to {contact.email}: {reason}",
            source=invitation,
            payload={"invitation_id": invitation.pk, "reason": reason, subkind: True},
            occurred_at=now,
        )
        return False
    return True


class InvitationGone(Exception):
    """The invitation expired (HTTP 410)."""


def invitation_by_token(token: str) -> Invitation | None:
    if not token or len(token) > 100:
        return None
    return (
        Invitation.objects.select_related("survey", "contact__customer", "customer")
        .filter(token_hash=tokens.token_hash(token))
        .first()
    )


def _validate_answer(survey: Survey, score, comment) -> tuple[int, str | None]:
    errors = {}
    try:
        score = int(score)
    except (TypeError, ValueError):
        errors["score"] = f"Choose a score from {survey.scale.start} to {survey.scale.stop - 1}."
    else:
        if score not in survey.scale:
            errors["score"] = f"Choose a score from {survey.scale.start} to {survey.scale.stop - 1}."
    if comment is not None:
        comment = str(comment).strip()
        if "\x00" in comment:  # PostgreSQL text cannot hold NUL: a clear error, not a 500
            errors["comment"] = "Null characters are not allowed."
        elif len(comment) > MAX_COMMENT:
            errors["comment"] = f"Please keep your comment under {MAX_COMMENT} characters."
    if errors:
        raise ValidationError(errors)
    return score, comment


@transaction.atomic
def survey_answer(
    *,
    invitation: Invitation,
    score,
    comment: str | None = None,
    user_agent: str = "",
    now: dt.datetime | None = None,
) -> tuple[Response, bool]:
    """Record (or, within 7 days, change) the answer to an invitation. Returns (response, created)."""
    now = now or timezone.now()
    invitation = Invitation.objects.select_for_update(of=("self",)).select_related("survey").get(pk=invitation.pk)
    survey = invitation.survey
    score, comment = _validate_answer(survey, score, comment)
    if invitation.status not in (Status.SENT, Status.ANSWERED) or (
        invitation.expires_at and now >= invitation.expires_at and invitation.status != Status.ANSWERED
    ):
        raise InvitationGone("This survey has closed.")
    response = Response.objects.filter(invitation=invitation).first()
    if response is not None:
        if now - response.answered_at > CHANGE_WINDOW:
            raise PermissionDenied("This answer can no longer be changed.")
        old_band = response.band
        response.score = score
        if comment is not None:
            response.comment = comment
        response.updated_at = now
        response.full_clean()
        response.save()
        timeline_record(
            customer=invitation.customer_id,
            kind="survey.answer_changed",
            summary=f"{survey.kind.upper()} {score} from {invitation.contact.email}"
            + (f": {response.comment[:150]}" if response.comment else ""),
            source=response,
            payload={"response_id": response.pk, "score": score, "band": response.band},
            occurred_at=now,
        )
        _close_the_loop(response, survey, was=old_band)
        return response, False
    sent_at = _last_email_sent_at(invitation, before=now) or invitation.sent_at
    seconds = int((now - sent_at).total_seconds()) if sent_at else None
    response = Response(
        invitation=invitation,
        survey=survey,
        customer_id=invitation.customer_id,
        contact_id=invitation.contact_id,
        kind=survey.kind,
        score=score,
        comment=comment or "",
        answered_at=now,
        updated_at=now,
        user_agent=(user_agent or "").replace("\x00", "")[:500],
        seconds_after_send=max(seconds, 0) if seconds is not None else None,
    )
    response.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        # The same invitation answered twice at once: the first stands, this one updates it.
        return survey_answer(invitation=invitation, score=score, comment=comment, user_agent=user_agent, now=now)
    Invitation.objects.filter(pk=invitation.pk).update(status=Status.ANSWERED)
    timeline_record(
        customer=invitation.customer_id,
        kind="survey.answered",
        summary=f"{survey.kind.upper()} {score} ({response.band}) from {invitation.contact.email}"
        + (f": {response.comment[:150]}" if response.comment else ""),
        source=response,
        payload={
            "response_id": response.pk,
            "survey_id": survey.pk,
            "kind": survey.kind,
            "score": score,
            "band": response.band,
        },
        occurred_at=now,
    )
    _close_the_loop(response, survey)
    return response, True


def _last_email_sent_at(invitation: Invitation, *, before: dt.datetime) -> dt.datetime | None:
    """When the mail server accepted the latest of the invitation's emails (the invitation or its reminder)
    sent before `before`: what the contact answered, so a link clicked seconds after a reminder counts
    seconds, not days. None when no email row was sent (history recorded without email)."""
    return (
        OutboundEmail.objects.filter(
            idempotency_key__in=[_email_key(invitation, reminder=False), _email_key(invitation, reminder=True)],
            status=OutboundEmail.Status.SENT,
            sent_at__lte=before,
        )
        .order_by("-sent_at")
        .values_list("sent_at", flat=True)
        .first()
    )


def _close_the_loop(response: Response, survey: Survey, *, was: str | None = None) -> None:
    """Unhappy answers become a CSM task (or a ticket) that follows later changes to the answer; promoters may
    get a thank-you. In a worker (surveys.close_loop) on commit, idempotent per invitation; inline when the
    broker cannot take the task, and never failing the answer: the follow-up sweep catches what is lost.
    `was`: the band before this change (None for a new answer)."""
    from surveys.loop import HAPPY, UNHAPPY

    if not ({response.band, was} & UNHAPPY or (response.band in HAPPY and survey.thank_promoters)):
        return  # nothing to follow up
    response_id = response.pk
    transaction.on_commit(lambda: loop_close_queue(response_id=response_id), robust=True)


def loop_close_queue(*, response_id: int) -> None:
    from surveys.tasks import close_loop

    try:
        close_loop.delay(response_id)
    except Exception:
        logger.exception("could not queue the follow-up of survey response %s: closing the loop inline", response_id)
        from surveys import loop

        try:
            loop.loop_close(response_id=response_id)
        except Exception:
            logger.exception("follow-up of survey response %s failed; the follow-up sweep retries it", response_id)
