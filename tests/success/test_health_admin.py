"""Health in the admin: health models edited with their components (a new version when changed, a bad definition
a form error on the row and field, nothing saved; CSMs read only), the customer page's Health panel, the customer
list's health column and band filter, overrides added through the service, and the book's health fields."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team
from crm.models import Customer
from success.health.admin import format_thresholds, parse_thresholds
from success.health.definitions import ensure_default_model, health_model_save
from success.health.models import HealthComponent, HealthModel, HealthModelVersion, HealthOverride
from success.revenue.book import book
from tests.crm.test_admin_customers import changeform_data, result_pks
from tests.factories import CustomerFactory
from tests.success.health_rows import put_score

pytestmark = pytest.mark.django_db

CUSTOMERS = reverse("admin:crm_customer_changelist")
MODELS = reverse("admin:success_healthmodel_changelist")
OVERRIDE_ADD = reverse("admin:success_healthoverride_add")
TODAY = datetime.date(2026, 12, 1)
LINEAR = {"name": "Urgent", "input": "urgent_open_tickets", "weight": 1, "method": "linear", "worst": 3, "best": 0}


def model_url(model):
    return reverse("admin:success_healthmodel_change", args=[model.pk])


@pytest.fixture
def admin_user(client, make_staff):
    user = make_staff("admin", full_name="Ada Admin")
    client.force_login(user)
    return user


@pytest.fixture
def csm(client, make_staff):
    user = make_staff("csm", full_name="Casey Csm")
    client.force_login(user)
    return user


@pytest.fixture
def onboarding():
    model, _ = health_model_save(
        name="Onboarding",
        lifecycle_stage="onboarding",
        components=[
            LINEAR,
            {
                "name": "Tickets",
                "input": "open_tickets",
                "weight": 3,
                "method": "thresholds",
                "thresholds": [[0, 100], [2, 80], [None, 20]],
            },
        ],
    )
    return model


def test_thresholds_text_round_trips():
    assert parse_thresholds("0:100, 2:80, 5:50, *:20") == [[0, 100], [2, 80], [5, 50], [None, 20]]
    assert format_thresholds([[0, 100], [2.5, 80], [None, 20]]) == "0:100, 2.5:80, *:20"
    for bad in ("0-100", "a:1", "1:x"):
        with pytest.raises(Exception, match="Threshold 1"):
            parse_thresholds(bad)


def test_admin_changes_a_component_and_a_new_version_is_made(client, admin_user, onboarding):
    page = client.get(model_url(onboarding))
    assert page.status_code == 200
    content = page.content.decode()
    assert 'value="0:100, 2:80, *:20"' in content and "Versions" in content and "v1" in content
    assert f'href="/admin/success/healthmodel/{onboarding.pk}/validation/"' in content  # validate against churn
    data = changeform_data(page, **{"components-1-thresholds": "0:100, 3:70, *:10", "components-0-weight": "2"})
    response = client.post(model_url(onboarding), data)
    assert response.status_code == 302, response.context["errors"]
    version = onboarding.versions.order_by("-number").first()
    assert version.number == 2 and version.created_by == admin_user
    tickets = version.definition["components"][1]
    assert tickets["thresholds"] == [[0, 100], [3, 70], [None, 10]]
    assert version.definition["components"][0]["weight"] == 2
    assert list(onboarding.components.values_list("name", flat=True)) == ["Urgent", "Tickets"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"components-1-thresholds": "5:50, 2:80, *:0"}, "thresholds", "out of order"),
        ({"components-1-thresholds": "0:100, oops"}, "thresholds", "up_to:score"),
        ({"components-0-best": "3"}, "best", "differ"),
        ({"components-0-input": "key_events_30d"}, "key_events", "key events"),
    ],
)
def test_a_bad_component_is_a_form_error_on_its_row_and_nothing_is_saved(
    client, admin_user, onboarding, change, field, message
):
    page = client.get(model_url(onboarding))
    response = client.post(model_url(onboarding), changeform_data(page, **change))
    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    row = int(next(iter(change)).split("-")[1])
    assert message in " ".join(formset.forms[row].errors[field])
    assert HealthModelVersion.objects.filter(model=onboarding).count() == 1
    tickets = HealthComponent.objects.get(model=onboarding, name="Tickets")
    assert tickets.thresholds == [[0, 100], [2, 80], [None, 20]]


def test_bands_out_of_order_are_an_error_on_the_model_form(client, admin_user, onboarding):
    page = client.get(model_url(onboarding))
    response = client.post(model_url(onboarding), changeform_data(page, red_below="80", green_from="60"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert HealthModel.objects.get(pk=onboarding.pk).red_below == 50


def test_admin_adds_a_model_with_its_components(client, admin_user):
    page = client.get(reverse("admin:success_healthmodel_add"))
    assert page.status_code == 200
    data = changeform_data(
        page,
        name="Mature accounts",
        lifecycle_stage="mature",
        red_below="40",
        green_from="70",
        **{
            "components-0-name": "NPS",
            "components-0-input": "nps_latest",
            "components-0-weight": "5",
            "components-0-method": "thresholds",
            "components-0-thresholds": "6:0, 8:60, *:100",
        },
    )
    response = client.post(reverse("admin:success_healthmodel_add"), data)
    assert response.status_code == 302, response.context["errors"]
    model = HealthModel.objects.get(name="Mature accounts")
    assert model.versions.get().definition["components"][0]["thresholds"] == [[6, 0], [8, 60], [None, 100]]


def test_a_csm_reads_health_models_but_cannot_change_them_and_a_team_lead_can(client, csm, onboarding):
    ensure_default_model()
    listed = client.get(MODELS).content.decode()
    assert "Default (every stage without a model of its own)" in listed and "Onboarding" in listed
    page = client.get(model_url(onboarding))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content and b"Urgent" in page.content
    assert client.get(reverse("admin:success_healthmodel_add")).status_code == 403
    Team.objects.create(name="Success", lead=csm)
    page = client.get(model_url(onboarding))
    assert b'name="_save"' in page.content


# --- The customer page and list -------------------------------------------------------------------------------


def test_customer_page_shows_the_health_panel(client, csm):
    customer = CustomerFactory(owner=csm)
    put_score(customer, day=TODAY - datetime.timedelta(days=30), current=False, open_tickets=8)
    put_score(customer, day=TODAY)
    response = client.get(reverse("admin:crm_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h2>Health</h2>" in content
    assert "health-band-" in content and "vs 30 days ago" in content
    assert "Default health model v1" in content
    assert 'aria-label="Health score history"' in content and "<polyline" in content
    assert "no data: left out, weights renormalised" in content  # CES: never answered
    assert "Effective weight" in content and "open tickets: 1" in content
    assert f"{OVERRIDE_ADD}?customer={customer.pk}" in content


def test_customer_page_of_a_customer_never_scored(client, csm):
    customer = CustomerFactory()
    content = client.get(reverse("admin:crm_customer_change", args=[customer.pk])).content.decode()
    assert "Not scored yet." in content


def test_customer_list_filters_by_band_and_sorts_by_score(client, csm):
    ensure_default_model()
    low = CustomerFactory(name="Low")
    put_score(
        low,
        day=TODAY,
        open_tickets=9,
        urgent_open_tickets=3,
        nps_latest=2,
        csat_90d_mean=1.5,
        events_30d=10,
        days_active_30d=1,
    )
    high = CustomerFactory(name="High")
    put_score(high, day=TODAY)
    never = CustomerFactory(name="Never")
    assert low.health.band == "red" and high.health.band == "green"
    response = client.get(CUSTOMERS)
    assert "Health" in response.content.decode()
    assert result_pks(client.get(CUSTOMERS, {"health": "red"})) == [low.pk]
    assert result_pks(client.get(CUSTOMERS, {"health": "green"})) == [high.pk]
    assert result_pks(client.get(CUSTOMERS, {"health": "none"})) == [never.pk]
    column = list(response.context["cl"].list_display).index(
        next(c for c in response.context["cl"].list_display if getattr(c, "__name__", "") == "health_column")
    )
    ordered = result_pks(client.get(CUSTOMERS, {"o": str(column)}))
    assert ordered.index(low.pk) < ordered.index(high.pk)
    ordered = result_pks(client.get(CUSTOMERS, {"o": f"-{column}"}))
    assert ordered.index(high.pk) < ordered.index(low.pk)


def test_customer_list_query_count_stays_flat_with_health(client, csm, django_assert_max_num_queries):
    counts = []
    for size in (3, 30):
        while Customer.objects.count() < size:
            put_score(CustomerFactory(owner=csm), day=TODAY)
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert client.get(CUSTOMERS, {"health": "green"}).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


# --- Overrides ---------------------------------------------------------------------------------------------------


def test_the_override_form_is_prefilled_and_saves_through_the_service(client, csm):
    customer = CustomerFactory()
    put_score(customer, day=TODAY)
    page = client.get(OVERRIDE_ADD, {"customer": customer.pk})
    assert page.status_code == 200
    assert page.context["adminform"].form.initial["customer"] == str(customer.pk)
    expires = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()
    response = client.post(
        OVERRIDE_ADD, {"customer": customer.pk, "score": "40", "reason": "Champion left", "expires_on": expires}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:crm_customer_change", args=[customer.pk])
    override = HealthOverride.objects.get(customer=customer)
    assert (override.score, override.created_by) == (40, csm)
    again = {"customer": customer.pk, "score": "45", "reason": "Sponsor found", "expires_on": expires}
    assert client.post(OVERRIDE_ADD, again).status_code == 302  # replaces the open one
    assert list(HealthOverride.objects.filter(customer=customer, ended_at__isnull=True).values_list("score")) == [(45,)]


def test_a_bad_override_is_a_form_error(client, csm):
    customer = CustomerFactory()
    ensure_default_model()
    expires = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()
    data = {"customer": customer.pk, "score": "40", "reason": "x", "expires_on": expires, "component": "Shoe size"}
    response = client.post(OVERRIDE_ADD, data)
    assert response.status_code == 200
    assert "Not a component" in " ".join(response.context["adminform"].form.errors["component"])
    past = {**data, "component": "", "expires_on": "2020-01-01"}
    response = client.post(OVERRIDE_ADD, past)
    assert response.status_code == 200
    assert "past" in " ".join(response.context["adminform"].form.errors["expires_on"])
    assert not HealthOverride.objects.exists()


# --- The book ----------------------------------------------------------------------------------------------------


def test_the_book_counts_customers_per_band_and_gives_each_renewal_its_band(csm):
    today = timezone.localdate()
    green = CustomerFactory(owner=csm, renewal_date=today + datetime.timedelta(days=20))
    put_score(green, day=TODAY)
    red = CustomerFactory(owner=csm, renewal_date=today + datetime.timedelta(days=40))
    put_score(
        red,
        day=TODAY,
        open_tickets=9,
        urgent_open_tickets=3,
        nps_latest=2,
        csat_90d_mean=1.5,
        events_30d=10,
        days_active_30d=1,
    )
    unscored = CustomerFactory(owner=csm, renewal_date=today + datetime.timedelta(days=60))
    put_score(CustomerFactory(), day=TODAY)  # not the CSM's
    result = book(owner=csm, today=today)
    assert result["health"] == {"red": 1, "yellow": 0, "green": 1, "none": 1}
    assert [(r["id"], r["band"]) for r in result["renewals_next_90_days"]] == [
        (green.pk, "green"),
        (red.pk, "red"),
        (unscored.pk, None),
    ]


def test_roles_csms_read_health_models_and_override_scores():
    from django.contrib.auth.models import Group

    def perms(role):
        return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))

    csm, admin_perms = perms("csm"), perms("admin")
    assert {"view_healthmodel", "view_healthcomponent", "add_healthoverride", "view_customerhealth"} <= csm
    assert not {"change_healthmodel", "add_healthmodel", "change_healthcomponent", "add_healthcomponent"} & csm
    assert {"change_healthmodel", "add_healthcomponent"} <= admin_perms


def test_the_end_action_ends_open_overrides_through_the_service(client, csm):
    from success.health.services import health_override_create

    customer = CustomerFactory()
    ensure_default_model()
    expires = timezone.localdate() + datetime.timedelta(days=7)
    override = health_override_create(customer=customer, score=20, reason="Escalation", expires_on=expires, actor=csm)
    changelist = reverse("admin:success_healthoverride_changelist")
    listed = client.get(changelist, {"customer": customer.pk}).content.decode()
    assert "Escalation" in listed and "the whole score" in listed
    response = client.post(changelist, {"action": "end_overrides", "_selected_action": [override.pk]})
    assert response.status_code == 302
    override.refresh_from_db()
    assert override.ended_at is not None and override.ended_by == csm
