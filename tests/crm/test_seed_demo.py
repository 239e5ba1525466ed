import datetime
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Q
from django.utils import timezone

from crm.demo_data import ARR_RANGE
from crm.models import Contact, Customer, LifecycleStage, Note, Task, TimelineEvent
from success.models import ArrMovement, PlaybookRun, Qbr

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    """Customers only: the tickets seed_demo adds have their own tests (tests/tickets/test_seed_tickets.py)."""
    out = StringIO()
    call_command("seed_demo", *map(str, args), "--tickets", "0", "--surveys", "0", "--usage", "0", stdout=out)
    return out.getvalue()


def snapshot() -> list[tuple]:
    customers = list(
        Customer.objects.order_by("external_id").values_list(
            "external_id", "name", "domain", "tier", "lifecycle_stage", "arr", "timezone", "owner__email"
        )
    )
    contacts = list(
        Contact.objects.order_by("customer__external_id", "email").values_list(
            "customer__external_id", "email", "first_name", "last_name", "role", "is_primary", "phone"
        )
    )
    notes = sorted(Note.objects.values_list("customer__external_id", "body"))
    return customers + contacts + notes


def test_seed_demo_makes_varied_data_that_keeps_every_rule():
    output = seed("--customers", 60, "--seed", 7)

    assert "Seeded 60 customers, 180 contacts" in output
    assert Customer.objects.count() == 60
    assert Contact.objects.count() == 180
    today = timezone.now().date()
    customers = list(Customer.objects.select_related("owner"))

    # Staff: a handful of CSMs and support agents, in their role groups; owners are CSMs.
    user_model = get_user_model()
    csms = set(user_model.objects.filter(groups__name="csm"))
    assert len(csms) >= 5
    assert user_model.objects.filter(groups__name="support_agent").count() >= 3
    assert {c.owner for c in customers if c.owner} <= csms
    assert sum(1 for c in customers if c.owner) > 40

    # Variety.
    assert {c.tier for c in customers} == {"enterprise", "mid_market", "smb"}
    tiers = [c.tier for c in customers]
    assert tiers.count("smb") > tiers.count("mid_market") > tiers.count("enterprise") >= 1
    assert len({c.lifecycle_stage for c in customers}) >= 4
    assert len({c.timezone for c in customers}) >= 6
    assert len({c.name for c in customers}) == 60
    assert len({c.domain for c in customers}) == 60
    assert all(c.domain.endswith(".example") for c in customers)
    assert len(set(Contact.objects.values_list("role", flat=True))) >= 4

    # ARR by tier; contract and renewal dates; renewals spread over the coming year.
    for c in customers:
        low, high = ARR_RANGE[c.tier]
        # A churned customer's ARR is 0 (its churn movement), unless it came back (a reactivation).
        assert low <= c.arr <= high or (c.lifecycle_stage == LifecycleStage.CHURNED and c.arr <= high), (
            c.tier, c.arr
        )
        assert c.contract_start < c.renewal_date
        assert c.created_at <= timezone.now()
        if c.lifecycle_stage == LifecycleStage.CHURNED:
            assert c.renewal_date < today
        else:
            assert today < c.renewal_date <= today + datetime.timedelta(days=366)
    renewal_months = {c.renewal_date.month for c in customers if c.lifecycle_stage != LifecycleStage.CHURNED}
    assert len(renewal_months) >= 6

    # Unique external ids; contacts: 3 each, one primary, normalised emails unique within the customer.
    assert len({c.external_id for c in customers}) == 60
    assert all(c.external_id for c in customers)
    per_customer = Customer.objects.annotate(
        n=Count("contacts"), primaries=Count("contacts", filter=Q(contacts__is_primary=True))
    )
    assert {(c.n, c.primaries) for c in per_customer} == {(3, 1)}
    for contact in Contact.objects.select_related("customer"):
        assert contact.email == contact.email.strip().lower()
        assert contact.email.endswith("@" + contact.customer.domain)
    # Everything bulk-inserted passes the model validation the services run.
    for obj in [*customers, *Contact.objects.all()]:
        obj.full_clean()

    # Timeline: one customer.created per customer, one note.added per note, pointing at the note.
    assert TimelineEvent.objects.filter(kind="customer.created").count() == 60
    notes = {str(n.pk): n for n in Note.objects.all()}
    assert len(notes) > 5
    note_events = TimelineEvent.objects.filter(kind="note.added")
    assert note_events.count() == len(notes)
    for event in note_events:
        note = notes[event.source_id]
        assert (event.customer_id, event.occurred_at, event.actor_id) == (
            note.customer_id,
            note.created_at,
            note.author_id,
        )
        assert note.created_at >= note.customer.created_at


