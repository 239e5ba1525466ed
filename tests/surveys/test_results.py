"""surveys.results: the metric definitions of shared/PRODUCT.md on hand-computed data, periods, filters, trend
buckets and a fixed number of SQL statements."""

import datetime as dt

import pytest

from crm.models import LifecycleStage, Tier
from crm.services import contact_create, customer_create
from surveys.models import Invitation
from surveys.results import ResultsQuery, metrics, survey_results
from surveys.services import invitation_create, invitation_dispatch, survey_answer, survey_create

pytestmark = pytest.mark.django_db

UTC = dt.UTC
JAN = dt.datetime(2026, 1, 12, 10, 0, tzinfo=UTC)  # a Monday
_seq = iter(range(1, 100_000))


def new_contact(customer=None, **customer_fields):
    n = next(_seq)
    customer = customer or customer_create(name=f"Customer {n}", **customer_fields)
    return contact_create(customer=customer, email=f"person{n}@example.com")


def sent(survey, contact=None, when=JAN, **customer_fields) -> Invitation:
    contact = contact or new_contact(**customer_fields)
    invitation, _ = invitation_create(
        survey=survey,
        contact=contact,
        trigger="campaign",
        trigger_key=f"campaign:{contact.pk}",
        scheduled_for=when,
    )
    dispatched = invitation_dispatch(invitation_id=invitation.pk, now=when)
    assert dispatched.status == "sent", dispatched.suppressed_reason
    return dispatched


def answered(survey, score, when=JAN, answered_at=None, **customer_fields):
    invitation = sent(survey, when=when, **customer_fields)
    response, _ = survey_answer(
        invitation=invitation, score=score, now=answered_at or when + dt.timedelta(hours=2)
    )
    return response


@pytest.fixture
def nps():
    return survey_create(name="NPS", kind="nps")


def test_nps_five_promoters_three_passives_two_detractors_is_30(nps):
    for score in (10, 10, 9, 9, 9, 8, 7, 7, 3, 0):
        answered(nps, score)
    for _ in range(6):  # sent, never answered
        sent(nps)
    result = survey_results(survey=nps)
    assert result["responses"] == 10
    assert (result["promoters"], result["passives"], result["detractors"]) == (5, 3, 2)
    assert (result["promoters_pct"], result["passives_pct"], result["detractors_pct"]) == (50.0, 30.0, 20.0)
    assert result["nps"] == 30.0
    assert result["mean_score"] == 7.2
    assert (result["invitations_sent"], result["invitations_answered"]) == (16, 10)
    assert result["response_rate"] == 62.5  # 10 answered of 16 sent
    assert result["ces"] is None and result["csat"] is None and result["ces_easy_pct"] is None
    distribution = {row["score"]: row["count"] for row in result["distribution"]}
    assert distribution == {0: 1, 1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 0, 7: 2, 8: 1, 9: 3, 10: 2}


def test_nps_extremes_and_rounding():
    assert metrics("nps", {10: 4})["nps"] == 100.0
    assert metrics("nps", {0: 3, 6: 1})["nps"] == -100.0
    # 1 promoter, 1 passive, 1 detractor: 33.3 - 33.3 = 0; 2 promoters of 3: 66.7
    assert metrics("nps", {9: 1, 7: 1, 6: 1})["nps"] == 0.0
    assert metrics("nps", {9: 2, 8: 1})["nps"] == 66.7
    assert metrics("nps", {})["nps"] is None


def test_ces_mean_and_share_of_5_to_7():
    ces = survey_create(name="CES", kind="ces")
    for score in (7, 6, 5, 5, 4, 3, 1):
        answered(ces, score)
    result = survey_results(survey=ces)
    assert result["responses"] == 7
    assert result["ces"] == 4.43  # 31 / 7
    assert result["ces_easy_pct"] == 57.1  # 4 of 7 answers are 5-7
    assert result["nps"] is None and result["promoters"] is None and result["csat"] is None


def test_csat_share_of_4_and_5():
    csat = survey_create(name="CSAT", kind="csat")
    for score in (5, 5, 4, 3, 2, 1, 4, 5):
        answered(csat, score)
    result = survey_results(survey=csat)
    assert result["csat"] == 62.5  # 5 of 8
    assert result["ces"] is None and result["nps"] is None


def test_no_responses_gives_nulls_not_errors(nps):
    result = survey_results(survey=nps)
    assert result["responses"] == 0 and result["invitations_sent"] == 0
    assert result["nps"] is None and result["response_rate"] is None and result["mean_score"] is None
    assert result["trend"] == []


def test_only_this_surveys_responses_count(nps):
    other = survey_create(name="Other NPS", kind="nps")
    answered(nps, 10)
    answered(other, 0)
    assert survey_results(survey=nps)["nps"] == 100.0


