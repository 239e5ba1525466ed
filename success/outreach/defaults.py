"""The shipped plays and their email templates, on every install, disabled until an admin turns them on.

    SHIPPED_TEMPLATES   name -> (subject, text_body)
    SHIPPED_PLAYS       the rules, by shipped_key; email actions name their template by name ("template_name")
    ensure_shipped_plays(apps=)   creates what is missing (templates by name, rules by shipped_key); never changes
                                  what exists, so an admin's edits (and enabling) survive; idempotent. Called by
                                  the data migration success.0010 (with the historical apps) and usable any time.

Schedules are crontabs in each customer's local time: "0 9 * * 1-5" is 09:00 on the customer's weekdays.
"""

from django.apps import apps as global_apps

SIGN_OFF = "\n\nBest regards,\n{csm.name}\n{company}\n"
SHIPPED_TEMPLATES: dict[str, tuple[str, str]] = {
    "Outreach: onboarding check-in": (
        "How is your {company} setup going, {contact.first_name}?",
        "Hi {contact.first_name},\n\nIt has been about a month since {customer.name} started with {company}. "
        "Teams that finish setting up in their first weeks get the most out of it, so I would like to help you "
        "over whatever is in the way.\n\nCould we take 20 minutes this week? Reply to this email with a time "
        "that suits you, or tell me what is blocking you and I will take it from there." + SIGN_OFF,
    ),
    "Outreach: renewal review": (
        "Looking ahead to {customer.name}'s renewal",
        "Hi {contact.first_name},\n\nYour {company} renewal is coming up in the next few months. Before then I "
        "would like to review with you what {customer.name} has achieved so far and what you need next.\n\n"
        "Would you have 30 minutes in the coming weeks? Reply with a time that suits you." + SIGN_OFF,
    ),
    "Outreach: detractor follow-up": (
        "Thank you for your honest feedback, {contact.first_name}",
        "Hi {contact.first_name},\n\nThank you for telling us how {company} is working for {customer.name}. "
        "Your score tells us we are falling short, and I would like to understand where.\n\nCould you reply with "
        "what would make the biggest difference for you, or a time for a short call?" + SIGN_OFF,
    ),
    "Outreach: review request": (
        "Would you share your experience with {company}?",
        "Hi {contact.first_name},\n\nThank you for recommending {company}: it means a lot to the whole team.\n\n"
        "Would you share your experience in a short public review? Others in your field listen to people like "
        "you far more than to us. Reply to this email and I will send you the link." + SIGN_OFF,
    ),
}

