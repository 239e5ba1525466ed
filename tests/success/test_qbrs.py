"""QBRs: the planner's cadence across a renewal, scheduling with invites (.ics parsed back), a reschedule across DST
in two time zones, a cancellation, bad input refused naming the field, reminders, holding with action items, and
invites arriving in a real SMTP server exactly once per change."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from icalendar import Calendar

from crm.ledger import contact_mark_bounced, contact_unsubscribe
from crm.models import LedgerEntry, OutboundEmail, Task, Tier, TimelineEvent
from crm.outbound_email import email_send
from success.qbrs import services
from success.qbrs.models import Qbr

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def at(day: dt.date | str, hour=12, zone=UTC) -> dt.datetime:
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return dt.datetime.combine(day, dt.time(hour), tzinfo=zone)


@pytest.fixture
def csm(make_staff):
    return make_staff("csm", email="csm@example.com", full_name="Casey Manager")


@pytest.fixture
def account(customer_factory, contact_factory, csm):
    customer = customer_factory(
        name="Acme",
        tier=Tier.ENTERPRISE,
        timezone="America/New_York",
        owner=csm,
        contract_start=dt.date(2026, 1, 5),
        renewal_date=dt.date(2026, 9, 30),
    )
    contact = contact_factory(customer=customer, email="ada@acme.example", first_name="Ada", last_name="L")
    return customer, contact


def parse(email: OutboundEmail):
    calendar = Calendar.from_ical(email.calendar)
    [event] = calendar.walk("VEVENT")
    return calendar, event


def schedule(customer, contact, start, now, **kwargs):
    return services.qbr_schedule(
        customer=customer, starts_at=start, duration_minutes=60, contacts=[contact], now=now, **kwargs
    )


# --- The planner -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cadence_across_a_renewal(account):
    """Daily runs over nine months of an enterprise customer (every 3 months, renewal 2026-09-30), each proposal
    scheduled a week ahead and held once past. The renewal's QBR (by 2026-08-01) is planned on the cadence's due
    day because that falls in its window, so one QBR serves both; the runs never propose twice."""
    customer, contact = account
    day = dt.date(2026, 1, 6)
    proposed_on = {}
    while day <= dt.date(2026, 10, 1):
        now = at(day)
        for qbr in services.qbr_plan_customer(customer_id=customer.pk, now=now):
            proposed_on[qbr.pk] = day
        assert services.qbr_plan_customer(customer_id=customer.pk, now=now) == []  # idempotent
        for qbr in Qbr.objects.filter(customer=customer, status="proposed", starts_at__lte=now + dt.timedelta(8)):
            services.qbr_schedule(qbr=qbr, starts_at=qbr.starts_at, duration_minutes=60, contacts=[contact], now=now)
        for qbr in Qbr.objects.filter(customer=customer, status="scheduled", starts_at__lt=now):
            services.qbr_hold(qbr=qbr, notes="Went well.", now=now)
        day += dt.timedelta(days=1)
    rows = [
        (q.starts_at.astimezone(NY).isoformat(), q.origin, q.status, proposed_on[q.pk].isoformat())
        for q in Qbr.objects.filter(customer=customer).order_by("starts_at")
    ]
    assert rows == [
        # contract start 2026-01-05 + 3 months = Sun 04-05 -> Fri 04-03; proposed 45 days ahead of 04-05
        ("2026-04-03T10:00:00-04:00", "cadence", "held", "2026-02-19"),
        # renewal 09-30 enters the 150-day horizon on 05-03: window [05-03, 08-01]; cadence due 07-03 is in it
        ("2026-07-03T10:00:00-04:00", "renewal", "held", "2026-05-03"),
        # held 07-03 + 3 months = Sat 10-03 -> Fri 10-02, proposed 45 days ahead; the renewal is covered
        ("2026-10-02T10:00:00-04:00", "cadence", "scheduled", "2026-08-19"),
    ]
    assert TimelineEvent.objects.filter(customer=customer, kind="qbr.held").count() == 2


@pytest.mark.django_db
def test_a_renewal_before_the_cadence_gets_its_own_qbr(account):
    customer, _contact = account
    customer.tier, customer.renewal_date = Tier.MID_MARKET, dt.date(2026, 6, 30)
    customer.save()
    now = at("2026-02-20")
    [qbr] = services.qbr_plan_customer(customer_id=customer.pk, now=now)
    # 60 days before 06-30 is Fri 05-01; mid-market's first cadence QBR (07-05) is not due yet.
    assert (qbr.origin, qbr.origin_key, qbr.starts_at.astimezone(NY).isoformat()) == (
        "renewal",
        "renewal:2026-06-30",
        "2026-05-01T10:00:00-04:00",
    )
    assert services.qbr_plan(now=now) == {"proposed": 0, "failed": 0}
    # Never scheduled and its time passed: the planner moves it ahead rather than proposing another.
    later = at("2026-05-04")
    assert services.qbr_plan_customer(customer_id=customer.pk, now=later) == []
    qbr.refresh_from_db()
    assert (qbr.status, qbr.starts_at.astimezone(NY).date()) == ("proposed", dt.date(2026, 5, 11))


@pytest.mark.django_db
def test_smb_and_churned_customers_get_no_cadence_qbr(customer_factory, csm):
    smb = customer_factory(tier=Tier.SMB, owner=csm, renewal_date=dt.date(2027, 6, 1))
    churned = customer_factory(tier=Tier.ENTERPRISE, owner=csm, lifecycle_stage="churned")
    assert services.qbr_plan(now=at("2026-06-01")) == {"proposed": 0, "failed": 0}
    assert not Qbr.objects.filter(customer__in=[smb, churned]).exists()


# --- Invites ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reschedule_across_dst_in_two_time_zones(account, customer_factory, contact_factory, csm):
    """US clocks move on 2026-03-08, EU clocks on 2026-03-29: 10:00 local stays 10:00 local in each zone."""
    ny_customer, ny_contact = account
    berlin = customer_factory(name="Bauhaus", tier=Tier.ENTERPRISE, timezone="Europe/Berlin", owner=csm)
    berlin_contact = contact_factory(customer=berlin, email="b@bauhaus.example")
    now = at("2026-02-20")
    for customer, contact, zone, before, after in [
        (ny_customer, ny_contact, NY, "2026-03-05T15:00:00+00:00", "2026-04-02T14:00:00+00:00"),
        (berlin, berlin_contact, BERLIN, "2026-03-05T09:00:00+00:00", "2026-04-02T08:00:00+00:00"),
    ]:
        qbr = schedule(customer, contact, at("2026-03-05", 10, zone), now, agenda="Goals")
        assert qbr.starts_at.isoformat() == before
        qbr = services.qbr_reschedule(qbr=qbr, starts_at=at("2026-04-02", 10, zone), now=now)
        assert qbr.starts_at.isoformat() == after
        invites = OutboundEmail.objects.filter(to_email=contact.email, kind="qbr_invite").order_by("pk")
        assert invites.count() == 2
        (cal0, first), (cal1, second) = parse(invites[0]), parse(invites[1])
        assert cal0["METHOD"] == cal1["METHOD"] == "REQUEST"
        assert str(first["UID"]) == str(second["UID"]) == qbr.ics_uid
        assert (first["SEQUENCE"], second["SEQUENCE"]) == (0, 1)
        for calendar, event, local in [(cal0, first, "2026-03-05"), (cal1, second, "2026-04-02")]:
            start = event["DTSTART"]
            assert start.params["TZID"] == str(zone)
            assert start.dt.replace(tzinfo=None) == dt.datetime.fromisoformat(f"{local}T10:00")
            assert start.dt.utcoffset() == at(local, 10, zone).utcoffset()
            assert event["DTEND"].dt - start.dt == dt.timedelta(hours=1)
            [vtimezone] = calendar.walk("VTIMEZONE")
            assert vtimezone["TZID"] == str(zone)
        assert "Updated invitation" in invites[1].subject


@pytest.mark.django_db
def test_cancellation_sends_method_cancel_to_every_attendee(account, make_staff):
    customer, contact = account
    colleague = make_staff("support_agent", email="agent@example.com")
    now = at("2026-02-20")
    qbr = schedule(customer, contact, at("2026-03-05", 10, NY), now, staff=[colleague])
    qbr = services.qbr_reschedule(qbr=qbr, starts_at=at("2026-03-06", 10, NY), now=now)
    qbr = services.qbr_cancel(qbr=qbr, reason="Customer asked to postpone", now=now)
    assert (qbr.status, qbr.sequence) == ("cancelled", 2)
    cancels = OutboundEmail.objects.filter(idempotency_key__contains=":2:").order_by("to_email")
    assert [e.to_email for e in cancels] == ["ada@acme.example", "agent@example.com", "csm@example.com"]
    for email in cancels:
        calendar, event = parse(email)
        assert (calendar["METHOD"], event["STATUS"], event["SEQUENCE"]) == ("CANCEL", "CANCELLED", 2)
        assert str(event["UID"]) == qbr.ics_uid
        assert email.subject.startswith("Cancelled: ")
    assert OutboundEmail.objects.filter(kind="qbr_invite").count() == 9  # 3 attendees x 3 changes
    assert TimelineEvent.objects.filter(customer=customer, kind="qbr.cancelled").count() == 1
    with pytest.raises(ValidationError) as excinfo:
        services.qbr_cancel(qbr=qbr, now=now)
    assert set(excinfo.value.message_dict) == {"status"}


@pytest.mark.django_db
def test_an_attendee_taken_off_gets_a_cancel(account, contact_factory):
    customer, contact = account
    other = contact_factory(customer=customer, email="bo@acme.example")
    now = at("2026-02-20")
    qbr = schedule(customer, contact, at("2026-03-05", 10, NY), now)
    qbr.contacts.add(other)
    services.qbr_reschedule(qbr=qbr, contacts=[contact], now=now)  # bo is taken off
    [to_bo] = OutboundEmail.objects.filter(to_email="bo@acme.example")
    assert parse(to_bo)[0]["METHOD"] == "CANCEL"


@pytest.mark.django_db
def test_invites_reach_unsubscribed_contacts_but_not_bounced_ones(account, contact_factory):
    customer, contact = account
    bounced = contact_factory(customer=customer, email="gone@acme.example")
    contact_unsubscribe(contact=contact)
    contact_mark_bounced(contact=bounced, detail="550")
    contact.refresh_from_db()
    bounced.refresh_from_db()
    services.qbr_schedule(
        customer=customer, starts_at=at("2026-03-05", 10, NY), contacts=[contact, bounced], now=at("2026-02-20")
    )
    assert set(OutboundEmail.objects.values_list("to_email", flat=True)) == {"ada@acme.example", "csm@example.com"}
    entry = LedgerEntry.objects.get(contact=bounced)
    assert (entry.kind, entry.outcome, entry.reason) == ("qbr_invite", "suppressed", "bounced")


# --- Bad input -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bad_input_is_refused_naming_the_field_with_nothing_changed(account, contact_factory):
    customer, contact = account
    stranger = contact_factory(email="x@elsewhere.example")
    now = at("2026-02-20")
    cases = [
        ({"starts_at": at("2026-02-19", 10, NY)}, "starts_at"),  # in the past
        ({"contacts": [stranger]}, "contacts"),  # a contact of another customer
        ({"duration_minutes": 5}, "duration_minutes"),
        ({"starts_at": dt.datetime(2026, 3, 5, 10)}, "starts_at"),  # naive
    ]
    for change, field in cases:
        kwargs = {"starts_at": at("2026-03-05", 10, NY), "duration_minutes": 60, "contacts": [contact], **change}
        with pytest.raises(ValidationError) as excinfo:
            services.qbr_schedule(customer=customer, now=now, **kwargs)
        assert field in excinfo.value.message_dict, (change, excinfo.value.message_dict)
    assert not Qbr.objects.exists() and not OutboundEmail.objects.exists()
    first = schedule(customer, contact, at("2026-03-05", 10, NY), now)
    with pytest.raises(ValidationError) as excinfo:  # overlaps the first (10:00-11:00)
        schedule(customer, contact, at("2026-03-05", 10, NY) + dt.timedelta(minutes=30), now)
    assert "overlaps QBR" in excinfo.value.message_dict["starts_at"][0]
    second = schedule(customer, contact, at("2026-03-05", 11, NY), now)  # back to back is fine
    with pytest.raises(ValidationError) as excinfo:  # moving the second onto the first
        services.qbr_reschedule(qbr=second, starts_at=first.starts_at, now=now)
    assert set(excinfo.value.message_dict) == {"starts_at"}
    second.refresh_from_db()
    assert (second.starts_at, second.sequence) == (at("2026-03-05", 11, NY), 0)
    assert OutboundEmail.objects.count() == 4  # two invites each to ada and the CSM, nothing for the refusals


# --- Holding, reminders, the pack --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_held_qbr_records_the_touch_and_turns_action_items_into_tasks(account, make_staff):
    customer, contact = account
    helper = make_staff("csm", email="helper@example.com")
    qbr = schedule(customer, contact, at("2026-03-05", 10, NY), at("2026-02-20"))
    with pytest.raises(ValidationError) as excinfo:
        services.qbr_hold(qbr=qbr, now=at("2026-03-01"))
    assert set(excinfo.value.message_dict) == {"status"}  # not started yet
    with pytest.raises(ValidationError) as excinfo:
        services.qbr_hold(qbr=qbr, action_items=[{"title": ""}], now=at("2026-03-06"))
    assert set(excinfo.value.message_dict) == {"action_items"}
    qbr = services.qbr_hold(
        qbr=qbr,
        notes="Reviewed goals.",
        outcomes="Expand to team B.",
        action_items=[
            {"title": "Send the adoption plan", "due_date": dt.date(2026, 3, 12)},
            {"title": "Intro to billing", "owner": helper},
        ],
        now=at("2026-03-06"),
    )
    assert qbr.status == "held"
    tasks = Task.objects.filter(customer=customer).order_by("pk")
    assert [(t.reason, t.owner.email, t.due_date) for t in tasks] == [
        ("QBR 2026-03-05: Send the adoption plan", "csm@example.com", dt.date(2026, 3, 12)),
        ("QBR 2026-03-05: Intro to billing", "helper@example.com", None),
    ]
    event = TimelineEvent.objects.get(kind="qbr.held")
    assert event.occurred_at == qbr.starts_at and event.payload["owner"] == "csm@example.com"


@pytest.mark.django_db
def test_reminders_14_and_3_days_before_once_each(account):
    customer, contact = account
    qbr = schedule(customer, contact, at("2026-04-02", 10, NY), at("2026-02-20"))
    sent = []
    day = dt.date(2026, 3, 10)
    while day <= dt.date(2026, 4, 2):
        for hour in (0, 13):
            sent.append(services.qbr_remind(now=at(day, hour))["reminders"])
        day += dt.timedelta(days=1)
    reminders = OutboundEmail.objects.filter(kind="qbr_reminder").order_by("pk")
    assert sum(sent) == 2
    assert [(r.to_email, r.idempotency_key) for r in reminders] == [
        ("csm@example.com", f"qbr-reminder:{qbr.pk}:14:2026-04-02"),
        ("csm@example.com", f"qbr-reminder:{qbr.pk}:3:2026-04-02"),
    ]
    assert "in 14 days" in reminders[0].subject and "in 3 days" in reminders[1].subject


@pytest.mark.django_db
def test_prep_pack_is_stored_when_scheduled_and_refreshed(account):
    customer, contact = account
    Task.objects.create(customer=customer, owner=customer.owner, type="risk", reason="Champion left")
    qbr = schedule(customer, contact, at("2026-03-05", 10, NY), at("2026-02-20"))
    qbr.refresh_from_db()
    prep = qbr.prep
    assert prep["customer"]["renewal_date"] == "2026-09-30" and prep["customer"]["arr"] == "12000.00"
    assert prep["open_risks"] == 1 and prep["open_tasks"][0]["reason"] == "Champion left"
    assert prep["tickets"]["count"] == 0 and prep["surveys"]["nps"]["answers"] == 0
    assert prep["usage"]["last_30_days"] == {"days_active": 0, "events": 0}
    Task.objects.create(customer=customer, owner=customer.owner, type="risk", reason="Usage dropped")
    services.qbr_prep_refresh(qbr=qbr, now=at("2026-02-21"))
    qbr.refresh_from_db()
    assert qbr.prep["open_risks"] == 2


# --- Real SMTP -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_invites_arrive_in_a_real_smtp_server_once_per_change(account, smtp_settings, smtp_server):
    customer, contact = account
    now = at("2026-02-20")
    qbr = schedule(customer, contact, at("2026-03-05", 10, NY), now)
    qbr = services.qbr_reschedule(qbr=qbr, starts_at=at("2026-04-02", 10, NY), now=now)
    qbr = services.qbr_reschedule(qbr=qbr, starts_at=at("2026-04-02", 10, NY), now=now)  # no change: nothing sent
    services.qbr_cancel(qbr=qbr, now=now)
    for email in OutboundEmail.objects.order_by("pk"):
        assert email_send(email_id=email.pk).status == "sent"
        assert email_send(email_id=email.pk) is None  # a redelivered task finds the row sent and does nothing
    received = smtp_server.wait_for(6)
    assert len(received) == 6
    to_ada = [r for r in received if r.rcpt_tos == ["ada@acme.example"]]
    methods, sequences = [], []
    for message in to_ada:
        parts = {part.get_content_type(): part for part in message.message.walk()}
        part = parts["text/calendar"]
        assert part.get_param("method") in ("REQUEST", "CANCEL")
        assert parts["application/ics"].get_filename() == "invite.ics"
        calendar = Calendar.from_ical(part.get_content())
        [event] = calendar.walk("VEVENT")
        methods.append(str(calendar["METHOD"]))
        sequences.append(event["SEQUENCE"])
        assert str(event["UID"]) == qbr.ics_uid
    assert methods == ["REQUEST", "REQUEST", "CANCEL"] and sequences == [0, 1, 2]


# --- Admin ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_cadence_is_editable_and_the_pack_is_printable(client, account, make_staff):
    customer, contact = account
    qbr = schedule(customer, contact, at("2030-03-05", 10, NY), at("2030-02-20"), agenda="Goals for 2030")
    client.force_login(make_staff("csm"))
    assert client.get("/admin/success/qbrcadence/").status_code == 200
    page = client.get(f"/admin/success/qbr/{qbr.pk}/change/")
    assert page.status_code == 200 and f"/admin/success/qbr/{qbr.pk}/prep/" in page.content.decode()
    pack = client.get(f"/admin/success/qbr/{qbr.pk}/prep/").content.decode()
    assert "QBR with Acme: Tue 05 Mar 2030, 10:00 (America/New_York)" in pack
    assert "Goals for 2030" in pack and "ada@acme.example" in pack and "Refresh the pack" in pack
    assert client.post(f"/admin/success/qbr/{qbr.pk}/prep/").status_code == 302
    qbr.refresh_from_db()
    assert qbr.prep_generated_at > at("2030-02-20") - dt.timedelta(days=10000)
    reader = make_staff("read_only")
    client.force_login(reader)
    assert "Refresh the pack" not in client.get(f"/admin/success/qbr/{qbr.pk}/prep/").content.decode()
    assert client.post(f"/admin/success/qbr/{qbr.pk}/prep/").status_code == 403


@pytest.mark.django_db
def test_admin_list_is_the_csms_calendar(client, account, customer_factory, contact_factory, make_staff):
    customer, contact = account
    other_csm = make_staff("csm", email="other@example.com")
    other = customer_factory(name="Globex", owner=other_csm, timezone="Europe/Berlin")
    schedule(customer, contact, at("2030-03-05", 10, NY), at("2030-02-20"))
    schedule(other, contact_factory(customer=other), at("2030-03-06", 10, BERLIN), at("2030-02-20"))
    client.force_login(customer.owner)
    mine = client.get("/admin/success/qbr/").content.decode()
    assert "Acme" in mine and "Globex" not in mine and "Tue 05 Mar 2030 10:00 (America/New_York)" in mine
    everyone = client.get("/admin/success/qbr/?owner=all").content.decode()
    assert "Globex" in everyone and "Wed 06 Mar 2030 10:00 (Europe/Berlin)" in everyone


@pytest.mark.django_db
def test_admin_list_query_count_is_flat(client, account, contact_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customer, contact = account
    client.force_login(customer.owner)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/success/qbr/?owner=all").status_code == 200
        return len(queries)

    schedule(customer, contact, at("2030-03-05", 10, NY), at("2030-02-20"))
    count()
    small = count()
    for day in range(6, 16):
        schedule(customer, contact, at(f"2030-03-{day:02d}", 10, NY), at("2030-02-20"))
    assert count() == small


@pytest.mark.django_db
def test_prep_shows_health_now_and_its_change_since_the_last_qbr(account, client):
    """Health on the last day scored before the last QBR held, against now; stored in the pack (JSON) and shown."""
    from success.qbrs import selectors
    from tests.success.health_rows import put_score

    customer, contact = account
    qbr = schedule(customer, contact, at("2030-03-05", 10, NY), at("2030-02-20"))
    assert selectors.qbr_prep(qbr=qbr, now=at("2030-02-21"))["health"] is None  # never scored
    Qbr.objects.create(
        customer=customer, owner=customer.owner, starts_at=at("2029-12-01", 15), timezone=NY.key, status="held"
    )
    before = put_score(customer, day=dt.date(2029, 11, 30), current=False, nps_latest=3)  # a detractor then
    put_score(customer, day=dt.date(2029, 12, 2), current=False, nps_latest=3)  # after the QBR: not "at" it
    today = put_score(customer, day=timezone.now().date())
    pack = services.qbr_prep_refresh(qbr=qbr).prep
    assert pack["health"] == {
        "now": {"score": float(today.score), "band": today.band, "day": today.day.isoformat()},
        "at_last_qbr": {"score": float(before.score), "band": before.band, "day": "2029-11-30"},
        "change": float(today.score - before.score),
    }
    assert pack["health"]["change"] > 0
    client.force_login(customer.owner)
    page = client.get(f"/admin/success/qbr/{qbr.pk}/prep/").content.decode()
    assert f"change since the last QBR {pack['health']['change']}" in page


@pytest.mark.django_db(transaction=True)
def test_two_planners_at_once_propose_one_qbr(account):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("concurrent planners need PostgreSQL (SQLite serialises writers)")
    customer, _contact = account
    barrier, results, errors = threading.Barrier(2), [], []

    def planner():
        try:
            barrier.wait(timeout=5)
            results.append(len(services.qbr_plan_customer(customer_id=customer.pk, now=at("2026-02-20"))))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=planner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors and sorted(results) == [0, 1]
    assert Qbr.objects.filter(customer=customer).count() == 1


@pytest.mark.django_db
def test_admin_action_proposes_a_qbr_for_customers(client, account, customer_factory, make_staff):
    customer, _contact = account
    churned = customer_factory(name="Gone Inc", lifecycle_stage="churned", owner=customer.owner)
    client.force_login(make_staff("csm"))
    page = client.post(
        "/admin/crm/customer/",
        {"action": "propose_qbr", "_selected_action": [customer.pk, churned.pk]},
        follow=True,
    )
    text = page.content.decode()
    assert "1 QBR proposed" in text and "Not proposed: Gone Inc: The customer has churned." in text
    [qbr] = Qbr.objects.all()
    assert (qbr.customer, qbr.status, qbr.origin, qbr.owner) == (customer, "proposed", "manual", customer.owner)
    client.post("/admin/crm/customer/", {"action": "propose_qbr", "_selected_action": [customer.pk]})
    assert Qbr.objects.count() == 1  # it already has an upcoming one
    client.force_login(make_staff("read_only"))
    assert "propose_qbr" not in client.get("/admin/crm/customer/").content.decode()
