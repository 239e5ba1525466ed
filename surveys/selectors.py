"""Reads on surveys, invitations and responses: querysets that load what a page needs in one statement."""

import csv
import datetime as dt
import functools
import operator
from collections.abc import Iterable, Iterator

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from crm.models import ContactRole, Customer, LifecycleStage, Tier
from crm.selectors import email_delivery_state_expression
from crm.spreadsheets import spreadsheet_text
from surveys.models import Campaign, Invitation, Kind, Response, Survey, band

# The score bands as SQL conditions (the same cut-offs as surveys.models.band()).
BAND_CONDITIONS: dict[str, Q] = {
    "promoter": Q(kind=Kind.NPS, score__gte=9),
    "passive": Q(kind=Kind.NPS, score__gte=7, score__lte=8),
    "detractor": Q(kind=Kind.NPS, score__lte=6),
    "happy": Q(kind=Kind.CSAT, score__gte=4) | Q(kind=Kind.CES, score__gte=5),
    "neutral": Q(kind=Kind.CSAT, score=3) | Q(kind=Kind.CES, score=4),
    "unhappy": Q(kind=Kind.CSAT, score__lte=2) | Q(kind=Kind.CES, score__lte=3),
}
BAND_CHOICES = [
    ("promoter", "Promoter (NPS 9-10)"),
    ("passive", "Passive (NPS 7-8)"),
    ("detractor", "Detractor (NPS 0-6)"),
    ("happy", "Happy (CSAT 4-5, CES 5-7)"),
    ("neutral", "Neutral (CSAT 3, CES 4)"),
    ("unhappy", "Unhappy (CSAT 1-2, CES 1-3)"),
]


def band_condition(bands: Iterable[str]) -> Q:
    """Rows in any of the bands."""
    return functools.reduce(operator.or_, (BAND_CONDITIONS[name] for name in bands), Q(pk__in=[]))


def survey_list() -> QuerySet[Survey]:
    return Survey.objects.all()


def invitation_list() -> QuerySet[Invitation]:
    """Invitations with their survey's name, the contact's email, the response id and the delivery state of
    their email (crm.selectors.email_delivery_state; one LEFT JOIN each)."""
    return Invitation.objects.annotate(
        survey_name=F("survey__name"),
        contact_email=F("contact__email"),
        response_id=F("response__id"),
        email_state=email_delivery_state_expression("email__"),
    )


EMAIL_COUNTS = ("sent", "resent", "unknown", "failed", "pending")


def campaign_email_counts(campaigns: Iterable[Campaign]) -> dict[int, dict[str, int]]:
    """{campaign id: {sent, resent, unknown, failed, pending}}: how the emails of the campaigns' invitations
    went, for a whole page in one query (pending: queued or being sent)."""
    rows = list(campaigns)
    by_key = {c.trigger_key: c.pk for c in rows}
    counts = {c.pk: dict.fromkeys(EMAIL_COUNTS, 0) for c in rows}
    if not by_key:
        return counts
    states = (
        Invitation.objects.filter(trigger_key__in=list(by_key), email__isnull=False)
        .annotate(state=email_delivery_state_expression("email__"))
        .values_list("trigger_key", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for key, state, n in states:
        name = state if state in EMAIL_COUNTS else "pending"
        counts[by_key[key]][name] += n
    return counts


def campaign_list() -> QuerySet[Campaign]:
    """Campaigns with their survey's name and the starter's email (one LEFT JOIN each)."""
    return Campaign.objects.annotate(survey_name=F("survey__name"), created_by_email=F("created_by__email"))


def campaign_owner_emails(campaigns: Iterable[Campaign]) -> dict[int, str]:
    """The emails of the owners the campaigns' audiences name (by user id), in one query for a whole page."""
    ids = {pk for campaign in campaigns for pk in (campaign.audience or {}).get("owners") or ()}
    if not ids:
        return {}
    return dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "email"))


_AUDIENCE_LABELS = (
    ("tiers", "Tier", dict(Tier.choices)),
    ("lifecycle_stages", "Lifecycle stage", dict(LifecycleStage.choices)),
    ("owners", "Owner", None),
    ("roles", "Contact role", dict(ContactRole.choices)),
    ("customers", "Customer id", None),
    ("contacts", "Contact id", None),
)


def audience_summary(audience: dict, owner_emails: dict[int, str]) -> str:
    """The audience in words, e.g. "Tier: Enterprise · Owner: ana@example.com"; "Every contact" when empty."""
    parts = []
    for name, label, choices in _AUDIENCE_LABELS:
        values = (audience or {}).get(name) or []
        if not values:
            continue
        if name == "owners":
            shown = [owner_emails.get(v, f"user {v}") for v in values]
        else:
            shown = [str(choices.get(v, v)) if choices else str(v) for v in values]
        more = " …" if len(shown) > 10 else ""
        parts.append(f"{label}{'s' if len(values) > 1 else ''}: {', '.join(shown[:10])}{more}")
    return " · ".join(parts) or "Every contact"


