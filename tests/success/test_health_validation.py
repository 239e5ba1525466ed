"""Health model validation (a backtest at each month start) on a crafted history whose figures are worked out by
hand below, bad periods refused naming the field, the API and the admin report.

The model: one component, the latest NPS answer: a detractor (0-6) scores 10 (red), a passive 60 (yellow), a
promoter 100 (green); no answer: nothing measurable (unscored). Months: 2025-01-01, 02-01, 03-01; window 90 days.
Every customer starts with ARR 1000 at its contract start (2024-01-01 unless said).

    A  detractor every month                      churn 2025-03-15  -> red x3, churned in all 3 windows
    B  promoter every month                       churn 2025-04-20  -> green x3; churned in Feb's (to 05-02) and
                                                                       Mar's (to 05-30) windows, not Jan's (to 04-01)
    C  passive in Jan, detractor Feb and Mar      contraction -200 on 2025-02-10 -> yellow x1 contracted (Jan);
                                                                       red x2: Feb contracted, Mar not
    D  promoter every month                       nothing           -> green x3
    E  no NPS ever                                churn 2025-02-15  -> unscored in Jan and Feb, gone in Mar
    F  promoter, starts 2025-02-01                nothing           -> green x2 (Feb, Mar)
    G  churned 2024-12-15, before the period                        -> never active, never scored
    H  detractor, churns on 2025-02-01 itself                       -> red x1 (Jan) churned; not active at Feb 1

red:    6 customer-months (A3 C2 H1), churned 4 (A3 H1), contracted 1 (C Feb) -> churn 4/6 = 0.6667, c-or-c 5/6 = 0.8333
yellow: 1 (C Jan), churned 0, contracted 1 -> churn 0, c-or-c 1
green:  8 (B3 D3 F2), churned 2 (B Feb, Mar) -> churn 0.25, c-or-c 0.25
lift = (4/6) / (2/8) = 2.67; unscored 2; customer-months 17; misses: B (last green 2025-03-01, churned 04-20).
"""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.services import customer_create
from success.health.admin_validation import validation_link
from success.health.definitions import health_model_save
from success.health.validation import default_period, validate_model
from success.revenue.services import arr_movement_create

pytestmark = pytest.mark.django_db

D = datetime.date
NPS = {
    "name": "Latest NPS",
    "input": "nps_latest",
    "weight": 1,
    "method": "thresholds",
    "thresholds": [[6, 10], [8, 60], [None, 100]],
}
JAN, FEB, MAR = D(2025, 1, 1), D(2025, 2, 1), D(2025, 3, 1)
TODAY = D(2026, 1, 1)
# NPS answer per customer per month start (None: never answered).
NPS_AT = {
    "A": {JAN: 3, FEB: 3, MAR: 3},
    "B": {JAN: 10, FEB: 10, MAR: 10},
    "C": {JAN: 7, FEB: 5, MAR: 5},
    "D": {JAN: 9, FEB: 9, MAR: 9},
    "E": {},
    "F": {FEB: 9, MAR: 9},
    "G": {JAN: 0, FEB: 0, MAR: 0},
    "H": {JAN: 2, FEB: 2, MAR: 2},
}


def move(customer, amount, date, **kwargs):
    arr_movement_create(customer=customer, amount=Decimal(amount), effective_date=date, **kwargs)


@pytest.fixture
def history():
    c = {}
    for name in NPS_AT:
        start = D(2025, 2, 1) if name == "F" else D(2024, 1, 1)
        c[name] = customer_create(name=name, arr=Decimal("1000"), contract_start=start)
    move(c["A"], "-1000", D(2025, 3, 15), churn_reason="price")
    move(c["B"], "-1000", D(2025, 4, 20), churn_reason="competitor")
    move(c["C"], "-200", D(2025, 2, 10))
    move(c["E"], "-1000", D(2025, 2, 15), churn_reason="adoption")
    move(c["G"], "-1000", D(2024, 12, 15), churn_reason="price")
    move(c["H"], "-1000", D(2025, 2, 1), churn_reason="price")
    return c


@pytest.fixture
def version():
    _, version = health_model_save(name="NPS only", lifecycle_stage="mature", components=[NPS])
    return version


class CraftedMeasures:
    """The measures as they were at each month start, recording what was asked."""

    def __init__(self, customers):
        self.names = {customer.pk: name for name, customer in customers.items()}
        self.calls = []

    def __call__(self, *, at, customer_ids, key_event_names=frozenset()):
        self.calls.append((at, sorted(self.names[pk] for pk in customer_ids)))
        return {pk: {"nps_latest": NPS_AT[self.names[pk]].get(at.date())} for pk in customer_ids}


