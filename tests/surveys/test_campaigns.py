"""Campaigns are rows: started in the admin or the API, a campaign is recorded in the same transaction as the
start, published to the workers on commit, and survives a broker that is down (it stays queued and the
dispatch scan publishes it when the broker is back). Started twice, it invites nobody twice. Its status and
counts (invited, suppressed) are in the admin and the API."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from config.celery import app as celery_app
from crm.ledger import contact_unsubscribe
from crm.models import OutboundEmail
from crm.services import contact_create, customer_create
from surveys.models import Campaign, Invitation
from surveys.scheduling import campaign_invite, campaign_start, dispatch_scan
from surveys.services import survey_create
from tests.surveys.test_tasks import broker_fixture, clock_fixture  # noqa: F401  (fixtures: broker, clock)

pytestmark = pytest.mark.django_db

CAMPAIGNS_API = "/api/v1/survey-campaigns/"
CAMPAIGNS_ADMIN = reverse("admin:surveys_campaign_changelist")
INVITATIONS_ADMIN = reverse("admin:surveys_invitation_changelist")
_seq = iter(range(1, 100_000))


def new_contact(customer=None, role="end_user", **customer_fields):
    n = next(_seq)
    customer = customer or customer_create(name=f"Campaign customer {n:04d}", **customer_fields)
    return contact_create(customer=customer, email=f"campaign{n}@example.com", role=role)


def campaign_url(survey) -> str:
    return reverse("admin:surveys_survey_campaign", args=[survey.pk])


def api_url(survey) -> str:
    return f"/api/v1/surveys/{survey.pk}/campaigns/"


@pytest.fixture
def nps(db):
    return survey_create(name="Quarterly NPS", kind="nps")


@pytest.fixture
def enterprise(db):
    """Two enterprise contacts (one unsubscribed) and an SMB one outside the audience."""
    big = customer_create(name="Big Co", tier="enterprise", lifecycle_stage="adopting")
    ana = new_contact(customer=big, role="champion")
    ben = new_contact(customer=big, role="end_user")
    contact_unsubscribe(contact=ben)
    new_contact(tier="smb")
    return {"ana": ana, "ben": ben}


@pytest.fixture
def broker_down(monkeypatch):
    """The broker refuses every publish of the campaign task (as the invitations' scan tests simulate it)."""
    refused = []

    def refuse(args=None, kwargs=None, **options):
        refused.append(args)
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(celery_app.tasks["surveys.send_campaign"], "apply_async", refuse)
    return refused


def campaign_messages(broker) -> list:
    return [args for name, args, _ in broker.published if name == "surveys.send_campaign"]


# --- the service: durable campaigns -------------------------------------------------------------------------


def test_a_campaign_the_broker_refused_stays_queued_and_the_dispatch_scan_starts_it_once(
    broker, clock, nps, enterprise, monkeypatch
):
    # The broker is down when the campaign starts: no error for the caller, the campaign is recorded.
    original = celery_app.tasks["surveys.send_campaign"].apply_async
    calls = []

    def refuse(args=None, kwargs=None, **options):
        calls.append(args)
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery_app.tasks["surveys.send_campaign"], "apply_async", refuse)
    campaign, started = broker.run(campaign_start, survey=nps, audience={"tiers": ["enterprise"]})
    assert started and len(calls) == 1
    campaign.refresh_from_db()
    assert (campaign.status, campaign.queued_at, campaign.invited) == ("queued", None, None)
    assert campaign.audience == {"tiers": ["enterprise"]}
    assert not Invitation.objects.exists()

    # Still down at the next scan: still queued, nothing lost.
    clock.advance(minutes=1)
    broker.run(dispatch_scan)
    assert len(calls) == 2
    assert Campaign.objects.get().queued_at is None

    # The broker is back: the next scan publishes the campaign (its trigger key, its audience) once.
    monkeypatch.setattr(celery_app.tasks["surveys.send_campaign"], "apply_async", original)
    clock.advance(minutes=1)
    broker.run(dispatch_scan)
    assert campaign_messages(broker) == [(nps.pk, {"tiers": ["enterprise"]}, campaign.trigger_key)]
    assert Campaign.objects.get().queued_at == clock.now
    clock.advance(minutes=1)
    broker.run(dispatch_scan)
    assert len(campaign_messages(broker)) == 1  # published, not done yet: not published again at once

    # The worker runs it (each message twice): one invitation per contact, then one email to Ana.
    broker.deliver(times=2)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.invited) == ("running", 2)
    invited = Invitation.objects.filter(trigger_key=campaign.trigger_key)
    assert sorted(invited.values_list("contact_id", flat=True)) == sorted(c.pk for c in enterprise.values())
    broker.run(dispatch_scan)
    broker.deliver(times=2)
    assert list(OutboundEmail.objects.values_list("to_email", flat=True)) == [enterprise["ana"].email]

    # The next scan sees every invitation dispatched: done, with its counts.
    broker.run(dispatch_scan)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.invited, campaign.suppressed) == ("done", 2, 1)
    assert campaign.finished_at == clock.now
    # A late duplicate of the task changes nothing.
    broker.run(campaign_invite, survey_id=nps.pk, audience=campaign.audience, trigger_key=campaign.trigger_key)
    assert invited.count() == 2 and Campaign.objects.get().status == "done"


