"""What beat runs for surveys (surveys/tasks.py), and campaigns to big audiences.

    dispatch_scan()      scheduled invitations now due   -> `surveys.dispatch_invitations` tasks of CHUNK ids each
    reminder_scan()      sent, unanswered, reminder due  -> `surveys.remind_invitations` tasks of CHUNK ids each
    expiry_scan()        sent and past expires_at        -> status "expired" (set-based UPDATE)
    recurring_scan()     recurring NPS: one invitation per contact and period, on a weekday local morning
    campaign_start()     a campaign to an audience       -> a Campaign row, then on commit
                                                            `surveys.send_campaign` -> campaign_invite()
    campaign_scan()      (in the dispatch scan) campaigns the broker refused or lost -> published again;
                         running campaigns with every invitation dispatched -> "done", with their counts

The scans select due work in SQL, in batches (keyset on the primary key), each batch in its own short
transaction with `select_for_update(skip_locked=True)`, and publish a task per chunk of CHUNK invitations when
the batch commits. The chunk tasks call one idempotent service (surveys.dispatch: `invitation_dispatch_many`,
`invitation_remind_many`: a skip-locked claim plus a status guard, the ledger checked and the emails queued in
bulk, a statement count flat in the chunk's size), so a chunk published twice, by two overlapping scans or by a
redelivered message, sends each email once. An invitation still "scheduled" SURVEYS_REQUEUE_MINUTES after
its task was published (queued_at: the task still waits in the queue, or was lost) is published again:
harmless (the second task is one SELECT that finds nothing to do), and kept small by publishing at most
SURVEYS_DISPATCH_PER_SCAN per scan, about what the workers send in a minute. Invitations themselves are
created with `bulk_create(ignore_conflicts=True)` against the unique (survey, contact, trigger_key)
constraint, so a scan or a campaign task that runs twice creates nothing twice.
"""

import datetime as dt
import hashlib
import logging
import secrets
import zoneinfo
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from crm.models import Contact, ContactRole, LifecycleStage, Tier
from surveys import tokens
from surveys.models import Campaign, Invitation, Survey
from surveys.triggers import campaign_audience

logger = logging.getLogger(__name__)
Status = Invitation.Status

BATCH = 1000
# Invitations per dispatch or reminder task (SURVEYS_DISPATCH_CHUNK): one transaction, a few statements, and
# its emails in crm.send_email_batch tasks. Small enough that a worker killed mid-chunk loses little work.
CHUNK = 250
# Published per dispatch or reminder scan (every minute / 15 minutes), at most: about what the workers send
# in a minute (one worker: 2,000-3,000, see `make bench`), so that a big backlog is not published again and
# again while it drains. Setting SURVEYS_DISPATCH_PER_SCAN (raise it with more workers).
DISPATCH_PER_SCAN = 5_000
# A published task whose invitation is still due this long after is taken as lost and published again
# (SURVEYS_REQUEUE_MINUTES). A message that was only slow then runs twice: the dispatch's status guard makes the
# second run a no-op, so this bounds wasted work, not correctness.
REQUEUE_MINUTES = 15
# Recurring NPS: local morning window and the spread of a contact's first cycle over the period's first weeks.
MORNING_START = dt.time(9, 0)
MORNING_MINUTES = 120  # 09:00-10:59 local
FIRST_CYCLE_WEEKDAYS = 15  # three weeks of weekdays


def _per_scan() -> int:
    return getattr(settings, "SURVEYS_DISPATCH_PER_SCAN", DISPATCH_PER_SCAN)


def _requeue_after() -> dt.timedelta:
    return dt.timedelta(minutes=getattr(settings, "SURVEYS_REQUEUE_MINUTES", REQUEUE_MINUTES))


def _chunk() -> int:
    return max(int(getattr(settings, "SURVEYS_DISPATCH_CHUNK", CHUNK)), 1)


