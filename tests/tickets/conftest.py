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


@pytest.fixture
def flag_worker(monkeypatch, django_capture_on_commit_callbacks):
    """Runs each `tickets.evaluate_flags` task as a worker would, as soon as it is published, and twice (a
    redelivered message): flags, their timeline events and emails must still happen once. Returns the list of
    (ticket_id, trigger) it ran."""
    from tickets.tasks import evaluate_flags

    ran = []

    def delay(ticket_id, trigger):
        ran.append((ticket_id, trigger))
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                evaluate_flags.apply((ticket_id, trigger))

    monkeypatch.setattr(evaluate_flags, "delay", delay)
    return ran
