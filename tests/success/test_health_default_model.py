"""The shipped default health model: on the seeded demo it separates the accounts at risk from the healthy ones
(the first shipped weights left every at-risk account yellow or green), and migration 0009 moves an untouched
copy of the first shipped model to the rebalanced weights while leaving an edited one alone."""

import importlib
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command

from crm.models import Customer, LifecycleStage
from success.health.catalogue import DEFAULT_MODEL
from success.health.definitions import definition_of, ensure_default_model, health_model_save, latest_version
from success.health.models import HealthModel
from success.health.services import health_recompute

pytestmark = pytest.mark.django_db

upgrade = importlib.import_module("success.migrations.0009_health_default_model_rebalanced")


def test_on_the_seeded_demo_at_risk_accounts_are_red_or_yellow_and_mature_ones_green():
    call_command("seed_demo", "--customers", 120, "--seed", 11, "--tickets", 0, "--health-days", 0, stdout=StringIO())
    health_recompute()
    bands, scores = defaultdict(Counter), defaultdict(list)
    for stage, band, score in Customer.objects.filter(health__isnull=False).values_list(
        "lifecycle_stage", "health__band", "health__score"
    ):
        bands[stage][band] += 1
        scores[stage].append(score)
    at_risk, mature = bands[LifecycleStage.AT_RISK], bands[LifecycleStage.MATURE]
    assert at_risk.total() >= 4 and mature.total() >= 30, (at_risk, mature)  # 5 and 57 with seed 11
    assert at_risk["red"] >= 1, at_risk
    assert at_risk["green"] <= at_risk.total() * 0.2, at_risk
    assert mature["green"] >= mature.total() * 0.6, mature
    average = {stage: sum(values) / len(values) for stage, values in scores.items()}
    assert average[LifecycleStage.AT_RISK] < average[LifecycleStage.MATURE] - 15, average


def _first_shipped_model(**changes) -> HealthModel:
    first = upgrade.FIRST
    model, _ = health_model_save(
        name=first["name"],
        lifecycle_stage="",
        red_below=50,
        green_from=75,
        components=[{**c, **changes} if c["name"] == "Latest NPS" else c for c in first["components"]],
    )
    return model


def test_the_migration_writes_what_the_catalogue_ships():
    model = ensure_default_model()
    assert latest_version(model).definition == upgrade.REBALANCED
    assert sum(c["weight"] for c in upgrade.REBALANCED["components"]) == 100
    assert DEFAULT_MODEL["name"] == upgrade.FIRST["name"]


def test_an_untouched_first_default_model_gets_the_rebalanced_weights_as_its_next_version():
    model = _first_shipped_model()
    assert latest_version(model).definition == upgrade.FIRST

    upgrade.upgrade_untouched_default(apps, None)
    upgrade.upgrade_untouched_default(apps, None)  # run twice: one new version

    assert list(model.versions.order_by("number").values_list("number", flat=True)) == [1, 2]
    assert latest_version(model).definition == upgrade.REBALANCED
    assert definition_of(model) == upgrade.REBALANCED  # the working copy the admin edits, too
    assert model.versions.get(number=1).definition == upgrade.FIRST  # the old version is kept


def test_an_edited_default_model_is_left_alone():
    model = _first_shipped_model(weight=30)
    before = latest_version(model).definition

    upgrade.upgrade_untouched_default(apps, None)

    assert model.versions.count() == 1
    assert definition_of(model) == before
    assert next(c for c in definition_of(model)["components"] if c["name"] == "Latest NPS")["weight"] == 30
