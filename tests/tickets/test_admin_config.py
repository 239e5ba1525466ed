"""Business calendars, SLA policies and flag rules in the admin: clear errors, nothing saved on bad input."""

import datetime as dt

import pytest
from django.urls import reverse

from tickets.models import BusinessCalendar, FlagRule, Holiday, OpeningHours, SlaPolicy

pytestmark = pytest.mark.django_db

CALENDAR_ADD = reverse("admin:tickets_businesscalendar_add")
POLICY_ADD = reverse("admin:tickets_slapolicy_add")
FLAG_RULE_ADD = reverse("admin:tickets_flagrule_add")


@pytest.fixture
def lead(client, make_staff):
    user = make_staff("admin", email="lead@example.com")  # SLA configuration is written by admins
    client.force_login(user)
    return user


def calendar_data(hours=(), holidays=(), **fields):
    data = {
        "name": "Paris office",
        "timezone": "Europe/Paris",
        "opening_hours-TOTAL_FORMS": len(hours),
        "opening_hours-INITIAL_FORMS": 0,
        "holidays-TOTAL_FORMS": len(holidays),
        "holidays-INITIAL_FORMS": 0,
        **fields,
    }
    for i, (weekday, start, end) in enumerate(hours):
        data.update(
            {
                f"opening_hours-{i}-weekday": weekday,
                f"opening_hours-{i}-start": start,
                f"opening_hours-{i}-end": end,
            }
        )
    for i, (date, name) in enumerate(holidays):
        data.update({f"holidays-{i}-date": date, f"holidays-{i}-name": name})
    return data


def errors_of(response):
    """Every error message on the page's form and inline formsets."""
    found = []
    context = response.context
    if "adminform" in context:
        for messages in context["adminform"].form.errors.values():
            found += list(messages)
    for inline in context.get("inline_admin_formsets", []):
        found += list(inline.formset.non_form_errors())
        for form_errors in inline.formset.errors:
            for messages in form_errors.values():
                found += list(messages)
    return found


def test_calendar_with_split_days_and_holidays_is_saved(client, lead):
    data = calendar_data(
        hours=[(0, "09:00", "12:00"), (0, "12:00", "17:00"), (4, "18:00", "00:00")],
        holidays=[("2026-12-25", "Christmas")],
    )
    response = client.post(CALENDAR_ADD, data)
    assert response.status_code == 302, errors_of(response)
    calendar = BusinessCalendar.objects.get()
    assert calendar.timezone == "Europe/Paris"
    assert sorted(calendar.opening_hours.values_list("weekday", "start", "end")) == [
        (0, dt.time(9), dt.time(12)),
        (0, dt.time(12), dt.time(17)),
        (4, dt.time(18), dt.time(0)),
    ]
    assert Holiday.objects.get().date == dt.date(2026, 12, 25)


def test_calendar_page_explains_that_counted_time_stays_counted(client, lead):
    content = client.get(CALENDAR_ADD).content.decode()
    assert "SLA time already counted on tickets stays counted" in content


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (
            [(0, "09:00", "12:00"), (0, "11:00", "14:00")],
            "Opening hours overlap on Monday: 09:00-12:00 and 11:00-14:00.",
        ),
        (
            [(2, "08:00", "18:00"), (2, "10:00", "11:00")],
            "Opening hours overlap on Wednesday: 08:00-18:00 and 10:00-11:00.",
        ),
        (
            [(5, "20:00", "00:00"), (5, "22:00", "23:00")],
            "Opening hours overlap on Saturday: 20:00-00:00 and 22:00-23:00.",
        ),
        ([(1, "17:00", "09:00")], "The range must end after it starts (00:00 for midnight)."),
    ],
)
def test_calendar_rejects_overlapping_or_backwards_hours(client, lead, hours, message):
    response = client.post(CALENDAR_ADD, calendar_data(hours=hours))
    assert response.status_code == 200
    assert message in errors_of(response)
    assert not BusinessCalendar.objects.exists() and not OpeningHours.objects.exists()


