"""Health model definitions: saving a model (a new immutable version when its definition changed), the default
model the product ships with, and which version scores which customer.

`health_model_save` is the one way to change a model (the admin and tests call it): it validates the whole
definition (`success.health.scoring.validate_definition`), raises a django ValidationError naming the field
("weight", "thresholds", "green_from", "components[2].thresholds", ...) and changes nothing when it is wrong.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from success.health.catalogue import DEFAULT_MODEL
from success.health.models import HealthComponent, HealthModel, HealthModelVersion
from success.health.scoring import validate_definition
from success.versioning import new_version_if_changed

COMPONENT_FIELDS = ("name", "input", "weight", "method", "worst", "best", "thresholds", "key_events")


def _number(value):
    """Decimal-ish -> a JSON number string-free form: int when whole, else float (stable across saves)."""
    if value is None or value == "":
        return None
    value = Decimal(str(value))
    return int(value) if value == value.to_integral_value() else float(value)


def normalise_component(component: dict) -> dict:
    method = component.get("method") or "linear"
    linear = method == "linear"
    return {
        "name": (component.get("name") or "").strip(),
        "input": component.get("input"),
        "weight": _number(component.get("weight")),
        "method": method,
        "worst": _number(component.get("worst")) if linear else None,
        "best": _number(component.get("best")) if linear else None,
        "thresholds": [] if linear else [[_number(u), _number(s)] for u, s in (component.get("thresholds") or [])],
        "key_events": (component.get("key_events") or "").strip() if component.get("input") == "key_events_30d" else "",
    }


def definition_of(model: HealthModel, components=None) -> dict:
    """The definition a version stores, from a model and its components (rows or dicts)."""
    if components is None:
        components = list(model.components.order_by("position", "id"))
    rows = [c if isinstance(c, dict) else {f: getattr(c, f) for f in COMPONENT_FIELDS} for c in components]
    return {
        "name": model.name,
        "lifecycle_stage": model.lifecycle_stage,
        "bands": {"red_below": model.red_below, "green_from": model.green_from},
        "components": [normalise_component(row) for row in rows],
    }


def check_definition(definition: dict) -> None:
    errors = validate_definition(definition)
    if errors:
        raise ValidationError(errors)


def latest_version(model: HealthModel) -> HealthModelVersion | None:
    return model.versions.order_by("-number").first()


@transaction.atomic
def health_model_version(*, model: HealthModel, actor=None) -> tuple[HealthModelVersion, bool]:
    """Snapshot the model as saved (with its components) into a new version if its definition changed.
    Returns (version, created). Raises ValidationError (and the caller's transaction rolls back) if invalid."""
    HealthModel.objects.select_for_update().filter(pk=model.pk).first()  # one version number at a time
    definition = definition_of(model)
    check_definition(definition)
    return new_version_if_changed(versions=model.versions, definition=definition, actor=actor)


@transaction.atomic
def health_model_save(
    *, model: HealthModel | None = None, actor=None, components: list[dict] | None = None, **fields
) -> tuple[HealthModel, HealthModelVersion]:
    """Create or change a model (fields: name, description, lifecycle_stage, red_below, green_from, is_active)
    and, when given, replace its components (a list of dicts with COMPONENT_FIELDS). A new version is made when
    the definition changed. Everything is validated first; on an error nothing is saved."""
    model = model or HealthModel()
    for field, value in fields.items():
        setattr(model, field, value)
    if components is not None:
        draft = definition_of(model, components)
    else:
        draft = definition_of(model, None if model.pk else [])
    check_definition(draft)
    try:
        model.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError as exc:
        raise ValidationError({"lifecycle_stage": "Another active model already scores this lifecycle stage."}) from exc
    if components is not None:
        model.components.all().delete()
        HealthComponent.objects.bulk_create(
            HealthComponent(model=model, position=index, **normalise_component(c)) for index, c in enumerate(components)
        )
    version, _ = health_model_version(model=model, actor=actor)
    return model, version


def ensure_default_model() -> HealthModel:
    """The active default model (lifecycle stage empty); created from the catalogue when there is none."""
    model = HealthModel.objects.filter(is_active=True, lifecycle_stage="").first()
    if model is not None:
        if latest_version(model) is None:
            health_model_version(model=model)
        return model
    try:
        with transaction.atomic():
            model, _ = health_model_save(
                name=_free_name(DEFAULT_MODEL["name"]),
                lifecycle_stage="",
                red_below=DEFAULT_MODEL["bands"]["red_below"],
                green_from=DEFAULT_MODEL["bands"]["green_from"],
                description="Shipped with the product: support load, sentiment, adoption, engagement and renewal.",
                components=DEFAULT_MODEL["components"],
            )
    except ValidationError:  # a concurrent first run created it
        model = HealthModel.objects.get(is_active=True, lifecycle_stage="")
    return model


def _free_name(name: str) -> str:
    taken = set(HealthModel.objects.filter(name__startswith=name).values_list("name", flat=True))
    if name not in taken:
        return name
    return next(f"{name} ({n})" for n in range(2, 1000) if f"{name} ({n})" not in taken)


def versions_by_stage() -> dict[str, HealthModelVersion]:
    """{lifecycle stage or "" (default): the latest version of the active model}: which version scores whom.
    A customer whose stage has no active model is scored by the default (""). Two queries."""
    ensure_default_model()
    models = list(HealthModel.objects.filter(is_active=True))
    latest = {}
    for version in HealthModelVersion.objects.filter(model__in=models).order_by("model_id", "-number"):
        latest.setdefault(version.model_id, version)
    return {model.lifecycle_stage: latest[model.pk] for model in models if model.pk in latest}


def version_for_stage(versions: dict[str, HealthModelVersion], stage: str) -> HealthModelVersion:
    return versions.get(stage) or versions[""]
