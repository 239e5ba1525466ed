"""Survey invitations dispatched in chunks (surveys.dispatch): the same decisions as one at a time, every email
once, its key "survey_invite:<invitation id>", and a statement count that does not grow with the chunk.

The broker, the clock and `invite` are those of test_tasks.py: published tasks are recorded, and `deliver()`
runs each message twice, as a worker would after a lost acknowledgement.
"""

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.ledger import contact_unsubscribe
from crm.models import LedgerEntry, OutboundEmail, TimelineEvent
from surveys.dispatch import invitation_dispatch_many
from surveys.models import Invitation
from surveys.scheduling import dispatch_scan
from surveys.services import survey_create
from tests.surveys.test_tasks import broker_fixture, clock_fixture, invite  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_a_chunk_sends_once_and_suppresses_what_the_ledger_stops_with_its_reason(broker, clock, contact_factory):
    nps = survey_create(name="Quarterly NPS", kind="nps")
    csat = survey_create(name="Support CSAT", kind="csat")
    retired = survey_create(name="Old CES", kind="ces")
    retired.is_active = False
    retired.save()
    ana, bo, gone = (contact_factory(email=f"{n}@globex.example") for n in ("ana", "bo", "gone"))
    contact_unsubscribe(contact=gone)
    sent_a = invite(nps, ana, scheduled_for=clock.now)
    twice = invite(csat, ana, scheduled_for=clock.now)  # the same contact in the same chunk: survey spacing
    sent_b = invite(nps, bo, scheduled_for=clock.now)
    unsubscribed = invite(nps, gone, scheduled_for=clock.now)
    inactive = invite(retired, bo, scheduled_for=clock.now)

    ids = [i.pk for i in (sent_a, twice, sent_b, unsubscribed, inactive)]
    counts = broker.run(invitation_dispatch_many, invitation_ids=ids)
    assert counts == {"sent": 2, "suppressed": 3, "cancelled": 0, "deferred": 0}
    rows = {i.pk: (i.status, i.suppressed_reason) for i in Invitation.objects.all()}
    assert rows[sent_a.pk] == rows[sent_b.pk] == ("sent", "")
    assert rows[twice.pk] == ("suppressed", "surveyed today")
    assert rows[unsubscribed.pk] == ("suppressed", "unsubscribed")
    assert rows[inactive.pk] == ("suppressed", "survey is inactive")
    outcomes = sorted(LedgerEntry.objects.filter(kind="survey").values_list("source_id", "outcome", "reason"))
    assert outcomes == sorted(
        [
            (str(sent_a.pk), "sent", ""),
            (str(twice.pk), "suppressed", "surveyed today"),
            (str(sent_b.pk), "sent", ""),
            (str(unsubscribed.pk), "suppressed", "unsubscribed"),
        ]
    )
    assert TimelineEvent.objects.filter(kind="survey.sent").count() == 2
    assert TimelineEvent.objects.filter(kind="survey.suppressed").count() == 2
    keys = dict(OutboundEmail.objects.values_list("idempotency_key", "pk"))
    assert keys == {
        f"survey_invite:{sent_a.pk}": Invitation.objects.get(pk=sent_a.pk).email_id,
        f"survey_invite:{sent_b.pk}": Invitation.objects.get(pk=sent_b.pk).email_id,
    }
    # The emails go in one crm.send_email_batch task, not one task each.
    assert [name for name, _, _ in broker.published] == ["crm.send_email_batch"]

    # The same chunk again (a redelivered task): nothing new.
    assert broker.run(invitation_dispatch_many, invitation_ids=ids) == dict.fromkeys(
        ("sent", "suppressed", "cancelled", "deferred"), 0
    )
    broker.deliver(times=2)
    assert sorted(m.to[0] for m in mail.outbox) == ["ana@globex.example", "bo@globex.example"]
    assert sorted(m.extra_headers["Message-ID"] for m in mail.outbox) == sorted(
        OutboundEmail.objects.values_list("message_id", flat=True)
    )
    assert LedgerEntry.objects.filter(kind="survey").count() == 4


def test_dispatching_100_invitations_costs_the_statements_of_20(broker, clock, contact_factory, settings):
    settings.SURVEYS_DISPATCH_CHUNK = 500  # one chunk each time: the statement count of one chunk
    nps = survey_create(name="Quarterly NPS", kind="nps")

    def statements_for(count: int) -> int:
        invitations = [
            invite(nps, contact_factory(), key=f"campaign:{count}", scheduled_for=clock.now) for _ in range(count)
        ]
        assert broker.run(dispatch_scan) == count
        [(name, (chunk,), _)] = broker.take()
        assert name == "surveys.dispatch_invitations"
        with CaptureQueriesContext(connection) as captured:
            assert broker.run(invitation_dispatch_many, invitation_ids=chunk)["sent"] == count
        assert len(broker.take("crm.send_email_batch")) == -(-count // settings.EMAIL_BATCH_SIZE)
        assert Invitation.objects.filter(pk__in=[i.pk for i in invitations], status="sent").count() == count
        return len(captured.captured_queries)

    few, many = statements_for(20), statements_for(100)
    assert few == many, f"20 invitations: {few} statements, 100: {many}"
    assert many <= 20