def test_calendar_rejects_an_unknown_time_zone(client, lead):
    response = client.post(
        CALENDAR_ADD, calendar_data(hours=[(0, "09:00", "17:00")], timezone="Mars/Olympus")
    )
    assert response.status_code == 200
    assert "Unknown time zone Mars/Olympus; use an IANA name such as Europe/Paris." in errors_of(response)
    assert not BusinessCalendar.objects.exists()


def test_editing_hours_of_an_existing_calendar_checks_overlaps_against_kept_rows(client, lead):
    calendar = BusinessCalendar.objects.create(name="Office", timezone="UTC")
    kept = OpeningHours.objects.create(calendar=calendar, weekday=0, start=dt.time(9), end=dt.time(17))
    data = {
        "name": "Office",
        "timezone": "UTC",
        "opening_hours-TOTAL_FORMS": 2,
        "opening_hours-INITIAL_FORMS": 1,
        "opening_hours-0-id": kept.pk,
        "opening_hours-0-calendar": calendar.pk,
        "opening_hours-0-weekday": 0,
        "opening_hours-0-start": "09:00",
        "opening_hours-0-end": "17:00",
        "opening_hours-1-weekday": 0,
        "opening_hours-1-start": "16:00",
        "opening_hours-1-end": "18:00",
        "holidays-TOTAL_FORMS": 0,
        "holidays-INITIAL_FORMS": 0,
    }
    url = reverse("admin:tickets_businesscalendar_change", args=[calendar.pk])
    response = client.post(url, data)
    assert "Opening hours overlap on Monday: 09:00-17:00 and 16:00-18:00." in errors_of(response)
    assert calendar.opening_hours.count() == 1
    # Deleting the old range makes room for the new one.
    response = client.post(url, {**data, "opening_hours-0-DELETE": "on"})
    assert response.status_code == 302, errors_of(response)
    assert list(calendar.opening_hours.values_list("start", "end")) == [(dt.time(16), dt.time(18))]


# --- SLA policies ------------------------------------------------------------------------------------


@pytest.fixture
def calendar(db):
    return BusinessCalendar.objects.create(name="24/7", always_open=True)


def policy_data(calendar, **overrides):
    data = {
        "name": "Enterprise urgent",
        "order": 10,
        "is_active": "on",
        "calendar": calendar.pk,
        "tiers": ["enterprise"],
        "priorities": ["urgent", "high"],
        "first_response_minutes": 30,
        "next_reply_minutes": "",
        "resolution_minutes": 480,
        "warn_at_percent": 75,
        "pause_on_hold": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_policy_conditions_are_checkboxes_stored_as_lists(client, lead, calendar):
    form = client.get(POLICY_ADD).content.decode()
    assert 'type="checkbox" name="tiers" value="enterprise"' in form
    assert 'type="checkbox" name="channels" value="email"' in form
    response = client.post(POLICY_ADD, policy_data(calendar))
    assert response.status_code == 302, errors_of(response)
    policy = SlaPolicy.objects.get()
    assert (policy.tiers, sorted(policy.priorities), policy.channels, policy.categories) == (
        ["enterprise"],
        ["high", "urgent"],
        [],
        [],
    )
    assert (policy.first_response_minutes, policy.next_reply_minutes, policy.resolution_minutes) == (
        30,
        None,
        480,
    )
    assert policy.warn_at_percent == 75


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "first_response_minutes",
            -5,
            "A target must be a positive number of minutes (leave it empty for no target).",
        ),
        (
            "resolution_minutes",
            0,
            "A target must be a positive number of minutes (leave it empty for no target).",
        ),
        ("warn_at_percent", 0, "Ensure this value is greater than or equal to 1."),
        ("warn_at_percent", 100, "Ensure this value is less than or equal to 99."),
        (
            "priorities",
            ["urgent", "critical"],
            "Select a valid choice. critical is not one of the available choices.",
        ),
    ],
)
def test_policy_rejects_bad_targets(client, lead, calendar, field, value, message):
    response = client.post(POLICY_ADD, policy_data(calendar, **{field: value}))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert not SlaPolicy.objects.exists()