def test_if_empty_does_nothing_when_customers_exist_and_reruns_add_more():
    seed("--customers", 5, "--seed", 1)
    users = get_user_model().objects.count()

    output = seed("--customers", 5, "--if-empty")
    assert "nothing seeded" in output
    assert Customer.objects.count() == 5

    seed("--customers", 5, "--seed", 1, "--contacts-per-customer", 2)
    assert Customer.objects.count() == 10
    assert Contact.objects.count() == 5 * 3 + 5 * 2
    assert Customer.objects.values("external_id").distinct().count() == 10
    assert get_user_model().objects.count() == users  # the demo staff are reused, not duplicated


def test_if_empty_seeds_an_empty_database():
    seed("--customers", 3, "--if-empty", "--seed", 2)
    assert Customer.objects.count() == 3


def delete_customers():
    ArrMovement.objects.all().delete()  # they protect their customer
    PlaybookRun.objects.all().delete()  # so do playbook runs (their steps go with them), QBRs and CSM tasks
    Qbr.objects.all().delete()
    Task.objects.all().delete()
    Customer.objects.all().delete()


def test_same_seed_gives_the_same_data_and_another_seed_does_not():
    seed("--customers", 15, "--seed", 11)
    first = snapshot()
    delete_customers()
    seed("--customers", 15, "--seed", 11)
    assert snapshot() == first
    delete_customers()
    seed("--customers", 15, "--seed", 12)
    assert snapshot() != first


def test_small_batches_give_the_same_rows():
    seed("--customers", 12, "--seed", 4, "--batch-size", 5)
    batched = snapshot()
    delete_customers()
    seed("--customers", 12, "--seed", 4)
    assert snapshot() == batched


@pytest.mark.parametrize(
    "args",
    [
        ("--customers", 0),
        ("--customers", 2, "--contacts-per-customer", 0),
        ("--customers", 2, "--batch-size", 0),
    ],
)
def test_bad_arguments_are_refused_and_write_nothing(args):
    with pytest.raises(CommandError):
        seed(*args)
    assert not Customer.objects.exists()


def test_seed_demo_prints_the_time_of_each_phase():
    import re

    out = StringIO()
    call_command("seed_demo", "--customers", "20", "--seed", "3", "--tickets", "10", "--surveys", "20", stdout=out)
    lines = out.getvalue().splitlines()
    timing = [line for line in lines if line.startswith("Time per phase: ")]
    assert len(timing) == 1 and timing[0] == lines[-1], lines
    assert re.fullmatch(
        r"Time per phase: customers and contacts \d+\.\d s, tickets \d+\.\d s, ARR movements \d+\.\d s, "
        r"surveys \d+\.\d s, usage \d+\.\d s, playbooks \d+\.\d s, QBRs \d+\.\d s, health \d+\.\d s; total \d+\.\d s\.",
        timing[0],
    ), timing[0]
    phases = [float(x) for x in re.findall(r"(\d+\.\d) s", timing[0])]
    assert abs(sum(phases[:-1]) - phases[-1]) <= 0.2

    # Without tickets, that phase is not listed.
    assert "tickets" not in seed("--customers", 5).splitlines()[-1]
