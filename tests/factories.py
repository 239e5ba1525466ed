import datetime
from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from accounts.models import User
from crm.models import Contact, Customer, LifecycleStage, Tier


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@example.com")
    full_name = factory.Faker("name")
    is_staff = True

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "correct horse battery staple")
        if create:
            obj.save(update_fields=["password"])


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n:05d}")
    domain = factory.Sequence(lambda n: f"customer{n}.example.com")
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    lifecycle_stage = LifecycleStage.ONBOARDING
    tier = Tier.SMB
    arr = Decimal("12000.00")
    contract_start = datetime.date(2026, 1, 1)
    renewal_date = datetime.date(2027, 1, 1)
    timezone = "Europe/Paris"


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    email = factory.Sequence(lambda n: f"person{n}@customer.example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
