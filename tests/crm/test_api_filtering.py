"""The API's filter backend (crm.api.filtering): django-filter runs only when a request names one of the
FilterSet's parameters; every such parameter, even empty or malformed, is handled by django-filter as before."""

import pytest

from crm.filters import CustomerFilterSet
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/customers/"


@pytest.fixture
def api(api_client_for):
    return api_client_for("read_only")


@pytest.fixture
def built(monkeypatch):
    """How many CustomerFilterSet objects requests built."""
    calls = []
    original = CustomerFilterSet.__init__

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("data"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(CustomerFilterSet, "__init__", spy)
    return calls


def names(response) -> set[str]:
    return {row["name"] for row in response.json()["results"]}


def test_an_unfiltered_list_builds_no_filterset(api, built):
    CustomerFactory(name="Smb one", tier="smb")
    CustomerFactory(name="Ent one", tier="enterprise")
    response = api.get(LIST, {"page_size": 10, "ordering": "name"})
    assert response.status_code == 200
    assert names(response) == {"Smb one", "Ent one"}
    assert built == []


def test_a_filter_parameter_goes_through_django_filter(api, built):
    CustomerFactory(name="Smb one", tier="smb")
    CustomerFactory(name="Ent one", tier="enterprise")
    assert names(api.get(LIST, {"tier": "smb"})) == {"Smb one"}
    for bad in ("", "platinum"):  # named, even empty: django-filter's answer
        response = api.get(LIST, {"tier": bad})
        assert response.status_code == 400
        assert "tier" in response.json()
    assert len(built) == 3