def test_churn_rates_per_band_lift_misses_and_months_match_the_hand_count(history, version):
    measures = CraftedMeasures(history)
    report = validate_model(version=version, start=JAN, end=D(2025, 3, 31), measures_fn=measures, today=TODAY)

    utc = datetime.UTC
    assert measures.calls == [
        (datetime.datetime(2025, 1, 1, tzinfo=utc), ["A", "B", "C", "D", "E", "H"]),
        (datetime.datetime(2025, 2, 1, tzinfo=utc), ["A", "B", "C", "D", "E", "F"]),
        (datetime.datetime(2025, 3, 1, tzinfo=utc), ["A", "B", "C", "D", "F"]),
    ]
    bands = report["bands"]
    assert bands["red"] == {
        "customers": 6, "churned": 4, "contracted": 1, "churn_or_contraction": 5,
        "churn_rate": Decimal("0.6667"), "churn_or_contraction_rate": Decimal("0.8333"),
    }  # fmt: skip
    assert bands["yellow"] == {
        "customers": 1, "churned": 0, "contracted": 1, "churn_or_contraction": 1,
        "churn_rate": Decimal("0"), "churn_or_contraction_rate": Decimal("1"),
    }  # fmt: skip
    assert bands["green"] == {
        "customers": 8, "churned": 2, "contracted": 0, "churn_or_contraction": 2,
        "churn_rate": Decimal("0.25"), "churn_or_contraction_rate": Decimal("0.25"),
    }  # fmt: skip
    assert report["lift"] == Decimal("2.67")
    assert (report["unscored"], report["customer_months"], report["sampled"]) == (2, 17, False)
    assert report["misses"] == {
        "count": 1,
        "customers": [{"customer": history["B"].pk, "name": "B", "month": MAR, "churned_on": D(2025, 4, 20)}],
    }
    assert report["version"] == version.number and report["model"]["name"] == "NPS only"
    by_month = {
        row["month"]: (
            row["active_customers"],
            row["unscored"],
            {band: (f["customers"], f["churned"], f["contracted"]) for band, f in row["bands"].items()},
        )
        for row in report["months"]
    }
    assert by_month == {
        JAN: (6, 1, {"red": (2, 2, 0), "yellow": (1, 0, 1), "green": (2, 0, 0)}),
        FEB: (6, 1, {"red": (2, 1, 1), "yellow": (0, 0, 0), "green": (3, 1, 0)}),
        MAR: (5, 0, {"red": (2, 1, 0), "yellow": (0, 0, 0), "green": (3, 1, 0)}),
    }
    assert all(row["outcome_complete"] for row in report["months"])


def test_lift_is_null_when_no_green_customer_churned(history, version):
    def nobody_churns_green(*, at, customer_ids, key_event_names=frozenset()):
        return {pk: {"nps_latest": 10 if pk == history["D"].pk else 3} for pk in customer_ids}

    report = validate_model(version=version, start=JAN, end=JAN, measures_fn=nobody_churns_green, today=TODAY)
    assert report["bands"]["green"]["customers"] == 1 and report["bands"]["green"]["churn_rate"] == 0
    assert report["lift"] is None
    assert report["misses"] == {"count": 0, "customers": []}


def test_a_month_whose_window_has_not_ended_is_marked_incomplete(history, version):
    measures = CraftedMeasures(history)
    report = validate_model(version=version, start=JAN, end=FEB, measures_fn=measures, today=D(2025, 4, 15))
    assert [row["outcome_complete"] for row in report["months"]] == [True, False]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (D(2025, 3, 1), D(2025, 2, 1), "end"),  # end before start
        (D(2025, 3, 2), D(2025, 3, 31), "start"),  # no 1st of a month in the period
        (D(2022, 1, 1), D(2025, 1, 1), "start"),  # 37 month starts
    ],
)
def test_a_bad_period_is_refused_naming_the_field(version, start, end, field):
    with pytest.raises(ValidationError) as caught:
        validate_model(version=version, start=start, end=end, measures_fn=lambda **kw: {})
    assert list(caught.value.message_dict) == [field]


def test_36_month_starts_are_accepted_and_the_default_period_is_the_last_12_full_months(version):
    report = validate_model(version=version, start=D(2022, 1, 1), end=D(2024, 12, 31), measures_fn=lambda **kw: {})
    assert len(report["months"]) == 36
    assert default_period(D(2026, 12, 3)) == (D(2025, 12, 1), D(2026, 11, 30))


