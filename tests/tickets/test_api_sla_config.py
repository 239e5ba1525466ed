"""REST API v1: /api/v1/business-calendars/ and /api/v1/sla-policies/ (CRUD, idempotent PUT by name,
validation, and running clocks that keep what they counted when the configuration changes)."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.services import contact_create, customer_create
from tickets.models import BusinessCalendar, Holiday, OpeningHours, SlaPolicy, SlaTarget
from tickets.services import ticket_create

pytestmark = pytest.mark.django_db

CALENDARS = "/api/v1/business-calendars/"
POLICIES = "/api/v1/sla-policies/"

WEEKDAYS_9_TO_5 = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]


def calendar_rows() -> tuple:
    return (
        list(BusinessCalendar.objects.order_by("pk").values("pk", "name", "timezone", "always_open")),
        list(OpeningHours.objects.order_by("pk").values_list("calendar_id", "weekday", "start", "end")),
        list(Holiday.objects.order_by("pk").values_list("calendar_id", "date", "name")),
    )


def policy_rows() -> list:
    return list(SlaPolicy.objects.order_by("pk").values())


@pytest.fixture
def admin_api(api_client_for):
    return api_client_for("admin")


@pytest.fixture
def paris(admin_api):
    response = admin_api.post(
        CALENDARS,
        {
            "name": "Paris office",
            "timezone": "Europe/Paris",
            "opening_hours": [
                {"weekday": 0, "start": "13:30", "end": "18:00"},
                {"weekday": 0, "start": "09:00", "end": "12:30"},
                *WEEKDAYS_9_TO_5[1:],
            ],
            "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


# --- Calendars ----------------------------------------------------------------------------------------


def test_create_calendar_with_nested_hours_and_holidays(admin_api, paris):
    calendar = BusinessCalendar.objects.get(pk=paris["id"])
    assert (
        paris["name"] == "Paris office"
        and paris["timezone"] == "Europe/Paris"
        and not paris["always_open"]
    )
    assert paris["opening_hours"][:2] == [
        {"weekday": 0, "start": "09:00:00", "end": "12:30:00"},
        {"weekday": 0, "start": "13:30:00", "end": "18:00:00"},
    ]
    assert paris["holidays"] == [{"date": "2026-12-25", "name": "Christmas"}]
    assert calendar.opening_hours.count() == 6 and calendar.holidays.count() == 1
    response = admin_api.get(f"{CALENDARS}{paris['id']}/")
    assert response.json() == {**paris, "updated_at": response.json()["updated_at"]}


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {
                "opening_hours": [
                    {"weekday": 0, "start": "09:00", "end": "12:00"},
                    {"weekday": 0, "start": "11:00", "end": "13:00"},
                ]
            },
            {"opening_hours": ["Opening hours overlap on Monday: 09:00-12:00 and 11:00-13:00."]},
        ),
        (
            {
                "opening_hours": [
                    {"weekday": 2, "start": "08:00", "end": "18:00"},
                    {"weekday": 2, "start": "10:00", "end": "11:00"},
                    {"weekday": 2, "start": "12:00", "end": "13:00"},
                ]
            },
            {
                "opening_hours": [
                    "Opening hours overlap on Wednesday: 08:00-18:00 and 10:00-11:00.",
                    "Opening hours overlap on Wednesday: 08:00-18:00 and 12:00-13:00.",
                ]
            },
        ),
        (
            {"opening_hours": [{"weekday": 4, "start": "17:00", "end": "09:00"}]},
            {
                "opening_hours": [
                    "Friday 17:00-09:00: the range must end after it starts (00:00 as an end is midnight)."
                ]
            },
        ),
        ({"opening_hours": [{"weekday": 7, "start": "09:00", "end": "17:00"}]}, None),
        ({"opening_hours": [{"weekday": 1, "start": "9h", "end": "17:00"}]}, None),
        (
            {"timezone": "Mars/Olympus"},
            {"timezone": ["Unknown time zone Mars/Olympus; use an IANA name such as Europe/Paris."]},
        ),
        (
            {"holidays": [{"date": "2026-12-25"}, {"date": "2026-12-25", "name": "again"}]},
            {"holidays": ["2026-12-25 is listed more than once."]},
        ),
        ({"name": "Paris office"}, {"name": ["Business calendar with this Name already exists."]}),
        ({"name": ""}, {"name": ["This field may not be blank."]}),
        ({"opening_hours": [{"weekday": 0, "start": "09:00", "end": "17:00", "lunch": True}]}, None),
    ],
)
def test_bad_calendars_are_refused_and_change_nothing(admin_api, paris, change, errors):
    before = calendar_rows()
    payload = {"name": "Other", "timezone": "UTC", "opening_hours": WEEKDAYS_9_TO_5, **change}
    response = admin_api.post(CALENDARS, payload, format="json")
    assert response.status_code == 400
    if errors is not None:
        assert response.json() == errors
    else:  # errors inside an item of a list are keyed by their path: opening_hours.0.weekday
        assert {key.split(".")[0] for key in response.json()} == set(change)
        assert all(key.startswith("opening_hours.0.") for key in response.json())
    assert calendar_rows() == before
    # The same checks on a change of an existing calendar.
    if "name" not in change:
        response = admin_api.patch(f"{CALENDARS}{paris['id']}/", change, format="json")
        assert response.status_code == 400
        assert calendar_rows() == before


def test_midnight_end_and_touching_ranges_are_fine(admin_api):
    response = admin_api.post(
        CALENDARS,
        {
            "name": "Late shift",
            "opening_hours": [
                {"weekday": 5, "start": "18:00", "end": "00:00"},
                {"weekday": 5, "start": "12:00", "end": "18:00"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()


def test_patch_replaces_lists_and_put_resets_to_defaults(admin_api, paris):
    url = f"{CALENDARS}{paris['id']}/"
    response = admin_api.patch(
        url, {"holidays": [{"date": "2027-01-01", "name": "New year"}]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["holidays"] == [{"date": "2027-01-01", "name": "New year"}]
    assert len(response.json()["opening_hours"]) == 6  # not given: kept
    response = admin_api.put(url, {"name": "Paris office", "always_open": True}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["timezone"], body["always_open"], body["opening_hours"], body["holidays"]) == (
        "UTC",
        True,
        [],
        [],
    )


def test_put_by_name_is_idempotent(admin_api):
    url = f"{CALENDARS}by-name/Support%20EU/"
    payload = {
        "timezone": "Europe/Berlin",
        "opening_hours": WEEKDAYS_9_TO_5,
        "holidays": [{"date": "2026-10-03"}],
    }
    first = admin_api.put(url, payload, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["name"] == "Support EU"
    second = admin_api.put(url, payload, format="json")
    assert second.status_code == 200
    assert second.json() == first.json()  # nothing rewritten: same updated_at
    assert BusinessCalendar.objects.filter(name="Support EU").count() == 1
    assert admin_api.get(url).json() == first.json()
    changed = admin_api.put(url, {**payload, "timezone": "Europe/Paris"}, format="json")
    assert changed.status_code == 200 and changed.json()["timezone"] == "Europe/Paris"
    assert admin_api.put(url, {**payload, "name": "Other"}, format="json").json() == {
        "name": ["Must match the name in the URL."]
    }


def test_delete_calendar(admin_api, paris):
    SlaPolicy.objects.create(name="Uses it", calendar_id=paris["id"])
    response = admin_api.delete(f"{CALENDARS}{paris['id']}/")
    assert response.status_code == 409
    assert "Uses it" in response.json()["detail"]
    assert BusinessCalendar.objects.filter(pk=paris["id"]).exists()
    SlaPolicy.objects.all().delete()
    assert admin_api.delete(f"{CALENDARS}{paris['id']}/").status_code == 204
    assert not OpeningHours.objects.exists()


def test_calendar_permissions(api_client_for, paris):
    read_only = api_client_for("read_only")
    assert read_only.get(CALENDARS).status_code == 200
    before = calendar_rows()
    assert read_only.post(CALENDARS, {"name": "x"}, format="json").status_code == 403
    assert read_only.put(f"{CALENDARS}by-name/x/", {}, format="json").status_code == 403
    assert read_only.delete(f"{CALENDARS}{paris['id']}/").status_code == 403
    assert calendar_rows() == before


def test_calendar_list_query_count_is_flat(admin_api, api_client_for):
    api = api_client_for("read_only")
    api.get(CALENDARS)

    def count(n) -> int:
        while BusinessCalendar.objects.count() < n:
            i = BusinessCalendar.objects.count()
            admin_api.post(
                CALENDARS,
                {
                    "name": f"c{i}",
                    "opening_hours": WEEKDAYS_9_TO_5,
                    "holidays": [{"date": "2026-12-25"}],
                },
                format="json",
            )
        with CaptureQueriesContext(connection) as queries:
            rows = api.get(CALENDARS, {"page_size": n}).json()["results"]
        assert len(rows) == n and all(len(row["opening_hours"]) == 5 for row in rows)
        return len(queries)

    assert count(2) == count(10)


# --- Policies -----------------------------------------------------------------------------------------


def policy_payload(calendar_id, **change) -> dict:
    return {
        "name": "Enterprise urgent",
        "order": 10,
        "tiers": ["enterprise"],
        "priorities": ["urgent", "high", "urgent"],
        "calendar": calendar_id,
        "first_response_minutes": 30,
        "next_reply_minutes": 60,
        "resolution_minutes": 480,
        "warn_at_percent": 75,
        **change,
    }


def test_create_policy(admin_api, paris):
    response = admin_api.post(POLICIES, policy_payload(paris["id"]), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["priorities"] == ["urgent", "high"] and body["calendar_name"] == "Paris office"
    assert (body["first_response_minutes"], body["pause_on_hold"], body["is_active"]) == (30, True, True)
    assert admin_api.get(f"{POLICIES}{body['id']}/").json() == body


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {"first_response_minutes": -5},
            {
                "first_response_minutes": [
                    "A target must be a positive number of minutes (null: no target)."
                ]
            },
        ),
        (
            {"resolution_minutes": 0},
            {"resolution_minutes": ["A target must be a positive number of minutes (null: no target)."]},
        ),
        (
            {"warn_at_percent": 0},
            {"warn_at_percent": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"warn_at_percent": 100},
            {"warn_at_percent": ["Ensure this value is less than or equal to 99."]},
        ),
        ({"tiers": ["gold"]}, {"tiers.0": ['"gold" is not a valid choice.']}),
        ({"channels": "email"}, {"channels": ['Expected a list of items but got type "str".']}),
        ({"calendar": 999999}, {"calendar": ['Invalid pk "999999" - object does not exist.']}),
        ({"calendar": None}, {"calendar": ["This field may not be null."]}),
        ({"calendar_name": "Nowhere"}, {"calendar_name": ["Object with name=Nowhere does not exist."]}),
    ],
)
def test_bad_policies_are_refused_and_change_nothing(admin_api, paris, change, errors):
    existing = admin_api.post(
        POLICIES, policy_payload(paris["id"], name="Existing"), format="json"
    ).json()
    before = policy_rows()
    response = admin_api.post(POLICIES, policy_payload(paris["id"], **change), format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert policy_rows() == before
    response = admin_api.patch(f"{POLICIES}{existing['id']}/", change, format="json")
    assert response.status_code == 400
    assert policy_rows() == before


def test_policy_needs_a_calendar(admin_api):
    response = admin_api.post(POLICIES, {"name": "No calendar"}, format="json")
    assert response.status_code == 400 and response.json() == {"calendar": ["This field is required."]}
    assert not SlaPolicy.objects.exists()


def test_policy_put_by_name_is_idempotent_with_calendar_name(admin_api, paris):
    url = f"{POLICIES}by-name/Standard/"
    payload = {"calendar_name": "Paris office", "first_response_minutes": 60, "resolution_minutes": 480}
    first = admin_api.put(url, payload, format="json")
    assert first.status_code == 201, first.json()
    second = admin_api.put(url, payload, format="json")
    assert second.status_code == 200 and second.json() == first.json()
    assert SlaPolicy.objects.filter(name="Standard").count() == 1
    # The body is the whole policy: a target left out goes back to "none".
    third = admin_api.put(
        url, {"calendar_name": "Paris office", "first_response_minutes": 60}, format="json"
    )
    assert third.json()["resolution_minutes"] is None
    response = admin_api.put(f"{POLICIES}by-name/New/", {"first_response_minutes": 5}, format="json")
    assert response.status_code == 400 and response.json() == {"calendar": ["This field is required."]}


def test_names_with_a_slash_are_reachable_by_name(admin_api, paris):
    # The demo's policies are named like "Urgent (24/7)": PUT then GET by that name, quoted or not.
    payload = {"calendar_name": "Paris office", "first_response_minutes": 15}
    created = admin_api.put(f"{POLICIES}by-name/Urgent%20(24%2F7)/", payload, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == "Urgent (24/7)"
    got = admin_api.get(f"{POLICIES}by-name/Urgent (24/7)/")
    assert got.status_code == 200 and got.json()["id"] == created.json()["id"]
    calendar = admin_api.put(f"{CALENDARS}by-name/24/7/", {"timezone": "UTC", "always_open": True}, format="json")
    assert calendar.status_code == 201 and calendar.json()["name"] == "24/7"
    assert admin_api.get(f"{CALENDARS}by-name/24%2F7/").json()["id"] == calendar.json()["id"]


def test_delete_policy(admin_api, paris):
    policy = admin_api.post(POLICIES, policy_payload(paris["id"]), format="json").json()
    assert admin_api.delete(f"{POLICIES}{policy['id']}/").status_code == 204
    assert not SlaPolicy.objects.exists()


# --- Changes under running clocks -----------------------------------------------------------------------


@pytest.fixture
def running(admin_api):
    """A 24/7 policy and a ticket opened 30 minutes ago (30 minutes counted so far)."""
    calendar = admin_api.post(CALENDARS, {"name": "24/7", "always_open": True}, format="json").json()
    policy = admin_api.post(
        POLICIES,
        {"name": "All", "calendar": calendar["id"], "first_response_minutes": 60},
        format="json",
    ).json()
    contact = contact_create(customer=customer_create(name="Acme"), email="ann@acme.example")
    opened = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    ticket = ticket_create(
        customer=contact.customer, requester=contact, subject="s", body="b", created_at=opened
    )
    return calendar, policy, ticket


def first_response(ticket) -> SlaTarget:
    return SlaTarget.objects.get(ticket=ticket, metric="first_response")


def test_policy_change_keeps_counted_time_and_moves_the_due_time(admin_api, running):
    _, policy, ticket = running
    due_before = first_response(ticket).due_at
    response = admin_api.patch(
        f"{POLICIES}{policy['id']}/", {"first_response_minutes": 120}, format="json"
    )
    assert response.status_code == 200, response.json()
    target = first_response(ticket)
    assert target.target_seconds == 7200
    assert 29 * 60 <= target.elapsed_seconds <= 31 * 60  # counted up to the change, kept
    # 60 more minutes (give or take the second the clock rounds business time to).
    assert abs((target.due_at - due_before - dt.timedelta(minutes=60)).total_seconds()) < 2


def test_calendar_change_keeps_counted_time(admin_api, running):
    calendar, _, ticket = running
    # From 24/7 to closed all week: the 30 minutes already counted stay; nothing more will count.
    response = admin_api.put(
        f"{CALENDARS}{calendar['id']}/", {"name": "24/7", "always_open": False}, format="json"
    )
    assert response.status_code == 200, response.json()
    target = first_response(ticket)
    assert 29 * 60 <= target.elapsed_seconds <= 31 * 60
    assert target.due_at is None and target.segments[-1]["reason"] == "business hours"


def test_fixture_of_configuration_loads(tmp_path, paris):
    """Configuration can also live in a fixture file applied with loaddata."""
    SlaPolicy.objects.create(name="Fixture policy", calendar_id=paris["id"], first_response_minutes=60)
    fixture = tmp_path / "sla.json"
    call_command(
        "dumpdata",
        "tickets.BusinessCalendar",
        "tickets.OpeningHours",
        "tickets.Holiday",
        "tickets.SlaPolicy",
        output=str(fixture),
    )
    SlaPolicy.objects.all().delete()
    BusinessCalendar.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    assert SlaPolicy.objects.get().calendar.opening_hours.count() == 6


def test_policy_list_query_count_is_flat(admin_api, api_client_for, paris):
    api = api_client_for("read_only")
    api.get(POLICIES)

    def count(n) -> int:
        while SlaPolicy.objects.count() < n:
            i = SlaPolicy.objects.count()
            admin_api.post(POLICIES, policy_payload(paris["id"], name=f"p{i}", order=i), format="json")
        with CaptureQueriesContext(connection) as queries:
            rows = api.get(POLICIES, {"page_size": n}).json()["results"]
        assert len(rows) == n and all(row["calendar_name"] == "Paris office" for row in rows)
        return len(queries)

    assert count(2) == count(10)
