import pytest

from crm.models import TimelineEvent
from crm.services import customer_create, customer_update


@pytest.mark.django_db
def test_customer_create_and_update_write_timeline():
    customer = customer_create(name="Acme", domain="HTTPS://www.Acme.com/", external_id="a-1")
    assert customer.domain == "acme.com"
    customer_update(customer=customer, lifecycle_stage="adopting", arr="500.00")
    kinds = list(TimelineEvent.objects.filter(customer=customer).values_list("kind", flat=True))
    assert sorted(kinds) == ["customer.created", "customer.stage_changed", "customer.updated"]
