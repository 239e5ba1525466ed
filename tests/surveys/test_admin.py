"""The surveys admin: surveys through the services, "Send campaign…", the results page (the API's
numbers), read-only invitations and responses (filters, search, CSV), the customer page's latest scores,
flat queries."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.ledger import contact_unsubscribe
from crm.services import contact_create, customer_create
from surveys import scheduling
from surveys.models import Invitation, Response, Survey
from surveys.services import invitation_create, invitation_dispatch, survey_answer, survey_create

pytestmark = pytest.mark.django_db

SURVEYS = reverse("admin:surveys_survey_changelist")
INVITATIONS = reverse("admin:surveys_invitation_changelist")
RESPONSES = reverse("admin:surveys_response_changelist")
_seq = iter(range(1, 100_000))


def new_contact(customer=None, email=None, role="end_user", **customer_fields):
    n = next(_seq)
    customer = customer or customer_create(name=f"Customer {n:04d}", **customer_fields)
    return contact_create(customer=customer, email=email or f"person{n}@example.com", role=role)


def answered(survey, score, comment="", when=None, contact=None, **customer_fields) -> Response:
    when = when or timezone.now() - dt.timedelta(days=1)
    contact = contact or new_contact(**customer_fields)
    invitation, _ = invitation_create(
        survey=survey,
        contact=contact,
        trigger="campaign",
        trigger_key="campaign:admin-test",
        scheduled_for=when,
    )
    invitation = invitation_dispatch(invitation_id=invitation.pk, now=when)
    response, _ = survey_answer(
        invitation=invitation, score=score, comment=comment, now=when + dt.timedelta(minutes=5)
    )
    return response


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", email="casey@example.com", full_name="Casey Csm")
    client.force_login(user)
    return user


@pytest.fixture
def nps():
    return survey_create(name="Quarterly NPS", kind="nps")


def results_url(survey) -> str:
    return reverse("admin:surveys_survey_results", args=[survey.pk])


def campaign_url(survey) -> str:
    return reverse("admin:surveys_survey_campaign", args=[survey.pk])


def survey_form(**overrides) -> dict:
    data = {
        "name": "Onboarding CES",
        "kind": "ces",
        "question": "",
        "is_active": "on",
        "follow_up_question": "What is the main reason for your score?",
        "follow_up_unhappy": "",
        "on_unhappy": "task",
        "reminder_after_days": "",
        "expiry_days": "30",
        "ticket_solved_delay_hours": "24",
        "recurring_months": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def parse_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- surveys --------------------------------------------------------------------------------------------


def test_add_a_survey_through_the_service_with_the_default_question(client, csm, settings):
    response = client.post(reverse("admin:surveys_survey_add"), survey_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    survey = Survey.objects.get()
    # Stored with its placeholder, so the question follows COMPANY_NAME; shown filled in.
    assert survey.question == "{company} made it easy for me to handle my issue."
    assert (survey.name, survey.kind, survey.expiry_days) == ("Onboarding CES", "ces", 30)
    change = client.get(reverse("admin:surveys_survey_change", args=[survey.pk])).content.decode()
    assert f"{settings.COMPANY_NAME} made it easy for me to handle my issue." in change


def test_edit_a_survey_but_not_its_kind(client, csm, nps):
    change = reverse("admin:surveys_survey_change", args=[nps.pk])
    page = client.get(change)
    assert page.status_code == 200
    content = page.content.decode()
    assert results_url(nps) in content and campaign_url(nps) in content  # the object-tools buttons
    response = client.post(change, survey_form(name="NPS 2026", kind="csat", question=nps.question))
    assert response.status_code == 302
    nps.refresh_from_db()
    assert (nps.name, nps.kind) == ("NPS 2026", "nps")


def test_survey_service_refusal_is_a_form_error(client, csm, nps, monkeypatch):
    from django.core.exceptions import ValidationError

    def refuse(**kwargs):
        raise ValidationError({"name": "Refused by the service."})

    monkeypatch.setattr("surveys.admin.survey_update", refuse)
    change = reverse("admin:surveys_survey_change", args=[nps.pk])
    response = client.post(change, survey_form(name="Other", kind=None, question=nps.question))
    assert response.status_code == 200
    assert "Refused by the service." in response.content.decode()
    nps.refresh_from_db()
    assert nps.name == "Quarterly NPS"


def test_survey_changelist_links_and_flat_queries(client, csm, django_assert_max_num_queries):
    counts = []
    for size in (2, 12):
        while Survey.objects.count() < size:
            survey_create(
                name=f"Survey {Survey.objects.count():02d}", kind="csat", send_after_ticket_solved=True
            )
        with django_assert_max_num_queries(10) as captured:
            response = client.get(SURVEYS)
        assert response.status_code == 200 and len(response.context["cl"].result_list) == size
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]
    assert "ticket solved (+24 h)" in response.content.decode()


# --- results page ---------------------------------------------------------------------------------------


def test_results_page_shows_the_same_numbers_as_the_api(client, csm, nps, api_client_for):
    for score in (10, 10, 9, 9, 9, 8, 7, 7, 3, 0):
        answered(nps, score, tier="smb")
    answered(nps, 10, tier="enterprise")
    page = client.get(results_url(nps), {"tiers": ["smb"], "interval": "week"})
    assert page.status_code == 200
    results = page.context["results"]
    api = api_client_for("csm").get(f"/api/v1/surveys/{nps.pk}/results/", {"tier": "smb", "interval": "week"})
    api_body = api.json()
    for key in (
        "responses",
        "nps",
        "promoters",
        "passives",
        "detractors",
        "response_rate",
        "invitations_sent",
    ):
        assert results[key] == api_body[key], key
    assert (results["nps"], results["promoters"], results["passives"], results["detractors"]) == (
        30.0,
        5,
        3,
        2,
    )
    content = page.content.decode()
    assert 'id="r-nps">30.0<' in content and 'id="r-responses">10<' in content
    assert 'id="results-trend"' in content and "Week of" in content
    # The unfiltered page counts the enterprise promoter too.
    assert client.get(results_url(nps)).context["results"]["responses"] == 11


def test_results_page_filters_by_owner_and_period_and_rejects_a_reversed_period(client, csm, nps):
    answered(nps, 10, owner=csm)
    answered(nps, 0, when=timezone.now() - dt.timedelta(days=90))
    owned = client.get(results_url(nps), {"owner": csm.pk}).context["results"]
    assert (owned["responses"], owned["nps"]) == (1, 100.0)
    recent = client.get(
        results_url(nps), {"start": (timezone.now() - dt.timedelta(days=30)).date().isoformat()}
    ).context["results"]
    assert recent["responses"] == 1
    bad = client.get(results_url(nps), {"start": "2026-03-01", "end": "2026-02-01"})
    assert bad.status_code == 200 and bad.context["results"] is None
    assert "Must be on or after the start." in bad.content.decode()


def test_results_filter_picks_the_customer_by_name_and_dates_with_the_date_picker(client, csm, nps):
    mine = answered(nps, 10, contact=new_contact(customer=customer_create(name="Globex Industries")))
    answered(nps, 0, contact=new_contact(customer=customer_create(name="Initech")))
    page = client.get(results_url(nps))
    content = page.content.decode()
    assert 'class="admin-autocomplete' in content and 'data-field-name="customer"' in content
    assert 'class="vDateField' in content and "admin/js/calendar.js" in content
    # The autocomplete behind the box finds the customer by name.
    found = client.get(
        reverse("admin:autocomplete"),
        {"term": "globex", "app_label": "crm", "model_name": "contact", "field_name": "customer"},
    ).json()
    assert [r["text"] for r in found["results"]] == ["Globex Industries"]
    assert found["results"][0]["id"] == str(mine.customer_id)
    filtered = client.get(results_url(nps), {"customer": mine.customer_id})
    assert (filtered.context["results"]["responses"], filtered.context["results"]["nps"]) == (1, 100.0)
    assert "selected>Globex Industries</option>" in filtered.content.decode()
    unknown = client.get(results_url(nps), {"customer": 999999})
    assert unknown.context["results"] is None and "Select a valid choice" in unknown.content.decode()


def test_results_csv_export_from_the_results_page(client, csm, nps):
    answered(nps, 3, comment="Too slow", tier="smb")
    answered(nps, 9, tier="enterprise")
    rows = parse_csv(
        client.get(reverse("admin:surveys_survey_results_csv", args=[nps.pk]), {"tiers": ["smb"]})
    )
    assert [(r["score"], r["band"], r["comment"]) for r in rows] == [("3", "detractor", "Too slow")]


def test_read_only_user_sees_results_but_cannot_send(client, make_staff, nps):
    client.force_login(make_staff("read_only"))
    assert client.get(results_url(nps)).status_code == 200
    assert client.get(campaign_url(nps)).status_code == 403
    assert client.post(campaign_url(nps), {"tiers": ["smb"], "_send": "1"}).status_code == 403
    change_page = client.get(reverse("admin:surveys_survey_change", args=[nps.pk])).content.decode()
    assert campaign_url(nps) not in change_page and results_url(nps) in change_page


# --- campaigns ------------------------------------------------------------------------------------------


@pytest.fixture
def published(monkeypatch):
    """What campaign_start publishes to the broker, recorded instead of sent."""
    from surveys import tasks

    calls = []
    monkeypatch.setattr(
        tasks.send_campaign, "apply_async", lambda args, kwargs=None: calls.append((args, kwargs))
    )
    return calls


def test_send_campaign_to_an_audience(client, csm, nps, published, django_capture_on_commit_callbacks):
    enterprise = customer_create(name="Big Co", tier="enterprise", lifecycle_stage="adopting")
    champion = new_contact(customer=enterprise, role="champion")
    unsubscribed = new_contact(customer=enterprise, role="end_user")
    contact_unsubscribe(contact=unsubscribed)
    new_contact(tier="smb")  # not in the audience
    assert client.get(campaign_url(nps)).status_code == 200

    preview = client.post(campaign_url(nps), {"tiers": ["enterprise"], "_preview": "1"})
    assert preview.status_code == 200 and preview.context["audience_count"] == 2
    assert not published

    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(campaign_url(nps), {"tiers": ["enterprise"], "_send": "1"})
    assert sent.status_code == 302
    assert len(published) == 1
    (survey_id, audience, trigger_key), kwargs = published[0]
    assert (survey_id, audience, kwargs) == (nps.pk, {"tiers": ["enterprise"]}, {"actor_id": csm.pk})
    assert sent["Location"].startswith(INVITATIONS) and "trigger_key=campaign" in sent["Location"]

    # What the worker then does: the send_campaign task, then the dispatch task of each invitation.
    assert scheduling.campaign_invite(survey_id=survey_id, audience=audience, trigger_key=trigger_key) == 2
    for invitation in Invitation.objects.filter(trigger_key=trigger_key):
        invitation_dispatch(invitation_id=invitation.pk)
    listing = client.get(sent["Location"])
    rows = {(i.contact_id, i.status, i.suppressed_reason) for i in listing.context["cl"].result_list}
    assert rows == {(champion.pk, "sent", ""), (unsubscribed.pk, "suppressed", "unsubscribed")}
    assert "unsubscribed" in listing.content.decode()


def test_campaign_needs_an_audience_and_an_active_survey(client, csm, published):
    paused = survey_create(name="Paused", kind="nps", is_active=False)
    empty = client.post(campaign_url(paused), {"_send": "1"})
    assert empty.status_code == 200
    assert "Choose at least one tier, lifecycle stage, owner or contact role." in empty.content.decode()
    inactive = client.post(campaign_url(paused), {"roles": ["champion"], "_send": "1"})
    assert inactive.status_code == 200
    assert "inactive" in inactive.content.decode()
    assert not published and not Invitation.objects.exists()


def test_send_campaign_action_opens_the_campaign_page(client, csm, nps):
    other = survey_create(name="Other", kind="csat")
    one = client.post(SURVEYS, {"action": "send_campaign", "_selected_action": [nps.pk]})
    assert one.status_code == 302 and one["Location"] == campaign_url(nps)
    two = client.post(
        SURVEYS, {"action": "send_campaign", "_selected_action": [nps.pk, other.pk]}, follow=True
    )
    assert "Choose exactly one survey" in two.content.decode()


# --- invitations ----------------------------------------------------------------------------------------


def test_invitations_are_read_only_with_status_filter_reason_and_email_search(client, csm, nps):
    ok = new_contact(email="alice@acme.example")
    gone = new_contact(email="bob@acme.example")
    contact_unsubscribe(contact=gone)
    for contact in (ok, gone):
        invitation, _ = invitation_create(survey=nps, contact=contact, trigger="api", trigger_key="api:1")
        invitation_dispatch(invitation_id=invitation.pk)

    suppressed = client.get(INVITATIONS, {"status": "suppressed"})
    assert [(i.contact_id, i.suppressed_reason) for i in suppressed.context["cl"].result_list] == [
        (gone.pk, "unsubscribed")
    ]
    assert "unsubscribed" in suppressed.content.decode()
    exact = client.get(INVITATIONS, {"q": "Alice@acme.example"}).context["cl"].result_list
    assert [i.contact_id for i in exact] == [ok.pk]
    partial = client.get(INVITATIONS, {"q": "acme.example"}).context["cl"].result_list
    assert {i.contact_id for i in partial} == {ok.pk, gone.pk}
    assert [
        i.contact_id for i in client.get(INVITATIONS, {"survey": nps.pk + 1}).context["cl"].result_list
    ] == []

    invitation = Invitation.objects.get(contact=ok)
    change = reverse("admin:surveys_invitation_change", args=[invitation.pk])
    detail = client.get(change)
    assert detail.status_code == 200 and "token" not in detail.content.decode().lower().replace(
        "csrfmiddlewaretoken", ""
    )
    assert client.post(change, {"status": "answered"}).status_code == 403
    assert client.get(reverse("admin:surveys_invitation_add")).status_code == 403
    invitation.refresh_from_db()
    assert invitation.status == "sent"


def test_invitation_changelist_query_count_is_flat(client, csm, nps, django_assert_max_num_queries):
    counts = []
    for size in (3, 25):
        while Invitation.objects.count() < size:
            invitation_create(survey=nps, contact=new_contact(), trigger="api", trigger_key="api:count")
        for params in ({}, {"status": "scheduled", "survey": nps.pk}, {"q": "example.com"}):
            with django_assert_max_num_queries(12) as captured:
                response = client.get(INVITATIONS, params)
            assert len(response.context["cl"].result_list) == size
            counts.append(len(captured.captured_queries))
    assert counts[:3] == counts[3:]


# --- responses ------------------------------------------------------------------------------------------


def test_responses_filters_comment_and_read_only(client, csm, nps):
    csat = survey_create(name="Support CSAT", kind="csat")
    detractor = answered(nps, 2, comment="Onboarding was confusing")
    promoter = answered(nps, 10)
    unhappy = answered(csat, 1, comment="Nobody answered")

    def listed(**params):
        response = client.get(RESPONSES, params)
        assert response.status_code == 200
        return [r.pk for r in response.context["cl"].result_list]

    assert listed() == [unhappy.pk, promoter.pk, detractor.pk]
    assert listed(kind="csat") == [unhappy.pk]
    assert listed(band="detractor") == [detractor.pk]
    assert listed(band="unhappy") == [unhappy.pk]
    assert listed(survey=nps.pk) == [promoter.pk, detractor.pk]
    assert listed(q=promoter.contact.email) == [promoter.pk]
    assert "Onboarding was confusing" in client.get(RESPONSES).content.decode()
    change = reverse("admin:surveys_response_change", args=[detractor.pk])
    detail = client.get(change).content.decode()
    assert "Onboarding was confusing" in detail and "detractor" in detail
    assert client.post(change, {"score": "10"}).status_code == 403
    detractor.refresh_from_db()
    assert detractor.score == 2


def test_responses_csv_export_follows_the_changelist_filters_and_the_action(client, csm, nps):
    answered(nps, 2, comment="=cmd|' /C calc'!A0")
    promoter = answered(nps, 9, comment="Great")
    page = client.get(RESPONSES, {"band": "detractor"})
    assert 'id="export-csv"' in page.content.decode()
    rows = parse_csv(client.get(reverse("admin:surveys_response_export"), {"band": "detractor"}))
    assert [(r["score"], r["comment"]) for r in rows] == [("2", "'=cmd|' /C calc'!A0")]
    assert len(parse_csv(client.get(reverse("admin:surveys_response_export")))) == 2
    action = client.post(RESPONSES, {"action": "export_csv", "_selected_action": [promoter.pk]})
    assert [(r["score"], r["comment"], r["band"]) for r in parse_csv(action)] == [("9", "Great", "promoter")]


def test_response_changelist_query_count_is_flat(client, csm, nps, django_assert_max_num_queries):
    counts = []
    for size in (3, 25):
        while Response.objects.count() < size:
            answered(nps, Response.objects.count() % 11, comment="ok")
        for params in ({}, {"band": "detractor"}, {"kind": "nps", "survey": nps.pk}):
            with django_assert_max_num_queries(12) as captured:
                response = client.get(RESPONSES, params)
            assert response.status_code == 200
            counts.append(len(captured.captured_queries))
        with django_assert_max_num_queries(12) as captured:
            assert len(parse_csv(client.get(reverse("admin:surveys_response_export")))) == size
        counts.append(len(captured.captured_queries))
    assert counts[:4] == counts[4:]


# --- the customer page ----------------------------------------------------------------------------------


def test_customer_page_shows_the_latest_nps_ces_and_csat(client, csm, nps):
    ces = survey_create(name="CES", kind="ces")
    customer = customer_create(name="Acme")
    anna = new_contact(customer=customer, email="anna@acme.example")
    ben = new_contact(customer=customer, email="ben@acme.example")
    answered(nps, 9, when=timezone.now() - dt.timedelta(days=40), contact=anna)
    answered(nps, 4, comment="Billing is a mess", when=timezone.now() - dt.timedelta(days=2), contact=ben)
    answered(
        ces,
        6,
        when=timezone.now() - dt.timedelta(days=1),
        contact=anna,
    )
    page = client.get(reverse("admin:crm_customer_change", args=[customer.pk]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "Latest NPS / CES / CSAT" in content
    panel = content[content.index('id="section-latest-nps-ces-csat"') :]
    panel = panel[: panel.index("All survey responses")]
    assert "4 (detractor)" in panel and "Billing is a mess" in panel and "ben@acme.example" in panel
    assert "9 (promoter)" not in panel  # not the latest NPS any more
    assert "6 (happy)" in panel
    assert f"{RESPONSES}?customer={customer.pk}" in content


def test_survey_admin_pages_have_no_inline_script(client, csm, nps):
    """The Content-Security-Policy allows no inline script: the survey admin's own pages load theirs as static
    files (the campaign page's double-click guard is surveys/campaign.js) and use no on* attributes."""
    import re

    answered(nps, 9)
    pages = [
        SURVEYS,
        reverse("admin:surveys_survey_add"),
        reverse("admin:surveys_survey_change", args=[nps.pk]),
        campaign_url(nps),
        results_url(nps),
        INVITATIONS,
        RESPONSES,
    ]
    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert " src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), url
    assert 'src="/static/surveys/campaign.js"' in client.get(campaign_url(nps)).content.decode()


def test_an_unknown_placeholder_is_a_form_error_and_the_known_one_is_shown_filled_in(client, csm, nps, settings):
    settings.COMPANY_NAME = "Initech"
    change = reverse("admin:surveys_survey_change", args=[nps.pk])
    typo = client.post(change, survey_form(name="Quarterly NPS", kind=None, question="Would you recommend {compny}?"))
    assert typo.status_code == 200
    assert "Unknown placeholder {compny}" in str(typo.context["adminform"].form.errors["question"])
    nps.refresh_from_db()
    assert "{compny}" not in nps.question
    saved = client.post(change, survey_form(name="Quarterly NPS", kind=None, question="Would you recommend {company}?"))
    assert saved.status_code == 302
    page = client.get(change).content.decode()
    assert "Would you recommend Initech?" in page  # the "As contacts see it" preview