def test_period_bounds_are_inclusive_days_and_response_rate_is_per_invitation_sent_in_the_period(nps):
    answered(nps, 10, when=dt.datetime(2026, 1, 1, 0, 0, tzinfo=UTC))  # first instant of the period
    answered(
        nps,
        0,
        when=dt.datetime(2026, 1, 31, 20, 0, tzinfo=UTC),  # sent in, answered after the period
        answered_at=dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC),
    )
    answered(nps, 9, when=dt.datetime(2025, 12, 31, 23, 0, tzinfo=UTC))  # sent before, answered Jan 1 01:00
    answered(nps, 8, when=dt.datetime(2026, 2, 1, 0, 0, tzinfo=UTC))  # after the period
    sent(nps, when=dt.datetime(2026, 1, 15, tzinfo=UTC))  # in the period, unanswered
    result = survey_results(
        survey=nps, query=ResultsQuery(start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))
    )
    # Answered in January: the 10 and the 9 (whose invitation went out in December).
    assert result["responses"] == 2 and result["promoters"] == 2
    # Sent in January: the 10, the 0 (answered in February) and the unanswered one; 2 of 3 answered.
    assert (result["invitations_sent"], result["invitations_answered"]) == (3, 2)
    assert result["response_rate"] == 66.7


def test_trend_by_month_includes_empty_months(nps):
    for score in (10, 9, 0):
        answered(nps, score, when=dt.datetime(2026, 1, 5, tzinfo=UTC))
    for score in (10, 7):
        answered(nps, score, when=dt.datetime(2026, 3, 20, tzinfo=UTC))
    result = survey_results(
        survey=nps,
        query=ResultsQuery(start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31), interval="month"),
    )
    trend = [(p["period"], p["responses"], p["nps"], p["invitations_sent"]) for p in result["trend"]]
    assert trend == [
        (dt.date(2026, 1, 1), 3, 33.3, 3),  # (2 - 1) / 3
        (dt.date(2026, 2, 1), 0, None, 0),
        (dt.date(2026, 3, 1), 2, 50.0, 2),  # (1 - 0) / 2
    ]
    assert result["responses"] == 5 and result["nps"] == 40.0  # (3 - 1) / 5


def test_trend_by_week_starts_on_monday(nps):
    answered(nps, 10, when=dt.datetime(2026, 1, 14, tzinfo=UTC))  # Wednesday of the week of Jan 12
    answered(nps, 0, when=dt.datetime(2026, 1, 18, 20, tzinfo=UTC))  # Sunday, same week
    answered(nps, 8, when=dt.datetime(2026, 1, 19, 1, tzinfo=UTC))  # Monday: next week
    result = survey_results(survey=nps, query=ResultsQuery(interval="week"))
    assert [(p["period"], p["responses"]) for p in result["trend"]] == [
        (dt.date(2026, 1, 12), 2),
        (dt.date(2026, 1, 19), 1),
    ]


def test_filters_by_tier_lifecycle_owner_and_customer(nps, make_staff):
    casey = make_staff("csm", email="casey@example.com")
    answered(nps, 10, tier=Tier.ENTERPRISE, lifecycle_stage=LifecycleStage.MATURE, owner=casey)
    answered(nps, 0, tier=Tier.SMB, lifecycle_stage=LifecycleStage.ONBOARDING)
    sent(nps, tier=Tier.SMB, lifecycle_stage=LifecycleStage.AT_RISK)
    last = answered(nps, 8, tier=Tier.SMB, lifecycle_stage=LifecycleStage.AT_RISK)

    def scoped(**kwargs):
        result = survey_results(survey=nps, query=ResultsQuery(**kwargs))
        return result["responses"], result["nps"], result["invitations_sent"]

    assert scoped() == (3, 0.0, 4)
    assert scoped(tiers=("enterprise",)) == (1, 100.0, 1)
    assert scoped(tiers=("smb",)) == (2, -50.0, 3)
    assert scoped(lifecycle_stages=("at_risk",)) == (1, 0.0, 2)
    assert scoped(lifecycle_stages=("mature", "onboarding")) == (2, 0.0, 2)
    assert scoped(owner_email="CASEY@example.com") == (1, 100.0, 1)
    assert scoped(customer_id=last.customer_id) == (1, 0.0, 1)
    assert scoped(tiers=("mid_market",)) == (0, None, 0)


@pytest.mark.parametrize("interval", ["week", "month"])
def test_two_statements_whatever_the_number_of_responses(nps, interval, django_assert_num_queries):
    query = ResultsQuery(
        start=dt.date(2025, 12, 1), end=dt.date(2026, 3, 31), interval=interval, tiers=("smb",)
    )
    for size in (3, 25):
        while survey_results(survey=nps)["responses"] < size:
            answered(nps, size % 11, when=JAN + dt.timedelta(days=size))
        with django_assert_num_queries(2):
            result = survey_results(survey=nps, query=query)
        assert result["responses"] == size
