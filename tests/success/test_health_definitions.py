"""Health models: versions, the default model, and bad definitions refused naming the field."""

import pytest
from django.core.exceptions import ValidationError

from success.health.definitions import ensure_default_model, health_model_save, versions_by_stage
from success.health.models import HealthModel, HealthModelVersion
from success.health.scoring import score_customer

pytestmark = pytest.mark.django_db

LINEAR = {"name": "Open tickets", "input": "open_tickets", "weight": 1, "method": "linear", "worst": 10, "best": 0}


def test_default_model_is_created_once_with_version_1():
    model = ensure_default_model()
    assert ensure_default_model() == model
    assert model.versions.count() == 1
    assert versions_by_stage()[""].number == 1
    assert sum(c["weight"] for c in model.versions.get().definition["components"]) == 100


def test_saving_a_change_makes_a_new_version_and_an_unchanged_save_does_not():
    model, v1 = health_model_save(name="Onboarding", lifecycle_stage="onboarding", components=[LINEAR])
    _, again = health_model_save(model=model, components=[LINEAR])
    assert again == v1
    _, v2 = health_model_save(model=model, components=[{**LINEAR, "weight": 2}])
    assert (v1.number, v2.number) == (1, 2)
    assert v1.definition["components"][0]["weight"] == 1  # the old version is untouched
    _, v3 = health_model_save(model=model, green_from=80)
    assert v3.number == 3 and v3.definition["bands"] == {"red_below": 50, "green_from": 80}
    stages = versions_by_stage()
    assert stages["onboarding"] == v3 and stages[""].model.lifecycle_stage == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weight": -1}, "components[0].weight"),
        ({"weight": 0}, "components"),
        ({"method": "thresholds", "thresholds": [[5, 50], [2, 80], [None, 0]]}, "components[0].thresholds"),
        ({"method": "thresholds", "thresholds": [[5, 50], [None, 101]]}, "components[0].thresholds"),
        ({"worst": 3, "best": 3}, "components[0].best"),
        ({"input": "shoe_size"}, "components[0].input"),
    ],
)
def test_a_bad_component_is_refused_naming_the_field_and_nothing_changes(change, field):
    model, _ = health_model_save(name="M", lifecycle_stage="mature", components=[LINEAR])
    with pytest.raises(ValidationError) as refused:
        health_model_save(model=model, components=[{**LINEAR, **change}])
    assert field in refused.value.message_dict
    assert HealthModelVersion.objects.filter(model=model).count() == 1
    assert model.components.get().weight == 1


def test_bands_out_of_order_are_refused():
    with pytest.raises(ValidationError) as refused:
        health_model_save(name="M", red_below=80, green_from=60, components=[LINEAR])
    assert "green_from" in refused.value.message_dict
    assert not HealthModel.objects.filter(name="M").exists()


def test_missing_inputs_are_left_out_and_the_weights_renormalised():
    definition = {
        "bands": {"red_below": 50, "green_from": 75},
        "components": [
            {**LINEAR, "weight": 3},  # 2 open tickets -> 80
            {"name": "NPS", "input": "nps_latest", "weight": 5, "method": "linear", "worst": 0, "best": 10},
            {"name": "CSAT", "input": "csat_90d", "weight": 1, "method": "linear", "worst": 1, "best": 5},
        ],
    }
    result = score_customer(definition, {"open_tickets": 2, "csat_90d_mean": 4.0, "csat_90d_count": 2}, at_day=None)
    # NPS never answered: left out; weights 3 and 1 over 4: 80 * 0.75 + 75 * 0.25 = 78.75 -> 78.8
    assert str(result["score"]) == "78.8" and result["band"] == "green"
    nps = result["components"][1]
    assert nps["missing"] is True and nps["contribution"] == 0.0 and nps["score"] is None
    assert [c["effective_weight"] for c in result["components"]] == [0.75, 0.0, 0.25]
    overridden = score_customer(
        definition,
        {"open_tickets": 2, "csat_90d_mean": 4.0, "csat_90d_count": 2},
        at_day=None,
        overrides={"": {"score": 40, "reason": "Champion left"}},
    )
    assert str(overridden["score"]) == "40.0" and overridden["band"] == "red"
    assert str(overridden["computed_score"]) == "78.8"