def response_list() -> QuerySet[Response]:
    """Responses with the survey's name, customer's name, contact's email and the invitation's trigger."""
    return Response.objects.annotate(
        survey_name=F("survey__name"),
        customer_name=F("customer__name"),
        contact_email=F("contact__email"),
        trigger=F("invitation__trigger"),
    )


def customer_scope(
    queryset: QuerySet,
    *,
    tiers: Iterable[str] | None = None,
    lifecycle_stages: Iterable[str] | None = None,
    owner_email: str | None = None,
    customer_id: int | None = None,
) -> QuerySet:
    """Narrow rows that point at a customer (invitations, responses) by the customer's tier, lifecycle stage,
    owner CSM (by email) or id."""
    if tiers:
        queryset = queryset.filter(customer__tier__in=list(tiers))
    if lifecycle_stages:
        queryset = queryset.filter(customer__lifecycle_stage__in=list(lifecycle_stages))
    if owner_email:
        queryset = queryset.filter(customer__owner__email__iexact=owner_email.strip())
    if customer_id:
        queryset = queryset.filter(customer_id=customer_id)
    return queryset


def latest_responses(*, customer_id: int) -> dict[str, Response]:
    """The customer's latest response of each kind (one indexed lookup per kind, on customer+kind+time)."""
    latest = {}
    for kind in Kind.values:
        response = (
            Response.objects.filter(customer_id=customer_id, kind=kind)
            .select_related("contact", "survey")
            .order_by("-answered_at", "-id")
            .first()
        )
        if response is not None:
            latest[kind] = response
    return latest


# --- CSV export ---------------------------------------------------------------------------------------

CSV_COLUMNS = (
    ("response_id", "pk"),
    ("answered_at", "answered_at"),
    ("updated_at", "updated_at"),
    ("survey_id", "survey_id"),
    ("survey", "survey__name"),
    ("kind", "kind"),
    ("score", "score"),
    ("band", None),
    ("comment", "comment"),
    ("customer_id", "customer_id"),
    ("customer", "customer__name"),
    ("contact_id", "contact_id"),
    ("contact_email", "contact__email"),
    ("invitation_id", "invitation_id"),
    ("trigger", "invitation__trigger"),
    ("seconds_after_send", "seconds_after_send"),
)


class _Lines:
    """A file-like target for csv.writer that keeps what it is given, so rows can be sent in chunks."""

    def __init__(self):
        self.parts: list[str] = []

    def write(self, value: str) -> None:
        self.parts.append(value)

    def take(self) -> str:
        text = "".join(self.parts)
        self.parts.clear()
        return text


def _moment(value, tz) -> str | None:
    if value is None:
        return None
    return value.astimezone(tz).isoformat() if value.tzinfo is not None else value.isoformat()


_TEXT_COLUMNS = {"survey__name", "comment", "customer__name", "contact__email"}
_TIME_COLUMNS = {"answered_at", "updated_at"}


