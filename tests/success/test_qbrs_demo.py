"""seed_demo gives the enterprise and mid-market demo customers their QBR history (held with notes, outcomes and
action item tasks, a few cancelled) and a next QBR proposed or scheduled, without sending any email."""

from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import Customer, OutboundEmail, Task, Tier, TimelineEvent
from success.qbrs.models import Qbr
from success.qbrs.selectors import qbr_next_need, qbr_open_action_items


@pytest.mark.django_db
def test_seed_demo_seeds_qbrs():
    out = StringIO()
    call_command(
        "seed_demo",
        "--customers",
        80,
        "--tickets",
        0,
        "--surveys",
        0,
        "--usage",
        0,
        "--health-days",
        0,
        "--seed",
        5,
        stdout=out,
    )
    assert "Seeded QBRs:" in out.getvalue()
    now = timezone.now()
    held = Qbr.objects.filter(status="held")
    assert held.exists() and Qbr.objects.filter(status="cancelled").exists()
    assert not held.filter(starts_at__gte=now).exists() and not held.filter(outcomes="").exists()
    assert set(held.values_list("customer__tier", flat=True)) <= {Tier.ENTERPRISE, Tier.MID_MARKET}
    assert TimelineEvent.objects.filter(kind="qbr.held").count() == held.count()
    for qbr in held.order_by("pk")[:20]:
        assert Task.objects.filter(source_id=str(qbr.pk), reason__startswith="QBR ").exists()
    assert any(qbr_open_action_items(qbr=q).exists() for q in held)
    # The planner ran: no customer still needs a QBR it does not have (the next one is proposed once it is due within
    # the planner's horizon), and many have their next one proposed or scheduled.
    for customer in Customer.objects.exclude(lifecycle_stage="churned"):
        assert (
            qbr_next_need(customer=customer, today=now.astimezone(ZoneInfo(customer.timezone)).date(), now=now) is None
        ), customer
    assert Qbr.objects.filter(status__in=["proposed", "scheduled"], starts_at__gt=now).count() >= 5
    scheduled = Qbr.objects.filter(status="scheduled")
    assert scheduled.exists() and all(q.contacts.exists() for q in scheduled)
    assert not OutboundEmail.objects.exists()  # demo data sends nothing
