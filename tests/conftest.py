import pytest

from tests.factories import ContactFactory, CustomerFactory, UserFactory


@pytest.fixture
def user_factory():
    return UserFactory


@pytest.fixture
def customer_factory():
    return CustomerFactory


@pytest.fixture
def contact_factory():
    return ContactFactory