def responses_csv(queryset: QuerySet[Response], *, chunk_size: int = 2000, rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text of the responses (header first), streamed in chunks of rows: one query, read in batches (a
    server-side cursor on PostgreSQL), never a query per row."""
    out = _Lines()
    writer = csv.writer(out)
    writer.writerow([name for name, _ in CSV_COLUMNS])
    yield out.take()
    paths = [path for _, path in CSV_COLUMNS if path is not None]
    texts = [i for i, path in enumerate(paths) if path in _TEXT_COLUMNS]
    times = [i for i, path in enumerate(paths) if path in _TIME_COLUMNS]
    band_at = [name for name, _ in CSV_COLUMNS].index("band")
    kind_at, score_at = paths.index("kind"), paths.index("score")
    rows = queryset.order_by("-answered_at", "-id").values_list(*paths).iterator(chunk_size=chunk_size)
    tz = timezone.get_current_timezone()
    pending = 0
    for row in rows:
        cells = list(row)
        for i in texts:
            if cells[i]:
                cells[i] = spreadsheet_text(cells[i])  # a comment "=HYPERLINK(...)" stays text
        for i in times:
            cells[i] = _moment(cells[i], tz)
        cells.insert(band_at, band(row[kind_at], row[score_at]))
        writer.writerow(cells)
        pending += 1
        if pending >= rows_per_chunk:
            yield out.take()
            pending = 0
    if pending:
        yield out.take()


# --- Per-customer sentiment at an instant (health inputs read these; set-based, one statement each) ---------


def latest_answer_by_customer(
    *, customer_ids: list[int], kind: str, before: dt.datetime
) -> dict[int, tuple[int, dt.datetime]]:
    """{customer id: (score, answered_at)}: each customer's latest answer of `kind` answered before `before`
    (any contact), in one statement: a correlated lookup per customer on the (customer, kind, -answered_at)
    index. Customers without one are left out."""
    latest = Response.objects.filter(customer_id=OuterRef("pk"), kind=kind, answered_at__lt=before).order_by(
        "-answered_at", "-id"
    )
    rows = (
        Customer.objects.filter(pk__any_of=customer_ids)
        .annotate(
            answer_score=Subquery(latest.values("score")[:1]),
            answer_at=Subquery(latest.values("answered_at")[:1]),
        )
        .filter(answer_score__isnull=False)
        .order_by()
        .values_list("pk", "answer_score", "answer_at")
    )
    return {customer_id: (score, answered_at) for customer_id, score, answered_at in rows}


def answer_means_by_customer(
    *, customer_ids: list[int], kinds: Iterable[str], start: dt.datetime, end: dt.datetime
) -> dict[tuple[int, str], tuple[float, int]]:
    """{(customer id, kind): (mean score, answers)} over the answers given in [start, end), in one statement."""
    rows = (
        Response.objects.filter(
            customer_id__any_of=customer_ids, kind__in=list(kinds), answered_at__gte=start, answered_at__lt=end
        )
        .values("customer_id", "kind")
        .annotate(mean=Avg("score"), answers=Count("id"))
        .order_by()
        .values_list("customer_id", "kind", "mean", "answers")
    )
    return {(customer_id, kind): (float(mean), answers) for customer_id, kind, mean, answers in rows}


def latest_answer_subquery(*, kind: str, before: dt.datetime) -> Subquery:
    """For `Customer` querysets: the score of the customer's latest answer of `kind` before `before` (any
    contact), NULL when none; a correlated lookup on the (customer, kind, -answered_at) index."""
    latest = Response.objects.filter(customer_id=OuterRef("pk"), kind=kind, answered_at__lt=before).order_by(
        "-answered_at", "-id"
    )
    return Subquery(latest.values("score")[:1])


# --- The CSM's home: answers of a book ---------------------------------------------------------------------------

UNHAPPY_WINDOW_DAYS = 30


def unhappy_awaiting_follow_up(*, customer_ids: list[int], now: dt.datetime, limit: int) -> tuple[list[Response], int]:
    """Unhappy answers (NPS detractors, CSAT 1-2, CES 1-3) of the book's customers in the last 30 days whose
    follow-up task (crm Task sourced from the invitation, surveys.loop) is not done yet: none, or still open.
    Newest first, at most `limit`, with the count of all. Two queries."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import CharField, Exists
    from django.db.models.functions import Cast

    from crm.models import Task

    done = Task.objects.filter(
        source_type=ContentType.objects.get_for_model(Invitation),
        source_id=Cast(OuterRef("invitation_id"), CharField()),
        status=Task.Status.DONE,
    )
    answers = (
        Response.objects.filter(
            customer_id__any_of=customer_ids,
            answered_at__gte=now - dt.timedelta(days=UNHAPPY_WINDOW_DAYS),
        )
        .filter(BAND_CONDITIONS["detractor"] | BAND_CONDITIONS["unhappy"])
        .exclude(Exists(done))
    )
    rows = list(
        answers.select_related("customer", "contact")
        .only("pk", "kind", "score", "comment", "answered_at", "invitation_id", "customer__name", "contact__email")
        .order_by("-answered_at", "-pk")[:limit]
    )
    return rows, answers.count()


def monthly_nps_csat(*, customer_ids: list[int], months: int, now: dt.datetime) -> list[dict]:
    """NPS (% promoters - % detractors) and CSAT (% of 4-5) per calendar month of the last `months` (current time
    zone) over the book's customers' answers; None for a month without answers. One grouped query."""
    from django.db.models.functions import TruncMonth

    local = timezone.localtime(now).date().replace(day=1)
    firsts = []
    day = local
    for _ in range(months):
        firsts.append(day)
        day = (day - dt.timedelta(days=1)).replace(day=1)
    firsts.reverse()
    start = timezone.make_aware(dt.datetime.combine(firsts[0], dt.time.min))
    rows = (
        Response.objects.filter(
            customer_id__any_of=customer_ids, answered_at__gte=start, kind__in=[Kind.NPS, Kind.CSAT]
        )
        .annotate(month=TruncMonth("answered_at"))
        .values("month")
        .annotate(
            nps_n=Count("pk", filter=Q(kind=Kind.NPS)),
            promoters=Count("pk", filter=BAND_CONDITIONS["promoter"]),
            detractors=Count("pk", filter=BAND_CONDITIONS["detractor"]),
            csat_n=Count("pk", filter=Q(kind=Kind.CSAT)),
            satisfied=Count("pk", filter=Q(kind=Kind.CSAT, score__gte=4)),
        )
    )
    by_month = {(row["month"].date() if hasattr(row["month"], "date") else row["month"]): row for row in rows}
    result = []
    for first in firsts:
        row = by_month.get(first)
        nps = csat = None
        if row and row["nps_n"]:
            nps = round(100 * (row["promoters"] - row["detractors"]) / row["nps_n"])
        if row and row["csat_n"]:
            csat = round(100 * row["satisfied"] / row["csat_n"])
        result.append({"month": first, "nps": nps, "csat": csat})
    return result