def test_policy_page_explains_matching_and_changes(client, lead, calendar):
    policy = SlaPolicy.objects.create(name="Default", calendar=calendar, first_response_minutes=60)
    content = client.get(reverse("admin:tickets_slapolicy_change", args=[policy.pk])).content.decode()
    assert "first active policy, by order" in content
    assert "keeps the time already counted on tickets" in content
    assert "any ticket" in client.get(reverse("admin:tickets_slapolicy_changelist")).content.decode()


# --- Flag rules ---------------------------------------------------------------------------------------


def test_flag_rule_checkboxes(client, lead):
    data = {
        "name": "Onboarding and at-risk urgent",
        "is_active": "on",
        "on_open": "on",
        "on_escalation": "on",
        "lifecycle_stages": ["onboarding", "at_risk"],
        "tiers": [],
        "priorities": ["urgent"],
        "renewal_within_days": "",
    }
    response = client.post(FLAG_RULE_ADD, data)
    assert response.status_code == 302, errors_of(response)
    rule = FlagRule.objects.get()
    assert (sorted(rule.lifecycle_stages), rule.tiers, rule.priorities) == (
        ["at_risk", "onboarding"],
        [],
        ["urgent"],
    )
    assert rule.renewal_within_days is None

    response = client.post(FLAG_RULE_ADD, {**data, "name": "Never", "on_open": "", "on_escalation": ""})
    assert response.status_code == 200
    assert "or the rule never fires" in " ".join(errors_of(response))
    response = client.post(FLAG_RULE_ADD, {**data, "name": "Bad", "lifecycle_stages": ["sleeping"]})
    assert response.context["adminform"].form.errors["lifecycle_stages"]
    assert FlagRule.objects.count() == 1


# --- Changes under running clocks go through tickets.configuration ----------------------------------


def _open_ticket_two_hours_old(calendar):
    from django.utils import timezone

    from crm.services import contact_create, customer_create
    from tickets.services import ticket_create

    customer = customer_create(name="Acme Corp")
    jane = contact_create(customer=customer, email="jane@acme.example")
    return ticket_create(
        customer=customer,
        requester=jane,
        subject="Broken",
        body="Help",
        created_at=timezone.now() - dt.timedelta(hours=2),
    )


def test_calendar_change_keeps_counted_time_of_running_clocks(client, lead, calendar):
    SlaPolicy.objects.create(name="All", calendar=calendar, first_response_minutes=600)
    ticket = _open_ticket_two_hours_old(calendar)
    target = ticket.sla_targets.get(metric="first_response")
    assert target.elapsed_seconds == 0  # nothing counted since it was opened
    url = reverse("admin:tickets_businesscalendar_change", args=[calendar.pk])
    # The 24/7 calendar becomes a Monday-only one: the two hours already run stay counted under 24/7.
    data = calendar_data(hours=[(0, "09:00", "17:00")], name="24/7", timezone="UTC")
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    target.refresh_from_db()
    assert 2 * 3600 - 5 <= target.elapsed_seconds <= 2 * 3600 + 5
    assert [s["reason"] for s in target.segments] == ["business hours"]
    calendar.refresh_from_db()
    assert not calendar.always_open and calendar.opening_hours.count() == 1


def test_policy_change_through_the_admin_retargets_open_clocks(client, lead, calendar):
    policy = SlaPolicy.objects.create(name="All", calendar=calendar, first_response_minutes=600)
    ticket = _open_ticket_two_hours_old(calendar)
    url = reverse("admin:tickets_slapolicy_change", args=[policy.pk])
    data = policy_data(
        calendar,
        name="All",
        tiers=[],
        priorities=[],
        first_response_minutes=60,
        resolution_minutes="",
        warn_at_percent=80,
    )
    response = client.post(url, data)
    assert response.status_code == 302, errors_of(response)
    target = ticket.sla_targets.get(metric="first_response")
    assert target.target_seconds == 3600
    assert target.elapsed_seconds >= 2 * 3600 - 5  # counted up to the change, now over the new target


def test_calendar_in_use_cannot_be_deleted(client, lead, calendar):
    SlaPolicy.objects.create(name="All", calendar=calendar, first_response_minutes=60)
    url = reverse("admin:tickets_businesscalendar_delete", args=[calendar.pk])
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 200 and "Cannot delete" in response.content.decode()
    assert BusinessCalendar.objects.filter(pk=calendar.pk).exists()
