import pytest


@pytest.fixture
def loop_worker(monkeypatch, django_capture_on_commit_callbacks):
    """Runs each `surveys.close_loop` task as a worker would, as soon as it is published, and twice (a
    redelivered message): follow-ups, their timeline events and emails must still happen once. Returns the list
    of response ids it ran."""
    from surveys.tasks import close_loop

    ran = []

    def delay(response_id):
        ran.append(response_id)
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                close_loop.apply((response_id,))

    monkeypatch.setattr(close_loop, "delay", delay)
    return ran