def test_a_published_campaign_whose_message_was_lost_is_published_again_after_the_requeue_delay(
    broker, clock, nps, enterprise
):
    campaign, _ = broker.run(campaign_start, survey=nps, audience={"tiers": ["enterprise"]})
    assert len(broker.take("surveys.send_campaign")) == 1  # the message is lost
    clock.advance(minutes=14)
    broker.run(dispatch_scan)
    assert campaign_messages(broker) == []
    clock.advance(minutes=2)
    broker.run(dispatch_scan)
    assert campaign_messages(broker) == [(nps.pk, {"tiers": ["enterprise"]}, campaign.trigger_key)]
    broker.deliver()
    assert Invitation.objects.filter(trigger_key=campaign.trigger_key).count() == 2


def test_starting_the_same_campaign_twice_invites_nobody_twice(broker, clock, nps, enterprise, make_staff):
    csm = make_staff("csm")
    audience = {"roles": ["end_user", "champion"], "tiers": ["enterprise"]}
    first, started = broker.run(campaign_start, survey=nps, audience=audience, actor=csm)
    # The same audience again (in another order) while the first is not done: the same campaign.
    again, started_again = broker.run(
        campaign_start, survey=nps, audience={"tiers": ["enterprise"], "roles": ["champion", "end_user"]}
    )
    # The same request key (a double click on the same form, a retried API call), whatever the audience.
    keyed, _ = broker.run(campaign_start, survey=nps, audience={"roles": ["champion"]}, request_key="k1")
    repeat, started_repeat = broker.run(campaign_start, survey=nps, audience={"roles": ["end_user"]}, request_key="k1")
    assert (started, started_again, started_repeat) == (True, False, False)
    assert again.pk == first.pk and repeat.pk == keyed.pk
    assert Campaign.objects.count() == 2
    broker.deliver(times=2)
    broker.run(dispatch_scan)
    broker.deliver(times=2)
    per_contact = list(Invitation.objects.values_list("contact_id", "trigger_key"))
    assert sorted(per_contact) == sorted(
        [
            (enterprise["ana"].pk, first.trigger_key),
            (enterprise["ben"].pk, first.trigger_key),
            (enterprise["ana"].pk, keyed.trigger_key),
        ]
    )
    assert OutboundEmail.objects.filter(to_email=enterprise["ana"].email).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_of_the_same_campaign_make_one(monkeypatch):
    """Two requests at once (a double click reaching two web processes): the survey row lock serialises them."""
    import threading

    from django.db import connection

    survey = survey_create(name="Quarterly NPS", kind="nps")
    monkeypatch.setattr(
        celery_app.tasks["surveys.send_campaign"], "apply_async", lambda args=None, kwargs=None, **options: None
    )
    barrier, outcomes = threading.Barrier(2), []

    def start():
        try:
            barrier.wait()
            outcomes.append(campaign_start(survey=survey, audience={"tiers": ["smb"]}, request_key="dbl")[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [False, True]
    assert Campaign.objects.count() == 1


def test_a_done_campaign_can_be_started_again_with_the_same_audience(broker, clock, nps, enterprise):
    first, _ = broker.run(campaign_start, survey=nps, audience={"tiers": ["enterprise"]})
    broker.deliver()
    broker.run(dispatch_scan)
    broker.deliver()
    broker.run(dispatch_scan)
    assert Campaign.objects.get().status == "done"
    clock.advance(days=40)
    second, started = broker.run(campaign_start, survey=nps, audience={"tiers": ["enterprise"]})
    assert started and second.pk != first.pk and second.trigger_key != first.trigger_key


# --- the admin ----------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_admin_campaign_with_the_broker_down_is_queued_not_a_500(client, make_staff, broker_down, monkeypatch):
    """Transactional: the campaign's publish runs on commit inside the request, as in production."""
    client.force_login(make_staff("csm"))
    survey = survey_create(name="Onboarding CES", kind="ces")
    big = customer_create(name="Big Co", tier="enterprise")
    contact = new_contact(customer=big, role="champion")
    page = client.get(campaign_url(survey))
    key = page.context["form"]["key"].value()
    response = client.post(campaign_url(survey), {"tiers": ["enterprise"], "key": key, "_send": "1"})
    assert response.status_code == 302
    assert len(broker_down) == 1
    campaign = Campaign.objects.get()
    assert (campaign.survey_id, campaign.status, campaign.queued_at) == (survey.pk, "queued", None)
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "queued" in message and "workers cannot be reached" in message
    # The campaigns list shows it queued; nothing was invited yet, and nothing is lost.
    listing = client.get(CAMPAIGNS_ADMIN).content.decode()
    assert "Queued" in listing and "Tier: Enterprise" in listing
    assert not Invitation.objects.exists()

    # The broker is back; the next dispatch scan starts it (here the worker runs in this process).
    from surveys.tasks import send_campaign

    published = []
    monkeypatch.setattr(
        send_campaign, "apply_async", lambda args=None, kwargs=None, **options: published.append((args, kwargs))
    )
    dispatch_scan()
    assert [args for args, _ in published] == [(survey.pk, {"tiers": ["enterprise"]}, campaign.trigger_key)]
    for args, kwargs in published * 2:  # delivered twice
        send_campaign.apply(args, kwargs)
    assert list(Invitation.objects.values_list("contact_id", flat=True)) == [contact.pk]


def test_admin_double_click_starts_one_campaign(
    client, make_staff, nps, enterprise, monkeypatch, django_capture_on_commit_callbacks
):
    published = []
    monkeypatch.setattr(
        celery_app.tasks["surveys.send_campaign"],
        "apply_async",
        lambda args=None, kwargs=None, **options: published.append(args),
    )
    client.force_login(make_staff("csm"))
    key = client.get(campaign_url(nps)).context["form"]["key"].value()
    assert len(key) == 32
    form = {"tiers": ["enterprise"], "key": key, "_send": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(campaign_url(nps), form)
        second = client.post(campaign_url(nps), form)
    assert len(published) == 1
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]  # both lead to the one campaign's invitations
    campaign = Campaign.objects.get()
    assert campaign.request_key == key
    messages = [str(m) for m in get_messages(second.wsgi_request)]
    assert any("already started" in m for m in messages)
    for args in published:  # whatever was published, run twice
        campaign_invite(survey_id=args[0], audience=args[1], trigger_key=args[2])
        campaign_invite(survey_id=args[0], audience=args[1], trigger_key=args[2])
    assert Invitation.objects.count() == 2
    assert sorted(Invitation.objects.values_list("contact_id", flat=True)) == sorted(c.pk for c in enterprise.values())


def test_campaigns_in_the_admin_are_read_only_with_audience_status_and_counts(
    broker, clock, client, make_staff, nps, enterprise, django_assert_max_num_queries
):
    csm = make_staff("csm", email="casey@example.com")
    client.force_login(csm)
    owner = make_staff("csm", email="olive@example.com")
    broker.run(campaign_start, survey=nps, audience={"tiers": ["enterprise"]}, actor=csm)
    broker.deliver()
    broker.run(dispatch_scan)
    broker.deliver()
    broker.run(dispatch_scan)

    def counted(size):
        while Campaign.objects.count() < size:
            n = Campaign.objects.count()
            broker.run(campaign_start, survey=nps, audience={"owners": [owner.pk], "customers": [n]}, actor=csm)
        with django_assert_max_num_queries(14) as captured:
            page = client.get(CAMPAIGNS_ADMIN)
        assert page.status_code == 200 and len(page.context["cl"].result_list) == size
        return page, len(captured.captured_queries)

    page, small = counted(2)
    _, large = counted(12)
    assert small == large
    html = page.content.decode()
    assert "Tier: Enterprise" in html and "Owner: olive@example.com" in html and "casey@example.com" in html
    done = page.context["cl"].result_list[-1]
    assert (done.status, done.invited, done.suppressed) == ("done", 2, 1)
    change = client.get(reverse("admin:surveys_campaign_change", args=[done.pk])).content.decode()
    assert "Tier: Enterprise" in change and INVITATIONS_ADMIN in change
    assert client.get(reverse("admin:surveys_campaign_add")).status_code == 403
    survey_page = client.get(reverse("admin:surveys_survey_change", args=[nps.pk])).content.decode()
    assert f"{CAMPAIGNS_ADMIN}?survey={nps.pk}" in survey_page
    by_survey = client.get(CAMPAIGNS_ADMIN, {"survey": nps.pk + 1})
    assert list(by_survey.context["cl"].result_list) == []


# --- the API ------------------------------------------------------------------------------------------------


@pytest.fixture
def api(api_client_for):
    return api_client_for("csm")


def test_api_starts_a_campaign_to_an_audience_and_reads_its_status(api, broker, clock, nps, enterprise, make_staff):
    owner = make_staff("csm", email="olive@example.com")
    enterprise["ana"].customer.owner = owner
    enterprise["ana"].customer.save(update_fields=["owner"])
    body = {"tiers": ["enterprise"], "owners": ["Olive@example.com"], "contact_roles": ["champion", "end_user"]}
    response = broker.run(api.post, path=api_url(nps), data=body, format="json")
    assert response.status_code == 202, response.json()
    started = response.json()
    campaign = Campaign.objects.get()
    assert started["id"] == campaign.pk and started["status"] == "queued"
    assert started["audience"] == {
        "tiers": ["enterprise"],
        "lifecycle_stages": [],
        "owners": ["olive@example.com"],
        "contact_roles": ["champion", "end_user"],
        "customers": [],
        "contacts": [],
        "all": False,
    }
    assert started["created_at"] and started["invited"] is None and started["survey_name"] == "Quarterly NPS"
    assert response["Location"].endswith(f"{CAMPAIGNS_API}{campaign.pk}/")
    assert campaign_messages(broker) == [
        (
            nps.pk,
            {"owners": [owner.pk], "roles": ["champion", "end_user"], "tiers": ["enterprise"]},
            campaign.trigger_key,
        )
    ]
    broker.deliver()
    broker.run(dispatch_scan)
    broker.deliver()
    broker.run(dispatch_scan)
    detail = api.get(f"{CAMPAIGNS_API}{campaign.pk}/").json()
    assert (detail["status"], detail["invited"], detail["suppressed"]) == ("done", 2, 1)
    assert detail["finished_at"]
    listed = api.get(api_url(nps)).json()["results"]
    assert [row["id"] for row in listed] == [campaign.pk] and listed[0] == detail
    assert api.get(CAMPAIGNS_API, {"survey": nps.pk, "status": "done"}).json()["results"] == [detail]
    assert api.get(CAMPAIGNS_API, {"status": "queued"}).json()["results"] == []
    assert api.get(CAMPAIGNS_API, {"status": "lost"}).status_code == 400


def test_api_campaign_with_the_broker_down_is_202_and_queued(
    api, nps, enterprise, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(api_url(nps), {"tiers": ["enterprise"]}, format="json")
    assert response.status_code == 202
    assert len(broker_down) == 1
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.queued_at) == ("queued", None)
    assert api.get(f"{CAMPAIGNS_API}{campaign.pk}/").json()["status"] == "queued"


def test_the_same_audience_with_filters_and_values_in_any_order_is_one_campaign(broker, clock, nps, enterprise):
    """The service's audience is one canonical object (SQLite compared the stored JSON as text, key order and all):
    every order of the same filters and values finds the campaign already started."""
    customer_ids = sorted({contact.customer_id for contact in enterprise.values()})
    stages = ["onboarding", "mature", "adopting"]
    audience = {"tiers": ["enterprise"], "customers": customer_ids, "lifecycle_stages": stages, "roles": ["champion"]}
    first, started = broker.run(campaign_start, survey=nps, audience=audience)
    orders = (["roles", "lifecycle_stages", "customers", "tiers"], ["customers", "tiers", "roles", "lifecycle_stages"])
    for order in orders:
        shuffled = {name: list(reversed(audience[name])) for name in order}
        again, started_again = broker.run(campaign_start, survey=nps, audience=shuffled)
        assert (started, started_again, again.pk) == (True, False, first.pk)
    assert Campaign.objects.count() == 1


def test_api_campaign_started_twice_is_one_campaign(api, broker, clock, nps, enterprise):
    url = api_url(nps)
    first = broker.run(api.post, path=url, data={"tiers": ["enterprise"]}, format="json", HTTP_IDEMPOTENCY_KEY="w1")
    again = broker.run(api.post, path=url, data={"tiers": ["enterprise"]}, format="json", HTTP_IDEMPOTENCY_KEY="w1")
    no_key = broker.run(api.post, path=url, data={"tiers": ["enterprise"]}, format="json")
    assert (first.status_code, again.status_code, no_key.status_code) == (202, 200, 200)
    assert first.json()["id"] == again.json()["id"] == no_key.json()["id"]
    bad = api.post(url, {"tiers": ["enterprise"]}, format="json", HTTP_IDEMPOTENCY_KEY="no spaces")
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()
    broker.deliver(times=2)
    assert Campaign.objects.count() == 1 and Invitation.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"tiers": ["gold"]}, "tiers.0", '"gold" is not a valid choice.'),
        ({"lifecycle_stages": ["asleep"]}, "lifecycle_stages.0", '"asleep" is not a valid choice.'),
        ({"contact_roles": ["ceo"]}, "contact_roles.0", '"ceo" is not a valid choice.'),
        ({"owners": ["nobody@example.com"]}, "owners.0", "No active staff user has the email nobody@example.com."),
        ({"tiers": "enterprise"}, "tiers", 'Expected a list of items but got type "str".'),
        ({}, "all", "An empty audience is every contact"),
        ({"tiers": [], "all": False}, "all", "An empty audience is every contact"),
        ({"tiers": ["smb"], "all": True}, "all", "not both"),
        ({"regions": ["emea"]}, "regions", "Unknown field."),
    ],
)
def test_api_bad_audience_is_400_naming_the_field(api, nps, body, field, message):
    response = api.post(api_url(nps), body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message in str(errors[field])
    assert not Campaign.objects.exists()


def test_api_all_true_invites_every_contact(api, broker, clock, nps, enterprise):
    response = broker.run(api.post, path=api_url(nps), data={"all": True}, format="json")
    assert response.status_code == 202 and response.json()["audience"]["all"] is True
    broker.deliver()
    assert Invitation.objects.count() == 3  # the SMB contact too


def test_api_campaign_permissions_inactive_survey_and_404(api_client_for, api, nps, enterprise):
    reader = api_client_for("read_only")
    assert reader.post(api_url(nps), {"all": True}, format="json").status_code == 403
    assert reader.get(api_url(nps)).status_code == 200 and reader.get(CAMPAIGNS_API).status_code == 200
    agent = api_client_for("support_agent")
    assert agent.post(api_url(nps), {"all": True}, format="json").status_code == 403
    assert not Campaign.objects.exists()
    assert api.post("/api/v1/surveys/424242/campaigns/", {"all": True}, format="json").status_code == 404
    assert api.get(f"{CAMPAIGNS_API}424242/").status_code == 404
    paused = survey_create(name="Paused", kind="nps", is_active=False)
    response = api.post(api_url(paused), {"all": True}, format="json")
    assert response.status_code == 400 and "inactive" in response.json()["survey"][0]
    assert not Campaign.objects.exists()


def test_api_campaign_lists_have_flat_query_counts(api, broker, nps, make_staff, django_assert_max_num_queries):
    owners = [make_staff("csm", email=f"owner{n}@example.com") for n in range(3)]
    api.get(CAMPAIGNS_API)  # the first request loads and caches the role's permissions
    counts = {}
    for size in (2, 12):
        while Campaign.objects.count() < size:
            n = Campaign.objects.count()
            broker.run(campaign_start, survey=nps, audience={"owners": [owners[n % 3].pk], "customers": [n]})
        for url in (CAMPAIGNS_API, api_url(nps)):
            with django_assert_max_num_queries(10) as captured:
                response = api.get(url)
            assert response.status_code == 200 and len(response.json()["results"]) == size
            assert {row["audience"]["owners"][0] for row in response.json()["results"]} <= {o.email for o in owners}
            counts.setdefault(url, []).append(len(captured.captured_queries))
    for url, (small, large) in counts.items():
        assert small == large, (url, small, large)


def test_schema_documents_the_campaign_endpoints(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    start = paths["/api/v1/surveys/{id}/campaigns/"]["post"]
    assert set(start["responses"]) == {"200", "202", "400", "401", "403", "404", "409", "415"}
    assert start["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("SurveyCampaignInputRequest")
    assert "200" in paths["/api/v1/surveys/{id}/campaigns/"]["get"]["responses"]
    assert {"/api/v1/survey-campaigns/", "/api/v1/survey-campaigns/{id}/"} <= set(paths)


def test_schema_shapes_of_a_campaign(client):
    schemas = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert {"tiers", "lifecycle_stages", "owners", "contact_roles", "all"} == set(
        schemas["SurveyCampaignInputRequest"]["properties"]
    )
    assert {"id", "status", "audience", "invited", "suppressed", "created_at"} <= set(
        schemas["SurveyCampaign"]["properties"]
    )
    [audience] = schemas["SurveyCampaign"]["properties"]["audience"]["allOf"]
    assert audience["$ref"].endswith("SurveyCampaignAudience")
    assert {"tiers", "lifecycle_stages", "owners", "contact_roles", "all"} <= set(
        schemas["SurveyCampaignAudience"]["properties"]
    )
