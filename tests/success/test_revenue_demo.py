"""seed_demo gives the demo customers an ARR history consistent with their ARR, churns with reasons."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, OuterRef, Subquery, Sum

from crm.models import Customer, LifecycleStage
from success.models import ArrMovement

pytestmark = pytest.mark.django_db


def test_seed_demo_movements_add_up_to_each_customers_arr():
    out = StringIO()
    call_command(
        "seed_demo", "--customers", 60, "--tickets", 0, "--surveys", 0, "--health-days", 0, "--seed", 4, stdout=out
    )
    assert "ARR movements" in out.getvalue()
    sums = ArrMovement.objects.filter(customer=OuterRef("pk")).values("customer").annotate(s=Sum("amount"))
    customers = Customer.objects.annotate(total=Subquery(sums.values("s")))
    assert customers.count() == 60
    assert [c.pk for c in customers if (c.total or 0) != c.arr] == []
    kinds = dict(ArrMovement.objects.values_list("kind").annotate(n=Count("pk")))
    assert kinds["new"] >= 50 and kinds["expansion"] > 0 and kinds["churn"] > 0
    assert not ArrMovement.objects.filter(kind="churn", churn_reason="").exists()
    churned = Customer.objects.filter(lifecycle_stage=LifecycleStage.CHURNED)
    assert churned.filter(arr=0).count() + ArrMovement.objects.filter(kind="reactivation").count() == churned.count()


def test_seed_demo_kinds_follow_the_arr_in_date_order():
    call_command(
        "seed_demo",
        "--customers",
        80,
        "--tickets",
        0,
        "--surveys",
        0,
        "--health-days",
        0,
        "--seed",
        11,
        stdout=StringIO(),
    )
    balances: dict[int, tuple] = {}
    for m in ArrMovement.objects.order_by("customer_id", "effective_date", "id"):
        before = balances.get(m.customer_id, (0, False))
        after = before[0] + m.amount
        assert after >= 0 and after == m.arr_after
        balances[m.customer_id] = (after, before[1] or m.kind == "churn")
