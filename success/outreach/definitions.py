"""Writing outreach rules: one service for the admin, the API and the shipped plays.

    parse_crontab(text) -> dict          "m h dom mon dow" -> CrontabSchedule fields; ValueError when it does not parse
    crontab_text(schedule) -> str        the reverse, for forms and the API
    validate_event_params(event, params) -> dict
    outreach_rule_save(*, rule=None, actor, **fields) -> OutreachRule

`outreach_rule_save` validates everything before it writes anything: the model's own fields (full_clean), the
trigger (a schedule needs a crontab that celery can parse, an event needs an event and its parameters), the
conditions (success.outreach.conditions.validate_conditions) and the actions
(success.outreach.actions.validate_actions, which checks the email templates' variables). A problem raises one
ValidationError naming each field (name, trigger, schedule, event, event_params, conditions, actions,
cooldown_days, cap_per_run, holiday_calendar) and nothing is saved (no rule, no CrontabSchedule row).
`holiday_calendar` (a tickets BusinessCalendar, or its id; None: no holidays) needs quiet hours: it names the days
quiet hours skip besides weekends.

The schedule may be given as a crontab text ("0 9 * * 1-5": minute, hour, day of month, month, day of week) or a
CrontabSchedule; the text is stored as a CrontabSchedule row (shared with identical ones, timezone UTC; its
fields are read in each customer's local time by the scan).
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule

from crm.models import LifecycleStage, Task
from success.health.models import Band
from success.outreach.actions import validate_actions
from success.outreach.conditions import validate_conditions
from success.outreach.models import OutreachEvent, OutreachRule, OutreachTrigger
from surveys.selectors import BAND_CONDITIONS

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
RULE_FIELDS = (
    "name",
    "description",
    "enabled",
    "trigger",
    "schedule",
    "event",
    "event_params",
    "conditions",
    "actions",
    "cooldown_days",
    "cap_per_run",
    "quiet_hours",
    "holiday_calendar",
)


def parse_crontab(text) -> dict[str, str]:
    from celery.schedules import crontab

    if not isinstance(text, str) or len(text.split()) != 5:
        raise ValueError('A crontab has five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5".')
    fields = dict(zip(CRON_FIELDS, text.split(), strict=True))
    try:
        crontab(**fields)
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"The crontab {text!r} does not parse: {exc}") from exc
    return fields


def crontab_text(schedule: CrontabSchedule | None) -> str:
    return "" if schedule is None else " ".join(str(getattr(schedule, f)) for f in CRON_FIELDS)


def _days(required: bool):
    def check(value):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
            return "a whole number of days from 1 to 3650."
        return None

    return (required, check)


def _one_of(choices):
    return (False, lambda value: None if value in choices else f"one of {', '.join(choices)}.")


EVENT_PARAMS: dict[str, dict[str, tuple]] = {
    OutreachEvent.STAGE_CHANGED: {
        "to_stage": _one_of(LifecycleStage.values),
        "from_stage": _one_of(LifecycleStage.values),
    },
    OutreachEvent.TICKET_FLAGGED: {},
    OutreachEvent.TICKET_ESCALATED: {},
    OutreachEvent.SURVEY_ANSWERED: {"band": _one_of(tuple(BAND_CONDITIONS)), "kind": _one_of(("nps", "ces", "csat"))},
    OutreachEvent.TASK_OVERDUE: {"type": _one_of(Task.Type.values), "days": _days(False)},
    OutreachEvent.RENEWAL_IN_DAYS: {"days": _days(True)},
    OutreachEvent.HEALTH_BAND_CHANGED: {"band": _one_of(Band.values)},
    OutreachEvent.NO_USAGE_DAYS: {"days": _days(True)},
    OutreachEvent.PLAYBOOK_STEP_OVERDUE: {"days": _days(False)},
}


def validate_event_params(event: str, params) -> dict:
    if params in (None, ""):
        params = {}
    if not isinstance(params, dict):
        raise ValidationError({"event_params": ['An object, e.g. {"days": 90}.']})
    spec = EVENT_PARAMS.get(event, {})
    errors = [
        f"{key}: not a parameter of {event} ({', '.join(spec) or 'none'})." for key in sorted(set(params) - set(spec))
    ]
    for key, (required, check) in spec.items():
        if key not in params:
            if required:
                errors.append(f"{key}: required for {event}.")
            continue
        problem = check(params[key])
        if problem:
            errors.append(f"{key}: {problem}")
    if errors:
        raise ValidationError({"event_params": errors})
    return dict(params)


def _schedule(value) -> tuple[CrontabSchedule | dict | None, str | None]:
    if value in (None, ""):
        return None, None
    if isinstance(value, CrontabSchedule):
        try:
            parse_crontab(crontab_text(value))
        except ValueError as exc:
            return None, str(exc)
        return value, None
    try:
        return parse_crontab(value), None
    except ValueError as exc:
        return None, str(exc)


@transaction.atomic
def outreach_rule_save(*, rule: OutreachRule | None = None, actor=None, shipped_key=None, **fields) -> OutreachRule:
    """Create (rule=None) or change a rule; fields are those of RULE_FIELDS (left out: unchanged, or the default
    for a new rule). Raises ValidationError naming each wrong field; saves nothing then."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError({field: "This field cannot be set here." for field in sorted(unknown)})
    creating = rule is None or rule.pk is None
    rule = rule or OutreachRule()
    was_enabled = False if creating else OutreachRule.objects.filter(pk=rule.pk, enabled=True).exists()
    errors: dict[str, list] = {}

    def add(field: str, problem: ValidationError | str) -> None:
        if not isinstance(problem, ValidationError):
            messages = [problem]
        elif hasattr(problem, "error_dict"):
            messages = problem.message_dict.get(field, problem.messages)
        else:
            messages = problem.messages
        errors.setdefault(field, []).extend(messages)

    schedule_fields = None
    if "schedule" in fields:
        schedule, problem = _schedule(fields.pop("schedule"))
        if problem:
            add("schedule", problem)
        elif isinstance(schedule, dict):
            schedule_fields = schedule
            rule.schedule = None
        else:
            rule.schedule = schedule
    for field, value in fields.items():
        if field in ("name", "description") and isinstance(value, str):
            value = value.strip()
        if field == "holiday_calendar" and (value is None or isinstance(value, int)):
            rule.holiday_calendar_id = value  # checked to exist by full_clean below
            continue
        setattr(rule, field, value)
    if shipped_key is not None:
        rule.shipped_key = shipped_key
    if creating and actor is not None and getattr(actor, "is_authenticated", False):
        rule.created_by = actor

    if rule.cap_per_run == 0:
        add("cap_per_run", "At least 1; leave empty for no cap.")
    if isinstance(rule.cooldown_days, int) and rule.cooldown_days < 0:
        add("cooldown_days", "0 or more days (0: no cooldown).")
    if rule.holiday_calendar_id is not None and not rule.quiet_hours:
        add("holiday_calendar", "Holidays apply with quiet hours only: turn quiet hours on, or leave this empty.")
    if rule.trigger == OutreachTrigger.SCHEDULE:
        if rule.schedule is None and schedule_fields is None and "schedule" not in errors:
            add("schedule", 'A schedule rule needs a crontab, e.g. "0 9 * * 1-5" (09:00 local time, Monday to Friday).')
        rule.event, rule.event_params = "", {}
    elif rule.trigger == OutreachTrigger.EVENT:
        if not rule.event:
            add("event", "An event rule needs an event.")
        else:
            try:
                rule.event_params = validate_event_params(rule.event, rule.event_params)
            except ValidationError as exc:
                add("event_params", exc)
        rule.schedule, schedule_fields = None, None
        errors.pop("schedule", None)
    for field, validate in (("conditions", validate_conditions), ("actions", validate_actions)):
        try:
            setattr(rule, field, validate(getattr(rule, field)))
        except ValidationError as exc:
            add(field, exc)
    try:
        rule.full_clean(exclude=[*errors, "schedule"])
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    if schedule_fields is not None:
        rule.schedule, _ = CrontabSchedule.objects.get_or_create(**schedule_fields, timezone="UTC")
    if rule.enabled and not was_enabled:
        # A schedule fires for occurrences after this moment only; the results compare against before it.
        rule.enabled_at = timezone.now()
    rule.save()
    return rule
