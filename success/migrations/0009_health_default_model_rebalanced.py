"""The shipped default health model, rebalanced (see success/health/catalogue.py): an installation whose default
model is still exactly the first shipped one (its latest version equals that definition: nobody edited it) gets
the new weights as its next version; a model someone changed is left alone.

Both definitions are written out here, as they were shipped, so this migration keeps meaning the same thing when
the catalogue changes again.
"""

from django.db import migrations

from success.versioning import new_version_if_changed


def _component(name, input_, weight, *, thresholds=None, worst=None, best=None):
    linear = thresholds is None
    return {
        "name": name,
        "input": input_,
        "weight": weight,
        "method": "linear" if linear else "thresholds",
        "worst": worst,
        "best": best,
        "thresholds": [] if linear else thresholds,
        "key_events": "",
    }


def _definition(weights, *, nps, usage_worst):
    w = dict(zip(("open", "urgent", "sla", "nps", "csat", "ces", "usage", "days", "touch", "renewal"), weights))
    return {
        "name": "Default health model",
        "lifecycle_stage": "",
        "bands": {"red_below": 50, "green_from": 75},
        "components": [
            _component("Open tickets", "open_tickets", w["open"], thresholds=[[0, 100], [2, 80], [5, 50], [None, 20]]),
            _component("Urgent open tickets", "urgent_open_tickets", w["urgent"], thresholds=[[0, 100], [1, 50], [None, 0]]),
            _component("SLA breaches (90 days)", "sla_breaches_90d", w["sla"], thresholds=[[0, 100], [2, 60], [None, 20]]),
            _component("Latest NPS", "nps_latest", w["nps"], thresholds=nps),
            _component("CSAT (90 days)", "csat_90d", w["csat"], worst=1, best=5),
            _component("CES (90 days)", "ces_90d", w["ces"], worst=1, best=7),
            _component("Usage trend", "usage_change", w["usage"], worst=usage_worst, best=0),
            _component("Active days (30 days)", "days_active_30d", w["days"], worst=0, best=20),
            _component("CSM engagement", "days_since_touch", w["touch"], worst=90, best=14),
            _component("Renewal proximity", "days_to_renewal", w["renewal"], thresholds=[[30, 40], [90, 70], [None, 100]]),
        ],
    }  # fmt: skip


FIRST = _definition((10, 10, 10, 15, 10, 5, 15, 10, 10, 5), nps=[[6, 10], [8, 70], [None, 100]], usage_worst=-50)
REBALANCED = _definition((5, 5, 5, 20, 10, 5, 25, 5, 10, 10), nps=[[6, 0], [8, 60], [None, 100]], usage_worst=-40)
COMPONENT_FIELDS = ("name", "input", "weight", "method", "worst", "best", "thresholds", "key_events")


def upgrade_untouched_default(apps, schema_editor):
    HealthModel = apps.get_model("success", "HealthModel")
    HealthComponent = apps.get_model("success", "HealthComponent")
    for model in HealthModel.objects.select_for_update().filter(lifecycle_stage="", name=FIRST["name"]):
        latest = model.versions.order_by("-number").first()
        if latest is None or latest.definition != FIRST:
            continue  # edited by someone (or never versioned): theirs, not ours to change
        if (model.red_below, model.green_from) != (50, 75):
            continue
        model.components.all().delete()
        HealthComponent.objects.bulk_create(
            HealthComponent(model=model, position=index, **{f: c[f] for f in COMPONENT_FIELDS})
            for index, c in enumerate(REBALANCED["components"])
        )
        new_version_if_changed(versions=model.versions, definition=REBALANCED)


class Migration(migrations.Migration):
    dependencies = [("success", "0008_qbrs")]

    operations = [migrations.RunPython(upgrade_untouched_default, migrations.RunPython.noop)]