# --- API ---------------------------------------------------------------------------------------------------


@pytest.fixture
def crafted(monkeypatch, history):
    """The validation reads the crafted measures instead of gather_measures."""
    measures = CraftedMeasures(history)
    monkeypatch.setattr("success.health.validation.gather_measures", measures)
    return measures


def url(version) -> str:
    return f"/api/v1/health-models/{version.model_id}/validation/"


def test_the_api_answers_the_report_of_the_asked_version(api_client_for, crafted, history, version):
    client = api_client_for("read_only")
    answer = client.get(url(version), {"start": "2025-01-01", "end": "2025-03-31", "version": version.number})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["bands"]["red"]["churn_rate"] == "0.6667" and body["bands"]["green"]["churn_rate"] == "0.2500"
    assert body["lift"] == "2.67"
    assert body["misses"]["customers"] == [
        {"customer": history["B"].pk, "name": "B", "month": "2025-03-01", "churned_on": "2025-04-20"}
    ]
    assert [row["month"] for row in body["months"]] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert body["months"][1]["bands"]["green"] == {
        "customers": 3, "churned": 1, "contracted": 0, "churn_or_contraction": 1,
        "churn_rate": "0.3333", "churn_or_contraction_rate": "0.3333",
    }  # fmt: skip


def test_the_api_defaults_to_the_last_12_full_months_and_the_latest_version(api_client_for, crafted, version):
    _, newer = health_model_save(model=version.model, green_from=95)
    body = api_client_for("csm").get(url(version)).json()
    assert body["version"] == newer.number == 2
    assert len(body["months"]) == 12
    start, end = default_period(datetime.date.today())
    assert (body["start"], body["end"]) == (start.isoformat(), end.isoformat())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2025-13-01"}, "start"),
        ({"end": "junk"}, "end"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"start": "2020-01-01", "end": "2025-01-01"}, "start"),
        ({"version": "7"}, "version"),
        ({"version": "x"}, "version"),
        ({"month": "2025-01"}, "month"),
    ],
)
def test_the_api_refuses_bad_input_naming_the_field(api_client_for, crafted, version, query, field):
    answer = api_client_for("read_only").get(url(version), query)
    assert answer.status_code == 400
    assert list(answer.json()) == [field]


def test_the_api_answers_404_for_an_unknown_model(api_client_for, version):
    answer = api_client_for("read_only").get(f"/api/v1/health-models/{version.model_id + 100}/validation/")
    assert answer.status_code == 404


# --- Admin report ------------------------------------------------------------------------------------------


def test_the_admin_report_renders_the_figures_a_chart_and_the_misses(client, make_staff, crafted, version):
    client.force_login(make_staff("csm"))
    page = reverse("health_model_validation", args=[version.model_id])
    response = client.get(page, {"start": "2025-01-01", "end": "2025-03-31", "version": version.number})
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["report"]["lift"] == Decimal("2.67")
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'id="validation-chart"' in html
    assert "66.7 %" in html and "25.0 %" in html  # red's and green's churn rates
    assert "2.67×" in html
    assert 'id="validation-misses"' in html and ">B</a>" in html
    assert "<script" not in html.split('id="content-main"')[1]


def test_the_admin_report_shows_the_default_period_and_refuses_a_bad_one(client, make_staff, crafted, version):
    client.force_login(make_staff("read_only"))
    page = reverse("health_model_validation", args=[version.model_id])
    response = client.get(page)
    assert response.status_code == 200 and len(response.context["report"]["months"]) == 12
    response = client.get(page, {"start": "2025-03-01", "end": "2025-02-01", "version": version.number})
    assert response.status_code == 200 and response.context["report"] is None
    assert "cannot be before its start" in response.content.decode()
    assert client.get(reverse("health_model_validation", args=[version.model_id + 100])).status_code == 404


def test_the_link_to_the_report_names_the_model(version):
    assert f'href="/admin/success/healthmodel/{version.model_id}/validation/"' in validation_link(version.model)


def test_a_large_book_is_scored_on_a_sample_of_every_nth_customer(history, version):
    measures = CraftedMeasures(history)
    report = validate_model(
        version=version, start=JAN, end=JAN, measures_fn=measures, today=TODAY, max_scored=4
    )  # 6 active in January: every 2nd by id (A, C, E)
    assert measures.calls[0][1] == ["A", "C", "E"]
    month = report["months"][0]
    assert (month["active_customers"], month["sample_every"], month["scored_customers"]) == (6, 2, 2)
    assert report["sampled"] is True and report["customer_months"] == 3