def _publish(task, ids: list[int]) -> None:
    """Publish one task per chunk of ids once the current transaction commits. On a broker error the rows not
    published are released (queued_at cleared): the next scan publishes them."""
    size = _chunk()

    def publish():
        for start in range(0, len(ids), size):
            try:
                task.apply_async((ids[start : start + size],))
            except Exception:
                logger.exception("could not publish %s(%s...); the next scan will retry", task.name, ids[start])
                Invitation.objects.filter(pk__in=ids[start:]).update(queued_at=None)
                return

    transaction.on_commit(publish)


def _publish_due(queryset, task, *, limit: int, now: dt.datetime, batch: int = BATCH) -> int:
    """Claim-and-publish loop shared by the scans: batches in primary-key order, each its own transaction that
    marks its rows queued, so the next scans skip what is already in the broker (while the workers drain a
    backlog) and publish again only what is still due after the requeue delay (a lost message)."""
    queryset = queryset.filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - _requeue_after()))
    published, last_pk = 0, 0
    while published < limit:
        size = min(batch, limit - published)
        with transaction.atomic():
            ids = list(
                queryset.filter(pk__gt=last_pk)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:size]
            )
            if ids:
                Invitation.objects.filter(pk__in=ids).update(queued_at=now)
                _publish(task, ids)
        if not ids:
            break
        published += len(ids)
        last_pk = ids[-1]
        if len(ids) < size:
            break
    return published


# --- Dispatch, reminders, expiry ----------------------------------------------------------------------------


def dispatch_scan(*, now: dt.datetime | None = None, limit: int | None = None, batch: int = BATCH) -> int:
    """Publish `surveys.dispatch_invitations` for scheduled invitations that are due. Returns how many. Then
    the campaigns' own scan (campaign_scan: publish again what the broker refused, mark finished ones done)."""
    from surveys.tasks import dispatch_invitations

    now = now or timezone.now()
    due = Invitation.objects.filter(status=Status.SCHEDULED, scheduled_for__lte=now)
    count = _publish_due(due, dispatch_invitations, limit=limit or _per_scan(), now=now, batch=batch)
    if count:
        logger.info("published %s survey invitation(s) for dispatch", count)
    campaign_scan(now=now)
    return count