WEEKDAY_MORNINGS = "0 9 * * 1-5"
SHIPPED_PLAYS: list[dict] = [
    {
        "shipped_key": "onboarding-not-finished-30-days",
        "name": "Onboarding not finished after 30 days",
        "description": "Customers still onboarding more than 30 days in churn far more often: their champion and "
        "decision maker get a helpful check-in email and their CSM a check-in task.",
        "schedule": WEEKDAY_MORNINGS,
        "conditions": {
            "all": [
                {"field": "lifecycle_stage", "op": "in", "value": ["onboarding"]},
                {"field": "days_in_stage", "op": "gt", "value": 30},
            ]
        },
        "actions": [
            {"action": "email", "template_name": "Outreach: onboarding check-in", "role": "champion"},
            {"action": "email", "template_name": "Outreach: onboarding check-in", "role": "decision_maker"},
            {
                "action": "task",
                "title": "Onboarding check-in: not finished after 30 days",
                "type": "lifecycle",
                "priority": "high",
                "due_in_days": 2,
            },
        ],
        "cooldown_days": 30,
    },
    {
        "shipped_key": "renewal-90-days-no-touch",
        "name": "Renewal in 90 days with no QBR or CSM touch",
        "description": "A renewal within 90 days and no QBR held nor any CSM touch in the last 90 days.",
        "schedule": WEEKDAY_MORNINGS,
        "conditions": {
            "all": [
                {"field": "renewal_within_days", "op": "lte", "value": 90},
                {"field": "days_since_last_touch", "op": "gte", "value": 90},
                {"field": "lifecycle_stage", "op": "not_in", "value": ["churned"]},
            ]
        },
        "actions": [
            {"action": "email", "template_name": "Outreach: renewal review", "role": "decision_maker"},
            {"action": "task", "title": "Renewal in 90 days: hold a QBR", "type": "opportunity", "priority": "high"},
        ],
        "cooldown_days": 60,
    },
    {
        "shipped_key": "nps-detractor-no-follow-up",
        "name": "NPS detractor with no follow-up",
        "description": "The latest NPS answer is a detractor, no open risk task, and no CSM touch in 7 days.",
        "schedule": WEEKDAY_MORNINGS,
        "conditions": {
            "all": [
                {"field": "nps_band", "op": "in", "value": ["detractor"]},
                {"field": "has_open_task", "op": "not_in", "value": ["risk"]},
                {"field": "days_since_last_touch", "op": "gte", "value": 7},
            ]
        },
        "actions": [
            {
                "action": "task",
                "title": "Detractor: call them back",
                "type": "risk",
                "priority": "high",
                "due_in_days": 1,
            },
            {"action": "email", "template_name": "Outreach: detractor follow-up", "role": "champion"},
        ],
        "cooldown_days": 90,
    },
    {
        "shipped_key": "enterprise-no-touch-60-days",
        "name": "No CSM touch for 60 days on an enterprise account",
        "description": "Enterprise accounts nobody has touched in 60 days.",
        "schedule": WEEKDAY_MORNINGS,
        "conditions": {
            "all": [
                {"field": "tier", "op": "in", "value": ["enterprise"]},
                {"field": "days_since_last_touch", "op": "gt", "value": 60},
                {"field": "lifecycle_stage", "op": "not_in", "value": ["churned"]},
            ]
        },
        "actions": [
            {"action": "task", "title": "Enterprise account: no touch in 60 days", "type": "risk", "priority": "high"},
            {"action": "notify_owner", "message": "No touch in 60 days on this enterprise account."},
        ],
        "cooldown_days": 30,
    },
    {
        "shipped_key": "promoter-review-request",
        "name": "Promoter asked for a review",
        "description": "Customers whose latest NPS answer is a promoter, adopting or mature: ask the champion for a "
        "public review.",
        "schedule": WEEKDAY_MORNINGS,
        "conditions": {
            "all": [
                {"field": "nps_band", "op": "in", "value": ["promoter"]},
                {"field": "lifecycle_stage", "op": "in", "value": ["adopting", "mature"]},
            ]
        },
        "actions": [{"action": "email", "template_name": "Outreach: review request", "role": "champion"}],
        "cooldown_days": 180,
    },
    {
        "shipped_key": "at-risk-urgent-ticket",
        "name": "At-risk customer opened an urgent ticket",
        "description": "A customer in the red health band has an open urgent ticket: the CSM hears of it at once.",
        "schedule": "*/15 * * * *",
        "quiet_hours": False,
        "conditions": {
            "all": [
                {"field": "health_band", "op": "in", "value": ["red"]},
                {"field": "urgent_open_tickets", "op": "gte", "value": 1},
            ]
        },
        "actions": [
            {"action": "notify_owner", "message": "At-risk customer with an urgent ticket open."},
            {
                "action": "task",
                "title": "At risk with an urgent ticket",
                "type": "risk",
                "priority": "urgent",
                "due_in_days": 0,
            },
        ],
        "cooldown_days": 7,
    },
]
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def play_actions(play: dict, template_ids: dict[str, int]) -> list[dict]:
    """The play's actions as stored: email templates by id, defaults filled in (as validate_actions does)."""
    defaults = {"email": {"role": "all"}, "task": {"type": "activity", "priority": "normal", "due_in_days": 3}}
    actions = []
    for action in play["actions"]:
        action = defaults.get(action["action"], {}) | action
        if "template_name" in action:
            action["template"] = template_ids[action.pop("template_name")]
        actions.append(action)
    return actions


def ensure_shipped_plays(*, apps=global_apps) -> int:
    """Create the missing shipped templates and plays (disabled); returns how many plays it created."""
    EmailTemplate = apps.get_model("crm", "EmailTemplate")
    OutreachRule = apps.get_model("success", "OutreachRule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    template_ids = {}
    for name, (subject, text) in SHIPPED_TEMPLATES.items():
        template, _ = EmailTemplate.objects.get_or_create(name=name, defaults={"subject": subject, "text_body": text})
        template_ids[name] = template.pk
    created = 0
    for play in SHIPPED_PLAYS:
        if OutreachRule.objects.filter(shipped_key=play["shipped_key"]).exists():
            continue
        name = play["name"]
        if OutreachRule.objects.filter(name=name).exists():
            name = f"{name} (shipped)"
        schedule, _ = CrontabSchedule.objects.get_or_create(
            **dict(zip(CRON_FIELDS, play["schedule"].split(), strict=True)), timezone="UTC"
        )
        OutreachRule.objects.create(
            shipped_key=play["shipped_key"],
            name=name,
            description=play["description"],
            enabled=False,
            trigger="schedule",
            schedule=schedule,
            event="",
            event_params={},
            conditions=play["conditions"],
            actions=play_actions(play, template_ids),
            cooldown_days=play["cooldown_days"],
            cap_per_run=None,
            quiet_hours=play.get("quiet_hours", True),
        )
        created += 1
    return created
