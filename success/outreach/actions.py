"""What a rule does to each customer it selects: a list of actions, validated here, performed by the execution.

    ACTIONS                              type -> {key: (required, checker, help)}
    validate_actions(actions) -> list    normalized (defaults filled in); ValidationError({"actions": [...]}) with
                                         one message per problem naming the action's index and key

Each action is {"action": <kind>, ...keys}; kinds (keys; * required):
    email          template* (EmailTemplate id), role (a contact role or "all"; default "all")
                   -> the customer's contacts of the role, each through the contact ledger (kind "outreach")
    survey         survey* (Survey id) -> an invitation to the customer's primary contact (surveys' own rules)
    task           title*, type (risk / opportunity / lifecycle / activity; default activity), priority (low /
                   normal / high / urgent; default normal), due_in_days (default 3) -> a CSM task for the owner
    notify_owner   message* -> a notification to the owner CSM (a task of type activity when nothing else)
    change_stage   stage* (a lifecycle stage) -> the customer's stage (through crm.services)
    start_playbook playbook* (PlaybookTemplate id, active) -> a playbook run (success.playbooks.services)

An email template naming an unknown variable is refused here too (crm.email_templates.variable_errors), so a
template saved before a variable was removed cannot be used by a new or changed rule.
"""

from django.core.exceptions import ValidationError

from crm.email_templates import TEXT_FIELDS, variable_errors
from crm.models import ContactRole, EmailTemplate, LifecycleStage, Task
from success.playbooks.selectors import playbook_list
from surveys.selectors import survey_list

ROLE_CHOICES = (*ContactRole.values, "all")


def _text(max_length: int):
    def check(value):
        if not isinstance(value, str) or not value.strip():
            return value, "a non-empty text."
        if len(value) > max_length:
            return value, f"at most {max_length} characters."
        return value.strip(), None

    return check


def _choice(choices):
    def check(value):
        if value not in choices:
            return value, f"one of {', '.join(choices)}."
        return value, None

    return check


def _int(minimum: int = 0, maximum: int = 3650):
    def check(value):
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            return value, f"a whole number from {minimum} to {maximum}."
        return value, None

    return check


def _template(value):
    if not isinstance(value, int) or isinstance(value, bool):
        return value, "an email template id."
    template = EmailTemplate.objects.filter(pk=value).first()
    if template is None:
        return value, f"no email template with id {value}."
    errors = variable_errors(**{f: getattr(template, f) for f in TEXT_FIELDS})
    if errors:
        field, message = next(iter(errors.items()))
        return value, f'template "{template.name}" {field}: {message}'
    return value, None


def _survey(value):
    if not isinstance(value, int) or isinstance(value, bool):
        return value, "a survey id."
    if not survey_list().filter(pk=value).exists():
        return value, f"no survey with id {value}."
    return value, None


def _playbook(value):
    if not isinstance(value, int) or isinstance(value, bool):
        return value, "a playbook template id."
    if not playbook_list().filter(pk=value, is_active=True).exists():
        return value, f"no active playbook template with id {value}."
    return value, None


REQUIRED = object()
ACTIONS: dict[str, dict[str, tuple]] = {
    "email": {"template": (REQUIRED, _template), "role": ("all", _choice(ROLE_CHOICES))},
    "survey": {"survey": (REQUIRED, _survey)},
    "task": {
        "title": (REQUIRED, _text(300)),
        "type": (Task.Type.ACTIVITY.value, _choice(Task.Type.values)),
        "priority": (Task.Priority.NORMAL.value, _choice(Task.Priority.values)),
        "due_in_days": (3, _int(0, 365)),
    },
    "notify_owner": {"message": (REQUIRED, _text(300))},
    "change_stage": {"stage": (REQUIRED, _choice(LifecycleStage.values))},
    "start_playbook": {"playbook": (REQUIRED, _playbook)},
}


def validate_actions(actions) -> list[dict]:
    """The actions normalized ({"action", ...keys with defaults}); ValidationError on "actions" otherwise."""
    if not isinstance(actions, list) or not actions:
        raise ValidationError({"actions": ["A rule needs at least one action (a list of actions)."]})
    errors, normalized = [], []
    for index, action in enumerate(actions):
        where = f"actions[{index}]"
        if not isinstance(action, dict):
            errors.append(f'{where}: an action is an object, e.g. {{"action": "task", "title": "Call them"}}.')
            continue
        kind = action.get("action")
        spec = ACTIONS.get(kind) if isinstance(kind, str) else None
        if spec is None:
            errors.append(f"{where}.action: unknown action {kind!r}; the actions are {', '.join(ACTIONS)}.")
            continue
        out = {"action": kind}
        for key in sorted(set(action) - {"action"} - set(spec)):
            errors.append(f"{where}.{key}: not a key of a {kind} action ({', '.join(spec)}).")
        for key, (default, check) in spec.items():
            if key not in action:
                if default is REQUIRED:
                    errors.append(f"{where}.{key}: required for a {kind} action.")
                    continue
                out[key] = default
                continue
            value, problem = check(action[key])
            if problem:
                errors.append(f"{where}.{key}: {problem}")
            out[key] = value
        normalized.append(out)
    if errors:
        raise ValidationError({"actions": errors})
    return normalized
