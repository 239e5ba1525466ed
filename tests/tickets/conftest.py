import datetime as dt

import pytest

from tickets.models import BusinessCalendar, OpeningHours, SlaPolicy


@pytest.fixture
def paris_office(db):
    calendar = BusinessCalendar.objects.create(name="Paris office", timezone="Europe/Paris")
    OpeningHours.objects.bulk_create(
        OpeningHours(calendar=calendar, weekday=d, start=dt.time(9), end=dt.time(17)) for d in range(5)
    )
    return calendar


@pytest.fixture
def standard_policy(paris_office):
    return SlaPolicy.objects.create(
        name="Standard",
        calendar=paris_office,
        first_response_minutes=60,
        next_reply_minutes=120,
        resolution_minutes=480,
    )
