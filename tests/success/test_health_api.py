"""The health API: GET /api/v1/customers/{id}/health/, /api/v1/health-models/ and the overrides."""

import datetime

import pytest
from django.utils import timezone

from success.health.definitions import ensure_default_model, health_model_save
from success.health.models import HealthOverride
from tests.factories import CustomerFactory
from tests.success.health_rows import put_score

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 12, 1)


def days_ago(n: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=n)


@pytest.fixture
def api(api_client_for):
    return api_client_for("read_only")


def test_a_customer_never_scored_answers_200_not_scored_yet_and_an_unknown_one_404(api):
    customer = CustomerFactory()
    response = api.get(f"/api/v1/customers/{customer.pk}/health/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["score"] is None and body["band"] is None
    assert body["explanation"].startswith("not scored yet")
    assert body["components"] == [] and body["history"] == [] and body["trend"] is None
    missing = api.get("/api/v1/customers/999999/health/")
    assert missing.status_code == 404 and "detail" in missing.json()


def test_health_explains_the_score_with_trend_and_history(api):
    customer = CustomerFactory()
    put_score(customer, day=days_ago(31), current=False, open_tickets=9, nps_latest=3)  # older than 30 days
    earlier = put_score(customer, day=days_ago(30), current=False, open_tickets=6, nps_latest=5)
    put_score(customer, day=days_ago(10), current=False)
    now = put_score(customer, day=TODAY)
    body = api.get(f"/api/v1/customers/{customer.pk}/health/").json()
    assert body["score"] == float(now.score) and body["band"] == now.band
    assert body["explanation"] is None
    assert body["trend"] == pytest.approx(float(now.score - earlier.score))
    assert body["trend"] > 0  # fewer tickets and a promoter now
    version = now.model_version
    assert body["model_version"] == {"model": version.model.name, "number": version.number, "id": version.pk}
    assert body["computed_score"] == float(now.computed_score) and body["override"] is None
    assert [p["day"] for p in body["history"]] == [
        d.isoformat() for d in (days_ago(31), days_ago(30), days_ago(10), TODAY)
    ]
    components = {c["name"]: c for c in body["components"]}
    assert set(components) == {c["name"] for c in version.definition["components"]}
    ces = components["CES (90 days)"]  # no CES answer: left out, the other weights renormalised
    assert ces["missing"] is True and ces["score"] is None and ces["effective_weight"] == 0
    present = [c for c in body["components"] if not c["missing"]]
    assert sum(c["effective_weight"] for c in present) == pytest.approx(1, abs=1e-3)
    assert sum(c["contribution"] for c in present) == pytest.approx(body["computed_score"], abs=0.1)
    tickets = components["Open tickets"]
    assert tickets["inputs"] == {"open_tickets": 1} and tickets["score"] == 80.0 and tickets["weight"] == 5.0


def test_history_days_limits_the_history_and_bad_values_are_a_400(api):
    customer = CustomerFactory()
    for n in (40, 20, 5, 0):
        put_score(customer, day=days_ago(n), current=n == 0)
    url = f"/api/v1/customers/{customer.pk}/health/"
    assert len(api.get(url, {"history_days": 10}).json()["history"]) == 2
    assert len(api.get(url).json()["history"]) == 4
    for bad in ("0", "366", "x"):
        response = api.get(url, {"history_days": bad})
        assert response.status_code == 400 and "history_days" in response.json(), bad


def test_health_reads_a_fixed_number_of_queries_whatever_the_history(api, django_assert_num_queries):
    customer = CustomerFactory()
    put_score(customer, day=TODAY)
    url = f"/api/v1/customers/{customer.pk}/health/"
    api.get(url)  # warm the role's permission cache

    def count() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert api.get(url).status_code == 200
        return len(captured.captured_queries)

    small = count()
    for n in range(1, 60):
        put_score(customer, day=days_ago(n), current=False)
    assert count() == small


def test_health_models_are_listed_with_their_current_version_and_versions(api, api_client_for):
    default = ensure_default_model()
    component = {
        "name": "Urgent",
        "input": "urgent_open_tickets",
        "weight": 1,
        "method": "linear",
        "worst": 3,
        "best": 0,
    }
    model, _ = health_model_save(name="Onboarding", lifecycle_stage="onboarding", components=[component])
    health_model_save(model=model, components=[{**component, "weight": 2}])
    listed = api.get("/api/v1/health-models/").json()["results"]
    assert [m["name"] for m in listed] == sorted([default.name, "Onboarding"])
    body = api.get(f"/api/v1/health-models/{model.pk}/").json()
    assert body["lifecycle_stage"] == "onboarding" and body["active"] is True
    assert body["bands"] == {"red_below": 50, "green_from": 75}
    assert [v["number"] for v in body["versions"]] == [2, 1]
    assert body["current_version"]["number"] == 2
    assert body["current_version"]["components"][0]["weight"] == 2
    assert api.get("/api/v1/health-models/999999/").status_code == 404
    assert api_client_for("admin").post("/api/v1/health-models/", {}, format="json").status_code == 405  # read-only


# --- Overrides (through success.health.services) ----------------------------------------------------------------


def test_a_csm_overrides_the_score_lists_it_and_ends_it(api_client_for):
    csm = api_client_for("csm")
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.pk}/health/overrides/"
    expires = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    created = csm.post(url, {"score": 30, "reason": "Champion left", "expires_on": expires}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["score"], body["component"], body["active"], body["expires_on"]) == (30, "", True, expires)
    assert body["created_by"] == csm.api_key.user.email
    assert [o["id"] for o in csm.get(url).json()["results"]] == [body["id"]]
    ended = csm.post(f"{url}{body['id']}/end/")
    assert ended.status_code == 200, ended.json()
    assert ended.json()["active"] is False and ended.json()["ended_at"]
    assert csm.post(f"/api/v1/customers/{customer.pk}/health/overrides/999999/end/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"expires_on": "2020-01-01"}, "expires_on"),
        ({"score": 101}, "score"),
        ({"component": "Shoe size"}, "component"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_a_bad_override_is_a_400_naming_the_field_and_changes_nothing(api_client_for, change, field):
    ensure_default_model()
    csm = api_client_for("csm")
    customer = CustomerFactory()
    expires = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    data = {"score": 30, "reason": "Champion left", "expires_on": expires, **change}
    response = csm.post(f"/api/v1/customers/{customer.pk}/health/overrides/", data, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not HealthOverride.objects.exists()


def test_only_admins_and_csms_may_override(api_client_for):
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.pk}/health/overrides/"
    expires = (timezone.localdate() + datetime.timedelta(days=14)).isoformat()
    for role in ("support_agent", "read_only"):
        response = api_client_for(role).post(url, {"score": 30, "reason": "x", "expires_on": expires}, format="json")
        assert response.status_code == 403, role
        assert api_client_for(role).get(url).status_code == 200
    assert not HealthOverride.objects.exists()


def test_overrides_applied_are_shown_in_the_explanation(api, client, make_staff):
    customer = CustomerFactory()
    by = {"reason": "Champion left", "expires_on": "2026-12-31", "by": "casey@example.com"}
    put_score(customer, day=TODAY, overrides={"": {"score": 30, **by}, "Open tickets": {"score": 10, **by}})
    body = api.get(f"/api/v1/customers/{customer.pk}/health/").json()
    assert (body["score"], body["band"]) == (30.0, "red")
    assert body["computed_score"] > 50 and body["override"]["reason"] == "Champion left"
    tickets = next(c for c in body["components"] if c["name"] == "Open tickets")
    assert tickets["score"] == 10.0 and tickets["overridden"]["computed_score"] == 80.0
    client.force_login(make_staff("csm"))
    page = client.get(f"/admin/crm/customer/{customer.pk}/change/").content.decode()
    assert "overridden to 30 by casey@example.com until 2026-12-31: Champion left" in page
    assert "overridden to 10 by casey@example.com" in page and "computed 80.0" in page


# --- With the real recompute ----------------------------------------------------------------------------------


def test_recomputed_health_and_an_override_through_the_api_end_to_end(
    api_client_for, django_capture_on_commit_callbacks
):
    from success.health.services import health_recompute

    opened = {"name": "Open tickets", "input": "open_tickets", "weight": 3, "method": "linear", "worst": 4, "best": 0}
    health_model_save(name="Test default", lifecycle_stage="", components=[opened])
    customer = CustomerFactory()
    csm = api_client_for("csm")
    url = f"/api/v1/customers/{customer.pk}/health/"
    assert csm.get(url).json()["score"] is None
    health_recompute(customer_ids=[customer.pk])
    body = csm.get(url).json()
    assert (body["score"], body["band"], body["model_version"]["model"]) == (100.0, "green", "Test default")
    assert body["components"][0]["inputs"] == {"open_tickets": 0}
    assert [p["score"] for p in body["history"]] == [100.0]
    expires = (timezone.now() + datetime.timedelta(days=3)).date().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        created = csm.post(f"{url}overrides/", {"score": 20, "reason": "Exec sponsor gone", "expires_on": expires})
    assert created.status_code == 201, created.json()
    body = csm.get(url).json()  # recomputed right after the override's commit
    assert (body["score"], body["band"], body["computed_score"]) == (20.0, "red", 100.0)
    assert body["override"]["reason"] == "Exec sponsor gone"
