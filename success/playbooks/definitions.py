"""Playbook template definitions: saving a template (a new immutable version when its definition changed),
validation naming the field, and JSON export / import (config as code).

`playbook_save` is the one way to change a template (the admin, the import command and tests call it): it
validates the whole definition, raises a django ValidationError naming the field ("steps", "next_stage",
"steps[2].offset_days", "steps[0].email_template", ...) and changes nothing when it is wrong.

The export names email templates and surveys by name (ids differ between instances); the import resolves them.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm.models import ContactRole, EmailTemplate, LifecycleStage
from success.playbooks.models import (
    AssigneeKind,
    OffsetFrom,
    PlaybookStep,
    PlaybookTemplate,
    PlaybookVersion,
    StepKind,
)
from success.versioning import new_version_if_changed
from surveys.models import Survey

STEP_FIELDS = (
    "title",
    "instructions",
    "offset_days",
    "offset_from",
    "assignee",
    "kind",
    "email_template",
    "contact_role",
    "survey",
    "milestone_event",
    "meeting_minutes",
)
TEMPLATE_FIELDS = ("name", "description", "lifecycle_stage", "next_stage", "is_active")
MAX_STEPS = 100
MAX_OFFSET = 365


def _ref(value) -> Any:
    """An email template or survey given as a row, an id or None -> its id (or the value as given)."""
    if value is None or value == "":
        return None
    return getattr(value, "pk", value)


def _int(value, default):
    """A whole number given as an int or its digits (the admin's forms); anything else is returned as given, for
    the validation to refuse (1.5 is not silently 1)."""
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def normalise_step(step: dict) -> dict:
    kind = step.get("kind") or StepKind.TASK
    return {
        "title": title.strip() if isinstance(title := step.get("title"), str) else (title or ""),
        "instructions": step.get("instructions") or "",
        "offset_days": _int(step.get("offset_days"), 0),
        "offset_from": step.get("offset_from") or OffsetFrom.START,
        "assignee": step.get("assignee") or AssigneeKind.OWNER,
        "kind": kind,
        "email_template": _ref(step.get("email_template")) if kind == StepKind.EMAIL else None,
        "contact_role": (step.get("contact_role") or "") if kind in (StepKind.EMAIL, StepKind.SURVEY) else "",
        "survey": _ref(step.get("survey")) if kind == StepKind.SURVEY else None,
        "milestone_event": (step.get("milestone_event") or "").strip() if kind == StepKind.MILESTONE else "",
        "meeting_minutes": _int(step.get("meeting_minutes"), 30) if kind == StepKind.MEETING else 30,
    }


def definition_of(template: PlaybookTemplate, steps=None) -> dict:
    """The definition a version stores, from a template and its steps (rows or dicts)."""
    if steps is None:
        steps = list(template.steps.order_by("position", "id")) if template.pk else []
    rows = [
        s
        if isinstance(s, dict)
        else {f: getattr(s, f"{f}_id" if f in ("email_template", "survey") else f) for f in STEP_FIELDS}
        for s in steps
    ]
    return {
        "name": template.name,
        "lifecycle_stage": template.lifecycle_stage,
        "next_stage": template.next_stage,
        "steps": [normalise_step(row) for row in rows],
    }


def validate_definition(definition: dict) -> dict[str, list[str]]:
    """{field: [messages]} for everything wrong with a definition (empty: valid)."""
    errors: dict[str, list[str]] = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    stages = set(LifecycleStage.values)
    if definition["lifecycle_stage"] not in stages | {""}:
        add("lifecycle_stage", f'"{definition["lifecycle_stage"]}" is not a lifecycle stage.')
    elif definition["lifecycle_stage"] == LifecycleStage.CHURNED:
        add("lifecycle_stage", "A playbook cannot start when a customer churns.")
    if definition["next_stage"] not in stages | {""}:
        add("next_stage", f'"{definition["next_stage"]}" is not a lifecycle stage.')
    elif definition["next_stage"] and definition["next_stage"] == definition["lifecycle_stage"]:
        add("next_stage", "The next stage must differ from the stage that starts the playbook.")
    steps = definition["steps"]
    if not steps:
        add("steps", "A playbook needs at least one step.")
    if len(steps) > MAX_STEPS:
        add("steps", f"At most {MAX_STEPS} steps.")
    template_ids = {s["email_template"] for s in steps if isinstance(s["email_template"], int)}
    survey_ids = {s["survey"] for s in steps if isinstance(s["survey"], int)}
    known_templates = set(EmailTemplate.objects.filter(pk__in=template_ids).values_list("pk", flat=True))
    known_surveys = set(Survey.objects.filter(pk__in=survey_ids).values_list("pk", flat=True))
    for index, step in enumerate(steps):
        field = f"steps[{index}]"
        if not isinstance(step["title"], str) or not step["title"]:
            add(f"{field}.title", "A step needs a title.")
        elif len(step["title"]) > 200:
            add(f"{field}.title", "At most 200 characters.")
        if not isinstance(step["instructions"], str) or len(step["instructions"]) > 5000:
            add(f"{field}.instructions", "Text of at most 5,000 characters.")
        offset = step["offset_days"]
        if not isinstance(offset, int) or isinstance(offset, bool):
            add(f"{field}.offset_days", "A whole number of business days.")
        elif offset < 0:
            add(f"{field}.offset_days", "The offset cannot be negative.")
        elif offset > MAX_OFFSET:
            add(f"{field}.offset_days", f"At most {MAX_OFFSET} business days.")
        if step["offset_from"] not in OffsetFrom.values:
            add(f"{field}.offset_from", f"One of {', '.join(OffsetFrom.values)}.")
        elif index == 0 and step["offset_from"] == OffsetFrom.PREVIOUS:
            add(f"{field}.offset_from", "The first step has no previous step: count from the start.")
        if step["assignee"] not in AssigneeKind.values:
            add(f"{field}.assignee", f"One of {', '.join(AssigneeKind.values)}.")
        kind = step["kind"]
        if kind not in StepKind.values:
            add(f"{field}.kind", f"One of {', '.join(StepKind.values)}.")
            continue
        if kind == StepKind.EMAIL:
            ref = step["email_template"]
            if ref is None:
                add(f"{field}.email_template", "An email step needs an email template.")
            elif ref not in known_templates:
                add(f"{field}.email_template", f"Unknown email template {ref!r}.")
        if kind == StepKind.SURVEY:
            ref = step["survey"]
            if ref is None:
                add(f"{field}.survey", "A survey step needs a survey.")
            elif ref not in known_surveys:
                add(f"{field}.survey", f"Unknown survey {ref!r}.")
        if step["contact_role"] not in {"", *ContactRole.values}:
            add(f"{field}.contact_role", f"One of {', '.join(ContactRole.values)}, or empty for the primary contact.")
        if kind == StepKind.MILESTONE and len(step["milestone_event"]) > 100:
            add(f"{field}.milestone_event", "At most 100 characters.")
        minutes = step["meeting_minutes"]
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 5 <= minutes <= 480:
            add(f"{field}.meeting_minutes", "Between 5 and 480 minutes.")
    if definition["next_stage"] and steps and steps[-1]["kind"] != StepKind.MILESTONE:
        add(
            "next_stage",
            "A playbook that moves the customer to another stage needs a final milestone: its last step must be "
            "a milestone.",
        )
    return errors


def check_definition(definition: dict) -> None:
    errors = validate_definition(definition)
    if errors:
        raise ValidationError(errors)


def latest_version(template: PlaybookTemplate) -> PlaybookVersion | None:
    return template.versions.order_by("-number").first()


@transaction.atomic
def playbook_version(*, template: PlaybookTemplate, actor=None) -> tuple[PlaybookVersion, bool]:
    """Snapshot the template as saved into a new version if its definition changed: (version, created)."""
    PlaybookTemplate.objects.select_for_update().filter(pk=template.pk).first()  # one number at a time
    definition = definition_of(template)
    check_definition(definition)
    return new_version_if_changed(versions=template.versions, definition=definition, actor=actor)


@transaction.atomic
def playbook_save(
    *, template: PlaybookTemplate | None = None, actor=None, steps: list[dict] | None = None, **fields
) -> tuple[PlaybookTemplate, PlaybookVersion]:
    """Create or change a template (fields: TEMPLATE_FIELDS) and, when given, replace its steps (dicts with
    STEP_FIELDS; email_template and survey as rows or ids). Everything is validated first; on an error nothing
    is saved. Returns the template and its latest version (new when the definition changed)."""
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValidationError({field: "Unknown field." for field in sorted(unknown)})
    template = template or PlaybookTemplate()
    for field, value in fields.items():
        if field in ("name", "description") and isinstance(value, str):
            value = value.strip()
        if field in ("lifecycle_stage", "next_stage") and value is None:
            value = ""
        setattr(template, field, value)
    if steps is not None and not isinstance(steps, list | tuple):
        raise ValidationError({"steps": "A list of steps."})
    if steps is not None and not all(isinstance(s, dict) for s in steps):
        raise ValidationError({"steps": "Each step is an object."})
    draft = definition_of(template, steps)
    errors = validate_definition(draft)
    try:
        template.full_clean(validate_unique=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(m for m in messages if m not in errors.get(field, []))
    if not errors.get("name") and PlaybookTemplate.objects.filter(name=template.name).exclude(pk=template.pk).exists():
        errors["name"] = ["Another playbook has this name."]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as exc:
        raise ValidationError({"name": "Another playbook has this name."}) from exc
    if steps is not None:
        template.steps.all().delete()
        PlaybookStep.objects.bulk_create(
            PlaybookStep(
                template=template,
                position=index,
                **{(f"{f}_id" if f in ("email_template", "survey") else f): value for f, value in step.items()},
            )
            for index, step in enumerate(draft["steps"])
        )
    version, _ = playbook_version(template=template, actor=actor)
    return template, version


# --- JSON export / import ------------------------------------------------------------------------------------


def playbook_export(template: PlaybookTemplate) -> dict:
    """The template as JSON-ready data: its working copy, email templates and surveys by name."""
    definition = definition_of(template)
    names = dict(
        EmailTemplate.objects.filter(
            pk__in=[s["email_template"] for s in definition["steps"] if s["email_template"]]
        ).values_list("pk", "name")
    )
    surveys = dict(
        Survey.objects.filter(pk__in=[s["survey"] for s in definition["steps"] if s["survey"]]).values_list(
            "pk", "name"
        )
    )
    steps = []
    for step in definition["steps"]:
        step = dict(step)
        step["email_template"] = names.get(step["email_template"])
        step["survey"] = surveys.get(step["survey"])
        steps.append(step)
    return {
        "format": "playbook/1",
        "name": template.name,
        "description": template.description,
        "lifecycle_stage": template.lifecycle_stage,
        "next_stage": template.next_stage,
        "is_active": template.is_active,
        "steps": steps,
    }


@transaction.atomic
def playbook_import(*, data: Any, actor=None) -> tuple[PlaybookTemplate, PlaybookVersion]:
    """Create or update (by name) the template described by `playbook_export` data. Email templates and
    surveys are named; an unknown name is refused naming the step's field. Nothing changes on an error."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": "Expected a JSON object (a playbook export)."})
    if data.get("format", "playbook/1") != "playbook/1":
        raise ValidationError({"format": 'Only "playbook/1" is understood.'})
    unknown = set(data) - {"format", *TEMPLATE_FIELDS, "steps"}
    if unknown:
        raise ValidationError({field: "Unknown field." for field in sorted(unknown)})
    steps = data.get("steps")
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ValidationError({"steps": "A list of step objects."})
    errors: dict[str, str] = {}
    resolved = []
    for index, step in enumerate(steps):
        extra = set(step) - set(STEP_FIELDS)
        for field in sorted(extra):
            errors[f"steps[{index}].{field}"] = "Unknown field."
        step = dict(step)
        for field, model in (("email_template", EmailTemplate), ("survey", Survey)):
            name = step.get(field)
            if name in (None, ""):
                step[field] = None
                continue
            row = model.objects.filter(name=name).only("pk").first() if isinstance(name, str) else None
            if row is None:
                errors[f"steps[{index}].{field}"] = f"No {model._meta.verbose_name} is named {name!r}."
            step[field] = row
        resolved.append(step)
    if errors:
        raise ValidationError(errors)
    name = data.get("name")
    template = PlaybookTemplate.objects.filter(name=name).first() if isinstance(name, str) else None
    fields = {field: data[field] for field in TEMPLATE_FIELDS if field in data}
    return playbook_save(template=template, actor=actor, steps=resolved, **fields)
