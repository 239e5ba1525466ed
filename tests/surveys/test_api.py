"""REST API v1 for surveys: /api/v1/surveys/ (create, update, send invitations, results, CSV),
/api/v1/survey-responses/ and /api/v1/survey-invitations/."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from crm.ledger import contact_mark_bounced, contact_unsubscribe, ledger_record
from crm.models import LedgerEntry, OutboundEmail
from crm.services import contact_create, customer_create
from surveys.models import Invitation, Response, Survey
from surveys.services import invitation_create, invitation_dispatch, survey_answer, survey_create

pytestmark = pytest.mark.django_db

SURVEYS = "/api/v1/surveys/"
RESPONSES = "/api/v1/survey-responses/"
INVITATIONS = "/api/v1/survey-invitations/"
_seq = iter(range(1, 100_000))


def survey_url(pk, suffix="") -> str:
    return f"{SURVEYS}{pk}/{suffix}"


def new_contact(customer=None, email=None, **customer_fields):
    n = next(_seq)
    customer = customer or customer_create(name=f"Customer {n}", **customer_fields)
    return contact_create(customer=customer, email=email or f"person{n}@example.com")


def answered(survey, score, comment="", when=None, **customer_fields) -> Response:
    when = when or timezone.now() - dt.timedelta(days=1)
    contact = new_contact(**customer_fields)
    invitation, _ = invitation_create(
        survey=survey, contact=contact, trigger="campaign", trigger_key="campaign:test", scheduled_for=when
    )
    invitation = invitation_dispatch(invitation_id=invitation.pk, now=when)
    response, _ = survey_answer(
        invitation=invitation, score=score, comment=comment, now=when + dt.timedelta(minutes=5)
    )
    return response


def snapshot() -> tuple:
    return (
        list(Survey.objects.order_by("pk").values()),
        list(Invitation.objects.order_by("pk").values()),
        OutboundEmail.objects.count(),
        LedgerEntry.objects.count(),
    )


@pytest.fixture
def api(api_client_for):
    return api_client_for("csm")


@pytest.fixture
def nps():
    return survey_create(name="Quarterly NPS", kind="nps")


# --- surveys --------------------------------------------------------------------------------------------


def test_401_without_credentials(client, nps):
    assert client.get(SURVEYS).status_code == 401
    assert client.post(survey_url(nps.pk, "invitations/"), {"contacts": [1]}).status_code == 401
    assert client.get(survey_url(nps.pk, "results/")).status_code == 401
    assert client.get(RESPONSES).status_code == 401
    assert client.get(INVITATIONS).status_code == 401


def test_create_with_name_and_kind_gets_the_default_question(api, settings):
    response = api.post(SURVEYS, {"name": "  Onboarding CES ", "kind": "ces"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    survey = Survey.objects.get()
    assert response["Location"].endswith(survey_url(survey.pk))
    assert body["name"] == "Onboarding CES" and body["kind"] == "ces"
    assert body["question"] == f"{settings.COMPANY_NAME} made it easy for me to handle my issue."
    assert body["expiry_days"] == 30 and body["is_active"] is True and body["reminder_after_days"] is None
    assert api.get(survey_url(survey.pk)).json() == body
    assert [row["name"] for row in api.get(SURVEYS).json()["results"]] == ["Onboarding CES"]


def test_create_with_every_setting(api):
    payload = {
        "name": "Support CSAT",
        "kind": "csat",
        "question": "How did we do?",
        "follow_up_question": "Why?",
        "follow_up_unhappy": "What went wrong?",
        "reminder_after_days": 3,
        "expiry_days": 14,
        "is_active": False,
        "on_unhappy": "ticket",
        "thank_promoters": True,
        "send_after_ticket_solved": True,
        "ticket_solved_delay_hours": 4,
        "recurring_months": None,
    }
    response = api.post(SURVEYS, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in payload} == payload
    survey = Survey.objects.get()
    assert (survey.on_unhappy, survey.ticket_solved_delay_hours, survey.is_active) == ("ticket", 4, False)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"name": "X", "kind": "promoter"}, "kind", '"promoter" is not a valid choice.'),
        ({"kind": "nps"}, "name", "This field is required."),
        ({"name": "", "kind": "nps"}, "name", "This field may not be blank."),
        ({"name": "X"}, "kind", "This field is required."),
        ({"name": "X", "kind": "nps", "expiry_days": 0}, "expiry_days", None),
        (
            {"name": "X", "kind": "nps", "recurring_months": 5},
            "recurring_months",
            '"5" is not a valid choice.',
        ),
        ({"name": "X", "kind": "nps", "colour": "red"}, "colour", "Unknown field."),
        ({"name": "X", "kind": "nps", "id": 9}, "id", "This field is read-only."),
        ({"name": "X" * 151, "kind": "nps"}, "name", None),
    ],
)
def test_bad_survey_input_is_400_and_creates_nothing(api, payload, field, message):
    response = api.post(SURVEYS, payload, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors
    if message:
        assert errors[field] == [message]
    assert not Survey.objects.exists()


def test_update_settings_but_never_the_kind(api, nps):
    response = api.patch(survey_url(nps.pk), {"name": "NPS 2026", "is_active": False}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "NPS 2026" and response.json()["is_active"] is False
    nps.refresh_from_db()
    assert (nps.name, nps.is_active) == ("NPS 2026", False)
    refused = api.patch(survey_url(nps.pk), {"kind": "csat", "name": "Changed"}, format="json")
    assert refused.status_code == 400 and refused.json() == {"kind": ["This field is read-only."]}
    nps.refresh_from_db()
    assert (nps.kind, nps.name) == ("nps", "NPS 2026")
    assert api.patch(survey_url(nps.pk + 99), {"name": "x"}, format="json").status_code == 404


def test_roles(api_client_for, nps):
    reader = api_client_for("read_only")
    assert reader.get(SURVEYS).status_code == 200
    assert reader.get(survey_url(nps.pk, "results/")).status_code == 200
    assert reader.post(SURVEYS, {"name": "X", "kind": "nps"}, format="json").status_code == 403
    contact = new_contact()
    agent = api_client_for("support_agent")
    response = agent.post(survey_url(nps.pk, "invitations/"), {"contacts": [contact.pk]}, format="json")
    assert response.status_code == 403
    assert not Invitation.objects.exists()


def test_list_filters_by_kind_and_active(api, nps):
    survey_create(name="Old CSAT", kind="csat", is_active=False)
    names = lambda params: [row["name"] for row in api.get(SURVEYS, params).json()["results"]]  # noqa: E731
    assert names({"kind": "csat"}) == ["Old CSAT"]
    assert names({"is_active": "true"}) == ["Quarterly NPS"]
    assert api.get(SURVEYS, {"kind": "xyz"}).status_code == 400


# --- sending invitations -------------------------------------------------------------------------------


def test_invite_sends_and_reports_suppressed_contacts_with_their_reason(
    api, nps, django_capture_on_commit_callbacks
):
    happy = new_contact()
    unsubscribed = new_contact()
    contact_unsubscribe(contact=unsubscribed)
    bounced = new_contact()
    contact_mark_bounced(contact=bounced, detail="550 no such user")
    recent = new_contact()
    ledger_record(
        contact=recent,
        kind="survey",
        subkind="csat",
        outcome="sent",
        now=timezone.now() - dt.timedelta(days=12),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            survey_url(nps.pk, "invitations/"),
            {"contacts": [happy.pk, unsubscribed.pk, bounced.pk, recent.pk]},
            format="json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(row["contact"], row["status"]) for row in body["invitations"]] == [
        (happy.pk, "sent"),
        (unsubscribed.pk, "suppressed"),
        (bounced.pk, "suppressed"),
        (recent.pk, "suppressed"),
    ]
    by_contact = {row["contact"]: row for row in body["invitations"]}
    assert body["suppressed"] == [
        {
            "contact": unsubscribed.pk,
            "invitation": by_contact[unsubscribed.pk]["id"],
            "reason": "unsubscribed",
        },
        {"contact": bounced.pk, "invitation": by_contact[bounced.pk]["id"], "reason": "bounced"},
        {"contact": recent.pk, "invitation": by_contact[recent.pk]["id"], "reason": "surveyed 12 days ago"},
    ]
    sent_row = by_contact[happy.pk]
    assert sent_row["trigger"] == "api" and sent_row["trigger_key"].startswith("api:")
    assert sent_row["sent_at"] and sent_row["expires_at"] and sent_row["contact_email"] == happy.email
    assert "token" not in str(body)
    # One email row, for the contact who may be emailed; it is queued to the worker on commit.
    email = OutboundEmail.objects.get()
    assert (email.to_email, email.idempotency_key) == (happy.email, f"survey_invite:{sent_row['id']}")
    assert len(callbacks) >= 1
    suppressed = LedgerEntry.objects.filter(outcome="suppressed").values_list("contact_id", "reason")
    assert sorted(suppressed) == sorted(
        [(unsubscribed.pk, "unsubscribed"), (bounced.pk, "bounced"), (recent.pk, "surveyed 12 days ago")]
    )


def test_same_trigger_key_never_invites_twice(api, nps):
    contact = new_contact()
    url = survey_url(nps.pk, "invitations/")
    first = api.post(url, {"contacts": [contact.pk], "trigger_key": "wave-1"}, format="json")
    assert first.status_code == 201
    before = snapshot()
    again = api.post(url, {"contacts": [contact.pk, contact.pk], "trigger_key": "wave-1"}, format="json")
    assert again.status_code == 200
    assert again.json()["invitations"] == first.json()["invitations"]
    assert snapshot() == before
    assert Invitation.objects.get().trigger_key == "api:wave-1"


def test_idempotency_key_header_works_like_trigger_key(api, nps):
    contact = new_contact()
    url = survey_url(nps.pk, "invitations/")
    first = api.post(url, {"contacts": [contact.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="req-42")
    second = api.post(url, {"contacts": [contact.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="req-42")
    assert (first.status_code, second.status_code) == (201, 200)
    assert Invitation.objects.get().trigger_key == "api:req-42"
    bad = api.post(url, {"contacts": [contact.pk]}, format="json", HTTP_IDEMPOTENCY_KEY="no spaces")
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()


def test_without_a_key_each_request_is_new_and_the_ledger_suppresses_the_repeat(api, nps):
    contact = new_contact()
    url = survey_url(nps.pk, "invitations/")
    assert api.post(url, {"contacts": [contact.pk]}, format="json").status_code == 201
    second = api.post(url, {"contacts": [contact.pk]}, format="json")
    assert second.status_code == 201
    assert second.json()["suppressed"][0]["reason"] == "surveyed today"
    assert Invitation.objects.count() == 2 and OutboundEmail.objects.count() == 1


def test_unknown_contacts_are_named_and_nothing_is_created(api, nps):
    known = new_contact()
    before = snapshot()
    response = api.post(
        survey_url(nps.pk, "invitations/"), {"contacts": [known.pk, 999_991, 999_992]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"contacts": ["Unknown contact ids: 999991, 999992."]}
    assert snapshot() == before


def test_inactive_survey_is_400_and_nothing_is_created(api):
    survey = survey_create(name="Paused", kind="nps", is_active=False)
    contact = new_contact()
    response = api.post(survey_url(survey.pk, "invitations/"), {"contacts": [contact.pk]}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ['The survey "Paused" is inactive: activate it before sending invitations.']
    }
    assert not Invitation.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "contacts"),
        ({"contacts": []}, "contacts"),
        ({"contacts": ["abc"]}, "contacts.0"),
        ({"contacts": [0]}, "contacts.0"),
        ({"contacts": list(range(1, 102))}, "contacts"),
        ({"contacts": [1], "trigger_key": "x" * 91}, "trigger_key"),
        ({"contacts": [1], "trigger_key": "has space"}, "trigger_key"),
        ({"contacts": [1], "survey": 3}, "survey"),
    ],
)
def test_bad_invitation_input(api, nps, payload, field):
    response = api.post(survey_url(nps.pk, "invitations/"), payload, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Invitation.objects.exists()


def test_invitations_to_unknown_survey_is_404(api):
    contact = new_contact()
    assert (
        api.post(survey_url(424242, "invitations/"), {"contacts": [contact.pk]}, format="json").status_code
        == 404
    )


# --- results --------------------------------------------------------------------------------------------


def test_results_contract(api, nps):
    for score in (10, 10, 9, 9, 9, 8, 7, 7, 3, 0):
        answered(nps, score)
    for _ in range(10):
        contact = new_contact()
        invitation, _ = invitation_create(survey=nps, contact=contact, trigger="api", trigger_key="api:x")
        invitation_dispatch(invitation_id=invitation.pk)
    response = api.get(survey_url(nps.pk, "results/"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["responses"] == 10
    assert (body["promoters"], body["passives"], body["detractors"], body["nps"]) == (5, 3, 2, 30.0)
    assert (body["promoters_pct"], body["passives_pct"], body["detractors_pct"]) == (50.0, 30.0, 20.0)
    assert (body["invitations_sent"], body["invitations_answered"], body["response_rate"]) == (20, 10, 50.0)
    assert body["ces"] is None and body["csat"] is None
    assert body["interval"] == "month" and body["kind"] == "nps" and body["survey"] == nps.pk
    assert sum(point["responses"] for point in body["trend"]) == 10


def test_results_period_interval_and_filters(api, nps, make_staff):
    owner = make_staff("csm", email="owner@example.com")
    day = timezone.now().replace(hour=12) - dt.timedelta(days=3)
    answered(nps, 10, when=day, tier="enterprise", lifecycle_stage="mature", owner=owner)
    answered(nps, 0, when=day, tier="smb", lifecycle_stage="at_risk")
    answered(nps, 0, when=day - dt.timedelta(days=60), tier="smb")

    def get(**params):
        response = api.get(survey_url(nps.pk, "results/"), params)
        assert response.status_code == 200, response.json()
        return response.json()

    start = (day - dt.timedelta(days=7)).date().isoformat()
    end = day.date().isoformat()
    assert get(start=start, end=end)["nps"] == 0.0
    assert get()["responses"] == 3
    assert get(start=start, tier="enterprise")["nps"] == 100.0
    assert get(start=start, tier=["enterprise", "smb"])["responses"] == 2
    assert get(lifecycle_stage="at_risk")["nps"] == -100.0
    assert get(owner="owner@example.com")["responses"] == 1
    customer_id = Response.objects.filter(score=0).order_by("pk").first().customer_id
    assert get(customer=customer_id)["responses"] == 1
    weekly = get(start=start, end=end, interval="week")
    assert weekly["interval"] == "week"
    assert all(dt.date.fromisoformat(p["period"]).weekday() == 0 for p in weekly["trend"])
    assert sum(p["responses"] for p in weekly["trend"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "day"}, "interval"),
        ({"start": "2026-13-01"}, "start"),
        ({"start": "2026-03-01", "end": "2026-02-01"}, "end"),
        ({"start": "1900-01-01"}, "start"),
        ({"tier": "gold"}, "tier.0"),
        ({"lifecycle_stage": "dormant"}, "lifecycle_stage.0"),
        ({"owner": "not-an-email"}, "owner"),
        ({"customer": "abc"}, "customer"),
        ({"tiers": "smb"}, "tiers"),
    ],
)
def test_results_bad_query_is_400(api, nps, params, field):
    response = api.get(survey_url(nps.pk, "results/"), params)
    assert response.status_code == 400 and field in response.json(), response.content


def test_results_of_unknown_survey_is_404(api):
    assert api.get(survey_url(4242, "results/")).status_code == 404
    assert api.get(survey_url(4242, "results.csv")).status_code == 404


def parse_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_results_csv_exports_the_responses_in_scope(api, nps):
    detractor = answered(nps, 2, comment='=HYPERLINK("http://evil")', tier="smb")
    answered(nps, 10, comment="Great, thanks!", tier="enterprise")
    other = survey_create(name="Other", kind="csat")
    answered(other, 5)
    response = api.get(survey_url(nps.pk, "results.csv"))
    assert response["Content-Disposition"] == f'attachment; filename="survey-{nps.pk}-responses.csv"'
    rows = parse_csv(response)
    assert [(r["score"], r["band"], r["kind"], r["survey"]) for r in rows] == [
        ("10", "promoter", "nps", "Quarterly NPS"),
        ("2", "detractor", "nps", "Quarterly NPS"),
    ]
    row = rows[1]
    assert row["comment"] == '\'=HYPERLINK("http://evil")'  # a formula stays text in a spreadsheet
    assert row["contact_email"] == detractor.contact.email
    assert row["customer"] == detractor.customer.name and row["trigger"] == "campaign"
    assert row["response_id"] == str(detractor.pk) and row["invitation_id"] == str(detractor.invitation_id)
    # The same filters as the JSON results; ?format=csv works too.
    scoped = parse_csv(api.get(survey_url(nps.pk, "results/"), {"format": "csv", "tier": "enterprise"}))
    assert [r["comment"] for r in scoped] == ["Great, thanks!"]
    # Bad filters on a CSV request are a JSON 400.
    bad = api.get(survey_url(nps.pk, "results.csv"), {"interval": "day"})
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"
    assert "interval" in bad.json()


@pytest.mark.parametrize(
    ("suffix", "params", "headers"),
    [
        ("results/", {"format": "csv"}, {}),
        ("results.csv", {}, {}),
        ("results/", {}, {"HTTP_ACCEPT": "text/csv"}),
    ],
)
def test_options_asking_for_csv_describes_the_endpoint_in_json(api, nps, suffix, params, headers):
    response = api.options(survey_url(nps.pk, suffix) + ("?format=csv" if params else ""), **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"]
    listed = api.options(RESPONSES + "?format=csv", HTTP_ACCEPT="text/csv")
    assert listed.status_code == 200 and listed.json()["name"]


# --- responses and invitations lists ------------------------------------------------------------------


def test_responses_list_and_filters(api, nps):
    csat = survey_create(name="Support CSAT", kind="csat")
    promoter = answered(nps, 9, comment="Love it")
    passive = answered(nps, 7)
    detractor = answered(nps, 1, comment="Slow")
    happy = answered(csat, 4)
    unhappy = answered(csat, 2)

    def ids(**params):
        response = api.get(RESPONSES, params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [unhappy.pk, happy.pk, detractor.pk, passive.pk, promoter.pk]
    assert ids(survey=nps.pk) == [detractor.pk, passive.pk, promoter.pk]
    assert ids(kind="csat") == [unhappy.pk, happy.pk]
    assert ids(band="promoter") == [promoter.pk]
    assert ids(band=["detractor", "unhappy"]) == [unhappy.pk, detractor.pk]
    assert ids(band="happy") == [happy.pk]
    assert ids(score_min=7, kind="nps") == [passive.pk, promoter.pk]
    assert ids(score_max=2) == [unhappy.pk, detractor.pk]
    assert ids(customer=passive.customer_id) == [passive.pk]
    assert ids(contact=detractor.contact_id) == [detractor.pk]
    after = Response.objects.get(pk=happy.pk).answered_at
    assert ids(answered_after=after.isoformat()) == [unhappy.pk, happy.pk]
    assert ids(answered_before=after.isoformat()) == [detractor.pk, passive.pk, promoter.pk]
    assert ids(ordering="score", survey=nps.pk) == [detractor.pk, passive.pk, promoter.pk]

    row = api.get(f"{RESPONSES}{promoter.pk}/").json()
    assert row["band"] == "promoter" and row["comment"] == "Love it" and row["survey_name"] == "Quarterly NPS"
    assert row["contact_email"] == promoter.contact.email and row["trigger"] == "campaign"
    assert row["customer_name"] == promoter.customer.name and row["seconds_after_send"] == 300
    for params in ({"band": "fan"}, {"score_min": 11}, {"score_max": -1}, {"kind": "x"}, {"survey": "a"}):
        assert api.get(RESPONSES, params).status_code == 400, params


def test_responses_csv_export(api, nps):
    answered(nps, 9)
    answered(nps, 3, comment="Needs work")
    rows = parse_csv(api.get(RESPONSES, {"format": "csv", "band": "detractor"}))
    assert [(r["score"], r["comment"], r["band"]) for r in rows] == [("3", "Needs work", "detractor")]
    assert list(rows[0]) == [
        "response_id",
        "answered_at",
        "updated_at",
        "survey_id",
        "survey",
        "kind",
        "score",
        "band",
        "comment",
        "customer_id",
        "customer",
        "contact_id",
        "contact_email",
        "invitation_id",
        "trigger",
        "seconds_after_send",
    ]
    assert api.get(RESPONSES, {"format": "csv", "band": "x"}).status_code == 400
    # An object has no CSV: a 400 naming the parameter.
    detail = api.get(f"{RESPONSES}{Response.objects.first().pk}/", {"format": "csv"})
    assert detail.status_code == 400 and list(detail.json()) == ["format"]


def test_invitations_list_shows_status_and_suppressed_reason(api, nps):
    sent_to = new_contact()
    unsubscribed = new_contact()
    contact_unsubscribe(contact=unsubscribed)
    api.post(survey_url(nps.pk, "invitations/"), {"contacts": [sent_to.pk, unsubscribed.pk]}, format="json")

    def rows(**params):
        response = api.get(INVITATIONS, params)
        assert response.status_code == 200, response.json()
        return [
            (row["contact"], row["status"], row["suppressed_reason"]) for row in response.json()["results"]
        ]

    assert rows(status="suppressed") == [(unsubscribed.pk, "suppressed", "unsubscribed")]
    assert rows(status="sent") == [(sent_to.pk, "sent", "")]
    assert rows(contact=sent_to.pk) == [(sent_to.pk, "sent", "")]
    assert len(rows(survey=nps.pk)) == 2 and rows(survey=nps.pk + 1) == []
    assert api.get(INVITATIONS, {"status": "lost"}).status_code == 400
    detail = api.get(f"{INVITATIONS}{Invitation.objects.get(contact=sent_to).pk}/").json()
    assert detail["survey_name"] == "Quarterly NPS" and detail["response"] is None
    assert not any("token" in key for key in detail)


# --- query counts -----------------------------------------------------------------------------------------


def test_list_query_counts_are_flat(api, nps, django_assert_max_num_queries):
    api.get(SURVEYS)  # the first request loads and caches the role's permissions: not a per-row cost
    counts = {}
    for size in (2, 12):
        while Response.objects.count() < size:
            answered(nps, Response.objects.count() % 11)
        for url, params in (
            (RESPONSES, {}),
            (RESPONSES, {"band": "detractor", "survey": nps.pk}),
            (INVITATIONS, {}),
            (SURVEYS, {}),
            (survey_url(nps.pk, "results/"), {"interval": "week"}),
        ):
            with django_assert_max_num_queries(12) as captured:
                response = api.get(url, params)
            assert response.status_code == 200
            counts.setdefault((url, str(params)), []).append(len(captured.captured_queries))
        with django_assert_max_num_queries(12) as captured:
            rows = parse_csv(api.get(RESPONSES, {"format": "csv"}))
        assert len(rows) == size
        counts.setdefault("csv", []).append(len(captured.captured_queries))
    for key, (small, large) in counts.items():
        assert small == large, (key, small, large)


def test_schema_lists_the_survey_endpoints_with_their_errors(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert set(paths["/api/v1/surveys/"]["post"]["responses"]) == {"201", "400", "401", "403", "409", "415"}
    invite = paths["/api/v1/surveys/{id}/invitations/"]["post"]
    assert set(invite["responses"]) == {"200", "201", "400", "401", "403", "404", "409", "415"}
    results = paths["/api/v1/surveys/{id}/results/"]["get"]
    assert set(results["responses"]) == {"200", "400", "401", "403", "404"}
    assert set(results["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert set(results["responses"]["400"]["content"]) == {"application/json"}
    props = schema["components"]["schemas"]["SurveyResults"]["properties"]
    assert {"responses", "response_rate", "nps", "promoters", "passives", "detractors", "ces", "csat"} <= set(
        props
    )
    assert "/api/v1/survey-responses/" in paths and "/api/v1/survey-invitations/" in paths


def test_the_company_placeholder_is_filled_in_and_an_unknown_one_is_a_400(api, settings):
    settings.COMPANY_NAME = "Initech"
    payload = {"name": "Relationship", "kind": "nps", "question": "Would you recommend {company}?"}
    created = api.post(SURVEYS, payload, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["question"] == "Would you recommend Initech?"
    survey = Survey.objects.get()
    assert survey.question == "Would you recommend {company}?"  # stored as typed: follows COMPANY_NAME
    assert api.get(survey_url(survey.pk)).json()["question"] == "Would you recommend Initech?"

    for field, text in [
        ("question", "Would you recommend {compny}?"),
        ("follow_up_question", "What does {company_name} do well?"),
        ("follow_up_unhappy", "Sorry, {first_name}."),
        ("question", "Would you recommend {company?"),
    ]:
        refused = api.patch(survey_url(survey.pk), {field: text}, format="json")
        assert refused.status_code == 400, (field, text)
        assert field in refused.json(), refused.json()
        assert "placeholder" in str(refused.json()[field])
    new = api.post(SURVEYS, {"name": "Typo", "kind": "csat", "question": "How was {compny}?"}, format="json")
    assert new.status_code == 400 and "question" in new.json()
    assert "{compny}" in str(new.json()["question"])
    survey.refresh_from_db()
    assert survey.question == "Would you recommend {company}?" and Survey.objects.count() == 1