def reminder_scan(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Publish `surveys.remind_invitations` for sent, unanswered, unexpired invitations whose survey's reminder
    delay has passed and that were not reminded yet (to contacts still reachable). Returns how many."""
    from surveys.tasks import remind_invitations

    now = now or timezone.now()
    count = 0
    surveys = Survey.objects.filter(is_active=True, reminder_after_days__gt=0).values_list("pk", "reminder_after_days")
    for survey_id, days in surveys:
        due = Invitation.objects.filter(
            survey_id=survey_id,
            status=Status.SENT,
            reminded_at__isnull=True,
            sent_at__lte=now - dt.timedelta(days=days),
            expires_at__gt=now,
            contact__unsubscribed_at__isnull=True,
            contact__bounced_at__isnull=True,
            contact__complained_at__isnull=True,
        )
        count += _publish_due(due, remind_invitations, limit=_per_scan(), now=now, batch=batch)
    if count:
        logger.info("published %s survey reminder(s)", count)
    return count


def expiry_scan(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Sent invitations past their expiry become "expired" (their link then answers 410). Set-based, in
    batches; a concurrent answer wins (the UPDATE re-checks the status). Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(
                Invitation.objects.select_for_update(skip_locked=True)
                .filter(status=Status.SENT, expires_at__lt=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if ids:
                expired += Invitation.objects.filter(pk__in=ids, status=Status.SENT).update(status=Status.EXPIRED)
        if len(ids) < batch:
            break
    if expired:
        logger.info("expired %s survey invitation(s)", expired)
    return expired


def _windows(contacts, size: int):
    """Split `contacts` (a Contact queryset) into windows of `size` contacts by primary key: yields
    (window, own_window), lookups for Contact and for rows pointing at a contact (`contact_id`), the window
    being (low, high] and the last one open-ended.

    Subqueries correlated to a contact are bounded by the window as well: with a NOT EXISTS over the survey's
    invitations unbounded, PostgreSQL planned (whenever its statistics did not yet count the invitations just
    inserted, e.g. by the same run) one materialised scan of all of them compared with every contact, which
    is quadratic; bounded, each window reads only its own contacts' invitations through the (survey, contact,
    trigger_key) index."""
    ids = contacts.order_by("pk").values_list("pk", flat=True)
    low = 0
    while True:
        high = next(iter(ids.filter(pk__gt=low)[size - 1 : size]), None)
        window, own_window = {"pk__gt": low}, {"contact_id__gt": low}
        if high is not None:
            window["pk__lte"] = own_window["contact_id__lte"] = high
        yield window, own_window
        if high is None:
            return
        low = high


# --- Recurring NPS ------------------------------------------------------------------------------------------


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    days_in_month = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def period_key(now: dt.datetime, months: int) -> str:
    """`recurring:<YYYY-MM>` of the start of the calendar period (of `months` months, aligned on January)
    holding `now` (UTC): every 3 months -> 2026-01, 2026-04, ...; every 12 -> 2026-01."""
    index = now.year * 12 + now.month - 1
    index -= index % months
    return f"recurring:{index // 12:04d}-{index % 12 + 1:02d}"


@lru_cache(maxsize=1024)
def _zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _spread(contact_id: int, salt: int = 0) -> int:
    """A stable pseudo-random number for a contact (the same in every process, unlike hash() of a str)."""
    digest = hashlib.blake2b(f"{salt}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _next_weekday(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def local_morning(
    *, now: dt.datetime, tz_name: str, contact_id: int, spread_weekdays: int = 0, salt: int = 0
) -> dt.datetime:
    """The contact's next weekday morning slot after `now`, in UTC: a time between 09:00 and 10:59 in their
    time zone picked by a hash of the contact (so a large audience is spread over two hours), then moved on
    by 0..spread_weekdays-1 more weekdays by the same hash (so a first cycle is spread over several weeks)."""
    tz = _zone(tz_name)
    number = _spread(contact_id, salt)
    minutes = number % MORNING_MINUTES
    at = (dt.datetime.combine(dt.date(2000, 1, 1), MORNING_START) + dt.timedelta(minutes=minutes)).time()
    local_now = now.astimezone(tz)
    day = local_now.date()
    if day.weekday() >= 5 or dt.datetime.combine(day, at, tzinfo=tz) <= local_now:
        day = _next_weekday(day)
    for _ in range((number // MORNING_MINUTES) % spread_weekdays if spread_weekdays > 1 else 0):
        day = _next_weekday(day)
    return dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)


def _new_invitation(
    *,
    survey_id: int,
    contact_id: int,
    customer_id: int,
    trigger: str,
    trigger_key: str,
    scheduled_for: dt.datetime,
    created_by_id: int | None = None,
) -> Invitation:
    nonce = tokens.new_nonce()  # each invitation its own secret; only the token's hash is stored
    return Invitation(
        survey_id=survey_id,
        contact_id=contact_id,
        customer_id=customer_id,
        trigger=trigger,
        trigger_key=trigger_key,
        token_nonce=nonce,
        token_hash=tokens.token_hash(tokens.token_for(nonce)),
        scheduled_for=scheduled_for,
        created_by_id=created_by_id,
    )


def recurring_schedule(*, survey: Survey, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Schedule the recurring survey for every reachable contact with no invitation of it (whatever became of
    that invitation: sent, suppressed by the ledger, ...) in the last `recurring_months` months. Returns how
    many invitations it scheduled.

    Contacts are taken in windows of `batch` (see _windows); in each window the candidates are found in SQL
    (NOT EXISTS, bounded to the window). Each candidate's local-morning time is computed in Python, a window
    at a time (time zone rules and weekdays are not portable SQL between PostgreSQL and SQLite), and the
    window's invitations go in with one bulk INSERT that ignores rows the unique (survey, contact,
    trigger_key) constraint already holds, so a second run in the same period, even a concurrent one, adds
    nothing. A contact's first cycle is spread over
    FIRST_CYCLE_WEEKDAYS weekdays; later cycles follow from it (a contact is due again `recurring_months`
    after its last invitation)."""
    now = now or timezone.now()
    months = survey.recurring_months
    if not months or not survey.is_active:
        return 0
    key = period_key(now, months)
    since = _add_months(now, -months)
    reachable = Contact.objects.filter(
        unsubscribed_at__isnull=True, bounced_at__isnull=True, complained_at__isnull=True
    ).exclude(customer__lifecycle_stage=LifecycleStage.CHURNED)  # churned customers get no relationship survey
    scheduled = 0
    for window, own_window in _windows(reachable, batch):
        invitations = Invitation.objects.filter(survey=survey, contact=OuterRef("pk"), **own_window)
        rows = list(
            reachable.filter(**window)
            .filter(~Exists(invitations.filter(scheduled_for__gt=since)))
            .annotate(returning=Exists(invitations))
            .order_by("pk")
            .values_list("pk", "customer_id", "timezone", "customer__timezone", "returning")
        )
        new = [
            _new_invitation(
                survey_id=survey.pk,
                contact_id=pk,
                customer_id=customer_id,
                trigger=Invitation.Trigger.RECURRING,
                trigger_key=key,
                scheduled_for=local_morning(
                    now=now,
                    tz_name=contact_tz or customer_tz,
                    contact_id=pk,
                    spread_weekdays=1 if returning else FIRST_CYCLE_WEEKDAYS,
                    salt=survey.pk,
                ),
            )
            for pk, customer_id, contact_tz, customer_tz, returning in rows
        ]
        if new:
            with transaction.atomic():
                Invitation.objects.bulk_create(new, batch_size=batch, ignore_conflicts=True)
        scheduled += len(new)
    if scheduled:
        logger.info("scheduled %s recurring invitation(s) of survey %s (%s)", scheduled, survey.pk, key)
    return scheduled


