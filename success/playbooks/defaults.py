"""The onboarding playbook the product ships with (`ensure_default_playbook`, idempotent; `seed_demo` and
`manage.py playbooks default` call it): kick-off, technical setup, first value milestone, a CES survey after
setup and a 30-day check-in, started for every customer entering onboarding and moving it to adopting."""

from django.db import transaction

from crm.email_templates import email_template_save
from crm.models import EmailTemplate, LifecycleStage
from success.playbooks.definitions import playbook_save
from success.playbooks.models import PlaybookTemplate
from surveys.models import Survey
from surveys.services import survey_create

DEFAULT_NAME = "Onboarding"
WELCOME_TEMPLATE = "Onboarding: welcome"
CES_SURVEY = "Onboarding CES"
FIRST_VALUE_EVENT = "report_shared"

WELCOME = {
    "subject": "Welcome to {company}, {customer.name}: let's get you started",
    "text_body": (
        "Hi {contact.first_name},\n\n"
        "Welcome to {company}! I'm {csm.name}, your customer success manager. Over the next few weeks we will\n"
        "walk {customer.name} through a short onboarding: a kick-off call this week, the technical setup, and\n"
        "your first shared report.\n\n"
        "I'll send you an invitation for the kick-off shortly. Reply to this email any time.\n\n"
        "{csm.name}\n{csm.email}\n"
    ),
    "html_body": (
        "<p>Hi {contact.first_name},</p>"
        "<p>Welcome to {company}! I'm {csm.name}, your customer success manager. Over the next few weeks we will "
        "walk {customer.name} through a short onboarding: a kick-off call this week, the technical setup, and "
        "your first shared report.</p>"
        "<p>I'll send you an invitation for the kick-off shortly. Reply to this email any time.</p>"
        "<p>{csm.name}<br>{csm.email}</p>"
    ),
}


def default_steps(welcome: EmailTemplate, survey: Survey) -> list[dict]:
    return [
        {"title": "Welcome email", "kind": "email", "email_template": welcome, "offset_days": 0},
        {
            "title": "Kick-off call",
            "kind": "meeting",
            "offset_days": 2,
            "meeting_minutes": 45,
            "instructions": "Agree on goals, success criteria and the onboarding timeline with the champion.",
        },
        {
            "title": "Technical setup",
            "kind": "task",
            "assignee": "support_agent",
            "offset_from": "previous",
            "offset_days": 5,
            "instructions": "Single sign-on, data import and the first integration; open a ticket for blockers.",
        },
        {
            "title": "CES survey after setup",
            "kind": "survey",
            "survey": survey,
            "offset_from": "previous",
            "offset_days": 1,
        },
        {
            "title": "First value: a report shared",
            "kind": "milestone",
            "assignee": "customer",
            "offset_days": 10,
            "milestone_event": FIRST_VALUE_EVENT,
            "instructions": f"Reached when the product reports the usage event {FIRST_VALUE_EVENT}.",
        },
        {
            "title": "30-day check-in",
            "kind": "meeting",
            "offset_days": 20,
            "meeting_minutes": 30,
            "instructions": "Review adoption against the kick-off goals; agree what 'adopting' means next.",
        },
        {
            "title": "Onboarding complete",
            "kind": "milestone",
            "offset_from": "previous",
            "offset_days": 1,
            "instructions": "Mark done when the customer reached its first value and the check-in is held.",
        },
    ]


@transaction.atomic
def ensure_default_playbook() -> PlaybookTemplate:
    template = PlaybookTemplate.objects.filter(name=DEFAULT_NAME).first()
    if template is not None:
        return template
    welcome = EmailTemplate.objects.filter(name=WELCOME_TEMPLATE).first() or email_template_save(
        name=WELCOME_TEMPLATE, **WELCOME
    )
    survey = Survey.objects.filter(name=CES_SURVEY, kind="ces").first() or survey_create(
        name=CES_SURVEY, kind="ces", question="{company} made it easy for me to get set up."
    )
    template, _ = playbook_save(
        name=DEFAULT_NAME,
        description="Shipped with the product: gets a new customer to first value within 30 days.",
        lifecycle_stage=LifecycleStage.ONBOARDING,
        next_stage=LifecycleStage.ADOPTING,
        steps=default_steps(welcome, survey),
    )
    return template
