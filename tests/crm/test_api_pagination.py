"""Cursor pagination with ordering (crm.api.pagination): exact across pages even when many rows tie, in both
directions, with NULLs, and refusing cursors it did not make."""

import base64
import datetime
import json
from decimal import Decimal

import pytest

from crm.models import Customer

pytestmark = pytest.mark.django_db

LIST = "/api/v1/customers/"


@pytest.fixture
def api(api_client_for):
    return api_client_for("read_only")


@pytest.fixture
def customers():
    """23 customers: ARR takes only 3 values (many ties); every third has no renewal date; names repeat."""
    rows = [
        Customer(
            name=f"Name {i % 4}",
            external_id=f"p-{i}",
            arr=Decimal([100, 200, 300][i % 3]),
            renewal_date=None if i % 3 == 0 else datetime.date(2027, 1, 1) + datetime.timedelta(days=i % 5),
        )
        for i in range(23)
    ]
    return Customer.objects.bulk_create(rows)


def forge(token) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def walk(api, params, direction="next"):
    """Follow `next` links from the first page; returns the pages' id lists and the last response body."""
    pages, response = [], api.get(LIST, params)
    while True:
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append([row["id"] for row in body["results"]])
        if not body[direction]:
            return pages, body
        response = api.get(body[direction])


def expected_ids(ordering: str) -> list[int]:
    """The order the API promises: the field (NULL as the largest value), then id in the same direction."""
    desc = ordering.startswith("-")
    field = ordering.lstrip("-")
    rows = list(Customer.objects.values_list(field, "id"))

    def key(row):
        value, pk = row
        return (value is None, value if value is not None else 0, pk)

    return [pk for _v, pk in sorted(rows, key=key, reverse=desc)]


@pytest.mark.parametrize(
    "ordering", ["name", "-name", "arr", "-arr", "renewal_date", "-renewal_date", "created_at", "-updated_at"]
)
def test_pages_cover_every_row_once_in_order(api, customers, ordering):
    pages, last = walk(api, {"ordering": ordering, "page_size": 4})
    flat = [pk for page in pages for pk in page]
    assert flat == expected_ids(ordering)
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 3]
    assert last["next"] is None


@pytest.mark.parametrize("ordering", ["-arr", "renewal_date", "-renewal_date", "name"])
def test_previous_links_walk_back_exactly(api, customers, ordering):
    forward, last = walk(api, {"ordering": ordering, "page_size": 5})
    backward = [[row["id"] for row in last["results"]]]
    response = api.get(last["previous"])
    while True:
        body = response.json()
        backward.append([row["id"] for row in body["results"]])
        if not body["previous"]:
            break
        response = api.get(body["previous"])
    assert list(reversed(backward)) == forward


def test_first_page_has_no_previous_and_default_order_is_name_then_id(api, customers):
    body = api.get(LIST, {"page_size": 500}).json()
    assert body["previous"] is None and body["next"] is None
    assert [row["id"] for row in body["results"]] == expected_ids("name")


def test_default_page_size_is_50(api):
    Customer.objects.bulk_create(Customer(name=f"C{i:03d}") for i in range(51))
    body = api.get(LIST).json()
    assert len(body["results"]) == 50 and body["next"]


def test_rows_added_between_pages_are_not_repeated(api, customers):
    first = api.get(LIST, {"ordering": "-arr", "page_size": 5}).json()
    seen = {row["id"] for row in first["results"]}
    Customer.objects.create(name="Late", arr=Decimal("999"))  # sorts before the cursor
    rest, _ = walk_from(api, first["next"])
    assert not seen & {pk for page in rest for pk in page}
    assert len(seen) + sum(len(p) for p in rest) == 23


def walk_from(api, url):
    pages = []
    while url:
        body = api.get(url).json()
        pages.append([row["id"] for row in body["results"]])
        url = body["next"]
    return pages, None


def test_cursor_is_bound_to_its_ordering(api, customers):
    body = api.get(LIST, {"ordering": "arr", "page_size": 5}).json()
    cursor = body["next"].split("cursor=")[1].split("&")[0]
    response = api.get(LIST, {"ordering": "-arr", "cursor": cursor, "page_size": 5})
    assert response.status_code == 400
    assert "another order" in response.json()["cursor"][0]


@pytest.mark.parametrize(
    ("cursor", "ordering"),
    [
        ("%%%", None),
        ("e30", None),  # {}
        (forge([1, 2]), None),
        (forge({"o": "name,id", "p": ["a"]}), None),
        (forge({"o": "name,id", "p": ["a", "x"]}), None),
        (forge({"o": "name,id", "p": [None, 1]}), None),  # name is never NULL
        (forge({"o": "name,id", "p": ["a\u0000", 1]}), None),
        (forge({"o": "name,id", "p": ["a", 10**40]}), None),
        (forge({"o": "name,id", "p": ["a", True]}), None),
        (forge({"o": "name,id", "p": [{"$gt": ""}, 1]}), None),
        (forge({"o": "arr,id", "p": ["1e999999999", 1]}), "arr"),
        (forge({"o": "arr,id", "p": ["abc", 1]}), "arr"),
        (forge({"o": "renewal_date,id", "p": ["2027-02-31", 1]}), "renewal_date"),
        (forge({"o": "created_at,id", "p": ["noon", 1]}), "created_at"),
        ("A" * 5000, None),
    ],
)
def test_forged_or_broken_cursors_are_400(api, customers, cursor, ordering):
    params = {"cursor": cursor, **({"ordering": ordering} if ordering else {})}
    response = api.get(LIST, params)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["cursor"]


def test_forged_but_well_formed_cursor_just_positions(api, customers):
    response = api.get(LIST, {"cursor": forge({"o": "name,id", "p": ["Name 2", 0]}), "page_size": 500})
    assert response.status_code == 200
    assert {row["name"] for row in response.json()["results"]} == {"Name 2", "Name 3"}


def test_fixed_order_lists_refuse_ordering(api, customers):
    response = api.get(f"/api/v1/customers/{customers[0].pk}/timeline/", {"ordering": "kind"})
    assert response.status_code == 400
    assert response.json() == {"ordering": ["This list has a fixed order."]}