def recurring_scan(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    now = now or timezone.now()
    return sum(
        recurring_schedule(survey=survey, now=now, batch=batch)
        for survey in Survey.objects.filter(is_active=True, recurring_months__gt=0).order_by("pk")
    )


# --- Campaigns ----------------------------------------------------------------------------------------------

AUDIENCE_CHOICES = {
    "tiers": Tier.values,
    "lifecycle_stages": LifecycleStage.values,
    "roles": ContactRole.values,
}
AUDIENCE_IDS = ("owners", "customers", "contacts")


def _clean_audience(audience: dict | None) -> dict[str, list]:
    """Validate an audience and make it JSON for the task: lists of choice values and of ids."""
    audience = audience or {}
    if not isinstance(audience, dict):
        raise ValidationError({"audience": 'Give the audience as an object, e.g. {"tiers": ["enterprise"]}.'})
    errors, clean = {}, {}
    for name, value in audience.items():
        if name not in AUDIENCE_CHOICES and name not in AUDIENCE_IDS:
            allowed = ", ".join([*AUDIENCE_CHOICES, *AUDIENCE_IDS])
            errors[name] = f"Unknown audience filter; use {allowed}."
            continue
        if value in (None, "", []):
            continue
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if name in AUDIENCE_CHOICES:
            unknown = [v for v in values if v not in AUDIENCE_CHOICES[name]]
            if unknown:
                errors[name] = f"Unknown values {unknown}; choose from {', '.join(AUDIENCE_CHOICES[name])}."
                continue
            clean[name] = sorted(set(values))
        else:
            try:
                clean[name] = sorted({int(getattr(v, "pk", v)) for v in values})
            except (TypeError, ValueError):
                errors[name] = "Give ids (whole numbers)."
    if errors:
        raise ValidationError(errors)
    # Filters in one order, whatever order they were given in: SQLite compares JSON as text, so the same audience
    # with its keys in another order would not find the campaign already started (PostgreSQL's jsonb would).
    return {name: clean[name] for name in sorted(clean)}


def audience_contacts(audience: dict):
    contacts = campaign_audience(
        tiers=audience.get("tiers"),
        lifecycle_stages=audience.get("lifecycle_stages"),
        owners=audience.get("owners"),
        roles=audience.get("roles"),
        customers=audience.get("customers"),
    )
    if audience.get("contacts"):
        contacts = contacts.filter(pk__in=audience["contacts"])
    return contacts


def _campaign_publish(campaign_id: int, survey_id: int, audience: dict, trigger_key: str, actor_id) -> None:
    """Publish the campaign's `surveys.send_campaign` task once the current transaction commits. On a broker
    error the campaign stays recorded (queued, queued_at cleared) and the next dispatch scan publishes it: the
    error is logged, never raised to the request that started the campaign."""
    from surveys.tasks import send_campaign

    def publish():
        try:
            send_campaign.apply_async((survey_id, audience, trigger_key), {"actor_id": actor_id})
        except Exception:
            logger.exception(
                "could not publish campaign %s of survey %s; the next scan will retry", trigger_key, survey_id
            )
            Campaign.objects.filter(pk=campaign_id).exclude(status=Campaign.Status.DONE).update(queued_at=None)

    transaction.on_commit(publish)


@transaction.atomic
def campaign_start(
    *, survey: Survey, audience: dict | None, actor=None, request_key: str = ""
) -> tuple[Campaign, bool]:
    """Start a campaign of `survey` to an audience: {"tiers": [...], "lifecycle_stages": [...], "owners":
    [user ids], "roles": [...], "customers": [ids], "contacts": [ids]} (all optional; filters combine with
    AND; {} is every contact). Returns (the campaign, whether this call started it).

    The campaign is a row (status "queued") written in this transaction; its `surveys.send_campaign` task is
    published when it commits, creates the invitations in batches (campaign_invite) and the dispatch scan
    sends them; every contact passes the ledger then (an unsubscribed or recently surveyed contact gets a
    suppressed invitation with its reason). A broker that is down leaves the campaign queued, and the dispatch
    scan publishes it later (campaign_scan).

    Started twice (a double click, a retried request), it is one campaign: the same `request_key`, or the same
    audience as a campaign of this survey that is not done yet, returns that campaign and starts nothing.
    Starts of one survey's campaigns are serialised by a lock on the survey row, so two concurrent identical
    starts make one campaign."""
    survey = Survey.objects.select_for_update(of=("self",)).get(pk=survey.pk)
    if not survey.is_active:
        raise ValidationError({"survey": "This survey is inactive; activate it before starting a campaign."})
    clean = _clean_audience(audience)
    same = Q(audience=clean) & ~Q(status=Campaign.Status.DONE)
    if request_key:
        same |= Q(request_key=request_key)
    existing = Campaign.objects.filter(survey=survey).filter(same).order_by("pk").first()
    if existing is not None:
        logger.info("campaign %s of survey %s started again: nothing new", existing.trigger_key, survey.pk)
        return existing, False
    actor_id = actor.pk if getattr(actor, "pk", None) else None
    campaign = Campaign(
        survey=survey,
        audience=clean,
        trigger_key=f"campaign:{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
        request_key=request_key,
        created_by_id=actor_id,
        queued_at=timezone.now(),
    )
    campaign.full_clean()
    campaign.save()
    logger.info("campaign %s of survey %s started (audience %s)", campaign.trigger_key, survey.pk, clean)
    _campaign_publish(campaign.pk, survey.pk, clean, campaign.trigger_key, actor_id)
    return campaign, True


def campaign_invite(
    *,
    survey_id: int,
    audience: dict,
    trigger_key: str,
    actor_id: int | None = None,
    now: dt.datetime | None = None,
    batch: int = BATCH,
) -> int:
    """Create the campaign's invitations (scheduled now) for its audience, in batches; contacts already
    invited by this campaign are skipped, so a repeated task adds nothing. Returns how many it created. The
    campaign's row (if any: found by its trigger key) becomes "running", then records how many it invited."""
    now = now or timezone.now()
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None:
        return 0
    campaign = Campaign.objects.filter(trigger_key=trigger_key).values_list("pk", flat=True).first()
    if campaign is not None:
        Campaign.objects.filter(pk=campaign, status=Campaign.Status.QUEUED).update(
            status=Campaign.Status.RUNNING, started_at=now
        )
    contacts = audience_contacts(_clean_audience(audience))
    created = 0
    for window, own_window in _windows(contacts, batch):
        already = Invitation.objects.filter(
            survey_id=survey_id, contact=OuterRef("pk"), trigger_key=trigger_key, **own_window
        )
        rows = list(contacts.filter(**window).filter(~Exists(already)).order_by("pk").values_list("pk", "customer_id"))
        new = [
            _new_invitation(
                survey_id=survey_id,
                contact_id=pk,
                customer_id=customer_id,
                trigger=Invitation.Trigger.CAMPAIGN,
                trigger_key=trigger_key,
                scheduled_for=now,
                created_by_id=actor_id,
            )
            for pk, customer_id in rows
        ]
        if new:
            with transaction.atomic():
                Invitation.objects.bulk_create(new, batch_size=batch, ignore_conflicts=True)
        created += len(new)
    if campaign is not None:
        invited = Invitation.objects.filter(survey_id=survey_id, trigger_key=trigger_key).count()
        Campaign.objects.filter(pk=campaign).exclude(status=Campaign.Status.DONE).update(invited=invited)
    logger.info("campaign %s of survey %s: %s invitation(s) scheduled", trigger_key, survey_id, created)
    return created


def campaign_scan(*, now: dt.datetime | None = None, limit: int = 100) -> tuple[int, int]:
    """Run by the dispatch scan. (1) Publishes again the task of each campaign still waiting for it: one the
    broker refused (queued_at empty: at once) or whose message is still not done SURVEYS_REQUEUE_MINUTES
    after it was published (lost, or a worker died while creating its invitations; a repeat adds nothing).
    (2) Marks "done" the running campaigns whose invitations are all created and dispatched, with how many
    were suppressed. Returns (published, finished)."""
    now = now or timezone.now()
    waiting = Q(status=Campaign.Status.QUEUED) | Q(status=Campaign.Status.RUNNING, invited__isnull=True)
    published = 0
    with transaction.atomic():
        rows = list(
            Campaign.objects.filter(waiting)
            .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=now - _requeue_after()))
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", "survey_id", "audience", "trigger_key", "created_by_id")[:limit]
        )
        if rows:
            Campaign.objects.filter(pk__in=[row[0] for row in rows]).update(queued_at=now)
        for pk, survey_id, audience, trigger_key, actor_id in rows:
            _campaign_publish(pk, survey_id, audience, trigger_key, actor_id)
            published += 1
    if published:
        logger.info("published %s waiting survey campaign(s) again", published)
    finished = 0
    running = (
        Campaign.objects.filter(status=Campaign.Status.RUNNING, invited__isnull=False)
        .order_by("pk")
        .values_list("pk", "survey_id", "trigger_key")
    )
    for pk, survey_id, trigger_key in running[:limit]:
        invitations = Invitation.objects.filter(survey_id=survey_id, trigger_key=trigger_key)
        if invitations.filter(status=Status.SCHEDULED).exists():
            continue
        counts = campaign_progress(survey=survey_id, trigger_key=trigger_key)
        finished += Campaign.objects.filter(pk=pk, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.DONE,
            finished_at=now,
            invited=sum(counts.values()),
            suppressed=counts[Status.SUPPRESSED] + counts[Status.CANCELLED],
        )
    return published, finished


def campaign_progress(*, survey: Survey, trigger_key: str) -> dict[str, int]:
    """How a campaign's invitations stand: how many in each status."""
    counts = dict.fromkeys(Status.values, 0)
    rows = (
        Invitation.objects.filter(survey=survey, trigger_key=trigger_key)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts.update(dict(rows))
    return counts
