"""Reads on customers, contacts, notes and the timeline: querysets that load what a page needs in bulk."""

from collections.abc import Iterable

from django.db.models import Count, Exists, F, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from crm.models import Contact, Customer, Note, TimelineEvent


def customer_list() -> QuerySet[Customer]:
    """Customers with `owner_email` and `contacts_count`: one query per page, whatever the page size.

    The count is a correlated subquery over the contact index (customer_id, email), evaluated only for the
    rows of the page, not a GROUP BY over the whole join.
    """
    contacts_count = (
        Contact.objects.filter(customer_id=OuterRef("pk"))
        .order_by()
        .values("customer_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Customer.objects.annotate(
        owner_email=F("owner__email"),
        contacts_count=Coalesce(Subquery(contacts_count, output_field=IntegerField()), 0),
    )


def customer_get(*, pk: int) -> Customer:
    return customer_list().get(pk=pk)


def contact_list() -> QuerySet[Contact]:
    return Contact.objects.all()


def timeline_list(*, customer_id: int) -> QuerySet[TimelineEvent]:
    """One customer's events with the actor's email and the source's type, for the API's timeline."""
    return TimelineEvent.objects.filter(customer_id=customer_id).annotate(
        actor_email=F("actor__email"),
        source_app_label=F("source_type__app_label"),
        source_model=F("source_type__model"),
    )


def note_list(*, customer_id: int | None = None) -> QuerySet[Note]:
    notes = Note.objects.annotate(author_email=F("author__email"))
    if customer_id is not None:
        notes = notes.filter(customer_id=customer_id)
    return notes


def note_get(*, pk: int) -> Note:
    return note_list().get(pk=pk)


def customers_with_last_event(*, customer_ids: list[int], kinds: Iterable[str], before) -> QuerySet[Customer]:
    """The customers (values: id, contract_start, created_at, renewal_date, last_event_at, last_event_kind) with
    their latest timeline event of one of `kinds` that occurred before `before`, in one statement: a
    correlated lookup per customer on the (customer, -occurred_at) timeline index."""
    latest = TimelineEvent.objects.filter(
        customer_id=OuterRef("pk"), kind__in=list(kinds), occurred_at__lt=before
    ).order_by("-occurred_at", "-id")
    return (
        Customer.objects.filter(pk__any_of=customer_ids)
        .annotate(
            last_event_at=Subquery(latest.values("occurred_at")[:1]),
            last_event_kind=Subquery(latest.values("kind")[:1]),
        )
        .order_by()
        .values("id", "contract_start", "created_at", "renewal_date", "last_event_at", "last_event_kind")
    )


# --- Delivery state of an outbound email (what the invitation, the campaign and the outreach record show) -----

DELIVERY_STATES = ("queued", "sending", "sent", "resent", "unknown", "failed")


def email_delivery_state(email) -> str | None:
    """queued / sending / sent / failed; "unknown" when its worker died mid-send and it is not (or no longer)
    being resent; "resent" when it went out on an automatic resend with the same Message-ID. None: no email."""
    if email is None:
        return None
    if email.status == "sent" and email.resends:
        return "resent"
    return email.status


def email_delivery_state_expression(prefix: str = ""):
    """The same as a SQL expression, for annotating rows that point at an email (prefix "email__") and counting
    a campaign's states in one query."""
    from django.db.models import Case, CharField, Value, When

    return Case(
        When(**{f"{prefix}status": "sent", f"{prefix}resends__gt": 0}, then=Value("resent")),
        default=F(f"{prefix}status"),
        output_field=CharField(),
    )


def email_delivery_states(email_ids: Iterable[int]) -> dict[int, str]:
    """{email id: delivery state} for many emails in one query."""
    from crm.models import OutboundEmail

    ids = list(email_ids)
    if not ids:
        return {}
    return dict(
        OutboundEmail.objects.filter(pk__in=ids)
        .annotate(state=email_delivery_state_expression())
        .values_list("pk", "state")
    )


# --- Per-customer expressions over Customer (the outreach audience composes these into one statement) --------


def customer_time_zones() -> list[str]:
    """The distinct time zones of the customers (a handful), in one small query: date-relative outreach
    conditions compare each customer against a threshold computed for its zone's local date."""
    return sorted(Customer.objects.order_by().values_list("timezone", flat=True).distinct())


def last_event_at_subquery(*, kinds: Iterable[str], before) -> Subquery:
    """For `Customer` querysets: when the customer's latest timeline event of one of `kinds` before `before`
    occurred (NULL when none); a correlated lookup on the (customer, -occurred_at) timeline index."""
    latest = TimelineEvent.objects.filter(
        customer_id=OuterRef("pk"), kind__in=list(kinds), occurred_at__lt=before
    ).order_by("-occurred_at", "-id")
    return Subquery(latest.values("occurred_at")[:1])


def open_task_exists(*, types: Iterable[str] | None = None) -> Exists:
    """For `Customer` querysets: the customer has an open CSM task (of one of `types`, when given)."""
    from crm.models import Task

    tasks = Task.objects.filter(customer_id=OuterRef("pk"), status=Task.Status.OPEN)
    if types is not None:
        tasks = tasks.filter(type__in=list(types))
    return Exists(tasks)
